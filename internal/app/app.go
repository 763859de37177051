// Package app wires odoobot from its configuration: the state store, the
// drivers, the job runner, the creator, the operator and the command
// dispatcher. cmd/odoobot and the end-to-end tests build the same thing
// through it.
package app

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"odoobot/commands"
	"odoobot/config"
	"odoobot/internal/pgdb"
	"odoobot/internal/watch"
	"odoobot/provision"
	"odoobot/provision/backups"
	"odoobot/provision/certs"
	"odoobot/provision/cloudflare"
	"odoobot/provision/hostfacts"
	"odoobot/provision/jobends"
	"odoobot/provision/joblog"
	"odoobot/provision/nginx"
	"odoobot/provision/odoo"
	"odoobot/provision/offsite"
	"odoobot/provision/pitr"
	"odoobot/provision/ports"
	"odoobot/provision/postgres"
	"odoobot/provision/probe"
	"odoobot/provision/systemd"
	"odoobot/provision/sysusers"
	"odoobot/provision/tenant"
	"odoobot/provision/tree"
	"odoobot/templates"
)

// Options are the knobs that are not configuration: test hooks and
// values only tests change.
type Options struct {
	FailAt      provision.StepName // test hook: fail this step of every creation
	KillAt      provision.StepName // test hook: kill the process when this step of a job starts (see provision.RunnerConfig)
	NginxBinary string             // default /usr/sbin/nginx
	Version     string             // odoobot's version, recorded in backup manifests
	ACMERoots   *x509.CertPool     // roots trusted for the ACME server's HTTPS (nil: the system's)
	// ACMENameservers are asked whether a DNS-01 record is visible; nil
	// keeps lego's defaults (the zone's authoritative servers).
	ACMENameservers []string
	// CopyJobs is how many pg_dump and pg_restore workers a copy and a
	// restore run (postgres.Admin's Jobs): 0 for the host's CPUs, 1 for
	// the serial path.
	CopyJobs int
}

// App is odoobot, wired.
type App struct {
	Config     *config.Config
	Store      *postgres.Store
	Services   *systemd.Manager
	Runner     *provision.Runner
	Service    *provision.Service // every verb that is a job, and the reports (backups, capacity, gc)
	Operator   *provision.Operator
	Dispatcher *commands.Dispatcher
	Templates  *templates.Set
	Log        *slog.Logger

	sweeps       sync.WaitGroup // StartSweep
	alertMu      sync.Mutex
	alerts       []func(ctx context.Context, text string) error
	actionAlerts []watch.Channel    // wire_watch.go
	offsite      *offsite.Restic    // nil without OFFSITE_REPOSITORY
	cloudflare   *cloudflare.Client // nil when odoobot does not manage DNS
	databases    *odoo.Databases
	pg           postgres.Admin // the day-two jobs' databases
	pitr         *pitr.Driver   // nil without PITR_REPOSITORY
	releases     *odoo.Releases
	warmer       atomic.Pointer[odoo.Warmer] // wire_templates.go; nil when off
	warming      sync.WaitGroup              // StartTemplates
	stopWarming  context.CancelFunc          // StartTemplates; Close calls it

	// originWiring keeps odoobot's default server and Cloudflare snippet
	// in nginx (wire_origin.go).
	originWiring *originWiring
	// certIssuers are the certificate issuers by SSL mode
	// (RepairCertificates asks them again for a lost certificate).
	certIssuers map[provision.SSLMode]provision.CertIssuer
	// jobEnds run after each job (OnJobEnd, wire_home.go).
	jobEnds jobEndHooks
}

// cloudflareConfig is the Cloudflare driver's configuration, the same for
// DNS records, Origin CA and ACME challenges. A rate-limit wait is logged.
func (a *App) cloudflareConfig() cloudflare.Config {
	cfg := a.Config
	return cloudflare.Config{
		APIToken: cfg.APIToken.Reveal(), ZoneName: cfg.Zone(), ZoneID: cfg.ZoneID,
		PublicIP: cfg.PublicIP, ServerID: cfg.ServerID, BaseURL: cfg.CFBaseURL, Logger: a.Log,
		CallTimeout: cfg.CFCallTimeout, RequestTimeout: cfg.CFRequestTimeout, RateLimit: cfg.CFRateLimit,
		Ledger: postgres.DNSLedger{Store: a.Store},
		OnWait: func(d time.Duration, why string) {
			a.Log.Warn("cloudflare: waiting before the next request", "wait", d, "why", why)
		},
	}
}

// CheckDNS verifies the Cloudflare token and zone (nil when odoobot does
// not manage DNS): a creation is refused before it touches the host when
// they do not work.
func (a *App) CheckDNS(ctx context.Context) error {
	if a.cloudflare == nil {
		return nil
	}
	if err := a.cloudflare.Check(ctx); err != nil {
		return fmt.Errorf("DNS: %w", err)
	}
	return nil
}

// SweepDNS deletes the DNS records this server's state positively knows
// are to go: those of the tombstones left by a delete or a creation's
// rollback (cloudflare.Client.Sweep), never records of instances the
// store merely does not list. It first checks that the store agrees with
// the host (StoreMatchesHost) and stops, deleting nothing, with an error
// saying why when it does not; then it adopts the records made by
// earlier versions for the ready instances the store has
// (cloudflare.Client.Adopt) and sweeps.
func (a *App) SweepDNS(ctx context.Context) ([]string, error) {
	if a.cloudflare == nil {
		return nil, nil
	}
	list, err := a.StoreMatchesHost(ctx)
	if err != nil {
		return nil, err
	}
	for _, inst := range list {
		if inst.State != provision.StateReady {
			continue
		}
		if id, err := a.cloudflare.Adopt(ctx, inst.Domain); err != nil {
			a.Log.Warn("cloudflare: adopt the record of an earlier version", "instance", inst.Name, "err", err)
		} else if id != "" {
			a.Log.Warn("cloudflare: adopted the record an earlier version made", "instance", inst.Name, "record", id)
		}
	}
	removed, err := a.cloudflare.Sweep(ctx)
	for _, r := range removed {
		a.Log.Warn("cloudflare: removed a record of an instance this server deleted", "record", r)
	}
	return removed, err
}

// ErrStoreDisagrees is matched by the error of StoreMatchesHost.
var ErrStoreDisagrees = errors.New("the state database does not match the instances on this host")

// StoreMatchesHost returns the store's instances when the store agrees
// with the host: every instance directory under PROD_ROOT (prod-*) is an
// instance of the store, and every instance of the store that is ready
// has its directory and a unit systemd knows. Units and nginx sites the
// store does not know are not counted against it: another odoobot (a
// test's) may share those directories. Otherwise — a mistyped STATE_DB_NAME, a new or
// emptied state database beside live instances — the error, matching
// ErrStoreDisagrees, names what differs.
func (a *App) StoreMatchesHost(ctx context.Context) ([]provision.Instance, error) {
	list, err := a.Store.Instances(ctx)
	if err != nil {
		return nil, err
	}
	layout := a.Config.Layout()
	known := map[string]bool{}
	var missing, noUnit []string
	for _, inst := range list {
		known[inst.Internal] = true
		if inst.State != provision.StateReady {
			continue
		}
		if _, err := os.Stat(layout.Paths(inst).Dir); errors.Is(err, os.ErrNotExist) {
			missing = append(missing, inst.Name)
			continue
		}
		if a.Services != nil {
			if st, err := a.Services.Status(ctx, inst.Unit); err == nil && !st.Loaded {
				noUnit = append(noUnit, inst.Name)
			}
		}
	}
	entries, err := os.ReadDir(a.Config.ProdRoot)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("app: read PROD_ROOT: %w", err)
	}
	var unknown []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), "prod-") && !known[e.Name()] {
			unknown = append(unknown, e.Name())
		}
	}
	var why []string
	if len(unknown) > 0 {
		why = append(why, fmt.Sprintf("%d instance directories under %s are not in it (%s)", len(unknown), a.Config.ProdRoot, short(unknown)))
	}
	if len(missing) > 0 {
		why = append(why, fmt.Sprintf("%d ready instances of it have no directory under %s (%s)", len(missing), a.Config.ProdRoot, short(missing)))
	}
	if len(noUnit) > 0 {
		why = append(why, fmt.Sprintf("%d ready instances of it have no systemd unit (%s)", len(noUnit), short(noUnit)))
	}
	if len(why) > 0 {
		return nil, fmt.Errorf("app: state database %s (STATE_DB_NAME) lists %d instances, but %s: %w; check STATE_DB_NAME and PROD_ROOT",
			a.Config.StateDBName, len(list), strings.Join(why, ", and "), ErrStoreDisagrees)
	}
	return list, nil
}

// short lists at most five names.
func short(names []string) string {
	if len(names) > 5 {
		return strings.Join(names[:5], ", ") + ", …"
	}
	return strings.Join(names, ", ")
}

// StartSweep runs SweepDNS in the background, once; Close waits for it.
// A sweep that stops or fails is logged and alerted. serve and the
// changing CLI verbs start it after recovery (Recover), so that chat is
// served, and the verb runs, without waiting for Cloudflare.
func (a *App) StartSweep(ctx context.Context) {
	if a.cloudflare == nil {
		return
	}
	a.sweeps.Add(1)
	go func() {
		defer a.sweeps.Done()
		if _, err := a.SweepDNS(ctx); err != nil {
			if ctx.Err() != nil {
				a.Log.Warn("DNS sweep: stopped with odoobot", "err", err)
				return
			}
			if errors.Is(err, ErrStoreDisagrees) {
				err = fmt.Errorf("DNS sweep stopped, no record deleted: %w", err)
			} else {
				err = fmt.Errorf("DNS sweep: %w", err)
			}
			a.Alert(ctx, err.Error())
		}
	}()
}

// AddAlerts adds a place where alerts go (a chat channel); serve adds
// one per configured adapter.
func (a *App) AddAlerts(post func(ctx context.Context, text string) error) {
	a.alertMu.Lock()
	defer a.alertMu.Unlock()
	a.alerts = append(a.alerts, post)
}

// Alert reports what no command asked for and someone must see (a failed
// certificate renewal, a failed scheduled backup): in the log, and in
// every alert channel.
func (a *App) Alert(ctx context.Context, text string) {
	a.Log.Error("alert", "text", text)
	a.post(ctx, commands.Alert{Text: "⚠ " + text})
}

// New connects to PostgreSQL (creating the state database if needed),
// migrates the store, connects to systemd and builds everything. Close
// releases it all.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, opt Options) (*App, error) {
	tpl, err := templates.Load()
	if err != nil {
		return nil, err
	}
	// The interpreter and the dependency mode are checked before anything
	// is touched: a wrong one would otherwise be found at the first
	// creation's release step.
	python, err := odoo.CheckPython(cfg.PythonVersion)
	if err == nil {
		err = odoo.CheckDeps(cfg.PythonDeps, python)
	}
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	// The release cache under STATE_DIR is read by the service user: the
	// directory must be traversable, whatever creates it first.
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("app: state dir: %w", err)
	}
	if err := pgdb.Ensure(ctx, cfg.AdminDSN(), cfg.StateDBName); err != nil {
		return nil, fmt.Errorf("app: the state database %s: %w", cfg.StateDBName, err)
	}
	tenants := tenant.New(tenant.Config{AdminDSN: cfg.AdminDSN(), Admin: cfg.DBUser, ProdRoot: cfg.ProdRoot, Logger: log})
	if err := tenants.Check(ctx); err != nil {
		return nil, err
	}
	// Releases are built and templates initialised as an unprivileged
	// user, never as root.
	buildUser, err := odoo.EnsureBuildUser(ctx, tenants, cfg.BuildUser, filepath.Join(cfg.StateDir, "build-home"))
	if err != nil {
		return nil, err
	}
	store, err := postgres.Open(ctx, cfg.StateDSN(), log)
	if err != nil {
		return nil, err
	}
	a := &App{Config: cfg, Store: store, Templates: tpl, Log: log}
	svc, err := systemd.New(ctx, log)
	if err != nil {
		store.Close()
		return nil, err
	}
	a.Services = svc
	if opt.NginxBinary == "" {
		opt.NginxBinary = "/usr/sbin/nginx"
	}
	sites := nginx.New(nginx.Config{
		Available: cfg.NginxAvailable, Enabled: cfg.NginxEnabled, Binary: opt.NginxBinary, Conf: cfg.NginxConf,
		Reload: func(ctx context.Context) error { return svc.Reload(ctx, "nginx.service") },
		Logger: log,
	})
	a.originWiring = a.newOrigin(sites, tpl)
	if a.offsite, err = newOffsite(cfg, cfg.OffsiteRepository, cfg.OffsitePasswordFile, cfg.DNSServerID(), cfg.StateDir); err != nil {
		a.Close()
		return nil, err
	}
	var dns provision.DNS
	issuers := map[provision.SSLMode]provision.CertIssuer{}
	if cfg.ManagesDNS() {
		cf, err := cloudflare.New(ctx, a.cloudflareConfig())
		if err != nil {
			a.Close()
			return nil, err
		}
		dns, a.cloudflare = cf, cf
		issuers[provision.SSLCloudflare] = &certs.Origin{CA: cf}
	}
	if cfg.OriginCert != "" {
		issuers[provision.SSLCloudflare] = &certs.Static{Cert: cfg.OriginCert, Key: cfg.OriginKey}
	}
	if le, err := a.letsEncryptIssuer(ctx, opt); err != nil {
		a.Close()
		return nil, err
	} else if le != nil {
		issuers[provision.SSLLetsEncrypt] = le
	}
	a.certIssuers = issuers
	databases := odoo.NewDatabases(odoo.DatabaseConfig{
		AdminDSN: cfg.AdminDSN(), Owner: cfg.DBUser, DBHost: cfg.DBHost, DBPort: cfg.DBPort,
		FilestoreDir: filepath.Join(cfg.StateDir, "templates"),
		Lang:         cfg.OdooLang, Country: cfg.OdooCountry, Unaccent: cfg.Unaccent, Community: cfg.Community(),
		BuildUser: buildUser, Tenant: tenants.Connect, Logger: log,
	})
	verifyRoots, err := certs.VerifyRoots(cfg.VerifyCAFile)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.databases = databases
	// A job end the store cannot record (PostgreSQL away) is kept here
	// until it is, across a restart: recovery then finds the job ended.
	a.Runner = provision.NewRunner(provision.RunnerConfig{Store: store, Workers: cfg.JobWorkers, Logger: log, Faults: provision.FaultAt(opt.FailAt, opt.KillAt, killSelf), Logs: joblog.Files{},
		Outcomes: jobends.Dir(filepath.Join(cfg.StateDir, "job-ends")), Ended: a.jobEnded, Failures: store})
	releases := odoo.NewReleases(releaseConfig(cfg, buildUser, log))
	a.releases = releases
	edition := map[string]string{"e": "enterprise", "c": "community"}[cfg.OdooEdition]
	// Dumps and restores of an instance's database run as its own role
	// (tenant.Manager's Login, with odoobot's server).
	a.pg = postgres.Admin{
		DB: provision.DBConn{Host: cfg.DBHost, Port: cfg.DBPort, User: cfg.DBUser, Password: cfg.DBPassword.Reveal()},
		Login: func(ctx context.Context, db string) (provision.DBConn, error) {
			role, pw, err := tenants.Login(ctx, db)
			return provision.DBConn{Host: cfg.DBHost, Port: cfg.DBPort, User: role, Password: pw}, err
		},
		Jobs: opt.CopyJobs,
	}
	if a.pitr, err = newPITR(cfg, a.pg.Login); err != nil {
		a.Close()
		return nil, err
	}
	files := tree.New(cfg.Layout())
	a.Service = provision.NewService(provision.Config{
		Host: provision.Host{
			Store: store, Files: files,
			Releases: releases, Targets: releases, Modules: releases,
			GC:        warmAfterGC{&odoo.Collector{Releases: releases, Databases: databases}, a},
			Databases: databases, Tenants: tenants, Owners: databases, Copies: databases,
			OdooRuns: &odoo.Runs{},
			Services: svc, Sites: a.originWiring.origin.Guarded(), DNS: dns, Certs: issuers,
			Health: probe.Health{}, Ports: ports.Host{}, Users: sysusers.Host{},
			BindFilter: svc, HostFacts: hostfacts.Host{}, UnitStatuses: svc,
		},
		Layout: cfg.Layout(), Rules: cfg.NameRules(),
		HTTPPorts: provision.PortRange(cfg.HTTPPorts), GeventPorts: provision.PortRange(cfg.GeventPorts),
		ServiceUser: cfg.ServiceUser,
		DB:          a.pg.DB,
		Odoo: provision.OdooSettings{
			Version: cfg.OdooVersion + " " + edition, Modules: cfg.InstanceModules(),
			Workers: cfg.Workers, MaxCronThreads: cfg.MaxCronThreads,
			LimitMemorySoft: int64(cfg.MemorySoftMB) << 20, LimitMemoryHard: int64(cfg.MemoryHardMB) << 20,
			Unaccent: cfg.Unaccent,
		},
		TrackingDir: cfg.TrackingDir, Runner: a.Runner, Templates: tpl,
		ACMEWebroot: filepath.Join(cfg.StateDir, "acme-webroot"),
		VerifyRoots: verifyRoots,
		Capacity:    cfg.CapacityModel(),
		Alert:       func(ctx context.Context, text string) { a.Alert(ctx, text) },
		Logger:      log,
	}, provision.BackupConfig{
		Dir: cfg.BackupDir, Retention: cfg.BackupRetention(), BotVersion: opt.Version,
		Store: &backups.Dir{Root: cfg.BackupDir}, Postgres: a.pg, Offsite: a.offsiteStore(),
		PointInTime: a.pointInTime(),
	})
	a.Operator = &provision.Operator{Store: store, Stopped: store, Maintenance: store, Files: files, Services: svc, Databases: databases, Layout: cfg.Layout(), Templates: tpl, OdooVersion: cfg.OdooVersion + " " + edition, OdooVersionOf: store.OdooVersion, Hold: store.HoldInstance, ServiceUser: cfg.ServiceUser,
		Health: probe.Health{}, Ports: ports.Host{}, Users: sysusers.Host{}}
	al, err := commands.LoadAllowlist(cfg.AllowlistFile)
	if err != nil {
		a.Close()
		return nil, err
	}
	if al.Len() == 0 {
		log.Warn("the allowlist is empty: chat users are refused; the terminal user is admin", "file", cfg.AllowlistFile)
	}
	a.Dispatcher = &commands.Dispatcher{
		Allowlist: al, Auditor: store, Rules: cfg.NameRules(), Mode: cfg.SSLMode(),
		Creator: a.Service, DayTwo: a.Service, Cloner: a.Service, Upgrader: a.Service, Capacity: a.Service,
		Operator: a.Operator, Admins: a.Operator, Drills: a.Service, Audits: store, Jobs: store, Logger: log,
		Templates:        databases, // the warmer's, with the configured one marked, once StartTemplates runs
		ApprovalRequired: cfg.ApprovalRequired, ApprovalTTL: cfg.ApprovalTTL, Approvals: store,
	}
	a.Dispatcher.OverviewSources = a.overviewSources()
	return a, nil
}

// Close stops the runner (running jobs finish or roll back) and closes
// the connections.
func (a *App) Close() {
	a.sweeps.Wait()
	if a.stopWarming != nil {
		a.stopWarming()
	}
	a.warming.Wait()
	if a.Runner != nil {
		a.Runner.Close()
	}
	if a.databases != nil {
		a.databases.Close()
	}
	if a.Services != nil {
		a.Services.Close()
	}
	if a.Store != nil {
		a.Store.Close()
	}
}

// killSelf kills this process as a crash would (SIGKILL): the
// ODOOBOT_KILL_AT test setting's end.
func killSelf() {
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way: nothing more of the job runs
}
