package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"odoobot/bot/shell"
	"odoobot/commands"
	"odoobot/config"
	"odoobot/internal/app"
	"odoobot/provision"
	"odoobot/provision/tenant"
)

// BenchmarkScale measures how creation and the read verbs grow with the
// number of instances on the host, with the stand-in Odoo: at each size
// of ODOOBOT_BENCH_SCALE (default 1,100,250,500) it creates the
// instances missing with the real odoobot binary, ODOOBOT_BENCH_PARALLEL
// (default 4) at a time, as an operator would, then times 3 creations
// (with each step) and list, status, backup and capacity through the
// dispatcher, as a chat user would. It reports each median at each size
// and the ratio of the largest size to the smallest. Everything it made
// is removed at the end, whatever happened. Run it once (-benchtime 1x).
func BenchmarkScale(b *testing.B) {
	sizes := scaleSizes(b)
	parallel := 4
	if v, err := strconv.Atoi(os.Getenv("ODOOBOT_BENCH_PARALLEL")); err == nil && v > 0 {
		parallel = v
	}
	cfg := scaleEnv(b)
	a := benchApp(b, cfg)
	bin := odoobotBin(b)
	// The instances are removed when the benchmark ends, and also when
	// it is interrupted or terminated: the host is shared.
	var teardown sync.Once
	b.Cleanup(func() { teardown.Do(func() { scaleTeardown(b, a) }) })
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	go func() {
		if s, ok := <-sig; ok {
			fmt.Fprintf(os.Stderr, "BenchmarkScale: %v: removing the instances\n", s)
			teardown.Do(func() { scaleTeardown(b, a) })
			os.Exit(1)
		}
	}()

	type point struct {
		n                                   int
		create, nginx, service, verify      float64
		list, status, backup, capacity, all float64
		nginxTest                           float64 // `nginx -t` of the host's whole configuration
	}
	var points []point
	for i := 0; b.Loop(); i++ {
		if i > 0 {
			continue // one run: the instances are the fixture
		}
		made := 0
		for _, n := range sizes {
			const timed = 3
			grow := max(n-timed, 0) - made
			scaleGrow(b, a, bin, made, grow, parallel)
			made += grow
			var totals []time.Duration
			var steps []map[string]time.Duration
			for range min(timed, n) {
				total, s := benchCreate(b, a, scaleName(made))
				made++
				totals, steps = append(totals, total), append(steps, s)
			}
			p := point{n: made, create: medianMS(totals)}
			p.nginx, p.service, p.verify = stepMedian(steps, provision.StepNginx), stepMedian(steps, provision.StepService), stepMedian(steps, provision.StepVerify)
			p.list = verbMedian(b, a, 5, func(int) string { return "list" })
			p.status = verbMedian(b, a, 5, func(int) string { return "status " + scaleName(rand.IntN(made)) })
			p.backup = verbMedian(b, a, 3, func(int) string { return "backup " + scaleName(rand.IntN(made)) })
			p.capacity = verbMedian(b, a, 3, func(int) string { return "capacity" })
			p.nginxTest = nginxTestMedian(b, 3)
			points = append(points, p)
			progress("%d instances: creation %.0f ms (nginx %.0f, service %.0f, verify %.0f), list %.0f ms, status %.0f ms, backup %.0f ms, capacity %.0f ms; nginx -t %.0f ms",
				p.n, p.create, p.nginx, p.service, p.verify, p.list, p.status, p.backup, p.capacity, p.nginxTest)
		}
	}
	if len(points) == 0 {
		return
	}
	first, last := points[0], points[len(points)-1]
	for _, p := range points {
		at := "@" + strconv.Itoa(p.n)
		b.ReportMetric(p.create, "ms/create"+at)
		b.ReportMetric(p.nginx, "ms/nginx"+at)
		b.ReportMetric(p.list, "ms/list"+at)
		b.ReportMetric(p.status, "ms/status"+at)
		b.ReportMetric(p.backup, "ms/backup"+at)
		b.ReportMetric(p.capacity, "ms/capacity"+at)
		b.ReportMetric(p.nginxTest, "ms/nginx-t"+at)
	}
	ratio := func(x, y float64) float64 { return x / max(y, 0.001) }
	b.ReportMetric(ratio(last.create, first.create), "x/create")
	b.ReportMetric(ratio(last.list, first.list), "x/list")
	b.ReportMetric(ratio(last.status, first.status), "x/status")
	b.ReportMetric(ratio(last.backup, first.backup), "x/backup")
	b.ReportMetric(ratio(last.capacity, first.capacity), "x/capacity")
	b.ReportMetric(0, "ns/op")
}

// scaleSizes are the sizes of ODOOBOT_BENCH_SCALE, ascending.
func scaleSizes(b *testing.B) []int {
	spec := os.Getenv("ODOOBOT_BENCH_SCALE")
	if spec == "" {
		spec = "1,100,250,500"
	}
	var sizes []int
	for _, f := range strings.Split(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || len(sizes) > 0 && n <= sizes[len(sizes)-1] {
			b.Fatalf("ODOOBOT_BENCH_SCALE=%q: give ascending positive counts, e.g. 1,100,250,500", spec)
		}
		sizes = append(sizes, n)
	}
	return sizes
}

func scaleName(i int) string { return fmt.Sprintf("scale-%04d", i) }

// scaleEnv is benchEnv for BenchmarkScale, with its own backup directory
// and a capacity model small enough for hundreds of stand-in instances
// (about 22 MiB each).
func scaleEnv(b *testing.B) *config.Config {
	b.Helper()
	b.Setenv("INSTANCE_MEMORY_MB", "32")
	b.Setenv("INSTANCE_DISK_MB", "32")
	cfg := benchEnv(b, false)
	backups := filepath.Join(filepath.Dir(cfg.ProdRoot), "backups")
	if err := os.MkdirAll(backups, 0o755); err != nil {
		b.Fatal(err)
	}
	b.Setenv("BACKUP_DIR", backups)
	cfg, err := config.Load("", false)
	if err != nil {
		b.Fatal(err)
	}
	return cfg
}

// scaleGrow creates instances from..from+count-1 with the real binary,
// parallel at a time.
func scaleGrow(b *testing.B, a *app.App, bin string, from, count, parallel int) {
	b.Helper()
	if count <= 0 {
		return
	}
	start := time.Now()
	var g errgroup.Group
	g.SetLimit(parallel)
	var done atomic.Int32
	for i := from; i < from+count; i++ {
		g.Go(func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, "--env-file", "/dev/null", "create", scaleName(i), "http").CombinedOutput()
			if err != nil {
				return fmt.Errorf("create %s: %w\n%s", scaleName(i), err, out)
			}
			if n := done.Add(1); n%25 == 0 {
				progress("%d of %d created", n, count)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	progress("created %d instances in %s (%d at a time)", count, time.Since(start).Round(time.Second), parallel)
}

// nginxTestMedian times k runs of `nginx -t` on the host's configuration
// (what nginx itself parses at every test and reload), in milliseconds.
func nginxTestMedian(b *testing.B, k int) float64 {
	b.Helper()
	var ds []time.Duration
	for range k {
		start := time.Now()
		if out, err := exec.Command(nginxBinary, "-t", "-q").CombinedOutput(); err != nil {
			b.Fatalf("nginx -t: %v\n%s", err, out)
		}
		ds = append(ds, time.Since(start))
	}
	return medianMS(ds)
}

// stepMedian is the median of one step over creations, in milliseconds.
func stepMedian(steps []map[string]time.Duration, step provision.StepName) float64 {
	var ds []time.Duration
	for _, s := range steps {
		ds = append(ds, s[string(step)])
	}
	return medianMS(ds)
}

// verbMedian runs k commands through the dispatcher as the terminal user
// (waiting for the job of one that starts a job) and returns the median
// time, in milliseconds. An answer that says it failed fails the
// benchmark.
func verbMedian(b *testing.B, a *app.App, k int, text func(i int) string) float64 {
	b.Helper()
	ctx := context.Background()
	var ds []time.Duration
	for i := range k {
		cmd := text(i)
		r := &recorder{}
		start := time.Now()
		task, err := a.Dispatcher.Handle(ctx, commands.Request{Identity: shell.Identity(), Channel: "bench", Text: cmd}, r)
		if err == nil && task != nil {
			var job provision.Job
			job, err = task.Wait(ctx)
			if err == nil && job.State != provision.JobSucceeded {
				err = fmt.Errorf("job %s", job.State)
			}
		}
		ds = append(ds, time.Since(start))
		if err != nil || len(r.privates) > 0 {
			b.Fatalf("%s: %v\n%s", cmd, err, r.text())
		}
	}
	return medianMS(ds)
}

// scaleTeardown removes every instance of the benchmark's state
// database, in bulk: the units stopped 8 at a time and their files
// removed with one daemon reload, the sites removed with one nginx
// reload, then the databases, roles and users. Its directories and state
// database go with benchEnv's cleanup.
func scaleTeardown(b *testing.B, a *app.App) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	start := time.Now()
	list, err := a.Store.Instances(ctx)
	if err != nil {
		b.Errorf("teardown: list instances: %v", err)
		return
	}
	layout := a.Config.Layout()
	var mu sync.Mutex
	var errs []error
	note := func(err error) {
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	}
	var g errgroup.Group
	g.SetLimit(8)
	for _, inst := range list {
		g.Go(func() error {
			if err := a.Services.Stop(ctx, inst.Unit); err != nil && !strings.Contains(err.Error(), "not loaded") {
				note(fmt.Errorf("stop %s: %w", inst.Unit, err))
			}
			return nil
		})
	}
	g.Wait()
	for i, inst := range list {
		p := layout.Paths(inst)
		if i < len(list)-1 {
			os.Remove(filepath.Join(filepath.Dir(p.Unit), "multi-user.target.wants", filepath.Base(p.Unit)))
			note(ignoreMissing(os.Remove(p.Unit)))
			os.Remove(filepath.Join(a.Config.NginxEnabled, inst.Internal))
			note(ignoreMissing(os.Remove(filepath.Join(a.Config.NginxAvailable, inst.Internal))))
			continue
		}
		// The last one through the drivers: one daemon reload, one
		// nginx test and reload for all.
		note(a.Services.Remove(ctx, p.Unit))
		note(appSites(a).Remove(ctx, inst.Internal))
	}
	conn, err := pgx.Connect(ctx, a.Config.AdminDSN())
	if err != nil {
		b.Errorf("teardown: %v", err)
		return
	}
	defer conn.Close(ctx)
	tenants := tenant.New(tenant.Config{AdminDSN: a.Config.AdminDSN(), Admin: a.Config.DBUser})
	for _, inst := range list {
		_, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{inst.Internal}.Sanitize()+" WITH (FORCE)")
		note(err)
		note(tenants.DropRole(ctx, inst.DBRole))
		note(tenants.RemoveUser(ctx, inst.User))
		os.RemoveAll(layout.Paths(inst).CreateLog)
	}
	if err := errors.Join(errs...); err != nil {
		b.Errorf("teardown of %d instances: %v", len(list), err)
	}
	progress("teardown: %d instances removed in %s", len(list), time.Since(start).Round(time.Second))
}

// progress prints a line of BenchmarkScale at once (b.Logf shows only
// when the benchmark ends).
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().UTC().Format("15:04:05 ")+format+"\n", args...)
}

func ignoreMissing(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
