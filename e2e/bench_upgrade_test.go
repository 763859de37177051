package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"odoobot/config"
	"odoobot/internal/app"
	"odoobot/provision"
)

// The upgrade benchmarks time `upgrade NAME latest` of an instance to a
// new commit of its source (the stand-in, and real Odoo 17.0 and 19.0
// with the default modules of a community server): each reports the
// median of the whole job and of its steps that matter — the release
// build, the test on a copy, the update of production — and the median
// time production was stopped (stop, switch, update, start with its
// health check). The instance is created from the shared source (a warm
// creation); the upgrades then come from a clone of it that gains one
// commit per run, so every run builds a release and updates twice.

func BenchmarkUpgrade(b *testing.B) {
	benchUpgrade(b, "bench-upgrade")
}

func BenchmarkRealOdooUpgrade(b *testing.B) {
	for _, v := range []string{"17.0", "19.0"} {
		b.Run(v, func(b *testing.B) {
			realBenchEnv(b, v)
			benchUpgrade(b, "bench-real-upgrade")
		})
	}
}

func benchUpgrade(b *testing.B, name string) {
	// A release that touches one module (its Python): only that module is
	// updated. A release that touches Odoo's core (odoo-bin): every
	// module is, as every upgrade did before (-u all): the floor the
	// first is compared with, measured in the same run.
	b.Run("one-module", func(b *testing.B) { benchUpgradeOf(b, name+"-m", oneModuleChange) })
	b.Run("core", func(b *testing.B) { benchUpgradeOf(b, name+"-c", coreChange) })
}

// oneModuleChange adds a line to the contacts module's __init__.py, run i.
func oneModuleChange(r *testRepo, i int) map[string]string {
	for _, dir := range []string{"addons/contacts", "odoo/addons/contacts"} {
		if b := r.readMaybe(dir + "/__init__.py"); b != nil {
			return map[string]string{dir + "/__init__.py": string(b) + fmt.Sprintf("# run %d\n", i)}
		}
	}
	r.t.Fatal("the source has no contacts module")
	return nil
}

// coreChange adds a line to odoo-bin, run i.
func coreChange(r *testRepo, i int) map[string]string {
	return map[string]string{"odoo-bin": string(r.read("odoo-bin")) + fmt.Sprintf("# run %d\n", i)}
}

func benchUpgradeOf(b *testing.B, name string, change func(r *testRepo, i int) map[string]string) {
	b.Setenv("BACKUP_DIR", b.TempDir())
	cfg := benchEnv(b, false)
	a := benchApp(b, cfg)
	benchCreate(b, a, name)
	b.Cleanup(func() { benchDestroy(b, a, name) })

	repo := newTestRepo(b, filepath.Dir(cfg.ProdRoot), os.Getenv("ODOO_REPO"), os.Getenv("ODOO_BRANCH"))
	b.Setenv("ODOO_REPO", "file://"+repo.dir)
	ucfg, err := config.Load("", false)
	if err != nil {
		b.Fatal(err)
	}
	up := benchApp(b, ucfg)
	var totals, releases, copies, updates, stopped []time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		repo.commit(fmt.Sprintf("run %d", i), change(repo, i))
		b.StartTimer()
		total, steps := benchUpgradeOnce(b, up, name)
		totals = append(totals, total)
		releases = append(releases, steps[string(provision.StepRelease)])
		copies = append(copies, steps[string(provision.StepTestCopy)])
		updates = append(updates, steps[string(provision.StepUpdate)])
		stopped = append(stopped, steps[string(provision.StepStop)]+steps[string(provision.StepSwitch)]+
			steps[string(provision.StepUpdate)]+steps[string(provision.StepStart)])
	}
	med := medianMS
	b.ReportMetric(med(totals), "ms/upgrade-median")
	b.ReportMetric(med(releases), "ms/release")
	b.ReportMetric(med(copies), "ms/test-on-copy")
	b.ReportMetric(med(updates), "ms/update")
	b.ReportMetric(med(stopped), "ms/production-stopped")
}

// benchUpgradeOnce upgrades name to its source's head and returns the
// job's duration and each step's.
func benchUpgradeOnce(b *testing.B, a *app.App, name string) (time.Duration, map[string]time.Duration) {
	b.Helper()
	record, steps := stepDurations()
	start := time.Now()
	task, err := a.Service.Upgrade(context.Background(), provision.UpgradeRequest{
		JobRequest: provision.JobRequest{Name: name, By: "bench", Subscribe: []provision.Subscriber{record}},
		Target:     "latest",
	})
	if err != nil {
		b.Fatalf("upgrade %s: %v", name, err)
	}
	if _, err := task.Wait(context.Background()); err != nil {
		b.Fatalf("upgrade %s: %v", name, err)
	}
	return time.Since(start), steps
}
