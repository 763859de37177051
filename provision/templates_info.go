package provision

import "time"

// TemplateState says where a template database is in its life.
type TemplateState string

// The states of a template.
const (
	// TemplateReady: made, creations copy it.
	TemplateReady TemplateState = "ready"
	// TemplateBuilding: being initialised by odoo-bin.
	TemplateBuilding TemplateState = "building"
	// TemplateFailed: its last initialisation failed; the next creation
	// or check builds it again.
	TemplateFailed TemplateState = "failed"
)

// TemplateInfo is one template database as the templates verb shows it.
type TemplateInfo struct {
	Name    string // odoobot_tpl_<12 hex>
	Release string // the release's short commit, or its key when unknown
	Version string // the release's series ("19.0"), "" when unknown
	Key     string // the release's key (its directory in the release cache)
	// Modules are the modules it was initialised with; nil when it was
	// made before odoobot recorded them.
	Modules []string
	Lang    string
	State   TemplateState
	// Progress is, while building, the last line of its initialisation
	// ("installing modules 12/47"), or who builds it.
	Progress string
	Error    string // why the last build failed (TemplateFailed)
	Size     int64  // bytes, as PostgreSQL counts the database; 0 when not made
	// Since is when it was made (ready), started (building) or failed.
	Since time.Time
	// Configured marks the template the next creation uses.
	Configured bool
}
