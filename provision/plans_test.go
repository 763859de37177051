package provision_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/provision"
	"odoobot/provision/provisiontest"
	"odoobot/templates"
)

// The promise every verb makes: a failed job leaves the host exactly as
// it was, and a crash leaves it, once the next process has recovered,
// either exactly as it was or exactly as the job would have left it;
// never in between. TestEveryStepOfEveryVerb holds every verb to it on
// the in-memory host, at every step: failed before and after its apply,
// and "crashed" (the process gone) before and after its apply.

// world is one odoobot process on an in-memory host.
type world struct {
	h      *provisiontest.Host
	s      *provision.Service
	runner *provision.Runner
}

var planLayout = provision.Layout{
	Zone: "example.com", UnitPrefix: "odoo19e", ProdRoot: "/srv/odoo", LogDir: "/var/log/odoobot",
	NginxAvailable: "/etc/nginx/sites-available", NginxEnabled: "/etc/nginx/sites-enabled",
	UnitDir: "/etc/systemd/system", CertDir: "/etc/odoobot/certs",
}

// newHost is an empty in-memory host on planLayout, running planRelease,
// with planNext to upgrade to.
func newHost() *provisiontest.Host {
	h := provisiontest.New(planLayout, planRelease)
	h.Next = planNext
	return h
}

var planNext = provision.Release{
	Key: "fedcba9876543210", Dir: "/var/cache/odoobot/releases/fedcba9876543210", Repo: "https://example.com/odoo.git",
	Commit: "beef00", Python: "/var/cache/odoobot/releases/fedcba9876543210/venv/bin/python3", Interpreter: "/usr/bin/python3.11", Deps: "debian",
	OdooBin: "/var/cache/odoobot/releases/fedcba9876543210/odoo/odoo-bin", AddonsPaths: []string{"/var/cache/odoobot/releases/fedcba9876543210/odoo/addons"}, Version: "19.0", Edition: "community",
}

// releaseSums are module checksums of planRelease and planNext in which
// the modules changed differ, and nothing else.
func releaseSums(changed ...string) map[string]provision.ModuleSums {
	sums := func(next bool) provision.ModuleSums {
		s := provision.ModuleSums{Core: "core", Modules: map[string]provision.ModuleSum{}}
		for _, m := range []string{"base", "web", "sale", "stock"} {
			s.Modules[m] = provision.ModuleSum{Sum: m}
			if next && slices.Contains(changed, m) {
				s.Modules[m] = provision.ModuleSum{Sum: m + "-next"}
			}
		}
		return s
	}
	return map[string]provision.ModuleSums{planRelease.Key: sums(false), planNext.Key: sums(true)}
}

var planRelease = provision.Release{
	Key: "0123456789abcdef", Dir: "/var/cache/odoobot/releases/0123456789abcdef", Repo: "https://example.com/odoo.git",
	Commit: "c0ffee", Python: "/var/cache/odoobot/releases/0123456789abcdef/venv/bin/python3", Interpreter: "/usr/bin/python3.11", Deps: "debian",
	OdooBin: "/var/cache/odoobot/releases/0123456789abcdef/odoo/odoo-bin", AddonsPaths: []string{"/var/cache/odoobot/releases/0123456789abcdef/odoo/addons"}, Version: "19.0", Edition: "community",
}

// newWorld starts a process on h, with faults injected as hook says
// (nil for none).
func newWorld(t *testing.T, h *provisiontest.Host, hook provision.FaultHook) *world {
	t.Helper()
	return startWorld(t, h, hook, func(*provision.Config) {})
}

// sharedWorld starts a process on h that gives instances no user and
// role of their own: they share the service user and odoobot's role, as
// the instances imported from API-DEV do.
func sharedWorld(t *testing.T, h *provisiontest.Host) *world {
	t.Helper()
	return startWorld(t, h, nil, func(cfg *provision.Config) { cfg.Tenants, cfg.Owners = nil, nil })
}

// startWorld starts a process on h whose configuration tune changes last.
func startWorld(t *testing.T, h *provisiontest.Host, hook provision.FaultHook, tune func(*provision.Config)) *world {
	t.Helper()
	set, err := templates.Load()
	if err != nil {
		t.Fatal(err)
	}
	runner := provision.NewRunner(provision.RunnerConfig{Store: h.Store(), Workers: 1, Faults: hook, Logs: h.JobLogs(), Now: h.Now, CloseRetry: time.Millisecond})
	t.Cleanup(runner.Close)
	cfg := provision.Config{
		Host:        provision.Host{Store: h.Store(), Releases: h.Releases(), Databases: h.Databases(), Tenants: h.Tenants(), Owners: h.Owners(), Copies: h.Copies(), OdooRuns: h.OdooRuns(), Targets: h.Targets(), Modules: h.Modules(), Files: h.Files(), Health: h.Health(), Ports: h.Ports(), Users: h.Users(), BindFilter: provisiontest.BindFilter{}, HostFacts: provisiontest.HostFacts{}, Services: h.Units(), Sites: h.Sites(), DNS: h.DNS(), Certs: map[provision.SSLMode]provision.CertIssuer{provision.SSLCloudflare: h.Certs(), provision.SSLLetsEncrypt: h.Certs()}},
		Layout:      planLayout,
		Rules:       provision.NameRules{Zone: planLayout.Zone, UnitPrefix: planLayout.UnitPrefix, DNSServer: "test"},
		HTTPPorts:   provision.PortRange{First: 8100, Last: 8199},
		GeventPorts: provision.PortRange{First: 9100, Last: 9199},
		ServiceUser: h.ServiceUser,
		DB:          provision.DBConn{Host: "127.0.0.1", Port: 5432, User: "odoobot", Password: "bot-secret"},
		Odoo:        provision.OdooSettings{Version: "19.0", Modules: []string{"base", "web"}, Workers: 2},
		Runner:      runner,
		Templates:   set,
		InUse:       func(int) bool { return false },
		ACMEWebroot: "/var/lib/odoobot/acme",
		Now:         h.Now,
	}
	tune(&cfg)
	s := provision.NewService(cfg, provision.BackupConfig{Dir: "/var/backups/odoobot", Store: h.Backups(), Postgres: h.Postgres(), Offsite: h.Offsite(), PointInTime: h.PointInTime()})
	return &world{h: h, s: s, runner: runner}
}

// verbCase is one plan of one verb: what stands before it, and the
// request that starts it. A plan with a commit step (a delete's drop of
// the database) promises less of a failure after that step: nothing is
// undone, the job ends failed, and asking again finishes it.
type verbCase struct {
	name   string
	setup  func(t *testing.T, w *world)
	run    func(ctx context.Context, w *world) (*provision.Task, error)
	commit provision.StepName
	// same says the job leaves the host as it found it (a restore
	// drill): its outcome is its job's record alone.
	same bool
}

// loseTheServer makes acme (beside other) and backs it up offsite, then
// loses it with its local backups, as a server that died: its state
// forgets it, and only the offsite copy stays (the delete's final
// backup forgotten, so the copy is the one a server had before it died).
func loseTheServer(t *testing.T, w *world) {
	t.Helper()
	create(t, w, "other", provision.SSLHTTP)
	create(t, w, "acme", provision.SSLCloudflare)
	w.h.WriteData("prod-acme", "before the server was lost")
	task, err := w.s.Backup(context.Background(), provision.JobRequest{Name: "acme", By: "setup"})
	wait(t, task, err)
	task, err = w.s.Delete(context.Background(), provision.JobRequest{Name: "acme", By: "setup"})
	wait(t, task, err)
	for _, b := range mustBackups(t, w, "acme") {
		if err := w.h.Backups().Remove("prod-acme", b.ID); err != nil {
			t.Fatal(err)
		}
	}
	copies, _ := w.h.Offsite().List(context.Background(), "prod-acme")
	var final []string
	for _, c := range copies {
		if c.Reason == provision.ReasonFinal {
			final = append(final, c.Snapshot)
		}
	}
	if err := w.h.Offsite().Forget(context.Background(), final); err != nil {
		t.Fatal(err)
	}
}

// keptBackup matches a snapshot's line of a backup, or of its offsite
// copy, a job keeps whatever its outcome: a delete's final backup and a
// restore's or an upgrade's safety backup, which the retention keeps and
// prunes.
var keptBackup = regexp.MustCompile(`(?m)^(backup|offsite) \S+ reason=(final|safety)\n?`)

// state is a snapshot without the backups a job keeps whatever its
// outcome.
func state(h *provisiontest.Host) string { return keptBackup.ReplaceAllString(h.Snapshot(), "") }

// afterCommit reports whether a failure at at comes once vc's commit
// step has run (it may have made its change before failing): from there
// a failure undoes nothing.
func afterCommit(vc verbCase, points []point, at point) bool {
	if vc.commit == "" {
		return false
	}
	return slices.Index(points, at) >= slices.Index(points, point{vc.commit, true})
}

// create runs a creation of name in mode to its end, and fails the test
// unless it succeeded.
func create(t *testing.T, w *world, name string, mode provision.SSLMode) {
	t.Helper()
	ctx := context.Background()
	task, err := w.s.Create(ctx, provision.CreateRequest{Name: name, Mode: mode, By: "setup"})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	if job, err := task.Wait(ctx); err != nil || job.State != provision.JobSucceeded {
		t.Fatalf("create %s: %s %v", name, job.State, err)
	}
}

// wait waits for a job of the setup to succeed.
func wait(t *testing.T, task *provision.Task, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	if job, err := task.Wait(context.Background()); err != nil || job.State != provision.JobSucceeded {
		t.Fatalf("setup: %s %v", job.State, err)
	}
}

func verbCases() []verbCase {
	var cases []verbCase
	for _, mode := range []provision.SSLMode{provision.SSLHTTP, provision.SSLCloudflare, provision.SSLLetsEncrypt} {
		cases = append(cases, verbCase{
			name:  "create/" + string(mode),
			setup: func(t *testing.T, w *world) { create(t, w, "other", provision.SSLHTTP) },
			run: func(ctx context.Context, w *world) (*provision.Task, error) {
				return w.s.Create(ctx, provision.CreateRequest{Name: "acme", Mode: mode, By: "test"})
			},
		})
	}
	cases = append(cases, verbCase{
		name: "delete",
		setup: func(t *testing.T, w *world) {
			create(t, w, "other", provision.SSLHTTP)
			create(t, w, "acme", provision.SSLCloudflare)
		},
		run: func(ctx context.Context, w *world) (*provision.Task, error) {
			return w.s.Delete(ctx, provision.JobRequest{Name: "acme", By: "test"})
		},
		commit: provision.StepDatabase,
	}, verbCase{
		name: "delete/database-gone",
		setup: func(t *testing.T, w *world) {
			create(t, w, "other", provision.SSLHTTP)
			create(t, w, "acme", provision.SSLCloudflare)
			if err := w.h.Databases().Drop(context.Background(), "prod-acme"); err != nil {
				t.Fatal(err)
			}
		},
		run: func(ctx context.Context, w *world) (*provision.Task, error) {
			return w.s.Delete(ctx, provision.JobRequest{Name: "acme", By: "test"})
		},
		commit: provision.StepDatabase,
	}, verbCase{
		name: "backup",
		setup: func(t *testing.T, w *world) {
			create(t, w, "other", provision.SSLHTTP)
			create(t, w, "acme", provision.SSLCloudflare)
		},
		run: func(ctx context.Context, w *world) (*provision.Task, error) {
			return w.s.Backup(ctx, provision.JobRequest{Name: "acme", By: "test"})
		},
		commit: provision.StepManifest,
	}, verbCase{
		name: "restore",
		setup: func(t *testing.T, w *world) {
			create(t, w, "other", provision.SSLHTTP)
			create(t, w, "acme", provision.SSLCloudflare)
			w.h.WriteData("prod-acme", "before the backup")
			task, err := w.s.Backup(context.Background(), provision.JobRequest{Name: "acme", By: "setup"})
			wait(t, task, err)
			w.h.WriteData("prod-acme", "after the backup")
		},
		run: func(ctx context.Context, w *world) (*provision.Task, error) {
			list, err := w.s.Backups(ctx, "acme")
			if err != nil || len(list) == 0 {
				return nil, fmt.Errorf("no backup to restore: %v", err)
			}
			return w.s.Restore(ctx, provision.JobRequest{Name: "acme", Backup: list[0].ID, By: "test"})
		},
		commit: provision.StepCleanup,
	}, verbCase{
		name: "restore/at",
		setup: func(t *testing.T, w *world) {
			create(t, w, "other", provision.SSLHTTP)
			create(t, w, "acme", provision.SSLCloudflare)
			w.h.WriteData("prod-acme", "before the backup")
			task, err := w.s.Backup(context.Background(), provision.JobRequest{Name: "acme", By: "setup"})
			wait(t, task, err)
			w.h.Advance(time.Hour)
			w.h.WriteData("prod-acme", "partner A")
			w.h.Advance(time.Minute)
			w.h.WriteData("prod-acme", "partner B")
		},
		run: func(ctx context.Context, w *world) (*provision.Task, error) {
			return w.s.Restore(ctx, provision.JobRequest{Name: "acme", At: w.h.Now().Add(-30 * time.Second), By: "test"})
		},
		commit: provision.StepCleanup,
	}, verbCase{
		name: "restore/offsite",
		setup: func(t *testing.T, w *world) {
			create(t, w, "other", provision.SSLHTTP)
			create(t, w, "acme", provision.SSLCloudflare)
			w.h.WriteData("prod-acme", "before the backup")
			task, err := w.s.Backup(context.Background(), provision.JobRequest{Name: "acme", By: "setup"})
			wait(t, task, err)
			list, err := w.s.Backups(context.Background(), "acme")
			if err != nil || len(list) != 1 {
				t.Fatalf("backups: %v, %v", list, err)
			}
			// Kept offsite only: the local copy is gone.
			if err := w.h.Backups().Remove("prod-acme", list[0].ID); err != nil {
				t.Fatal(err)
			}
			w.h.WriteData("prod-acme", "after the backup")
		},
		run: func(ctx context.Context, w *world) (*provision.Task, error) {
			listing, err := w.s.BackupPlaces(ctx, "acme")
			if err != nil || len(listing.Backups) != 1 || listing.Backups[0].Local {
				return nil, fmt.Errorf("want one backup, offsite only: %+v, %v", listing, err)
			}
			return w.s.Restore(ctx, provision.JobRequest{Name: "acme", Backup: listing.Backups[0].ID, By: "test"})
		},
		commit: provision.StepCleanup,
	}, verbCase{
		name: "rebuild/offsite",
		setup: func(t *testing.T, w *world) {
			loseTheServer(t, w)
		},
		run: func(ctx context.Context, w *world) (*provision.Task, error) {
			return w.s.Rebuild(ctx, provision.RebuildRequest{Name: "acme", By: "test"})
		},
	}, verbCase{
		name: "rebuild/take-over-dns",
		setup: func(t *testing.T, w *world) {
			loseTheServer(t, w)
			// The record the lost server made stays: another server's.
			w.h.PlantRecord("acme.example.com", "198.51.100.99")
		},
		run: func(ctx context.Context, w *world) (*provision.Task, error) {
			return w.s.Rebuild(ctx, provision.RebuildRequest{Name: "acme", By: "test", TakeOverDNS: true})
		},
	}, verbCase{
		name: "drill",
		setup: func(t *testing.T, w *world) {
			create(t, w, "other", provision.SSLHTTP)
			create(t, w, "acme", provision.SSLCloudflare)
			w.h.WriteData("prod-acme", "before the backup")
			task, err := w.s.Backup(context.Background(), provision.JobRequest{Name: "acme", By: "setup"})
			wait(t, task, err)
			w.h.WriteData("prod-acme", "after the backup, more")
		},
		run: func(ctx context.Context, w *world) (*provision.Task, error) {
			return w.s.Drill(ctx, provision.JobRequest{Name: "acme", By: "test"})
		},
		same: true,
	}, verbCase{
		name: "drill/offsite",
		setup: func(t *testing.T, w *world) {
			create(t, w, "other", provision.SSLHTTP)
			create(t, w, "acme", provision.SSLCloudflare)
			w.h.WriteData("prod-acme", "before the backup")
			task, err := w.s.Backup(context.Background(), provision.JobRequest{Name: "acme", By: "setup"})
			wait(t, task, err)
			// Kept offsite only: the drill fetches it back.
			for _, b := range mustBackups(t, w, "acme") {
				if err := w.h.Backups().Remove("prod-acme", b.ID); err != nil {
					t.Fatal(err)
				}
			}
			w.h.WriteData("prod-acme", "after the backup, more")
		},
		run: func(ctx context.Context, w *world) (*provision.Task, error) {
			return w.s.Drill(ctx, provision.JobRequest{Name: "acme", By: "test"})
		},
		same: true,
	}, verbCase{
		name: "clone",
		setup: func(t *testing.T, w *world) {
			create(t, w, "other", provision.SSLHTTP)
			create(t, w, "acme", provision.SSLCloudflare)
		},
		run: func(ctx context.Context, w *world) (*provision.Task, error) {
			return w.s.Clone(ctx, provision.CloneRequest{Source: "acme", Name: "acmestg", Neutralize: true, By: "test"})
		},
	}, verbCase{
		name: "upgrade",
		setup: func(t *testing.T, w *world) {
			create(t, w, "other", provision.SSLHTTP)
			create(t, w, "acme", provision.SSLCloudflare)
		},
		run: func(ctx context.Context, w *world) (*provision.Task, error) {
			return w.s.Upgrade(ctx, provision.UpgradeRequest{JobRequest: provision.JobRequest{Name: "acme", By: "test"}, Target: "latest"})
		},
		commit: provision.StepCleanup,
	}, verbCase{
		name: "upgrade of one module",
		setup: func(t *testing.T, w *world) {
			w.h.Sums = releaseSums("sale")
			create(t, w, "other", provision.SSLHTTP)
			create(t, w, "acme", provision.SSLCloudflare)
		},
		run: func(ctx context.Context, w *world) (*provision.Task, error) {
			return w.s.Upgrade(ctx, provision.UpgradeRequest{JobRequest: provision.JobRequest{Name: "acme", By: "test"}, Target: "latest"})
		},
		commit: provision.StepCleanup,
	}, verbCase{
		name: "upgrade that changes no module",
		setup: func(t *testing.T, w *world) {
			w.h.Sums = releaseSums()
			create(t, w, "other", provision.SSLHTTP)
			create(t, w, "acme", provision.SSLCloudflare)
		},
		run: func(ctx context.Context, w *world) (*provision.Task, error) {
			return w.s.Upgrade(ctx, provision.UpgradeRequest{JobRequest: provision.JobRequest{Name: "acme", By: "test"}, Target: "latest"})
		},
		commit: provision.StepCleanup,
	}, verbCase{
		name: "isolate",
		setup: func(t *testing.T, w *world) {
			create(t, w, "other", provision.SSLHTTP)
			shared := sharedWorld(t, w.h)
			create(t, shared, "acme", provision.SSLCloudflare)
			shared.runner.Close()
		},
		run: func(ctx context.Context, w *world) (*provision.Task, error) {
			return w.s.Isolate(ctx, provision.JobRequest{Name: "acme", By: "test"})
		},
	})
	return cases
}

// point is where a fault is injected: a step, before or after its apply.
type point struct {
	step    provision.StepName
	applied bool
}

func (p point) String() string {
	if p.applied {
		return string(p.step) + "/after"
	}
	return string(p.step) + "/before"
}

// outcome runs vc on a fresh host with hook, and returns the host, the
// job's record (zero when the job was halted) and the points the job
// passed, in order.
func outcome(t *testing.T, vc verbCase, hook provision.FaultHook) (*provisiontest.Host, *world, provision.Job, []point) {
	t.Helper()
	h := newHost()
	w := newWorld(t, h, nil)
	vc.setup(t, w)
	w.runner.Close()
	var mu sync.Mutex
	var passed []point
	w = newWorld(t, h, func(job provision.Job, step provision.StepName, applied bool) provision.Fault {
		mu.Lock()
		passed = append(passed, point{step, applied})
		mu.Unlock()
		if hook == nil {
			return provision.NoFault
		}
		return hook(job, step, applied)
	})
	ctx := context.Background()
	task, err := vc.run(ctx, w)
	if err != nil {
		t.Fatalf("%s refused: %v", vc.name, err)
	}
	job, _ := task.Wait(ctx)
	w.runner.Close()
	mu.Lock()
	defer mu.Unlock()
	return h, w, job, passed
}

// snapshotAfterSetup is the host vc starts from.
func snapshotAfterSetup(t *testing.T, vc verbCase) string {
	h := newHost()
	w := newWorld(t, h, nil)
	vc.setup(t, w)
	w.runner.Close()
	return state(h)
}

func TestEveryStepOfEveryVerb(t *testing.T) {
	for _, vc := range verbCases() {
		t.Run(vc.name, func(t *testing.T) {
			before := snapshotAfterSetup(t, vc)
			h, _, job, points := outcome(t, vc, nil)
			if job.State != provision.JobSucceeded {
				t.Fatalf("without a fault the job ended %s: %s", job.State, job.Error)
			}
			after := state(h)
			switch {
			case vc.same && after != before:
				t.Fatalf("the job left the host changed (-before +after):\n%s", cmp.Diff(before, after))
			case !vc.same && after == before:
				t.Fatalf("the job changed nothing on the host:\n%s", after)
			}
			for _, at := range points {
				t.Run("fail/"+at.String(), func(t *testing.T) {
					h, _, job, _ := outcome(t, vc, faultAt(at, provision.FailStep))
					if afterCommit(vc, points, at) {
						if job.State != provision.JobFailed || !strings.Contains(job.Error, "ask again") {
							t.Fatalf("job ended %s (%s), want failed after its commit, to be asked again", job.State, job.Error)
						}
						if state(h) == after {
							return // its last step had done the work
						}
						w := newWorld(t, h, nil)
						// The background push completes what a backup's
						// offsite step left undone.
						if _, err := w.s.PushOffsite(context.Background()); err == nil && state(h) == after {
							return
						}
						task, err := vc.run(context.Background(), w)
						if err != nil {
							t.Fatalf("asked again: refused: %v", err)
						}
						if job, _ := task.Wait(context.Background()); job.State != provision.JobSucceeded {
							t.Fatalf("asked again: %s (%s)", job.State, job.Error)
						}
						if diff := cmp.Diff(after, state(h)); diff != "" {
							t.Errorf("asked again, the job did not end as it would have (-after +now):\n%s", diff)
						}
						return
					}
					if job.State != provision.JobRolledBack {
						t.Fatalf("job ended %s (%s), want rolled back", job.State, job.Error)
					}
					if diff := cmp.Diff(before, state(h)); diff != "" {
						t.Errorf("the rollback left the host changed (-before +now):\n%s", diff)
					}
				})
				t.Run("crash/"+at.String(), func(t *testing.T) {
					h, _, _, _ := outcome(t, vc, faultAt(at, provision.HaltJob))
					h.Restart()
					w := newWorld(t, h, nil)
					ended, err := w.s.Recover(context.Background(), nil)
					if err != nil {
						t.Fatalf("recover: %v", err)
					}
					if len(ended) != 1 {
						t.Fatalf("recovery ended %d jobs, want the one left open", len(ended))
					}
					now := state(h)
					switch {
					case now == before:
						if ended[0].State == provision.JobSucceeded {
							t.Errorf("recovery says the job succeeded, but the host is as before it")
						}
					case now == after:
						if ended[0].State != provision.JobSucceeded {
							t.Errorf("the host is as after the job, but recovery says %s: %s", ended[0].State, ended[0].Error)
						}
					default:
						t.Errorf("recovery (%s) left the host in between:\n-before +now:\n%s\n-after +now:\n%s", ended[0].State, cmp.Diff(before, now), cmp.Diff(after, now))
					}
				})
			}
		})
	}
}

// faultAt injects f at one point of every job of the verb under test.
func faultAt(at point, f provision.Fault) provision.FaultHook {
	return func(job provision.Job, step provision.StepName, applied bool) provision.Fault {
		if step == at.step && applied == at.applied {
			return f
		}
		return provision.NoFault
	}
}

// TestInMemoryHostIsAHost checks the model itself: a creation makes
// what the summary promises, and the snapshot shows it.
func TestInMemoryHostIsAHost(t *testing.T) {
	h := newHost()
	w := newWorld(t, h, nil)
	create(t, w, "acme", provision.SSLCloudflare)
	snap := h.Snapshot()
	for _, want := range []string{"database prod-acme owner=\"prod-acme\"", "user odoo-acme", "role prod-acme", "site prod-acme", "record A acme.example.com", "instance acme state=ready", "unit /etc/systemd/system/odoo19e-prod-acme.service active=true"} {
		if !strings.Contains(snap, want) {
			t.Errorf("the host lacks %q:\n%s", want, snap)
		}
	}
	if strings.Contains(snap, "bot-secret") {
		t.Errorf("the snapshot shows a secret")
	}
	_ = fmt.Sprint()
}

func mustBackups(t *testing.T, w *world, name string) []provision.BackupInfo {
	t.Helper()
	list, err := w.s.Backups(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return list
}
