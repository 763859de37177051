package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"odoobot/internal/app"
	"odoobot/provision"
)

// The jobs' helpers: waiting for a job, and the crash tests' one way to
// kill the real binary in the middle of a job (SIGKILL, as a crash
// would) and let the next start recover.

// jobLog is the log of a day-two job of kind on inst, as provision
// writes it: <LogDir>/<kind>-prod-NAME.log.
func jobLog(a *app.App, kind provision.JobKind, inst provision.Instance) string {
	return filepath.Join(a.Config.LogDir, string(kind)+"-"+inst.Internal+".log")
}

// requireSucceeded waits for the job of a task a verb returned (with
// its error, err) and fails the test unless the verb accepted it and the
// job succeeded; what names the job in the failure.
func requireSucceeded(t *testing.T, ctx context.Context, what string, task *provision.Task, err error) provision.Job {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	job, err := task.Wait(ctx)
	if err != nil || job.State != provision.JobSucceeded {
		t.Fatalf("%s: job %s, %v", what, job.State, err)
	}
	return job
}

// backupNow backs the instance up, waits for the job and returns the
// backup; the test fails unless the backup is the instance's only one.
func backupNow(t *testing.T, ctx context.Context, a *app.App, name string) provision.BackupInfo {
	t.Helper()
	task, err := a.Service.Backup(ctx, provision.JobRequest{Name: name, By: "e2e"})
	requireSucceeded(t, ctx, "backup of "+name, task, err)
	list, err := a.Service.Backups(ctx, name)
	if err != nil || len(list) != 1 {
		t.Fatalf("backups: %+v, %v", list, err)
	}
	return list[0]
}

// markedBackup backs inst up with its e2e.marker parameter "in the
// backup", then sets it "live before the restore": a restore's outcome
// tells which database the instance ends on. It returns the backup.
func markedBackup(t *testing.T, ctx context.Context, a *app.App, inst provision.Instance) provision.BackupInfo {
	t.Helper()
	setParam(t, ctx, a, inst.Internal, "e2e.marker", "in the backup")
	backup := backupNow(t, ctx, a, inst.Name)
	setParam(t, ctx, a, inst.Internal, "e2e.marker", "live before the restore")
	return backup
}

// setParam sets an ir_config_parameter of an instance database: what a
// user writing to the instance changes.
func setParam(t *testing.T, ctx context.Context, a *app.App, db, key, value string) {
	t.Helper()
	conn := connectDB(t, ctx, a, db)
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `DELETE FROM ir_config_parameter WHERE key = $1`, key); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO ir_config_parameter (key, value) VALUES ($1, $2)`, key, value); err != nil {
		t.Fatal(err)
	}
}

// A killPoint is where a run of the binary is killed: as a step starts
// (the binary kills itself, ODOOBOT_KILL_AT, once every step before it
// is recorded done), or once cond holds, polled for up to within (the
// test kills it, in the middle of a step's work).
type killPoint struct {
	step   provision.StepName
	what   string // what cond waits for, in the failure when it never holds
	cond   func() bool
	within time.Duration
	log    string // the job's log, shown when cond never holds
}

// atStep kills the binary when step starts.
func atStep(step provision.StepName) killPoint { return killPoint{step: step} }

// whenLogShows kills the binary once the job's log holds mark.
func whenLogShows(log, mark string, within time.Duration) killPoint {
	return killPoint{what: fmt.Sprintf("the log showing %q", mark), within: within, log: log,
		cond: func() bool { return strings.Contains(readFile(log), mark) }}
}

// runKilled runs the odoobot binary with args until it is killed at k,
// and returns its output. The test fails when k is never reached, or
// when a binary to be killed at a step was not killed.
func runKilled(t *testing.T, ctx context.Context, env *createEnv, bin string, k killPoint, args ...string) string {
	t.Helper()
	run := "odoobot " + strings.Join(args, " ")
	cmd := env.command(ctx, bin, args...)
	if k.step != "" {
		cmd.Env = append(cmd.Env, "ODOOBOT_KILL_AT="+string(k.step))
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", run, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if k.cond != nil {
		if !waitFor(k.within, k.cond) {
			cmd.Process.Kill()
			<-exited
			t.Fatalf("%s: no %s within %s\nlog %s:\n%s\noutput:\n%s", run, k.what, k.within, k.log, readFile(k.log), out.String())
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			<-exited
			t.Fatalf("%s: kill: %v\n%s", run, err, out.String())
		}
		err := <-exited
		logText(t, "%s killed (%v)", run, err)
		return out.String()
	}
	err := <-exited
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != -1 {
		t.Fatalf("%s was not killed at step %s: %v\n%s", run, k.step, err, out.String())
	}
	return out.String()
}

// requireOpenJob is the job a killed odoobot left open for the
// instance name; out, what the binary said, is shown when there is
// none.
func requireOpenJob(t *testing.T, ctx context.Context, a *app.App, name, out string) provision.Job {
	t.Helper()
	job, open, err := a.Store.ActiveJob(ctx, name)
	if err != nil || !open {
		t.Fatalf("no open job for %s after the kill: %v\n%s", name, err, out)
	}
	return job
}

// killedAt runs the odoobot binary with args, killed when step starts,
// and returns the open job it left and its output. The test fails when
// the binary was not killed, or left no open job.
func killedAt(t *testing.T, ctx context.Context, env *createEnv, a *app.App, bin, name string, step provision.StepName, args ...string) (provision.Job, string) {
	t.Helper()
	out := runKilled(t, ctx, env, bin, atStep(step), args...)
	return requireOpenJob(t, ctx, a, name, out), out
}

// recoverWithServe runs `odoobot serve` (its input at its end at once),
// whose start recovers the jobs the killed process left, and returns the
// job's record and what serve said. The test fails when the job, or
// any other, is still open after it.
func recoverWithServe(t *testing.T, ctx context.Context, env *createEnv, a *app.App, bin string, job provision.Job) (provision.Job, string) {
	t.Helper()
	got, err := env.command(ctx, bin, "serve").CombinedOutput()
	if err != nil {
		t.Fatalf("odoobot serve: %v\n%s", err, got)
	}
	logText(t, "odoobot serve after the kill:\n%s", got)
	rec, err := a.Store.Job(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.State.Open() {
		t.Fatalf("job %d is still %s after the recovery", job.ID, rec.State)
	}
	if open, err := a.Store.OpenJobs(ctx); err != nil || len(open) != 0 {
		t.Errorf("open jobs after the recovery: %+v, %v", open, err)
	}
	return rec, string(got)
}

// requireSaysFinished checks that what the recovering start said of job
// (the line it also posts in the job's thread) is that it finished it.
func requireSaysFinished(t *testing.T, said string, job provision.Job) {
	t.Helper()
	want := fmt.Sprintf("job %d (%s %s, asked by %s) had made its change when odoobot stopped: recovery finished it, and it is recorded as succeeded", job.ID, job.Kind, job.Instance, job.RequestedBy)
	if !strings.Contains(said, want) {
		t.Errorf("the recovering start does not say %q:\n%s", want, said)
	}
}
