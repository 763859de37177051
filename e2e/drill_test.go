package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"odoobot/internal/app"
	"odoobot/provision"
	"odoobot/provision/probe"
)

// TestDrillStandin: a restore drill of an instance whose backup is kept
// offsite only fetches it back, restores it into a throwaway database
// and filestore, opens it with the (stand-in) Odoo, finds what the
// manifest recorded and drops it all, while production answers every
// health check and keeps its process; backups then says
// "restore-tested". A backup whose recorded count was tampered with,
// and one whose dump was damaged, fail their drills, which alert the
// on-call channel saying what failed. Nothing of any drill stays: no
// database, no directory, no fetched backup, no unit, no site. The
// scheduled drill (DRILL_EVERY) drills on its own.
func TestDrillStandin(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	backups := env.withBackupDir(t)
	env.withOffsite(t)
	a, _ := env.newApp(t, app.Options{})
	var alerts alertLog
	a.AddActionAlerts(alerts.post)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	inst := createReady(t, ctx, a, uniqueName(t, "drl"))
	attachment := filepath.Join(a.Config.Layout().Paths(inst).DataDir, "filestore", inst.Internal, "cd", "cdef0123")
	if err := os.MkdirAll(filepath.Dir(attachment), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(attachment, []byte("an attachment to restore"), 0o640); err != nil {
		t.Fatal(err)
	}
	setParam(t, ctx, a, inst.Internal, "e2e.marker", "drilled")
	b := backupNow(t, ctx, a, inst.Name)
	if b.Counts == nil || b.Counts.Rows["res_users"] < 2 || b.Counts.Rows["ir_module_module installed"] < 1 || b.Counts.FilestoreFiles < 1 {
		t.Fatalf("the manifest records %+v; want the users, the modules and the filestore's files", b.Counts)
	}
	// Kept offsite only: the drill fetches it back.
	if err := os.RemoveAll(filepath.Join(backups, inst.Internal, b.ID)); err != nil {
		t.Fatal(err)
	}
	nothingLeft := func(what string) { t.Helper(); requireNoDrillLeft(t, ctx, a, inst, what) }

	// Production serves throughout, and keeps its process.
	before, err := a.Services.Status(ctx, inst.Unit)
	if err != nil {
		t.Fatal(err)
	}
	var probes, failures atomic.Int32
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			probes.Add(1)
			if !probe.Healthy(ctx, inst.Ports.HTTP) {
				failures.Add(1)
			}
		}
	}()
	start := time.Now()
	r, _ := dispatch(t, ctx, a, "drill "+inst.Name)
	f := finishes(waitFinished(t, r))
	close(stop)
	<-done
	t.Logf("drill of %s took %s; production answered %d of %d health checks meanwhile\n%s", inst.Name, time.Since(start).Round(time.Millisecond), probes.Load()-failures.Load(), probes.Load(), r.text())
	if !strings.Contains(f, "restore drill of "+inst.Internal+" passed") || !strings.Contains(r.text(), "✓ fetch") || !strings.Contains(r.text(), "✓ open") || !strings.Contains(r.text(), "as recorded") {
		t.Fatalf("the drill did not pass, fetching and opening:\n%s", r.text())
	}
	if failures.Load() != 0 {
		t.Errorf("production failed %d of %d health checks during the drill", failures.Load(), probes.Load())
	}
	if after, err := a.Services.Status(ctx, inst.Unit); err != nil || after.MainPID != before.MainPID || !after.Running() {
		t.Errorf("production's service: PID %d before, %+v after (%v): it must keep running untouched", before.MainPID, after, err)
	}
	requireAnswers(t, ctx, inst)
	if got := configParam(t, ctx, a, inst.Internal, "e2e.marker"); got != "drilled" {
		t.Errorf("production's data changed: e2e.marker = %q", got)
	}
	if _, err := os.Lstat(filepath.Join(backups, inst.Internal, b.ID)); err == nil {
		t.Errorf("the backup fetched back for the drill is left in BACKUP_DIR")
	}
	nothingLeft("after a drill that passed")
	if got, _ := dispatch(t, ctx, a, "backups "+inst.Name); !strings.Contains(got.text(), "restore-tested ") {
		t.Errorf("backups does not say the backup was restore-tested:\n%s", got.text())
	}
	if len(alerts.texts) != 0 {
		t.Errorf("a drill that passed alerted: %q", alerts.texts)
	}

	// A tampered count: the drill fails, saying which, and alerts.
	tampered := backupNow(t, ctx, a, inst.Name)
	editManifest(t, filepath.Join(backups, inst.Internal, tampered.ID), func(m *provision.Manifest) {
		m.Counts.Rows["res_users"] += 5
	})
	r, _ = dispatch(t, ctx, a, "drill "+inst.Name)
	if f := finishes(waitFinished(t, r)); !strings.Contains(f, "restore drill of "+inst.Internal+" failed") {
		t.Fatalf("the drill of a tampered backup:\n%s", r.text())
	}
	if !waitFor(10*time.Second, func() bool { return alerts.has("restore drill of " + inst.Internal + " FAILED at step compare") }) || !alerts.has("res_users") {
		t.Errorf("no alert naming the count; alerts: %q", alerts.texts)
	}
	if got, _ := dispatch(t, ctx, a, "backups "+inst.Name); !strings.Contains(got.text(), "RESTORE TEST FAILED") {
		t.Errorf("backups does not say the drill failed:\n%s", got.text())
	}
	nothingLeft("after a drill that found a count differ")

	// A damaged dump: the drill fails, and alerts.
	damaged := backupNow(t, ctx, a, inst.Name)
	dump := filepath.Join(backups, inst.Internal, damaged.ID, provision.DumpName)
	raw, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(raw) / 2; i < len(raw)/2+64 && i < len(raw); i++ {
		raw[i] ^= 0xff
	}
	if err := os.WriteFile(dump, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	r, _ = dispatch(t, ctx, a, "drill "+inst.Name)
	if f := finishes(waitFinished(t, r)); !strings.Contains(f, "restore drill of "+inst.Internal+" failed") {
		t.Fatalf("the drill of a damaged dump:\n%s", r.text())
	}
	if !waitFor(10*time.Second, func() bool { return alerts.has(damaged.ID) }) {
		t.Errorf("no alert for the damaged dump; alerts: %q", alerts.texts)
	}
	nothingLeft("after a drill of a damaged dump")
	requireAnswers(t, ctx, inst)

	// The scheduled drill drills on its own, the newest backup (a good
	// one) passing.
	good := backupNow(t, ctx, a, inst.Name)
	a.Config.DrillEvery = 2 * time.Second
	a.Config.BackupTime = "off" // no quiet hours before a daily backup, whatever the time
	loop, stopLoop := context.WithCancel(ctx)
	defer stopLoop()
	a.StartDrills(loop)
	if !waitFor(3*time.Minute, func() bool {
		got, err := a.Service.DrillOutcomes(ctx, inst.Name, 1)
		return err == nil && len(got) == 1 && got[0].Backup == good.ID && got[0].OK
	}) {
		got, err := a.Service.DrillOutcomes(ctx, inst.Name, 5)
		t.Errorf("the scheduled drill did not pass on %s: %+v, %v", good.ID, got, err)
	}
	stopLoop()
	waitFor(time.Minute, func() bool {
		open, err := a.Store.OpenJobs(ctx)
		return err == nil && len(open) == 0
	})
	nothingLeft("after the scheduled drill")
}

// editManifest rewrites the manifest of the backup in dir through edit.
func editManifest(t *testing.T, dir string, edit func(*provision.Manifest)) {
	t.Helper()
	path := filepath.Join(dir, provision.ManifestName)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m provision.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m.Counts == nil {
		t.Fatalf("the manifest of %s records no counts", dir)
	}
	edit(&m)
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// requireNoDrillLeft checks that no drill of inst left anything: no
// throwaway database or filestore, no unit or site, no open job.
func requireNoDrillLeft(t *testing.T, ctx context.Context, a *app.App, inst provision.Instance, what string) {
	t.Helper()
	if databaseExists(t, ctx, a, inst.Internal+provision.DrillSuffix) {
		t.Errorf("%s: the drill's database %s is left", what, inst.Internal+provision.DrillSuffix)
	}
	staged := filepath.Join(a.Config.Layout().ProdRoot, provision.StagingDirName, "restore-"+inst.Internal)
	if _, err := os.Lstat(staged); err == nil {
		t.Errorf("%s: the drill's filestore %s is left", what, staged)
	}
	for _, dir := range []string{a.Config.UnitDir, a.Config.NginxAvailable, a.Config.NginxEnabled} {
		if m, _ := filepath.Glob(filepath.Join(dir, "*drill*")); len(m) > 0 {
			t.Errorf("%s: a drill left %v", what, m)
		}
	}
	if open, err := a.Store.OpenJobs(ctx); err != nil || len(open) != 0 {
		t.Errorf("%s: open jobs %+v, %v", what, open, err)
	}
}

// TestDrillKilledIsRolledBack: `odoobot drill NAME` from the CLI, with
// no offsite repository, drills the latest local backup, says so, and
// exits 0; a drill killed as it opens the copy (its database restored,
// its filestore unpacked) is rolled back by the next start, which
// drops both; the killed drill is no outcome of the backup; production
// serves throughout.
func TestDrillKilledIsRolledBack(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	env.withBackupDir(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	inst := createReady(t, ctx, a, uniqueName(t, "drk"))
	b := backupNow(t, ctx, a, inst.Name)
	out, err := env.command(ctx, odoobotBin(t), "drill", inst.Name).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "restore drill of "+inst.Internal+" passed") || !strings.Contains(string(out), "no offsite repository (OFFSITE_REPOSITORY): the latest local backup is drilled") {
		t.Fatalf("odoobot drill: %v\n%s", err, out)
	}
	requireNoDrillLeft(t, ctx, a, inst, "after the CLI's drill")

	job, said := killedAt(t, ctx, env, a, odoobotBin(t), inst.Name, provision.StepOpen, "drill", inst.Name)
	if job.Kind != provision.JobDrill {
		t.Fatalf("the killed job is %s", job.Kind)
	}
	if !databaseExists(t, ctx, a, inst.Internal+provision.DrillSuffix) {
		t.Fatalf("killed at open, the drill's database is not there: the kill came too early\n%s", said)
	}
	rec, got := recoverWithServe(t, ctx, env, a, odoobotBin(t), job)
	if rec.State != provision.JobInterrupted || !strings.Contains(rec.Error, "rolled back") {
		t.Errorf("the killed drill ended %s (%s) after the recovery, want interrupted and rolled back\n%s", rec.State, rec.Error, got)
	}
	requireNoDrillLeft(t, ctx, a, inst, "after the recovery of a killed drill")
	requireAnswers(t, ctx, inst)
	outcomes, err := a.Service.DrillOutcomes(ctx, inst.Name, 5)
	if err != nil || len(outcomes) != 1 || !outcomes[0].OK || outcomes[0].Backup != b.ID {
		t.Errorf("outcomes after the killed drill: %+v, %v; want only the drill that passed", outcomes, err)
	}
}
