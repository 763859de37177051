package e2e

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"odoobot/internal/app"
	"odoobot/provision"
)

// BenchmarkRealOdooRestoreAt restores a real Odoo 19.0 instance to a
// time b.N times, on a cluster of the benchmark's own that archives its
// WAL with pgBackRest to the S3 double over TLS (set up as odoobot setup
// does, then an incremental base backup once the instance exists), each
// time between two writes, and reports the median of the whole job and of its replay
// step (the base backup restored into a scratch cluster, the WAL
// replayed, the database dumped as its role).
func BenchmarkRealOdooRestoreAt(b *testing.B) {
	cl := ownCluster(b)
	realBenchEnv(b, "19.0")
	dir, err := os.MkdirTemp("/var/lib/odoobot-sandbox", "bench-pitr-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	cl.pitrSettings(b, dir, func(k, v string) { b.Setenv(k, v) })
	cfg := benchEnv(b, false)
	ctx := context.Background()
	if err := app.SetupPITR(ctx, cfg, func(string) {}); err != nil {
		b.Fatal(err)
	}
	a := benchApp(b, cfg)
	name := "bench-pitr"
	benchCreate(b, a, name)
	b.Cleanup(func() { benchDestroy(b, a, name) })
	inst, err := a.Store.Instance(ctx, name)
	if err != nil {
		b.Fatal(err)
	}
	task, err := a.Service.Backup(ctx, provision.JobRequest{Name: name, By: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	task.Wait(ctx)
	// A base backup after the instance exists, as the daily one of serve
	// would be: the replay restores its database alone (--db-include).
	out, err := exec.Command("runuser", "-u", "postgres", "--", "pgbackrest", "--config="+cfg.PITRConfigFile, "--stanza=odoobot", "--type=incr", "backup").CombinedOutput()
	if err != nil {
		b.Fatalf("pgbackrest backup: %v\n%s", err, out)
	}
	db := connectDB(b, ctx, a, inst.Internal)
	var totals, replays []time.Duration
	for b.Loop() {
		b.StopTimer()
		if _, err := db.Exec(ctx, "UPDATE ir_config_parameter SET value = 'A' WHERE key = 'database.create_date'"); err != nil {
			b.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond)
		at := time.Now()
		time.Sleep(1100 * time.Millisecond)
		if _, err := db.Exec(ctx, "UPDATE ir_config_parameter SET value = 'B' WHERE key = 'database.create_date'"); err != nil {
			b.Fatal(err)
		}
		db.Close(ctx)
		b.StartTimer()
		record, steps := stepDurations()
		start := time.Now()
		task, err := a.Service.Restore(ctx, provision.JobRequest{Name: name, At: at, By: "bench", Subscribe: []provision.Subscriber{record}})
		if err != nil {
			b.Fatal(err)
		}
		if job, _ := task.Wait(ctx); job.State != provision.JobSucceeded {
			b.Fatalf("restore --at: %s (%s)", job.State, job.Error)
		}
		b.StopTimer()
		totals = append(totals, time.Since(start))
		replays = append(replays, steps[string(provision.StepReplay)])
		db = connectDB(b, ctx, a, inst.Internal)
		var v string
		if err := db.QueryRow(ctx, "SELECT value FROM ir_config_parameter WHERE key = 'database.create_date'").Scan(&v); err != nil || v != "A" {
			b.Fatalf("after restore --at: %q, %v; want A", v, err)
		}
		b.StartTimer()
	}
	db.Close(ctx)
	b.ReportMetric(medianMS(totals), "ms/restore-at")
	b.ReportMetric(medianMS(replays), "ms/replay")
}
