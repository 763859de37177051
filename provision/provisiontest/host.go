// Package provisiontest is an in-memory model of one server, for tests
// of the domain's jobs with no systemd, PostgreSQL or nginx: the state
// store, the databases with their owners, the system users and database
// roles, the units, the nginx sites, the certificates and the DNS
// records. Each part implements the provision interface its driver
// serves, keeps what a real host would keep, and is idempotent where the
// real driver is. Snapshot gives the whole host as one comparable value,
// so a test can say "exactly as before" or "exactly as after".
//
// A Host outlives the processes that act on it: Restart starts a new
// "process", after which every job the earlier ones left open is an
// orphan (Store.OrphanedJobs), as after a crash.
package provisiontest

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing/fstest"
	"time"

	"odoobot/provision"
)

// Host is one in-memory server. The zero value is not usable: use New.
type Host struct {
	mu sync.Mutex

	// state store
	instances map[string]provision.Instance
	versions  map[string]string
	jobs      map[int64]*provision.Job
	jobOwner  map[int64]int
	events    map[int64][]provision.Event
	nextJob   int64
	process   int

	// the host itself
	databases map[string]Database
	users     map[string]string // name → home
	roles     map[string]string // name → password
	units     map[string]Unit   // unit file path → unit
	sites     map[string]string // site name → content
	certs     map[string]string // certificate directory → domain
	records   map[string]bool   // fqdn → A record present
	theirs    map[string]string // fqdn → the address of a record another server made
	trees     map[string]*Tree  // internal name → its directory
	aside     map[string]string // internal name → owner of the filestore set aside
	kept      map[string]string // set/internal/name → content
	scratches map[string]bool
	scratch   int
	tracking  string
	logs      map[string]string // job log path → its lines
	dumps     map[string]Database
	backups   map[string][]backup
	drafts    map[string]*draft
	fetched   map[string]string // path → what an offsite fetch wrote there
	offsite   []remoteCopy      // the offsite repository's copies, oldest first
	offDown   error             // when set, every offsite call fails with it
	snapshots int               // offsite snapshot ids handed out
	staged    map[string]string // internal name → owner of the filestore a restore staged
	// stagedFiles are the files of each staged filestore.
	stagedFiles map[string]fstest.MapFS
	replaced    map[string]string    // internal name → owner of the filestore a restore swapped out
	history     map[string][]written // database → what WriteData wrote, and when
	pitr        map[string]bool      // database → a restore to a time's scratch and dump are there
	pitrFrom    time.Time            // the earliest time the archive restores
	clock       time.Time

	// Release is what the release builder gives; Layout where the
	// instances' files are (for the paths Leftover shows); ServiceUser
	// the user shared instances run as, which the host has.
	Release provision.Release
	// Next is the release an upgrade goes to (Targets).
	Next provision.Release
	// Sums are the releases' module checksums by release key (Modules);
	// a release without is an error, and the upgrade updates every
	// module.
	Sums        map[string]provision.ModuleSums
	Layout      provision.Layout
	ServiceUser string
	// BotRole is odoobot's own database role.
	BotRole string
}

// Database is one database of the model.
type Database struct {
	Owner         string // the role that owns it; "" for odoobot's
	AdminPassword string // the Odoo admin's password, as set
	Modules       string // the modules it was made with, joined by ","
	Closed        bool   // closed to roles other than its owner
	BaseURL       string // web.base.url
	Marker        string // odoobot's marker of a copy
	Neutralized   bool   // Odoo's neutralize ran on it
	Data          string // what the instance's users wrote (WriteData)
	UpdatedTo     string // the release commit its modules were last updated to
}

// Unit is one unit file of the model, and whether it runs.
type Unit struct {
	Content  string
	Active   bool
	Disabled bool // SetEnabled(false): it would stay stopped at boot
}

// New returns an empty host with layout l, whose release builder gives
// rel.
func New(l provision.Layout, rel provision.Release) *Host {
	return &Host{
		Layout:      l,
		ServiceUser: "odoo",
		BotRole:     "odoobot",
		trees:       map[string]*Tree{},
		aside:       map[string]string{},
		kept:        map[string]string{},
		scratches:   map[string]bool{},
		logs:        map[string]string{},
		dumps:       map[string]Database{},
		backups:     map[string][]backup{},
		drafts:      map[string]*draft{},
		fetched:     map[string]string{},
		staged:      map[string]string{},
		stagedFiles: map[string]fstest.MapFS{},
		replaced:    map[string]string{},
		history:     map[string][]written{},
		pitr:        map[string]bool{},
		instances:   map[string]provision.Instance{},
		versions:    map[string]string{},
		jobs:        map[int64]*provision.Job{},
		jobOwner:    map[int64]int{},
		events:      map[int64][]provision.Event{},
		databases:   map[string]Database{},
		users:       map[string]string{},
		roles:       map[string]string{},
		units:       map[string]Unit{},
		sites:       map[string]string{},
		certs:       map[string]string{},
		records:     map[string]bool{},
		theirs:      map[string]string{},
		clock:       time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC),
		Release:     rel,
	}
}

// now is the host's clock, one millisecond further at each reading, so
// that events are ordered. h.mu is held.
func (h *Host) now() time.Time {
	h.clock = h.clock.Add(time.Millisecond)
	return h.clock
}

// Now is the host's clock, for a Service's Now.
func (h *Host) Now() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now()
}

// Advance moves the host's clock d further.
func (h *Host) Advance(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.clock = h.clock.Add(d)
}

// Restart ends the current process as a crash would: every job it left
// open becomes an orphan that the next process's recovery finds.
func (h *Host) Restart() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.process++
}

// Store is the host's state store.
func (h *Host) Store() *Store { return &Store{h: h} }

// Releases builds nothing: it gives the host's Release.
func (h *Host) Releases() *Releases { return &Releases{h: h} }

// Databases are the host's instance databases.
func (h *Host) Databases() *Databases { return &Databases{h: h} }

// Tenants are the host's system users and database roles.
func (h *Host) Tenants() *Tenants { return &Tenants{h: h} }

// Units are the host's systemd units.
func (h *Host) Units() *Units { return &Units{h: h} }

// Sites are the host's nginx sites.
func (h *Host) Sites() *Sites { return &Sites{h: h} }

// Certs issues certificates for a TLS mode.
func (h *Host) Certs() *Certs { return &Certs{h: h} }

// DNS holds the zone's A records.
func (h *Host) DNS() *DNS { return &DNS{h: h} }

// Snapshot is the whole host as text, one line per thing it holds,
// sorted: equal snapshots are equal hosts. Jobs and their events are
// left out (they are the record of what happened, not the host's state),
// and so are passwords, which a rollback need not restore bit for bit;
// the instance rows, with their states and ports, are in.
func (h *Host) Snapshot() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var lines []string
	add := func(format string, a ...any) { lines = append(lines, fmt.Sprintf(format, a...)) }
	for n, i := range h.instances {
		add("instance %s state=%s ports=%d/%d user=%q role=%q release=%q version=%q", n, i.State, i.Ports.HTTP, i.Ports.Gevent, i.User, i.DBRole, i.Release.Key, h.versions[n])
	}
	for n, d := range h.databases {
		add("database %s owner=%q modules=%q closed=%v url=%q marker=%q neutralized=%v updated=%q data=%q", n, d.Owner, d.Modules, d.Closed, d.BaseURL, d.Marker, d.Neutralized, d.UpdatedTo, d.Data)
	}
	for n, home := range h.users {
		add("user %s home=%s", n, home)
	}
	for n := range h.roles {
		add("role %s", n)
	}
	for p, u := range h.units {
		add("unit %s active=%v disabled=%v\n%s", p, u.Active, u.Disabled, u.Content)
	}
	for n, s := range h.sites {
		add("site %s\n%s", n, s)
	}
	for d, dom := range h.certs {
		add("cert %s for %s", d, dom)
	}
	for f := range h.records {
		add("record A %s", f)
	}
	for f, addr := range h.theirs {
		add("record A %s %s, another server's", f, addr)
	}
	h.treeLines(add)
	h.backupLines(add)
	for db := range h.pitr {
		add("pitr scratch %s", db)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// Releases is a provision.ReleaseBuilder that gives one release.
type Releases struct{ h *Host }

var _ provision.ReleaseBuilder = (*Releases)(nil)

// Ensure returns the host's release.
func (r *Releases) Ensure(context.Context, func(string)) (provision.Release, error) {
	return r.h.Release, nil
}

// Databases is a provision.DatabaseMaker over the model's databases.
type Databases struct{ h *Host }

var _ provision.DatabaseMaker = (*Databases)(nil)

// Create makes the database of spec; one that exists is left as it is.
func (d *Databases) Create(_ context.Context, spec provision.DatabaseSpec) error {
	d.h.mu.Lock()
	defer d.h.mu.Unlock()
	if _, ok := d.h.databases[spec.Name]; ok {
		return nil
	}
	if spec.Owner != "" {
		if _, ok := d.h.roles[spec.Owner]; !ok {
			return fmt.Errorf("provisiontest: create database %s: role %s does not exist", spec.Name, spec.Owner)
		}
	}
	d.h.databases[spec.Name] = Database{Owner: spec.Owner, AdminPassword: spec.AdminPassword, Modules: strings.Join(spec.Modules, ","), BaseURL: spec.BaseURL}
	// The template's filestore is copied beside the database, into the
	// instance's data dir (root's until the files step gives the tree to
	// its user).
	t, ok := d.h.trees[spec.Name]
	if !ok {
		t = &Tree{Confs: map[provision.ConfFile]ConfFile{}, Stores: map[string]string{}}
		d.h.trees[spec.Name] = t
	}
	t.Stores[spec.Name] = "root"
	return nil
}

// SetAdminPassword sets the admin password of database db.
func (d *Databases) SetAdminPassword(_ context.Context, db, password string) error {
	d.h.mu.Lock()
	defer d.h.mu.Unlock()
	got, ok := d.h.databases[db]
	if !ok {
		return fmt.Errorf("provisiontest: database %s does not exist", db)
	}
	got.AdminPassword = password
	d.h.databases[db] = got
	return nil
}

// Drop drops a database; a missing one is fine.
func (d *Databases) Drop(_ context.Context, name string) error {
	d.h.mu.Lock()
	defer d.h.mu.Unlock()
	delete(d.h.databases, name)
	return nil
}

// DropAdopted drops a database odoobot did not make.
func (d *Databases) DropAdopted(ctx context.Context, name string) error { return d.Drop(ctx, name) }

// Exists reports whether a database exists.
func (d *Databases) Exists(_ context.Context, name string) (bool, error) {
	d.h.mu.Lock()
	defer d.h.mu.Unlock()
	_, ok := d.h.databases[name]
	return ok, nil
}

// WriteData records that the instance's users wrote text into database
// db, as a tenant's work between two jobs.
func (h *Host) WriteData(db, text string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	got := h.databases[db]
	got.Data = text
	h.databases[db] = got
	h.history[db] = append(h.history[db], written{h.now(), text})
}

// Database returns a database of the model.
func (h *Host) Database(name string) (Database, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	db, ok := h.databases[name]
	return db, ok
}

// Tenants is a provision.Tenants over the model's users and roles.
type Tenants struct{ h *Host }

var _ provision.Tenants = (*Tenants)(nil)

// EnsureUser makes a system user unless it exists.
func (t *Tenants) EnsureUser(_ context.Context, name, home string) error {
	t.h.mu.Lock()
	defer t.h.mu.Unlock()
	if _, ok := t.h.users[name]; !ok {
		t.h.users[name] = home
	}
	return nil
}

// RemoveUser removes a system user; a missing one is fine.
func (t *Tenants) RemoveUser(_ context.Context, name string) error {
	t.h.mu.Lock()
	defer t.h.mu.Unlock()
	delete(t.h.users, name)
	return nil
}

// EnsureRole makes a role or sets its password.
func (t *Tenants) EnsureRole(_ context.Context, name, password string) error {
	t.h.mu.Lock()
	defer t.h.mu.Unlock()
	t.h.roles[name] = password
	return nil
}

// DropRole drops a role; a missing one is fine. A role that still owns
// a database is refused, as PostgreSQL refuses it.
func (t *Tenants) DropRole(_ context.Context, name string) error {
	t.h.mu.Lock()
	defer t.h.mu.Unlock()
	for n, db := range t.h.databases {
		if db.Owner == name {
			return fmt.Errorf("provisiontest: role %s cannot be dropped: it owns database %s", name, n)
		}
	}
	delete(t.h.roles, name)
	return nil
}

// RoleExists reports whether a role exists.
func (t *Tenants) RoleExists(_ context.Context, name string) (bool, error) {
	t.h.mu.Lock()
	defer t.h.mu.Unlock()
	_, ok := t.h.roles[name]
	return ok, nil
}

// Units is a provision.ServiceManager over the model's units.
type Units struct{ h *Host }

var _ provision.ServiceManager = (*Units)(nil)

func unitName(path string) string { return path[strings.LastIndex(path, "/")+1:] }

func (u *Units) find(unit string) (string, Unit, bool) {
	for p, got := range u.h.units {
		if unitName(p) == unit {
			return p, got, true
		}
	}
	return "", Unit{}, false
}

// Install writes a unit file.
func (u *Units) Install(_ context.Context, path string, content []byte) error {
	u.h.mu.Lock()
	defer u.h.mu.Unlock()
	got := u.h.units[path]
	got.Content = string(content)
	u.h.units[path] = got
	return nil
}

func (u *Units) set(unit string, active bool, op string) error {
	u.h.mu.Lock()
	defer u.h.mu.Unlock()
	p, got, ok := u.find(unit)
	if !ok {
		if !active {
			return nil
		}
		return &provision.UnitError{Op: op, Unit: unit, Result: "failed", ActiveState: "inactive", SubState: "dead", Reason: "not-found"}
	}
	got.Active = active
	u.h.units[p] = got
	return nil
}

// Start starts a unit that is installed.
func (u *Units) Start(_ context.Context, unit string) error { return u.set(unit, true, "start") }

// Restart (re)starts a unit that is installed.
func (u *Units) Restart(_ context.Context, unit string) error { return u.set(unit, true, "restart") }

// Stop stops a unit; an unknown one is fine.
func (u *Units) Stop(_ context.Context, unit string) error { return u.set(unit, false, "stop") }

// SetEnabled enables or disables an installed unit.
func (u *Units) SetEnabled(_ context.Context, path string, enabled bool) error {
	u.h.mu.Lock()
	defer u.h.mu.Unlock()
	got, ok := u.h.units[path]
	if !ok {
		return &provision.UnitError{Op: "enable", Unit: unitName(path), Result: "failed", ActiveState: "inactive", SubState: "dead", Reason: "not-found"}
	}
	got.Disabled = !enabled
	u.h.units[path] = got
	return nil
}

// Remove stops a unit and removes its file; a missing one is fine.
func (u *Units) Remove(_ context.Context, path string) error {
	u.h.mu.Lock()
	defer u.h.mu.Unlock()
	delete(u.h.units, path)
	return nil
}

// Status says whether a unit is loaded and running.
func (u *Units) Status(_ context.Context, unit string) (provision.ServiceStatus, error) {
	u.h.mu.Lock()
	defer u.h.mu.Unlock()
	_, got, ok := u.find(unit)
	st := provision.ServiceStatus{Unit: unit, Loaded: ok, ActiveState: "inactive", SubState: "dead"}
	if got.Active {
		st.ActiveState, st.SubState, st.MainPID = "active", "running", 4242
	}
	return st, nil
}

// Journal has no lines.
func (u *Units) Journal(context.Context, string, int) ([]string, error) { return nil, nil }

// Unit returns a unit of the model by its file's path.
func (h *Host) Unit(path string) (Unit, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	u, ok := h.units[path]
	return u, ok
}

// Sites is a provision.SiteManager over the model's nginx sites.
type Sites struct{ h *Host }

var _ provision.SiteManager = (*Sites)(nil)

// Install writes and enables a site.
func (s *Sites) Install(_ context.Context, name string, site []byte) error {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	s.h.sites[name] = string(site)
	return nil
}

// Remove removes a site; a missing one is fine.
func (s *Sites) Remove(_ context.Context, name string) error {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	delete(s.h.sites, name)
	return nil
}

// Verify succeeds when a site names host.
func (s *Sites) Verify(_ context.Context, host string, _ bool, _ *x509.CertPool) error {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	for _, site := range s.h.sites {
		if strings.Contains(site, host) {
			return nil
		}
	}
	return fmt.Errorf("provisiontest: no site serves %s", host)
}

// Certs is a provision.CertIssuer that records which certificates exist.
type Certs struct{ h *Host }

var _ provision.CertIssuer = (*Certs)(nil)

// Issue records a certificate for inst in dir.
func (c *Certs) Issue(_ context.Context, inst provision.Instance, dir string) (provision.CertFiles, error) {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	c.h.certs[dir] = inst.Domain
	return provision.CertFiles{Cert: dir + "/fullchain.pem", Key: dir + "/privkey.pem"}, nil
}

// Remove forgets the certificate in dir.
func (c *Certs) Remove(_ context.Context, _ provision.Instance, dir string) error {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	delete(c.h.certs, dir)
	return nil
}

// DNS is a provision.DNS over the model's A records.
type DNS struct{ h *Host }

var _ provision.DNS = (*DNS)(nil)

// EnsureRecord makes fqdn's A record; a record another server made there
// is refused.
func (d *DNS) EnsureRecord(_ context.Context, fqdn string) error {
	d.h.mu.Lock()
	defer d.h.mu.Unlock()
	if addr, ok := d.h.theirs[fqdn]; ok {
		return fmt.Errorf("%s is taken in DNS by A %s, another server's: %w", fqdn, addr, provision.ErrNameTakenInDNS)
	}
	d.h.records[fqdn] = true
	return nil
}

// PlantRecord puts at fqdn an A record to addr that odoobot on another
// server made for the instance.
func (h *Host) PlantRecord(fqdn, addr string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.theirs[fqdn] = addr
}

// Holder returns another server's record at fqdn, if any.
func (d *DNS) Holder(_ context.Context, fqdn string) (provision.DNSTaken, error) {
	d.h.mu.Lock()
	defer d.h.mu.Unlock()
	addr, ok := d.h.theirs[fqdn]
	if !ok {
		return provision.DNSTaken{}, nil
	}
	return provision.DNSTaken{RecordID: "id-" + fqdn, Content: addr, Comment: "managed-by: odoobot server=other"}, nil
}

// TakeOver makes another server's record at fqdn this server's, when it
// is still was.
func (d *DNS) TakeOver(_ context.Context, fqdn string, was provision.DNSTaken) error {
	if was.RecordID == "" {
		return nil
	}
	d.h.mu.Lock()
	defer d.h.mu.Unlock()
	if addr, ok := d.h.theirs[fqdn]; !ok || addr != was.Content {
		return fmt.Errorf("%s changed since it was looked up: %w", fqdn, provision.ErrNameTakenInDNS)
	}
	delete(d.h.theirs, fqdn)
	d.h.records[fqdn] = true
	return nil
}

// GiveBack puts the record taken over back as it was.
func (d *DNS) GiveBack(_ context.Context, fqdn string, was provision.DNSTaken) error {
	if was.RecordID == "" {
		return nil
	}
	d.h.mu.Lock()
	defer d.h.mu.Unlock()
	delete(d.h.records, fqdn)
	d.h.theirs[fqdn] = was.Content
	return nil
}

// Check accepts: the model's zone is always there.
func (d *DNS) Check(context.Context) error { return nil }

// ReportingWaits returns d: the model never waits.
func (d *DNS) ReportingWaits(func(time.Duration, string)) provision.DNS { return d }

// DeleteRecord removes fqdn's A record; a missing one is fine.
func (d *DNS) DeleteRecord(_ context.Context, fqdn string) error {
	d.h.mu.Lock()
	defer d.h.mu.Unlock()
	delete(d.h.records, fqdn)
	return nil
}

// Names lists what the model holds of each kind, for messages.
func (h *Host) Names() map[string][]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return map[string][]string{
		"databases": slices.Sorted(maps.Keys(h.databases)),
		"users":     slices.Sorted(maps.Keys(h.users)),
		"sites":     slices.Sorted(maps.Keys(h.sites)),
	}
}

// JobLogs keeps each job's log in memory.
type JobLogs struct{ h *Host }

var _ provision.JobLogs = (*JobLogs)(nil)

// JobLogs are the host's job logs.
func (h *Host) JobLogs() *JobLogs { return &JobLogs{h: h} }

// Append opens the log at path.
func (l *JobLogs) Append(path string) (io.WriteCloser, error) {
	return &logWriter{h: l.h, path: path}, nil
}

type logWriter struct {
	h    *Host
	path string
}

func (w *logWriter) Write(b []byte) (int, error) {
	w.h.mu.Lock()
	defer w.h.mu.Unlock()
	w.h.logs[w.path] += string(b)
	return len(b), nil
}

func (w *logWriter) Close() error { return nil }

// JobLog returns what was written to the job log at path.
func (h *Host) JobLog(path string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.logs[path]
}

// Owners hands the model's databases to roles.
type Owners struct{ h *Host }

var _ provision.DatabaseOwners = (*Owners)(nil)

// Owners are the host's database owners.
func (h *Host) Owners() *Owners { return &Owners{h: h} }

// GiveTo makes role the owner of db and returns the previous owner
// (the empty role is odoobot's, named by Host.BotRole).
func (o *Owners) GiveTo(_ context.Context, db, role string, closed bool) (string, error) {
	o.h.mu.Lock()
	defer o.h.mu.Unlock()
	got, ok := o.h.databases[db]
	if !ok {
		return "", fmt.Errorf("provisiontest: database %s does not exist", db)
	}
	if role != o.h.BotRole {
		if _, ok := o.h.roles[role]; !ok {
			return "", fmt.Errorf("provisiontest: role %s does not exist", role)
		}
	}
	prev := got.Owner
	if prev == "" {
		prev = o.h.BotRole
	}
	if role == o.h.BotRole {
		role = ""
	}
	got.Owner, got.Closed = role, closed
	o.h.databases[db] = got
	return prev, nil
}

// Copies finishes copied databases in the model.
type Copies struct{ h *Host }

var _ provision.DatabaseCopies = (*Copies)(nil)

// Copies finish the host's copied databases.
func (h *Host) Copies() *Copies { return &Copies{h: h} }

// FinishCopy records db's new identity.
func (c *Copies) FinishCopy(_ context.Context, db, baseURL, _, marker string) error {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	got, ok := c.h.databases[db]
	if !ok {
		return fmt.Errorf("provisiontest: database %s does not exist", db)
	}
	got.BaseURL, got.Marker = baseURL, marker
	c.h.databases[db] = got
	return nil
}

// Param reads web.base.url or the marker of db.
func (c *Copies) Param(_ context.Context, db, key string) (string, error) {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	got, ok := c.h.databases[db]
	if !ok {
		return "", fmt.Errorf("provisiontest: database %s does not exist", db)
	}
	switch key {
	case "web.base.url":
		return got.BaseURL, nil
	case "database.is_neutralized":
		if got.Neutralized {
			return "True", nil
		}
		return "", nil
	}
	return got.Marker, nil
}
