package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"odoobot/internal/app"
	"odoobot/provision"
)

// The clone benchmarks time `clone` of a freshly created instance (the
// stand-in, and real Odoo 17.0 and 19.0 with the default modules), each
// reporting its median and the median of the copy and neutralize steps.
// A clone is a pg_dump and pg_restore of the whole database, so its time
// grows with production's data; these are the times of a new instance.

func BenchmarkCloneWarm(b *testing.B) {
	benchClone(b, "bench-clone")
}

func BenchmarkRealOdooClone(b *testing.B) {
	for _, v := range []string{"17.0", "19.0"} {
		b.Run(v, func(b *testing.B) {
			realBenchEnv(b, v)
			benchClone(b, "bench-real-clone")
		})
	}
}

// benchClone creates a source instance, then clones it b.N times,
// destroying each clone.
func benchClone(b *testing.B, prefix string) {
	b.Setenv("BACKUP_DIR", b.TempDir())
	cfg := benchEnv(b, false)
	a := benchApp(b, cfg)
	src := prefix + "-src"
	benchCreate(b, a, src)
	b.Cleanup(func() { benchDestroy(b, a, src) })
	var totals, copies, neutralizes []time.Duration
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("%s-%d", prefix, i)
		total, steps := benchCloneOnce(b, a, src, name)
		b.StopTimer()
		totals = append(totals, total)
		copies = append(copies, steps[string(provision.StepCopy)])
		neutralizes = append(neutralizes, steps[string(provision.StepNeutralize)])
		benchDestroy(b, a, name)
		b.StartTimer()
	}
	med := medianMS
	b.ReportMetric(med(totals), "ms/clone-median")
	b.ReportMetric(med(copies), "ms/copy")
	b.ReportMetric(med(neutralizes), "ms/neutralize")
}

// benchCloneOnce clones src to name and returns its duration and each
// step's.
func benchCloneOnce(b *testing.B, a *app.App, src, name string) (time.Duration, map[string]time.Duration) {
	b.Helper()
	record, steps := stepDurations()
	start := time.Now()
	task, err := a.Service.Clone(context.Background(), provision.CloneRequest{
		Source: src, Name: name, Neutralize: true, By: "bench", Subscribe: []provision.Subscriber{record},
	})
	if err != nil {
		b.Fatalf("clone %s: %v", name, err)
	}
	if _, err := task.Wait(context.Background()); err != nil {
		b.Fatalf("clone %s: %v", name, err)
	}
	return time.Since(start), steps
}
