package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/config"
	"odoobot/internal/app"
	"odoobot/provision"
	"odoobot/provision/nginx"
	"odoobot/provision/tenant"
)

// The creation benchmarks time whole creations in the sandbox host with
// the stand-in Odoo, and each step of them, and report medians:
// BenchmarkCreateWarm with the release cached and the template database
// present (every creation but the first of a release), BenchmarkCreateCold
// with neither (a new release directory and a module list never seen).

// benchEnv gives a benchmark its own directories and state database.
func benchEnv(b *testing.B, cold bool) *config.Config {
	b.Helper()
	needSandbox(b)
	hexs := make([]byte, 4)
	rand.Read(hexs)
	suffix := hex.EncodeToString(hexs)
	root := filepath.Join("/var/lib/odoobot-sandbox/bench", suffix)
	for _, d := range []string{"apps", "log", "state"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	os.Chmod(filepath.Dir(root), 0o755)
	os.Chmod(root, 0o755)
	b.Setenv("PROD_ROOT", filepath.Join(root, "apps"))
	b.Setenv("LOG_DIR", filepath.Join(root, "log"))
	b.Setenv("TRACKING_DIR", "")
	b.Setenv("STATE_DB_NAME", "odoobot_bench_"+suffix)
	if cold {
		b.Setenv("STATE_DIR", filepath.Join(root, "state"))
	}
	cfg, err := config.Load("", false)
	if err != nil {
		b.Fatalf("config: %v (run through scripts/bench.sh)", err)
	}
	if cold {
		// Its own STATE_DIR: odoobot's default site would name a
		// certificate that goes with the benchmark's directory.
		keepDefaultSite(b, cfg.NginxAvailable, cfg.NginxEnabled)
	}
	b.Cleanup(func() {
		os.RemoveAll(root)
		ctx := context.Background()
		if conn, err := pgx.Connect(ctx, cfg.AdminDSN()); err == nil {
			conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{cfg.StateDBName}.Sanitize()+" WITH (FORCE)")
			conn.Close(ctx)
		}
	})
	return cfg
}

// benchCreate creates one instance and returns each step's duration.
func benchCreate(b *testing.B, a *app.App, name string) (total time.Duration, steps map[string]time.Duration) {
	b.Helper()
	record, steps := stepDurations()
	start := time.Now()
	task, err := a.Service.Create(context.Background(), provision.CreateRequest{
		Name: name, Mode: provision.SSLHTTP, By: "bench", Subscribe: []provision.Subscriber{record},
	})
	if err != nil {
		b.Fatalf("create %s: %v", name, err)
	}
	if _, err := task.Wait(context.Background()); err != nil {
		b.Fatalf("create %s: %v", name, err)
	}
	return time.Since(start), steps
}

// stepDurations returns a subscriber that records how long each step of
// a job took, and the map it fills: read it once the job has ended.
func stepDurations() (provision.Subscriber, map[string]time.Duration) {
	steps := map[string]time.Duration{}
	var mu sync.Mutex
	return func(e provision.Event) {
		if e.Kind == provision.EventDone {
			mu.Lock()
			steps[e.Step] = e.Duration
			mu.Unlock()
		}
	}, steps
}

// medianMS is the median of ds, in milliseconds; it sorts ds.
func medianMS(ds []time.Duration) float64 {
	slices.Sort(ds)
	return float64(ds[len(ds)/2]) / float64(time.Millisecond)
}

// benchDestroy removes an instance made by benchCreate.
func benchDestroy(b *testing.B, a *app.App, name string) {
	b.Helper()
	ctx := context.Background()
	inst := a.Config.Layout().NewInstance(name, provision.SSLHTTP)
	p := a.Config.Layout().Paths(inst)
	a.Services.Remove(ctx, p.Unit)
	nginx.New(nginx.Config{
		Available: a.Config.NginxAvailable, Enabled: a.Config.NginxEnabled, Binary: "/usr/sbin/nginx",
		Reload: func(ctx context.Context) error { return a.Services.Reload(ctx, "nginx.service") },
	}).Remove(ctx, inst.Internal)
	conn, err := pgx.Connect(ctx, a.Config.AdminDSN())
	if err != nil {
		b.Fatalf("remove %s's database: %v", name, err)
	}
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{inst.Internal}.Sanitize()+" WITH (FORCE)")
	conn.Close(ctx)
	if err != nil {
		b.Errorf("remove %s's database: %v", name, err)
	}
	os.RemoveAll(p.Dir)
	a.Store.ReleaseInstance(ctx, name)
	tenants := tenant.New(tenant.Config{AdminDSN: a.Config.AdminDSN(), Admin: a.Config.DBUser})
	if err := errors.Join(tenants.DropRole(ctx, inst.DBRole), tenants.RemoveUser(ctx, inst.User)); err != nil {
		b.Errorf("remove %s's user and role: %v", name, err)
	}
}

// benchApp is an app for the benchmarks. Its log is discarded, or
// appended to the file ODOOBOT_BENCH_LOG names (in the sandbox host's
// view), which says where a step's time went: each odoo-bin run of a
// template's initialisation, the database copy.
func benchApp(b *testing.B, cfg *config.Config) *app.App {
	b.Helper()
	log := slog.New(slog.DiscardHandler)
	if path := os.Getenv("ODOOBOT_BENCH_LOG"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			b.Fatalf("ODOOBOT_BENCH_LOG: %v", err)
		}
		b.Cleanup(func() { f.Close() })
		log = slog.New(slog.NewTextHandler(f, nil))
	}
	a, err := app.New(context.Background(), cfg, log, app.Options{})
	if err != nil {
		b.Fatalf("app.New: %v", err)
	}
	b.Cleanup(a.Close)
	return a
}

// reportMedians reports the median total and the median of each step.
func reportMedians(b *testing.B, totals []time.Duration, steps []map[string]time.Duration) {
	med := medianMS
	b.ReportMetric(med(totals), "ms/create-median")
	var overhead []time.Duration
	for _, name := range provision.StepNames(provision.SSLHTTP, provision.PlanOptions{}) {
		var ds []time.Duration
		for _, s := range steps {
			ds = append(ds, s[string(name)])
		}
		b.ReportMetric(med(ds), "ms/"+string(name))
	}
	// The bot's own overhead: everything but the database copy and the
	// Odoo process start (service + health).
	for i, s := range steps {
		overhead = append(overhead, totals[i]-s["database"]-s["service"]-s["health"])
	}
	b.ReportMetric(med(overhead), "ms/overhead-median")
	b.ReportMetric(0, "ns/op")
}

func BenchmarkCreateWarm(b *testing.B) { benchWarm(b, "bench-warm") }

// benchWarm times warm creations of instances named prefix-N with the
// configuration in the environment, after one creation that makes the
// release and the template.
func benchWarm(b *testing.B, prefix string) {
	cfg := benchEnv(b, false)
	a := benchApp(b, cfg)
	benchCreate(b, a, prefix+"-warmup")
	benchDestroy(b, a, prefix+"-warmup")
	var totals []time.Duration
	var steps []map[string]time.Duration
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("%s-%d", prefix, i)
		total, s := benchCreate(b, a, name)
		b.StopTimer()
		totals, steps = append(totals, total), append(steps, s)
		benchDestroy(b, a, name)
		b.StartTimer()
	}
	reportMedians(b, totals, steps)
}

func BenchmarkCreateCold(b *testing.B) {
	cfg := benchEnv(b, true)
	var totals []time.Duration
	var steps []map[string]time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		// A module list never seen forces a new template; a new cache
		// directory forces a new release build.
		os.RemoveAll(filepath.Join(cfg.StateDir, "releases"))
		cfg.Modules = append(cfg.InstanceModules(), fmt.Sprintf("bench_cold_%d_%d", time.Now().UnixNano(), i))
		a := benchApp(b, cfg)
		name := fmt.Sprintf("bench-cold-%d", i)
		b.StartTimer()
		total, s := benchCreate(b, a, name)
		b.StopTimer()
		totals, steps = append(totals, total), append(steps, s)
		benchDestroy(b, a, name)
		dropTemplates(b, cfg)
		b.StartTimer()
	}
	reportMedians(b, totals, steps)
}

// dropTemplates drops the templates a cold benchmark made (those whose
// filestore lives in its own STATE_DIR).
func dropTemplates(b *testing.B, cfg *config.Config) {
	ctx := context.Background()
	entries, _ := os.ReadDir(filepath.Join(cfg.StateDir, "templates"))
	conn, err := pgx.Connect(ctx, cfg.AdminDSN())
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	for _, e := range entries {
		id := pgx.Identifier{e.Name()}.Sanitize()
		conn.Exec(ctx, "ALTER DATABASE "+id+" WITH IS_TEMPLATE false")
		conn.Exec(ctx, "DROP DATABASE IF EXISTS "+id+" WITH (FORCE)")
	}
}
