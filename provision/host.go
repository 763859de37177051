package provision

import (
	"fmt"
	"strings"
	"time"
)

// Host is one server as the domain reaches it: each outside system
// through the small interface its caller declares, served by a driver
// (provision/postgres, systemd, nginx, odoo, tenant, tree, cloudflare,
// probe, ports, sysusers, hostfacts) in production and by
// provision/provisiontest's in-memory host in the tests of every verb's
// plan. A field left nil is a capability this host lacks: the verb
// that needs it refuses, saying so.
type Host struct {
	// Store keeps the instances, their ports and the jobs with their
	// events (provision/postgres).
	Store    Store
	Releases ReleaseBuilder
	// Targets builds the release of a chosen commit, for upgrade; nil
	// when this host cannot (upgrade is then refused, saying so).
	Targets ReleaseTargets
	// Modules reads a release's module checksums, so that an upgrade
	// updates only the modules that changed; nil updates every module.
	Modules ReleaseModules
	// GC removes the releases and templates no instance uses (gc, and
	// after each delete); nil disables both.
	GC        GarbageCollector
	Databases DatabaseMaker
	// Tenants, when set, gives every new instance its own system user and
	// database role (the production wiring); nil makes every instance
	// share ServiceUser and DB's role.
	Tenants Tenants
	// Owners hands a database to a role: for isolate, which moves an
	// imported instance to a user and role of its own; nil refuses it.
	Owners DatabaseOwners
	// Copies finishes a database copied from another instance's: for
	// clone; nil refuses it.
	Copies DatabaseCopies
	// OdooRuns runs a release's Odoo on an instance's database: neutralize
	// for clone, the module update for upgrade (provision/odoo);
	// required by both, which are refused without it.
	OdooRuns OdooRuns
	// Files reaches the instances' trees, their odoo.conf, filestores,
	// kept files, info and tracking files (provision/tree); required.
	Files    InstanceFiles
	Services ServiceManager
	Sites    SiteManager
	// DNS is nil when odoobot does not manage the zone's records.
	DNS   DNS
	Certs map[SSLMode]CertIssuer
	// Health asks an instance's Odoo whether it is up (provision/probe);
	// Ports says who holds the host's TCP ports (provision/ports); Users
	// is the host's user database (provision/sysusers). Required by
	// every step that starts, checks or lays out an instance.
	Health HealthChecker
	Ports  PortProbe
	Users  Users
	// BindFilter, when set, says whether systemd enforces the units'
	// SocketBindAllow and SocketBindDeny here (provision/systemd); nil
	// never warns.
	BindFilter BindFilter
	// HostFacts reads the host's memory and disk (provision/hostfacts),
	// for the capacity verb.
	HostFacts HostFactsReader
	// UnitStatuses reads every instance's unit at once for the capacity
	// verb (provision/systemd); nil reads them one Services.Status at a
	// time.
	UnitStatuses UnitStatuses
}

// Release is a built Odoo source tree with its virtual environment,
// shared read-only by every instance on it. Built by provision/odoo.
type Release struct {
	Key         string   // stable hash of (repo, branch, commit[, enterprise commit])
	Dir         string   // the release directory in the cache
	Repo        string   // the Odoo repository, credentials redacted
	Commit      string   // the Odoo commit built
	Python      string   // the venv's python, absolute
	Interpreter string   // the interpreter the venv was made from, absolute (e.g. /usr/bin/python3.11)
	Deps        string   // where its Python dependencies come from: "debian" or "pip"
	OdooBin     string   // odoo-bin, absolute
	AddonsPaths []string // Odoo's addons (and enterprise, when configured), absolute
	// Version is the Odoo series the source says it is (odoo/release.py's
	// serie, e.g. "17.0"); Edition is "community", or "enterprise" when
	// enterprise addons are part of the release.
	Version, Edition string
}

// Record is what an instance records of the release it runs.
func (r Release) Record() ReleaseRecord {
	return ReleaseRecord{Key: r.Key, Repo: r.Repo, Commit: r.Commit, Python: r.Interpreter, Deps: r.Deps}
}

// ReleaseRecord is the release an instance runs, as odoobot records it
// in its store and in each backup's manifest: set when the instance's
// creation (or clone) ends, never changed afterwards. The zero value is
// an instance that records none (imported from API-DEV, or made before
// releases were recorded); it shows as "unknown".
type ReleaseRecord struct {
	Key    string `json:"key"`    // the release's key in the cache
	Repo   string `json:"repo"`   // the Odoo repository, credentials redacted
	Commit string `json:"commit"` // the Odoo commit, 40 hex digits
	Python string `json:"python"` // the interpreter the venv was made from
	Deps   string `json:"deps"`   // "debian" or "pip"
}

// Known reports whether the instance records its release.
func (r ReleaseRecord) Known() bool { return r.Key != "" }

// ShortCommit is the commit's first 12 hex digits, "unknown" when none
// is recorded.
func (r ReleaseRecord) ShortCommit() string {
	switch {
	case r.Commit == "":
		return "unknown"
	case len(r.Commit) > 12:
		return r.Commit[:12]
	}
	return r.Commit
}

// Source is "repository@commit", "unknown" when none is recorded.
func (r ReleaseRecord) Source() string {
	if !r.Known() {
		return "unknown"
	}
	return r.Repo + "@" + r.Commit
}

// DatabaseSpec says which database an instance gets. Built by the
// creation pipeline, consumed by provision/odoo.
type DatabaseSpec struct {
	Name string // prod-acme
	// Owner is the role that owns the database and everything in it, the
	// instance's own; "" means odoobot's role (an instance that shares it).
	Owner   string
	Release Release  // the release whose odoo-bin initialises the template
	Modules []string // installed at creation
	Demo    bool     // load demo data
	BaseURL string   // web.base.url, frozen
	// ReportURL is report.url, where Odoo fetches the pages it renders as
	// PDF: the instance's local address (http://127.0.0.1:<http port>),
	// so that reports never go out through the public URL. "" sets none.
	ReportURL string
	DataDir   string // the instance's Odoo data dir; the filestore is copied to <DataDir>/filestore/<Name>
	// AdminPassword, when set, becomes the password of the database's
	// "admin" user, hashed as Odoo hashes it (the hash is computed while
	// the database is copied). It is never logged or stored in clear.
	AdminPassword string
	// Progress, when set, hears how far a template's initialisation has
	// come ("installing modules 12/47"), from Create's goroutine or one
	// it waits for.
	Progress func(text string)
}

// ServiceStatus is what systemd says of a unit.
type ServiceStatus struct {
	Unit        string
	Loaded      bool      // the unit file is known to systemd
	ActiveState string    // active, inactive, failed, activating…
	SubState    string    // running, dead, exited…
	MainPID     uint32    // 0 when not running
	MemoryBytes uint64    // MemoryCurrent; 0 when unknown
	CPUNanos    uint64    // CPUUsageNSec, CPU time used since it started; 0 when unknown (no CPU accounting)
	Since       time.Time // when it entered its active state (zero when inactive)
}

// Running reports whether the unit is active.
func (s ServiceStatus) Running() bool { return s.ActiveState == "active" }

// UnitError is returned by the ServiceManager (provision/systemd) when
// systemd ran a job on a unit but the unit did
// not end where it was asked to be: the job did not finish as "done", or
// the unit did not stay active after a start. Its message names the job
// result, the unit's states and its last journal lines, and holds no
// secret beyond what the unit itself logs.
type UnitError struct {
	Op          string   // start, stop, restart or reload
	Unit        string   // the unit's name
	Result      string   // the job's result: done, failed, timeout, canceled, dependency, skipped
	ActiveState string   // the unit's ActiveState when the error was made
	SubState    string   // the unit's SubState then
	Reason      string   // the service's Result property (exit-code, signal, …), when known
	Journal     []string // the unit's last journal lines, oldest first
}

// Error reports the operation, the unit, the job result, the states and
// the journal lines, one per line.
func (e *UnitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "systemd: %s %s: job %s; unit %s/%s", e.Op, e.Unit, e.Result, e.ActiveState, e.SubState)
	if e.Reason != "" && e.Reason != "success" {
		fmt.Fprintf(&b, " (%s)", e.Reason)
	}
	if len(e.Journal) > 0 {
		b.WriteString("; last journal lines:")
		for _, l := range e.Journal {
			b.WriteString("\n  ")
			b.WriteString(l)
		}
	}
	return b.String()
}
