package provisiontest

import (
	"context"
	"fmt"
	"strings"

	"odoobot/provision"
)

// OdooRuns is a provision.OdooRuns over the model's databases: a
// neutralized database is marked so, an updated one records the
// release it was updated to.
type OdooRuns struct{ h *Host }

var _ provision.OdooRuns = (*OdooRuns)(nil)

// OdooRuns runs Odoo on the host's databases.
func (h *Host) OdooRuns() *OdooRuns { return &OdooRuns{h: h} }

// Neutralize marks run.DB neutralized.
func (o *OdooRuns) Neutralize(_ context.Context, _ provision.Release, run provision.OdooRun) error {
	o.h.mu.Lock()
	defer o.h.mu.Unlock()
	db, ok := o.h.databases[run.DB]
	if !ok {
		return fmt.Errorf("provisiontest: neutralize: database %s does not exist", run.DB)
	}
	db.Neutralized = true
	o.h.databases[run.DB] = db
	return nil
}

// Update records that run.DB's modules were updated to rel.
func (o *OdooRuns) Update(_ context.Context, rel provision.Release, run provision.OdooRun, modules ...string) error {
	o.h.mu.Lock()
	defer o.h.mu.Unlock()
	db, ok := o.h.databases[run.DB]
	if !ok {
		return fmt.Errorf("provisiontest: update: database %s does not exist", run.DB)
	}
	db.UpdatedTo = rel.Commit
	if len(modules) > 0 {
		db.UpdatedTo += " (" + strings.Join(modules, ",") + ")"
	}
	o.h.databases[run.DB] = db
	return nil
}

// Targets is a provision.ReleaseTargets with two releases: the host's
// Release and Next, the one every ref but its own commit resolves to.
type Targets struct{ h *Host }

var _ provision.ReleaseTargets = (*Targets)(nil)

// Targets resolve the releases an upgrade may go to.
func (h *Host) Targets() *Targets { return &Targets{h: h} }

// Resolve names Next's commit for any ref but the host's Release's.
func (t *Targets) Resolve(_ context.Context, ref string) (string, error) {
	if ref == t.h.Release.Commit {
		return ref, nil
	}
	return t.h.Next.Commit, nil
}

// EnsureCommit returns the release of commit.
func (t *Targets) EnsureCommit(_ context.Context, commit string, _ func(string)) (provision.Release, error) {
	for _, r := range []provision.Release{t.h.Release, t.h.Next} {
		if r.Commit == commit {
			return r, nil
		}
	}
	return provision.Release{}, fmt.Errorf("provisiontest: no release of commit %s", commit)
}

// Cached returns the release rec names.
func (t *Targets) Cached(rec provision.ReleaseRecord) (provision.Release, error) {
	for _, r := range []provision.Release{t.h.Release, t.h.Next} {
		if r.Key == rec.Key {
			return r, nil
		}
	}
	return provision.Release{}, fmt.Errorf("provisiontest: release %s is not cached", rec.Key)
}

// Open checks that run.DB exists: the model's Odoo opens any database
// that does.
func (o *OdooRuns) Open(_ context.Context, _ provision.Release, run provision.OdooRun) error {
	o.h.mu.Lock()
	defer o.h.mu.Unlock()
	if _, ok := o.h.databases[run.DB]; !ok {
		return fmt.Errorf("provisiontest: open: database %s does not exist", run.DB)
	}
	return nil
}

// Modules is a provision.ReleaseModules over the host's Sums.
type Modules struct{ h *Host }

var _ provision.ReleaseModules = (*Modules)(nil)

// Modules reads the releases' module checksums.
func (h *Host) Modules() *Modules { return &Modules{h: h} }

// ModuleSums returns Sums[rel.Key], or an error when it has none.
func (m *Modules) ModuleSums(_ context.Context, rel provision.Release) (provision.ModuleSums, error) {
	m.h.mu.Lock()
	defer m.h.mu.Unlock()
	sums, ok := m.h.Sums[rel.Key]
	if !ok {
		return provision.ModuleSums{}, fmt.Errorf("provisiontest: no module checksums for release %s", rel.Key)
	}
	return sums, nil
}
