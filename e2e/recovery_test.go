package e2e

import (
	"context"
	"os"
	"os/user"
	"strings"
	"testing"
	"time"

	"odoobot/internal/app"
	"odoobot/provision"
)

// Recovery decides from what a job recorded as done. These tests kill
// the real binary (ODOOBOT_KILL_AT: SIGKILL when a step starts, once
// every step before it is recorded done) and let the next start recover.

// TestRestoreKilledAtCleanupKeepsTheRestore kills odoobot during a
// restore's cleanup, after the restored database was swapped in and the
// instance started on it, and writes to the instance meanwhile: the
// recovery finishes the restore (what was replaced is dropped) and keeps
// the restored data and what was written since; the job is recorded as
// succeeded.
func TestRestoreKilledAtCleanupKeepsTheRestore(t *testing.T) {
	needSandbox(t)
	bin := odoobotBin(t)
	env := newCreateEnv(t)
	env.withBackupDir(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	inst := createReady(t, ctx, a, uniqueName(t, "rc"))
	backup := markedBackup(t, ctx, a, inst)

	job, out := killedAt(t, ctx, env, a, bin, inst.Name, provision.StepCleanup, "restore", inst.Name, backup.ID, "--yes")
	log := readFile(jobLog(a, provision.JobRestore, inst))
	t.Logf("restore killed:\n%s\nlog:\n%s", out, log)
	if !strings.Contains(log, "✓ "+string(provision.StepStart)) || strings.Contains(log, "✓ "+string(provision.StepCleanup)) {
		t.Fatalf("the kill did not land after the start, before the cleanup")
	}
	// The instance serves the restored data: a user writes to it.
	requireAnswers(t, ctx, inst)
	setParam(t, ctx, a, inst.Internal, "e2e.after", "written after the restore")

	rec, said := recoverWithServe(t, ctx, env, a, bin, job)
	requireSaysFinished(t, said, job)
	if rec.State != provision.JobSucceeded {
		t.Errorf("the restore is recorded %s (%q); want succeeded: its swap and start were done", rec.State, rec.Error)
	}
	if v := configParam(t, ctx, a, inst.Internal, "e2e.marker"); v != "in the backup" {
		t.Errorf("after the recovery the database holds %q, want the restored %q: the finished restore was undone", v, "in the backup")
	}
	if v := configParam(t, ctx, a, inst.Internal, "e2e.after"); v != "written after the restore" {
		t.Errorf("after the recovery the write made after the restore is %q: lost", v)
	}
	for _, leftover := range []string{inst.Internal + provision.RestoreStagingSuffix, inst.Internal + provision.RestoreOldSuffix} {
		if databaseExists(t, ctx, a, leftover) {
			t.Errorf("database %s is left over", leftover)
		}
	}
	if log := readFile(jobLog(a, provision.JobRestore, inst)); !strings.Contains(log, "recovery") || !strings.Contains(log, "✓ "+string(provision.StepCleanup)) {
		t.Errorf("the restore log does not tell of the recovery finishing the cleanup:\n%s", log)
	}
	requireAnswers(t, ctx, inst)
}

// TestUpgradeKilledBeforeRecordStaysUpgraded kills odoobot after an
// upgrade updated production and started it on the new release, before
// its record step: the recovery records the new release and removes
// what the upgrade kept, never puts the old one back; what was written
// to the instance since stays; the job is recorded as succeeded.
func TestUpgradeKilledBeforeRecordStaysUpgraded(t *testing.T) {
	needSandbox(t)
	bin := odoobotBin(t)
	env := newCreateEnv(t)
	env.withBackupDir(t)
	repo := env.withTestRepo(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	inst := createReady(t, ctx, a, uniqueName(t, "ur"))
	next := repo.commit("a later commit", map[string]string{"SECOND": "a later commit\n"})

	job, out := killedAt(t, ctx, env, a, bin, inst.Name, provision.StepRecord, "upgrade", inst.Name, next, "--yes")
	log := readFile(jobLog(a, provision.JobUpgrade, inst))
	t.Logf("upgrade killed:\n%s\nlog:\n%s", out, log)
	if !strings.Contains(log, "✓ "+string(provision.StepStart)) || strings.Contains(log, "✓ "+string(provision.StepRecord)) {
		t.Fatalf("the kill did not land after the start, before the record step")
	}
	setParam(t, ctx, a, inst.Internal, "e2e.after_upgrade", "yes")

	rec, said := recoverWithServe(t, ctx, env, a, bin, job)
	requireSaysFinished(t, said, job)
	if rec.State != provision.JobSucceeded {
		t.Errorf("the upgrade is recorded %s (%q); want succeeded: production ran the new release", rec.State, rec.Error)
	}
	up := requireOnRelease(t, ctx, a, inst.Name, next)
	if v := configParam(t, ctx, a, inst.Internal, "e2e.after_upgrade"); v != "yes" {
		t.Errorf("what was written after the upgrade started production is gone (%q): the database kept aside was put back", v)
	}
	if info := readFile(a.Config.Layout().Paths(up).Info); !strings.Contains(info, next[:12]) {
		t.Errorf("info-instancia.txt does not name the new release %s:\n%s", next[:12], info)
	}
	if log := readFile(jobLog(a, provision.JobUpgrade, inst)); !strings.Contains(log, "recovery") || !strings.Contains(log, "✓ "+string(provision.StepRecord)) {
		t.Errorf("the upgrade log does not tell of the recovery recording the release:\n%s", log)
	}
	requireAnswers(t, ctx, up)
}

// TestIsolateKilledIsRecovered kills odoobot while it isolates an
// instance that shares the service user and odoobot's role: once its
// unit is stopped, then once its database, odoo.conf and unit were
// changed (before its start), then after its start. The next start
// rolls the first two back, the instance serving again as it did, and
// finishes the third: the store records the user and role, and the
// instance serves as its own user. It is never left stopped.
func TestIsolateKilledIsRecovered(t *testing.T) {
	needSandbox(t)
	bin := odoobotBin(t)
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	name := uniqueName(t, "ik")
	shared := makeImported(t, ctx, a, createReady(t, ctx, a, name))
	layout := a.Config.Layout()
	own := layout.NewInstance(name, provision.SSLHTTP)
	p := layout.Paths(shared)
	staging := layout.ProdRoot + "/" + provision.StagingDirName

	for _, step := range []provision.StepName{provision.StepDatabase, provision.StepStart} {
		job, out := killedAt(t, ctx, env, a, bin, name, step, "isolate", name, "--yes")
		t.Logf("isolate killed at %s:\n%s", step, out)
		if st, err := a.Services.Status(ctx, shared.Unit); err != nil || st.Running() {
			t.Fatalf("the kill at %s did not land while the unit was stopped: %+v, %v", step, st, err)
		}
		rec, _ := recoverWithServe(t, ctx, env, a, bin, job)
		t.Logf("isolate killed at %s, after the recovery: %s %q, undone %v", step, rec.State, rec.Error, rec.Undone)
		if st, err := a.Services.Status(ctx, shared.Unit); err != nil || !st.Running() {
			t.Errorf("killed at %s: after the recovery %s is not running: %+v, %v", step, shared.Unit, st, err)
		}
		requireAnswers(t, ctx, shared)
		back, err := a.Store.Instance(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if back.User != "" || back.DBRole != "" {
			t.Fatalf("killed at %s, before its start was done, yet the store records user %q and role %q", step, back.User, back.DBRole)
		}
		if rec.State != provision.JobInterrupted {
			t.Errorf("killed at %s: the isolate is recorded %s; want interrupted (rolled back)", step, rec.State)
		}
		if conf := readOdooConf(t, p.Conf); conf["db_user"] != a.Config.DBUser {
			t.Errorf("killed at %s: after the rollback odoo.conf has db_user %q, want %s", step, conf["db_user"], a.Config.DBUser)
		}
		if unit := readFile(p.Unit); !strings.Contains(unit, "\nUser="+a.Config.ServiceUser+"\n") {
			t.Errorf("killed at %s: after the rollback the unit does not run as %s:\n%s", step, a.Config.ServiceUser, unit)
		}
		if _, err := user.Lookup(own.User); err == nil {
			t.Errorf("killed at %s: the rollback left system user %s", step, own.User)
		}
		if _, err := os.Lstat(staging + "/isolate-" + shared.Internal); err == nil {
			t.Errorf("killed at %s: what the isolate kept for a rollback is left in %s", step, staging)
		}
	}

	// Killed after its start: finished, never undone.
	job, out := killedAt(t, ctx, env, a, bin, name, provision.StepStore, "isolate", name, "--yes")
	t.Logf("isolate killed at %s:\n%s", provision.StepStore, out)
	rec, said := recoverWithServe(t, ctx, env, a, bin, job)
	requireSaysFinished(t, said, job)
	if rec.State != provision.JobSucceeded {
		t.Errorf("killed after its start: the isolate is recorded %s (%q); want succeeded", rec.State, rec.Error)
	}
	isolated, err := a.Store.Instance(ctx, name)
	if err != nil || isolated.User != own.User || isolated.DBRole != own.DBRole {
		t.Fatalf("killed after its start: the store has %+v, %v; want user %s and role %s", isolated, err, own.User, own.DBRole)
	}
	if conf := readOdooConf(t, p.Conf); conf["db_user"] != own.DBRole {
		t.Errorf("killed after its start: odoo.conf has db_user %q, want %s", conf["db_user"], own.DBRole)
	}
	if st, err := a.Services.Status(ctx, shared.Unit); err != nil || !st.Running() {
		t.Errorf("killed after its start: %s is not running: %+v, %v", shared.Unit, st, err)
	}
	if _, err := os.Lstat(staging + "/isolate-" + shared.Internal); err == nil {
		t.Errorf("killed after its start: what the isolate kept for a rollback is left in %s", staging)
	}
	requireAnswers(t, ctx, isolated)
}
