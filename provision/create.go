package provision

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"odoobot/templates"
)

// Store is what the domain needs from the state store (provision/postgres).
type Store interface {
	JobStore
	ReserveInstance(ctx context.Context, inst Instance, http, gevent PortRange, inUse func(port int) bool) (Instance, error)
	Instance(ctx context.Context, name string) (Instance, error)
	Instances(ctx context.Context) ([]Instance, error)
	SetState(ctx context.Context, name string, st State) error
	// SetOdooVersion records the Odoo an instance was created on, as the
	// summary shows it ("19.0 community").
	SetOdooVersion(ctx context.Context, name, version string) error
	// SetRelease records the release an instance runs.
	SetRelease(ctx context.Context, name string, rel ReleaseRecord) error
	// SetTenant records the system user and database role an instance
	// runs as.
	SetTenant(ctx context.Context, name, user, role string) error
	ReleaseInstance(ctx context.Context, name string) error
	CreateJob(ctx context.Context, j Job) (Job, error)
	// OrphanedJobs are the open jobs whose process is gone; the jobs of
	// live processes (another odoobot running a job now) are not.
	OrphanedJobs(ctx context.Context) ([]Job, error)
	ActiveJob(ctx context.Context, instance string) (Job, bool, error)
	// Events returns a job's events in the order they were recorded:
	// what recovery decides from.
	Events(ctx context.Context, id int64) ([]Event, error)
	// Jobs returns instance's jobs of kind, newest first, at most n:
	// what a restore drill's outcome is read from.
	Jobs(ctx context.Context, instance string, kind JobKind, n int) ([]Job, error)
}

// ReleaseBuilder gives the Odoo release instances run on (provision/odoo).
type ReleaseBuilder interface {
	// Ensure returns the release to run, built if needed; progress (nil
	// for none) hears each phase of a build.
	Ensure(ctx context.Context, progress func(phase string)) (Release, error)
}

// DatabaseMaker creates and drops instance databases (provision/odoo).
type DatabaseMaker interface {
	Create(ctx context.Context, spec DatabaseSpec) error
	// SetAdminPassword sets the password of database db's Odoo user
	// "admin", stored as Odoo stores it; the password is never logged.
	SetAdminPassword(ctx context.Context, db, password string) error
	Drop(ctx context.Context, name string) error
	Exists(ctx context.Context, name string) (bool, error)
	// DropAdopted drops a database odoobot did not make but the store
	// vouches for: an imported instance being deleted.
	DropAdopted(ctx context.Context, name string) error
}

// ServiceManager runs instance units (provision/systemd).
type ServiceManager interface {
	Install(ctx context.Context, unitPath string, content []byte) error
	Start(ctx context.Context, unit string) error
	Stop(ctx context.Context, unit string) error
	Restart(ctx context.Context, unit string) error
	// SetEnabled enables the unit at unitPath (it starts at boot) or
	// disables it (it stays stopped across a reboot), leaving it running
	// or stopped as it is.
	SetEnabled(ctx context.Context, unitPath string, enabled bool) error
	Remove(ctx context.Context, unitPath string) error
	Status(ctx context.Context, unit string) (ServiceStatus, error)
	Journal(ctx context.Context, unit string, n int) ([]string, error)
}

// Tenants gives each instance a system user and a PostgreSQL role of its
// own (provision/tenant).
type Tenants interface {
	// EnsureUser makes system user name (a group of its own, no login
	// shell, home not created) unless it exists.
	EnsureUser(ctx context.Context, name, home string) error
	// RemoveUser removes the user and its group; a missing one is fine.
	RemoveUser(ctx context.Context, name string) error
	// EnsureRole makes login role name with password (or sets the
	// password of the existing one), granted to odoobot's role.
	EnsureRole(ctx context.Context, name, password string) error
	// DropRole drops role name; a missing one is fine.
	DropRole(ctx context.Context, name string) error
	RoleExists(ctx context.Context, name string) (bool, error)
}

// SiteManager installs nginx sites (provision/nginx).
type SiteManager interface {
	Install(ctx context.Context, name string, site []byte) error
	Remove(ctx context.Context, name string) error
	Verify(ctx context.Context, host string, tls bool, roots *x509.CertPool) error
}

// CertFiles are where an instance's certificate and key are.
type CertFiles struct {
	Cert, Key string
}

// CertIssuer obtains and removes an instance's TLS certificate for one
// mode (Cloudflare Origin CA, or Let's Encrypt).
type CertIssuer interface {
	Issue(ctx context.Context, inst Instance, dir string) (CertFiles, error)
	Remove(ctx context.Context, inst Instance, dir string) error
}

// DBConn is how instances reach PostgreSQL; it goes into odoo.conf.
type DBConn struct {
	Host     string
	Port     int
	User     string
	Password string
}

// OdooSettings are the per-instance Odoo settings from the configuration.
type OdooSettings struct {
	// Version is shown in the summary, e.g. "19.0 enterprise", when the
	// release does not say which series and edition it is.
	Version         string
	Modules         []string
	Workers         int
	MaxCronThreads  int
	LimitMemorySoft int64 // bytes
	LimitMemoryHard int64 // bytes
	// Unaccent turns on Odoo's unaccent option; the databases must have
	// the extension (odoo.DatabaseConfig.Unaccent).
	Unaccent bool
}

// CreateRequest asks for one instance.
type CreateRequest struct {
	Name      string
	Mode      SSLMode
	By        string // who asked
	Subscribe []Subscriber
	ChatRef   map[string]string
	Finished  func(Job)
	// RevealAdmin, when set, is called once, after the creation succeeded,
	// with the password of the instance's Odoo "admin" user. It is the
	// only place that password goes: never the job, its events, the
	// creation log, the thread, the audit or info-instancia.txt. The
	// caller shows it to the requester alone.
	RevealAdmin func(ctx context.Context, password string)
}

// ErrModeUnavailable is returned for a TLS mode this host cannot serve.
var ErrModeUnavailable = errors.New("SSL mode not available")

// Create checks the name, the mode, the host's capacity and that nothing
// of that name is already on the host, records the job, reserves the
// instance and its ports, and queues the creation. Every refusal (bad
// name, mode unavailable, no capacity, instance exists, foreign leftovers,
// busy, no free port) comes back here and leaves nothing behind. The
// returned task ends when the job does.
func (s *Service) Create(ctx context.Context, req CreateRequest) (*Task, error) {
	if err := s.cfg.Rules.Check(req.Name); err != nil {
		return nil, err
	}
	if req.Mode.TLS() && s.cfg.Certs[req.Mode] == nil {
		return nil, fmt.Errorf("%w: %s needs %s; use http, or configure it", ErrModeUnavailable, req.Mode, modeNeeds(req.Mode))
	}
	if s.cfg.DNS != nil {
		if err := s.cfg.DNS.Check(ctx); err != nil {
			return nil, fmt.Errorf("DNS: %w", err)
		}
	}
	warning, err := s.admit(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.cfg.Store.Instance(ctx, req.Name); err == nil {
		return nil, &NameError{Name: req.Name, Rule: RuleTaken, Reason: "an instance of that name exists; see list"}
	} else if !errors.Is(err, ErrInstanceNotFound) {
		return nil, fmt.Errorf("provision: look up %s: %w", req.Name, err)
	}
	inst := s.newInstance(req.Name, req.Mode)
	if err := s.hostFree(ctx, inst); err != nil {
		return nil, err
	}
	plan, cr := s.createPlan(inst)
	return s.startCreation(ctx, inst, plan, cr, req.By, req.ChatRef, func(t *Task) {
		t.Subscribe, t.Finished = req.Subscribe, cr.finished(ctx, req)
		if warning != "" {
			t.Notes = append(t.Notes, "capacity: "+warning)
		}
	})
}

// startCreation records the job of a plan that makes inst (a creation,
// a clone, a rebuild), reserves the instance and its ports, and queues
// the task: ready sets its subscribers, end and notes first. A refused
// reservation ends the job rolled back; a refused submit rolls back the
// task. Either comes back here and leaves nothing.
func (s *Service) startCreation(ctx context.Context, inst Instance, plan Plan, cr *creation, by string, chatRef map[string]string, ready func(*Task)) (*Task, error) {
	job, err := s.cfg.Store.CreateJob(ctx, Job{
		Kind: plan.Kind, Instance: inst.Name, State: JobQueued, RequestedBy: by,
		Params: plan.Params, ChatRef: chatRef,
	})
	if err != nil {
		return nil, err
	}
	inst.CreatedBy, inst.CreatedAt = by, s.cfg.Now()
	reserved, err := s.cfg.Store.ReserveInstance(ctx, inst, s.cfg.HTTPPorts, s.cfg.GeventPorts, s.cfg.InUse)
	if err != nil {
		_ = s.cfg.Store.FinishJob(context.WithoutCancel(ctx), job.ID, JobRolledBack, err.Error(), nil)
		return nil, err
	}
	plan.Instance = reserved
	t := cr.start(plan, job)
	ready(t)
	if err := s.cfg.Runner.Submit(t); err != nil {
		s.cfg.Runner.RollBack(context.WithoutCancel(ctx), t, err.Error())
		return nil, err
	}
	return t, nil
}

// newInstance is the instance a creation of name makes: with a user and
// role of its own when Tenants is set.
func (s *Service) newInstance(name string, mode SSLMode) Instance {
	inst := s.cfg.Layout.NewInstance(name, mode)
	if s.cfg.Tenants == nil {
		inst.User, inst.DBRole = "", ""
	}
	return inst
}

// ErrHostNotFree is returned when the host already has something of an
// instance the store does not know (an API-DEV instance not imported, a
// leftover by hand): a creation would overwrite it, and its rollback
// would remove it.
var ErrHostNotFree = errors.New("already on this host")

// hostFree checks that nothing of inst exists on the host: its directory,
// unit, nginx site, database, system user or database role.
func (s *Service) hostFree(ctx context.Context, inst Instance) error {
	if inst.User != "" {
		if err := s.tenantFree(ctx, inst); err != nil {
			return err
		}
	}
	f, err := s.cfg.Files.Leftover(ctx, inst)
	if err != nil {
		return fmt.Errorf("provision: check %s is free: %w", inst.Name, err)
	}
	if f != "" {
		return fmt.Errorf("%w: %s exists but odoobot does not know %s; adopt it with odoobot import, or remove it", ErrHostNotFree, f, inst.Name)
	}
	exists, err := s.cfg.Databases.Exists(ctx, inst.Internal)
	if err != nil {
		return fmt.Errorf("provision: check database %s: %w", inst.Internal, err)
	}
	if exists {
		return fmt.Errorf("%w: database %s exists but odoobot does not know %s; adopt it with odoobot import, or remove it", ErrHostNotFree, inst.Internal, inst.Name)
	}
	return nil
}

func modeNeeds(m SSLMode) string {
	if m == SSLCloudflare {
		return "CF_API_TOKEN (Origin CA) or CF_ORIGIN_CERT and CF_ORIGIN_KEY"
	}
	return "ACME_DIRECTORY_URL and a way to answer the challenge"
}

// jobLog is the log of a day-two job, beside the creation log:
// <LogDir>/<kind>-prod-NAME.log.
func (s *Service) jobLog(kind JobKind, inst Instance) string {
	return filepath.Join(filepath.Dir(s.cfg.Layout.Paths(inst).CreateLog), string(kind)+"-"+inst.Internal+".log")
}

// creation is the state shared by the steps of one creation.
type creation struct {
	c       *Service
	inst    Instance
	paths   Paths
	release Release
	certs   CertFiles
	// adminPassword is the Odoo admin user's password the database step
	// set. It lives here only, until finished hands it to RevealAdmin.
	adminPassword string
	// dbPassword is the password the tenant step gave the instance's
	// database role, for the files step to write into odoo.conf.
	dbPassword string
	task       *Task // reports a long step's progress
}

// progress reports how far a long step of the creation has come.
func (cr *creation) progress(step StepName, text string) {
	if cr.task != nil {
		cr.task.Progress(step, text)
	}
}

// finished returns the Finished of a creation's task: once the job has
// succeeded, req.RevealAdmin gets the admin password (once, and only
// then); the password is forgotten whatever the outcome; then
// req.Finished runs.
func (cr *creation) finished(ctx context.Context, req CreateRequest) func(Job) {
	return func(j Job) {
		pw := cr.adminPassword
		cr.adminPassword = ""
		if j.State == JobSucceeded && pw != "" && req.RevealAdmin != nil {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			req.RevealAdmin(rctx, pw)
			cancel()
		}
		if req.Finished != nil {
			req.Finished(j)
		}
	}
}

// createPlan is the plan of a creation of inst, with the creation its
// steps share: the steps StepNames orders for the instance's mode,
// logged in the creation log. It has no Recover: a creation found open
// after a crash is rolled back, step by step (see recoverCreation).
func (s *Service) createPlan(inst Instance) (Plan, *creation) {
	cr := &creation{c: s, inst: inst, paths: s.cfg.Layout.Paths(inst)}
	opts := PlanOptions{ManagesDNS: s.cfg.DNS != nil, DNS01: s.cfg.DNS != nil}
	all := map[StepName]Step{
		StepReserve:     {StepReserve, cr.checkReserved, cr.unreserve},
		StepRelease:     {StepRelease, cr.ensureRelease, nil},
		StepTenant:      {StepTenant, cr.ensureTenant, cr.removeTenant},
		StepDatabase:    {StepDatabase, cr.createDatabase, cr.dropDatabase},
		StepFiles:       {StepFiles, cr.writeFiles, cr.removeFiles},
		StepService:     {StepService, cr.startService, cr.removeService},
		StepHealth:      {StepHealth, cr.waitHealthy, nil},
		StepCertificate: {StepCertificate, cr.issueCertificate, cr.removeCertificate},
		StepChallenge:   {StepChallenge, cr.installChallengeSite, cr.removeSite},
		StepNginx:       {StepNginx, cr.installSite, cr.removeSite},
		StepDNS:         {StepDNS, cr.ensureRecord, cr.deleteRecord},
		StepVerify:      {StepVerify, cr.verify, nil},
		StepSummary:     {StepSummary, cr.summarize, cr.unsummarize},
	}
	var steps []Step
	for _, n := range StepNames(inst.SSLMode, opts) {
		steps = append(steps, all[n])
	}
	return Plan{
		Kind: JobCreate, Instance: inst, Params: map[string]string{"ssl": string(inst.SSLMode)},
		Steps: steps, LogPath: cr.paths.CreateLog,
	}, cr
}

// start makes p the task of job, whose long steps report their progress
// and whose summary step keeps its text there.
func (cr *creation) start(p Plan, job Job) *Task {
	cr.task = p.task(job)
	return cr.task
}

func (cr *creation) checkReserved(ctx context.Context) error {
	inst, err := cr.c.cfg.Store.Instance(ctx, cr.inst.Name)
	if err != nil {
		return fmt.Errorf("reservation of %s: %w", cr.inst.Name, err)
	}
	cr.inst.Ports, cr.inst.CreatedAt, cr.inst.CreatedBy = inst.Ports, inst.CreatedAt, inst.CreatedBy
	return nil
}

func (cr *creation) unreserve(ctx context.Context) error {
	return cr.c.cfg.Store.ReleaseInstance(ctx, cr.inst.Name)
}

func (cr *creation) ensureRelease(ctx context.Context) error {
	rel, err := cr.c.cfg.Releases.Ensure(ctx, func(phase string) { cr.progress(StepRelease, phase) })
	if err != nil {
		return err
	}
	cr.release = rel
	return nil
}

func (cr *creation) baseURL() string {
	if cr.inst.SSLMode.TLS() {
		return "https://" + cr.inst.Domain
	}
	return "http://" + cr.inst.Domain
}

// localURL is the instance's own HTTP address on this host.
func (cr *creation) localURL() string {
	return "http://127.0.0.1:" + strconv.Itoa(cr.inst.Ports.HTTP)
}

// createDatabase makes the database from its template, then gives its
// admin user a password of its own in place of the template's "admin".
func (cr *creation) createDatabase(ctx context.Context) error {
	pw, err := NewAdminPassword()
	if err != nil {
		return err
	}
	err = cr.c.cfg.Databases.Create(ctx, DatabaseSpec{
		Name: cr.inst.Internal, Owner: cr.inst.DBRole, Release: cr.release, Modules: cr.c.cfg.Odoo.Modules,
		BaseURL: cr.baseURL(), ReportURL: cr.localURL(), DataDir: cr.paths.DataDir,
		AdminPassword: pw,
		Progress:      func(text string) { cr.progress(StepDatabase, text) },
	})
	if err != nil {
		return err
	}
	cr.adminPassword = pw
	return nil
}

// ensureTenant makes the instance's system user and database role, the
// role with a new password of its own. An instance that shares the
// service user has nothing to make.
func (cr *creation) ensureTenant(ctx context.Context) error {
	if cr.inst.User == "" {
		return nil
	}
	if err := cr.c.cfg.Tenants.EnsureUser(ctx, cr.inst.User, cr.paths.Dir); err != nil {
		return err
	}
	pw, err := randomSecret()
	if err != nil {
		return err
	}
	if err := cr.c.cfg.Tenants.EnsureRole(ctx, cr.inst.DBRole, pw); err != nil {
		return err
	}
	cr.dbPassword = pw
	return nil
}

// removeTenant drops the instance's database role and removes its system
// user; its database must be gone first.
func (cr *creation) removeTenant(ctx context.Context) error {
	if cr.inst.User == "" || cr.c.cfg.Tenants == nil {
		return nil
	}
	// Both are tried: a role that cannot be dropped must not keep the user.
	return errors.Join(cr.c.cfg.Tenants.DropRole(ctx, cr.inst.DBRole), cr.c.cfg.Tenants.RemoveUser(ctx, cr.inst.User))
}

// adminPasswordLen and adminPasswordChars make an admin password: 20
// letters and digits, about 119 bits.
const (
	adminPasswordLen   = 20
	adminPasswordChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// NewAdminPassword returns a random password for an Odoo admin user: 20
// letters and digits, each drawn uniformly from crypto/rand.
func NewAdminPassword() (string, error) {
	out := make([]byte, 0, adminPasswordLen)
	buf := make([]byte, 64)
	for len(out) < adminPasswordLen {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("random: %w", err)
		}
		for _, b := range buf {
			// 248 = 4 × 62: rejecting above it keeps every character equally likely.
			if int(b) < 248 && len(out) < adminPasswordLen {
				out = append(out, adminPasswordChars[int(b)%len(adminPasswordChars)])
			}
		}
	}
	return string(out), nil
}

// dropDatabase drops the database and the filestore copied beside it,
// then the data and instance directories if nothing else is in them (the
// files step may not have run).
func (cr *creation) dropDatabase(ctx context.Context) error {
	if err := cr.c.cfg.Databases.Drop(ctx, cr.inst.Internal); err != nil {
		return err
	}
	// The staging name restore and clone use is the instance's own: what
	// a crash left under it goes too.
	if err := cr.c.cfg.Databases.DropAdopted(ctx, cr.inst.Internal+RestoreStagingSuffix); err != nil {
		return err
	}
	if err := cr.c.cfg.Files.RemoveData(ctx, cr.inst); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	return nil
}

// writeFiles lays out the instance directory and odoo.conf.
//
// An instance with a user of its own (the default) gets: the directory,
// custom_addons and odoo.conf owned by root with its group (0750, 0750,
// 0640), so it reads its configuration and modules but cannot change
// them; the data dir (filestore, sessions) and odoo.log its own (0750,
// 0640); nothing for anyone else. odoo.conf names its own database role
// and password. An instance sharing the service user gets the whole tree
// owned by that user, odoo.conf 0640, and odoobot's role.
func (cr *creation) writeFiles(ctx context.Context) error {
	own := cr.inst.User != ""
	files := cr.c.cfg.Files
	modules, err := files.Prepare(ctx, cr.inst)
	if err != nil {
		return err
	}
	p := cr.paths
	pw, err := randomSecret()
	if err != nil {
		return err
	}
	db := cr.c.cfg.DB
	if own {
		if cr.dbPassword == "" {
			return errors.New("files: the database role's password is unknown: the tenant step did not run")
		}
		db.User, db.Password = cr.inst.DBRole, cr.dbPassword
	}
	o := cr.c.cfg.Odoo
	conf := templates.OdooConf{
		Version:  cr.release.Version,
		HTTPPort: cr.inst.Ports.HTTP, GeventPort: cr.inst.Ports.Gevent,
		DBHost: db.Host, DBPort: db.Port, DBUser: db.User, DBPassword: db.Password,
		DBName: cr.inst.Internal, Workers: o.Workers, MaxCronThreads: o.MaxCronThreads,
		LimitMemorySoft: o.LimitMemorySoft, LimitMemoryHard: o.LimitMemoryHard,
		AdminPasswd: pw, OdooAddons: cr.odooAddons(), EnterpriseAddons: cr.enterpriseAddons(),
		CustomAddons: p.CustomAddons, OmitCustomAddons: !modules,
		Unaccent: o.Unaccent, DataDir: p.DataDir, LogFile: p.Log,
	}
	b, err := cr.c.cfg.Templates.OdooConf(conf)
	if err != nil {
		return fmt.Errorf("files: render odoo.conf: %w", err)
	}
	if err := files.WriteConf(ctx, cr.inst, ConfLive, b, 0o640, FileOwner{}); err != nil {
		return err
	}
	return files.Give(ctx, cr.inst, cr.runAs(), own)
}

// odooAddons are the release's addons paths without the enterprise one.
func (cr *creation) odooAddons() []string {
	var out []string
	for _, a := range cr.release.AddonsPaths {
		if filepath.Base(a) != "enterprise" {
			out = append(out, a)
		}
	}
	return out
}

func (cr *creation) enterpriseAddons() string {
	for _, a := range cr.release.AddonsPaths {
		if filepath.Base(a) == "enterprise" {
			return a
		}
	}
	return ""
}

// removeFiles removes the instance's directory: a link in it (or in
// its place) is removed, never followed.
func (cr *creation) removeFiles(ctx context.Context) error {
	return cr.c.cfg.Files.Remove(ctx, cr.inst)
}

func (cr *creation) startService(ctx context.Context) error {
	o := cr.c.cfg.Odoo
	conf := templates.OdooConf{Workers: o.Workers, MaxCronThreads: o.MaxCronThreads, LimitMemoryHard: o.LimitMemoryHard}
	b, err := cr.c.cfg.Templates.Unit(templates.Unit{
		Service: cr.inst.Unit, Name: cr.inst.Internal, Domain: cr.inst.Domain, User: cr.runAs(),
		Venv: filepath.Dir(filepath.Dir(cr.release.Python)), Release: filepath.Dir(cr.release.OdooBin),
		Conf: cr.paths.Conf, Dir: cr.paths.Dir, MemoryMax: conf.MemoryMax(),
		HTTPPort: cr.inst.Ports.HTTP, GeventPort: cr.inst.Ports.Gevent,
	})
	if err != nil {
		return fmt.Errorf("service: render unit: %w", err)
	}
	if err := cr.c.cfg.Services.Install(ctx, cr.paths.Unit, b); err != nil {
		return err
	}
	cr.c.warnBindFilter()
	return explainStart(cr.c.probes(), cr.inst, cr.c.cfg.ServiceUser, cr.c.cfg.Services.Start(ctx, cr.inst.Unit))
}

// warnBindFilter logs, once, that the units' SocketBindAllow and
// SocketBindDeny are not enforced on this host: systemd attaches them
// only on a host running cgroup v2 alone.
func (s *Service) warnBindFilter() {
	s.bindWarned.Do(func() {
		if s.cfg.BindFilter == nil {
			return
		}
		if err := s.cfg.BindFilter.BindFilterEnforced(); err != nil {
			s.cfg.Logger.Warn("instances' units may bind any port on this host, a neighbour's too: "+err.Error(), "fix", "boot with cgroup v2 alone (systemd.unified_cgroup_hierarchy=1, Debian 12's default)")
		}
	})
}

// runAs is the system user the instance runs as.
func (cr *creation) runAs() string {
	if cr.inst.User != "" {
		return cr.inst.User
	}
	return cr.c.cfg.ServiceUser
}

func (cr *creation) removeService(ctx context.Context) error {
	return cr.c.cfg.Services.Remove(ctx, cr.paths.Unit)
}

func (cr *creation) waitHealthy(ctx context.Context) error {
	return cr.c.waitHealthy(ctx, cr.inst, cr.paths)
}

// waitHealthy waits until inst answers its health check (waitOwnHealthy),
// giving up at once when its unit has stopped or failed meanwhile, or
// when a user inst does not run as holds its HTTP or gevent port.
func (s *Service) waitHealthy(ctx context.Context, inst Instance, p Paths) error {
	alive := func(ctx context.Context) error {
		st, err := s.cfg.Services.Status(ctx, inst.Unit)
		if err != nil || st.Running() || ((st.ActiveState == "activating" || st.ActiveState == "reloading") && st.SubState != "auto-restart") {
			return nil // unknown or still coming up: keep polling
		}
		return fmt.Errorf("%s is %s/%s", inst.Unit, st.ActiveState, st.SubState)
	}
	return waitOwnHealthy(ctx, s.probes(), inst, s.cfg.ServiceUser, s.cfg.HealthTimeout, s.logTail(inst, p), alive)
}

// startHealthy starts inst's unit and waits until it is healthy, as a
// creation's health step does: how every job that stopped an instance
// starts it again.
func (s *Service) startHealthy(ctx context.Context, inst Instance, p Paths) error {
	if err := s.cfg.Services.Start(ctx, inst.Unit); err != nil {
		return explainStart(s.probes(), inst, s.cfg.ServiceUser, err)
	}
	return s.waitHealthy(ctx, inst, p)
}

func (cr *creation) issueCertificate(ctx context.Context) error {
	files, err := cr.c.cfg.Certs[cr.inst.SSLMode].Issue(ctx, cr.inst, cr.paths.CertDir)
	if err != nil {
		return err
	}
	cr.certs = files
	return nil
}

func (cr *creation) removeCertificate(ctx context.Context) error {
	if is := cr.c.cfg.Certs[cr.inst.SSLMode]; is != nil {
		return is.Remove(ctx, cr.inst, cr.paths.CertDir)
	}
	return nil
}

func (cr *creation) site(mode SSLMode) templates.Site {
	n := cr.c.cfg.Layout.Names(cr.inst.Name)
	return templates.Site{
		Mode: string(mode), Name: n.SiteFile, Domain: n.Domain,
		UpstreamHTTP: n.UpstreamHTTP, UpstreamGevent: n.UpstreamGevent, SSLCache: n.SSLCache,
		HTTPPort: cr.inst.Ports.HTTP, GeventPort: cr.inst.Ports.Gevent,
		ListenHTTP: cr.c.cfg.ListenHTTP, ListenHTTPS: cr.c.cfg.ListenHTTPS,
		CertFile: cr.certs.Cert, KeyFile: cr.certs.Key, ACMEWebroot: cr.c.cfg.ACMEWebroot,
		NoIndex: cr.inst.StagingOf != "",
	}
}

func (cr *creation) installSite(ctx context.Context) error {
	b, err := cr.c.cfg.Templates.Site(cr.site(cr.inst.SSLMode))
	if err != nil {
		return fmt.Errorf("nginx: render site: %w", err)
	}
	return cr.c.cfg.Sites.Install(ctx, cr.inst.Internal, b)
}

// installChallengeSite serves the instance over plain HTTP, which is
// where an HTTP-01 challenge is answered, until the certificate exists.
func (cr *creation) installChallengeSite(ctx context.Context) error {
	st := cr.site(SSLHTTP)
	b, err := cr.c.cfg.Templates.Site(st)
	if err != nil {
		return fmt.Errorf("nginx: render challenge site: %w", err)
	}
	return cr.c.cfg.Sites.Install(ctx, cr.inst.Internal, b)
}

func (cr *creation) removeSite(ctx context.Context) error {
	return cr.c.cfg.Sites.Remove(ctx, cr.inst.Internal)
}

func (cr *creation) ensureRecord(ctx context.Context) error {
	return cr.dns().EnsureRecord(ctx, cr.inst.Domain)
}

func (cr *creation) deleteRecord(ctx context.Context) error {
	return cr.dns().DeleteRecord(ctx, cr.inst.Domain)
}

// dns is the DNS driver, its long waits shown as the DNS step's progress.
func (cr *creation) dns() DNS {
	return showingWaits(cr.c.cfg.DNS, func(text string) { cr.progress(StepDNS, text) })
}

func (cr *creation) verify(ctx context.Context) error { return cr.c.verify(ctx, cr.inst) }

// verify checks inst through nginx itself; a reload returns before the
// new configuration is live, so it retries for a few seconds. What
// answered must be inst: a user inst does not run as holding its HTTP or
// gevent port fails the step (CheckPortOwners).
func (s *Service) verify(ctx context.Context, inst Instance) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.cfg.Sites.Verify(ctx, inst.Domain, inst.SSLMode.TLS(), s.cfg.VerifyRoots)
		if err == nil {
			return s.checkPortOwners(inst)
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// summarize records the release the instance runs, writes
// info-instancia.txt, marks the instance ready and refreshes the
// tracking export.
func (cr *creation) summarize(ctx context.Context) error {
	cr.inst.Release = cr.release.Record()
	b, err := cr.c.cfg.Templates.Info(cr.info())
	if err != nil {
		return fmt.Errorf("summary: render: %w", err)
	}
	if err := cr.c.cfg.Files.WriteInfo(ctx, cr.inst, b); err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	if err := cr.c.cfg.Store.SetOdooVersion(ctx, cr.inst.Name, cr.odooVersion()); err != nil {
		return err
	}
	if err := cr.c.cfg.Store.SetRelease(ctx, cr.inst.Name, cr.inst.Release); err != nil {
		return err
	}
	if err := cr.c.cfg.Store.SetState(ctx, cr.inst.Name, StateReady); err != nil {
		return err
	}
	cr.task.SetSummary(string(b))
	return cr.c.exportTracking(ctx)
}

func (cr *creation) unsummarize(ctx context.Context) error {
	if err := cr.c.cfg.Store.SetState(ctx, cr.inst.Name, StateCreating); err != nil && !errors.Is(err, ErrInstanceNotFound) {
		return err
	}
	if err := cr.c.cfg.Files.RemoveInfo(ctx, cr.inst); err != nil {
		return err
	}
	return cr.c.exportTracking(ctx)
}

func (cr *creation) info() templates.Info {
	return InfoFor(cr.inst, cr.paths, cr.odooVersion())
}

// odooVersion is the Odoo the instance runs, as the summary shows it: the
// release's series and edition ("19.0 community"); the configured
// version only when the release does not say.
func (cr *creation) odooVersion() string {
	if v := ReleaseLabel(cr.release); v != "" {
		return v
	}
	return cr.c.cfg.Odoo.Version
}

// ReleaseLabel is how a release is shown: its series and edition, "19.0
// community"; "" when the release does not say its series.
func ReleaseLabel(r Release) string {
	if r.Version == "" {
		return ""
	}
	return strings.TrimSpace(r.Version + " " + r.Edition)
}

// InfoFor is the summary of an instance, as info-instancia.txt holds it.
func InfoFor(inst Instance, p Paths, odooVersion string) templates.Info {
	return templates.Info{
		Name: inst.Name, Internal: inst.Internal, Domain: inst.Domain, Mode: string(inst.SSLMode),
		Database: inst.Internal, HTTPPort: inst.Ports.HTTP, GeventPort: inst.Ports.Gevent,
		Service: inst.Unit, Dir: p.Dir, Conf: p.Conf, Log: p.Log, OdooVersion: odooVersion,
		Release: releaseSource(inst.Release), Python: inst.Release.Python, Deps: inst.Release.Deps,
		CreatedAt: inst.CreatedAt, CreatedBy: inst.CreatedBy,
	}
}

// releaseSource is "repository@commit", "" when no release is recorded.
func releaseSource(r ReleaseRecord) string {
	if !r.Known() {
		return ""
	}
	return r.Source()
}

// exportTracking rewrites API-DEV's tracking files from the store: the
// ready instances, and the ports they hold. It is an export; the store
// is the truth.
func (s *Service) exportTracking(ctx context.Context) error {
	if s.cfg.TrackingDir == "" {
		return nil
	}
	all, err := s.cfg.Store.Instances(ctx)
	if err != nil {
		return err
	}
	var ready []Instance
	for _, i := range all {
		if i.State != StateReady {
			continue
		}
		if err := s.cfg.Layout.CheckStored(i); err != nil {
			// Exported are only names odoobot derives.
			s.cfg.Logger.Warn("tracking export: instance left out", "instance", i.Name, "err", err)
			continue
		}
		ready = append(ready, i)
	}
	return s.cfg.Files.ExportTracking(ctx, s.cfg.TrackingDir, ready)
}

// lookupUser returns the uid and gid of system user name (Users), or an
// error saying how to make it.
func (s *Service) lookupUser(name string) (uid, gid int, err error) {
	uid, gid, err = s.cfg.Users.LookupUser(name)
	if err != nil {
		return 0, 0, fmt.Errorf("files: system user %q does not exist: create it (useradd --system %s), or set SERVICE_USER for shared instances", name, name)
	}
	return uid, gid, nil
}

// logTail is inst's odoo.log as a health wait shows it.
func (s *Service) logTail(inst Instance, p Paths) LogTail {
	return LogTail{Path: p.Log, Lines: func(ctx context.Context, n int) []string { return s.cfg.Files.TailLog(ctx, inst, n) }}
}

// probes are the drivers a health wait and a port owner check ask.
func (s *Service) probes() hostProbes {
	return hostProbes{health: s.cfg.Health, ports: s.cfg.Ports, users: s.cfg.Users}
}

// checkPortOwners is CheckPortOwners of inst on this host.
func (s *Service) checkPortOwners(inst Instance) error {
	return CheckPortOwners(s.cfg.Ports, s.cfg.Users, inst, s.cfg.ServiceUser)
}

// randomSecret is 24 random bytes, base64url: a master password.
func randomSecret() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
