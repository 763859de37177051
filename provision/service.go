package provision

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"odoobot/templates"
)

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

	// Capacity is the model of the capacity guard asked before each
	// creation (its refusal is shown as is; its warning lets the creation
	// go on and is shown first in the job's thread) and of the capacity
	// verb; zero means DefaultCapacityModel.
	Capacity CapacityModel

	HealthTimeout time.Duration // default 90 s
	// InUse probes whether a port is taken on the host before it is
	// reserved; nil means Ports.InUse.
	InUse func(port int) bool
	// Alert tells the on-call channels what no one watching a thread may
	// see: a restore drill that failed (scheduled or asked for). nil
	// only logs it.
	Alert  func(ctx context.Context, text string)
	Logger *slog.Logger
	Now    func() time.Time
}

// Service runs every verb that is a job on this host's instances:
// create, delete, backup, restore, clone, upgrade, isolate, and their
// recovery after a crash; and the reports (backups, capacity, gc). Each
// verb validates and reserves synchronously, so a refusal comes back at
// once, then builds its Plan and queues it as a job on the Runner.
type Service struct {
	cfg  Config
	bcfg BackupConfig
	// offsiteMu makes one offsite push at a time in this process.
	offsiteMu sync.Mutex
	// nudge asks the background push for a round (NudgeOffsite).
	nudge   chan struct{}
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
	return &Service{cfg: cfg, bcfg: bcfg, pg: bcfg.Postgres, backups: bcfg.Store, nudge: make(chan struct{}, 1)}
}

// JobRequest asks for a day-two job on one instance. Backup names the
// backup to restore (restore only).
type JobRequest struct {
	Name   string
	Backup string
	// At, for a restore, asks for the database as it was at that time
	// (from the cluster's WAL archive) instead of a backup.
	At        time.Time
	By        string // who asked
	Subscribe []Subscriber
	ChatRef   map[string]string
	// Finished, when set, is called once the job has ended, with its final
	// record, from the worker that ran it.
	Finished func(Job)
}

// lookup returns the named instance from the store, once its name passes
// the rules and every name its row records is the derived one (trusted):
// a job acts on nothing else.
func (s *Service) lookup(ctx context.Context, name string) (Instance, error) {
	return s.lookupFor(ctx, name, trustJob)
}

// lookupFor is lookup for a verb whose interrupted job leaves the host
// otherwise (Service.trusted).
func (s *Service) lookupFor(ctx context.Context, name string, verb trustFor) (Instance, error) {
	if err := s.cfg.Rules.Check(name); err != nil {
		return Instance{}, err
	}
	inst, err := s.cfg.Store.Instance(ctx, name)
	if errors.Is(err, ErrInstanceNotFound) {
		return inst, fmt.Errorf("%w: no instance named %q; see list", ErrInstanceNotFound, name)
	}
	if err != nil {
		return inst, fmt.Errorf("provision: look up %s: %w", name, err)
	}
	if err := s.trusted(inst, verb); err != nil {
		return Instance{}, err
	}
	return inst, nil
}

// submit records the job of plan and queues its steps; before, when
// set, runs once the job is recorded, and its error refuses the job.
func (s *Service) submit(ctx context.Context, plan Plan, req JobRequest, before func() error) (*Task, error) {
	job, err := s.cfg.Store.CreateJob(ctx, Job{
		Kind: plan.Kind, Instance: plan.Instance.Name, State: JobQueued, RequestedBy: req.By, Params: plan.Params, ChatRef: req.ChatRef,
	})
	if err != nil {
		return nil, err
	}
	if before != nil {
		if err := before(); err != nil {
			_ = s.cfg.Store.FinishJob(context.WithoutCancel(ctx), job.ID, JobRolledBack, err.Error(), nil)
			return nil, err
		}
	}
	t := plan.task(job)
	t.Subscribe, t.Finished = req.Subscribe, req.Finished
	if err := s.cfg.Runner.Submit(t); err != nil {
		_ = s.cfg.Store.FinishJob(context.WithoutCancel(ctx), job.ID, JobInterrupted, err.Error(), nil)
		return nil, err
	}
	return t, nil
}

// jobPlan is the plan of a day-two job of kind on inst: written to the
// job's log beside the creation log (jobLog), and ended after a crash by
// its kind's recoverer (recoverers).
func (s *Service) jobPlan(kind JobKind, inst Instance, params map[string]string, steps []Step, commit StepName) Plan {
	return Plan{Kind: kind, Instance: inst, Params: params, Steps: steps, Commit: commit, LogPath: s.jobLog(kind, inst), Recover: s.recoverers()[kind]}
}
