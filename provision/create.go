package provision

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
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

// Config wires a Service. Store, Runner, Releases, Databases, Services,
// Sites and Templates are required; DNS is nil when odoobot does not
// manage records; Certs has an issuer per TLS mode it can serve.
type Config struct {
	// Host is the server the verbs act on: every outside system, each
	// through its driver.
	Host

	Layout      Layout
	Rules       NameRules
	HTTPPorts   PortRange
	GeventPorts PortRange
	// ServiceUser runs the instances that share one user: those imported
	// from API-DEV, and every instance when Tenants is nil.
	ServiceUser string
	// DB is how odoobot reaches PostgreSQL; its user and password go into
	// the odoo.conf of shared instances only.
	DB          DBConn
	Odoo        OdooSettings
	TrackingDir string // API-DEV tracking export; "" for none

	Runner    *Runner
	Templates *templates.Set

	// Site settings for nginx: listen ports (0: 80/443), the ACME webroot,
	// and the roots trusted when verifying TLS through nginx (nil: system).
	ListenHTTP, ListenHTTPS int
	ACMEWebroot             string
	VerifyRoots             *x509.CertPool

	// Admit, when set, is asked before a creation is accepted: the
	// capacity guard. Its error refuses the creation and is shown as is;
	// a warning lets it go on and is shown first in the job's thread.
	Admit func(ctx context.Context, mode SSLMode) (warning string, err error)
	// Capacity is the model the capacity verb reports with; zero means
	// DefaultCapacityModel.
	Capacity CapacityModel

	HealthTimeout time.Duration // default 90 s
	// InUse probes whether a port is taken on the host before it is
	// reserved; nil means Ports.InUse.
	InUse  func(port int) bool
	Logger *slog.Logger
	Now    func() time.Time
}

// Service runs every verb that is a job on this host's instances:
// create, delete, backup, restore, clone, upgrade, isolate, and their
// recovery after a crash; and the reports (backups, capacity, gc). Each
// verb validates and reserves synchronously, so a refusal comes back at
// once, then builds its Plan and queues it as a job on the Runner.
type Service struct {
	cfg     Config
	bcfg    BackupConfig
	pg      Postgres
	backups BackupStore
	// bindWarned says the host was found not to enforce the units' port
	// limits, once per process (warnBindFilter).
	bindWarned sync.Once
}

// NewService returns the Service on cfg, with backups made as bcfg says;
// see Config and BackupConfig for what must be set.
func NewService(cfg Config, bcfg BackupConfig) *Service {
	if cfg.HealthTimeout == 0 {
		cfg.HealthTimeout = 90 * time.Second
	}
	if cfg.InUse == nil && cfg.Ports != nil {
		cfg.InUse = cfg.Ports.InUse
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if bcfg.Retention == (Retention{}) {
		bcfg.Retention = DefaultRetention()
	}
	if bcfg.BotVersion == "" {
		bcfg.BotVersion = "(unknown)"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
			bcfg.BotVersion = bi.Main.Version
		}
	}
	return &Service{cfg: cfg, bcfg: bcfg, pg: bcfg.Postgres, backups: bcfg.Store}
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
	var warning string
	if s.cfg.Admit != nil {
		w, err := s.cfg.Admit(ctx, req.Mode)
		if err != nil {
			return nil, err
		}
		warning = w
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
	job, err := s.cfg.Store.CreateJob(ctx, Job{
		Kind: plan.Kind, Instance: req.Name, State: JobQueued, RequestedBy: req.By,
		Params: plan.Params, ChatRef: req.ChatRef,
	})
	if err != nil {
		return nil, err
	}
	inst.CreatedBy, inst.CreatedAt = req.By, s.cfg.Now()
	reserved, err := s.cfg.Store.ReserveInstance(ctx, inst, s.cfg.HTTPPorts, s.cfg.GeventPorts, s.cfg.InUse)
	if err != nil {
		_ = s.cfg.Store.FinishJob(context.WithoutCancel(ctx), job.ID, JobRolledBack, err.Error(), nil)
		return nil, err
	}
	plan.Instance = reserved
	t := cr.start(plan, job)
	t.Subscribe, t.Finished = req.Subscribe, cr.finished(ctx, req)
	if warning != "" {
		t.Notes = append(t.Notes, "capacity: "+warning)
	}
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

// recoverer ends an orphaned job of one kind. It decides from rec, what
// the job recorded as done: once the step that commits the job's change
// is recorded done (and no rollback had begun), it finishes the job
// forward and reports finished; before that it rolls back what the job
// did and says what it undid. emit records each step it runs or undoes,
// in the store, the job's log and its subscribers, as the runner does.
type recoverer func(ctx context.Context, job Job, rec recorded, emit emitFunc) (recovery, error)

// emitFunc records one event of a job (Runner.emitter).
type emitFunc func(step StepName, kind EventKind, msg string, d time.Duration)

// recovery is what a recoverer did with an orphaned job.
type recovery struct {
	// finished is set when the job's change had been made and recovery
	// finished the job forward: the job succeeded.
	finished bool
	// undone are the steps rolled back, in the order they were undone.
	undone []string
}

// recorded is what a job's events say it did.
type recorded struct {
	done        map[StepName]bool
	rollingBack bool
	events      []Event
}

// recordedOf reads what a job's events say it did.
func recordedOf(events []Event) recorded {
	r := recorded{done: map[StepName]bool{}, events: events}
	for _, e := range events {
		switch e.Kind {
		case EventDone:
			r.done[StepName(e.Step)] = true
		case EventFailed, EventUndo, EventUndone, EventUndoFailed:
			r.rollingBack = true
		}
	}
	return r
}

// Started reports whether step is recorded started (done or not).
func (r recorded) Started(step StepName) bool {
	for _, e := range r.events {
		if StepName(e.Step) == step && e.Kind == EventStart {
			return true
		}
	}
	return false
}

// Committed reports whether every one of steps is recorded done and no
// step failed or was undone: the job's change was made and stood when
// its process stopped, so recovery finishes it rather than undo it.
func (r recorded) Committed(steps ...StepName) bool {
	if r.rollingBack {
		return false
	}
	for _, s := range steps {
		if !r.done[s] {
			return false
		}
	}
	return len(steps) > 0
}

// took is how long passed from the start of step from to the end of step
// to, as recorded; zero when either is missing.
func (r recorded) took(from, to StepName) time.Duration {
	var start, end time.Time
	for _, e := range r.events {
		switch {
		case StepName(e.Step) == from && e.Kind == EventStart && start.IsZero():
			start = e.At
		case StepName(e.Step) == to && e.Kind == EventDone:
			end = e.At
		}
	}
	if start.IsZero() || end.IsZero() {
		return 0
	}
	return end.Sub(start)
}

// settled is how recovery ends an open job without running anything:
// its plan need not, or may not, be run back.
type settled struct {
	state JobState
	msg   string
}

// recoveryPlans rebuild, for each kind of job that can leave something
// half-made, the plan of an open job of that kind from its record. A
// kind missing here has nothing to undo: its open jobs end interrupted.
func (s *Service) recoveryPlans() map[JobKind]func(context.Context, Job) (Plan, *settled) {
	plans := map[JobKind]func(context.Context, Job) (Plan, *settled){
		JobCreate: s.creationPlanOf,
		JobClone:  s.creationPlanOf,
	}
	for kind := range s.recoverers() {
		plans[kind] = s.jobPlanOf
	}
	return plans
}

// recoverers end the day-two jobs a stopped odoobot left open, by kind:
// each finished when its change was recorded as made, rolled back
// otherwise (see recoverer).
func (s *Service) recoverers() map[JobKind]recoverer {
	return map[JobKind]recoverer{
		JobBackup:  s.recoverBackup,
		JobRestore: s.abandoning(s.recoverRestore),
		JobUpgrade: s.abandoning(s.recoverUpgrade),
		JobIsolate: s.recoverIsolate,
		JobDelete:  s.abandoning(s.recoverDelete),
	}
}

// jobPlanOf is the plan of an open day-two job: its kind's Recover reads
// the instance's row and what the host shows, and rebuilds from them the
// steps it runs or undoes; the plan has none of its own.
func (s *Service) jobPlanOf(_ context.Context, job Job) (Plan, *settled) {
	return s.jobPlan(job.Kind, s.newInstance(job.Instance, SSLHTTP), job.Params, nil, ""), nil
}

// creationPlanOf is the plan of an open creation or clone: a creation's
// steps for the instance the job names, as its row records it when it
// has one, rolled back whole. It settles the job instead when the name
// or the row is not one the creation could have made (nothing is
// undone), or when the instance is ready: the process stopped after the
// last step and before the job was closed, so the instance is finished,
// never undone.
func (s *Service) creationPlanOf(ctx context.Context, job Job) (Plan, *settled) {
	mode, _ := ParseSSLMode(job.Params["ssl"], SSLHTTP)
	inst := s.newInstance(job.Instance, mode)
	if err := s.recoverable(ctx, job, inst); err != nil {
		return Plan{}, &settled{JobInterrupted, "odoobot stopped while this job ran; NOT rolled back: " + err.Error()}
	}
	if got, err := s.cfg.Store.Instance(ctx, job.Instance); err == nil {
		if got.State == StateReady {
			return Plan{}, &settled{JobSucceeded, ""}
		}
		inst = got
	}
	plan, _ := s.createPlan(inst)
	return plan, nil
}

// Recover finds the jobs left open by a process that stopped (a crash, a
// kill) — never those another live odoobot is running — and ends each,
// so none stays "running" and nothing stays half-made: it rebuilds the
// plan of each by its kind (recoveryPlans) and ends the job with the
// plan's Recover, which finishes it when its change was recorded as made
// and rolls it back otherwise (see recoverer); a plan without one (a
// creation, a clone) is rolled back unless it had finished. It returns
// the jobs it ended, for the adapters to report in their threads.
func (s *Service) Recover(ctx context.Context, subscribe func(Job) []Subscriber) ([]Job, error) {
	open, err := s.cfg.Store.OrphanedJobs(ctx)
	if err != nil {
		return nil, fmt.Errorf("provision: recover: %w", err)
	}
	plans := s.recoveryPlans()
	var ended []Job
	for _, job := range open {
		rebuild := plans[job.Kind]
		if rebuild == nil {
			// Other kinds have nothing half-made to undo here.
			_ = s.cfg.Store.FinishJob(ctx, job.ID, JobInterrupted, "odoobot stopped while this job ran", nil)
			job.State = JobInterrupted
			ended = append(ended, job)
			continue
		}
		plan, end := rebuild(ctx, job)
		if end != nil {
			_ = s.cfg.Store.FinishJob(ctx, job.ID, end.state, end.msg, nil)
			job.State = end.state
			if end.msg != "" {
				job.Error = end.msg
			}
			ended = append(ended, job)
			continue
		}
		if plan.Recover != nil {
			events, err := s.cfg.Store.Events(ctx, job.ID)
			if err != nil {
				// Without its record, recovery could undo a change that
				// succeeded: the job stays open for the next start.
				s.cfg.Logger.Error("recover: cannot read what the job did; left open for the next start", "job", job.ID, "err", err)
				continue
			}
			ended = append(ended, s.recoverJob(ctx, job, plan, recordedOf(events), subscribe))
			continue
		}
		t := plan.task(job)
		if subscribe != nil {
			t.Subscribe = subscribe(job)
		}
		s.cfg.Runner.RollBack(ctx, t, "odoobot stopped while this job ran")
		ended = append(ended, t.result)
	}
	return ended, nil
}

// recoverJob ends one orphaned job with its plan's Recover, its steps
// recorded in the job's events and log, and records how it ended:
// succeeded when the recoverer finished it, interrupted when it rolled
// it back, failed when either could not be done whole.
func (s *Service) recoverJob(ctx context.Context, job Job, plan Plan, rec recorded, subscribe func(Job) []Subscriber) Job {
	t := &Task{Job: job, LogPath: plan.LogPath}
	if subscribe != nil {
		t.Subscribe = subscribe(job)
	}
	emit, closeLog := s.cfg.Runner.emitter(ctx, t)
	defer closeLog()
	emit("recovery", EventInfo, "odoobot stopped while this job ran", 0)
	res, err := plan.Recover(ctx, job, rec, emit)
	state, msg := JobInterrupted, "odoobot stopped while this job ran; rolled back"
	switch {
	case res.finished && err == nil:
		state, msg = JobSucceeded, ""
		emit("recovery", EventInfo, "its change had been made before odoobot stopped: finished, nothing undone", 0)
	case res.finished:
		state, msg = JobFailed, "it had made its change; finishing it failed, and nothing was undone: "+err.Error()
		emit("recovery", EventInfo, msg, 0)
	case err != nil:
		msg += "; could NOT roll back all of it: " + err.Error()
		emit("recovery", EventInfo, msg, 0)
	default:
		emit("recovery", EventInfo, "rolled back", 0)
	}
	_ = s.cfg.Store.FinishJob(ctx, job.ID, state, msg, res.undone)
	job.State, job.Error, job.Undone = state, msg, res.undone
	return job
}

// runStep runs one step's work during recovery, recording its start and
// its end as the runner does.
func runStep(ctx context.Context, emit emitFunc, name StepName, f func(context.Context) error) error {
	emit(name, EventStart, "", 0)
	start := time.Now()
	err := f(ctx)
	var noted *Noted
	switch {
	case errors.As(err, &noted):
		emit(name, EventDone, noted.Message, time.Since(start))
		return nil
	case err != nil:
		emit(name, EventFailed, err.Error(), time.Since(start))
		return fmt.Errorf("%s: %w", name, err)
	}
	emit(name, EventDone, "", time.Since(start))
	return nil
}

// undoStep runs one step's undo during recovery, recording it as the
// runner does, and adds its name to undone when it succeeds.
func undoStep(ctx context.Context, emit emitFunc, name StepName, f func(context.Context) error, undone *[]string) error {
	emit(name, EventUndo, "", 0)
	start := time.Now()
	if err := f(ctx); err != nil {
		emit(name, EventUndoFailed, err.Error(), time.Since(start))
		return fmt.Errorf("%s: %w", name, err)
	}
	emit(name, EventUndone, "", time.Since(start))
	*undone = append(*undone, string(name))
	return nil
}

// jobLog is the log of a day-two job, beside the creation log:
// <LogDir>/<kind>-prod-NAME.log.
func (s *Service) jobLog(kind JobKind, inst Instance) string {
	return filepath.Join(filepath.Dir(s.cfg.Layout.Paths(inst).CreateLog), string(kind)+"-"+inst.Internal+".log")
}

// recoverable checks that an orphaned creation's instance is one whose
// rollback may run: its name passes the rules, and its row, when there is
// one, records exactly the names the creation made (inst, derived from
// the name with this host's tenants).
func (s *Service) recoverable(ctx context.Context, job Job, inst Instance) error {
	if err := s.cfg.Rules.Check(job.Instance); err != nil {
		return err
	}
	got, err := s.cfg.Store.Instance(ctx, job.Instance)
	if errors.Is(err, ErrInstanceNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := s.cfg.Layout.CheckStored(got); err != nil {
		return err
	}
	if got.User != inst.User || got.DBRole != inst.DBRole {
		return &StoredNameError{Instance: got.Name, Field: "system_user", Stored: got.User, Expected: fmt.Sprintf("%q, as its creation made it", inst.User)}
	}
	return nil
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
		UpstreamHTTP: n.UpstreamHTTP, UpstreamGevent: n.UpstreamGevent, UpgradeVar: n.UpgradeVar, SSLCache: n.SSLCache,
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
