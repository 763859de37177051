package e2e

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/internal/app"
	"odoobot/provision"
)

// TestCLIExitCodes runs every CLI verb that starts a job with the real
// binary, as an operator or a script would: with a failure injected at
// one of its steps (ODOOBOT_FAIL_AT) it must exit non-zero, its last
// word (stderr) naming the verb, the instance and the step that failed;
// without one it must exit 0. A script that runs `odoobot backup acme &&
// upload` must never upload a backup that was not made.
func TestCLIExitCodes(t *testing.T) {
	needSandbox(t)
	bin := odoobotBin(t)
	env := newCreateEnv(t)
	env.withBackupDir(t)
	repo := env.withTestRepo(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	// odoobot runs the binary with a failure injected at failAt ("" for
	// none) and returns its exit code, its stdout and its stderr.
	odoobot := func(failAt string, args ...string) (int, string, string) {
		t.Helper()
		cmd := env.command(ctx, bin, args...)
		cmd.Env = append(cmd.Env, "ODOOBOT_FAIL_AT="+failAt)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return 0, stdout.String(), stderr.String()
		case errors.As(err, &exit):
			return exit.ExitCode(), stdout.String(), stderr.String()
		}
		t.Fatalf("odoobot %s: %v", strings.Join(args, " "), err)
		return 0, "", ""
	}
	// fails requires the verb, with a failure injected at step, to exit
	// non-zero with stderr saying want (which names the step).
	fails := func(step provision.StepName, want string, args ...string) {
		t.Helper()
		code, out, errOut := odoobot(string(step), args...)
		t.Logf("odoobot %s, failing at %s: exit %d\n%s%s", strings.Join(args, " "), step, code, out, errOut)
		if code == 0 {
			t.Errorf("odoobot %s exited 0 although its job failed at step %s", strings.Join(args, " "), step)
		}
		if !strings.Contains(errOut, want) {
			t.Errorf("odoobot %s: stderr does not say %q:\n%s", strings.Join(args, " "), want, errOut)
		}
	}
	// succeeds requires the verb to exit 0 and returns its output.
	succeeds := func(args ...string) string {
		t.Helper()
		code, out, errOut := odoobot("", args...)
		if code != 0 {
			t.Fatalf("odoobot %s: exit %d, want 0\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
		return out
	}

	// requireRunning requires the instance's unit to be running and its
	// record ready: what a rolled-back job leaves, then a successful one.
	// (Its answers through nginx are the job tests' to check.)
	var inst provision.Instance
	requireRunning := func() {
		t.Helper()
		got, err := a.Store.Instance(ctx, inst.Name)
		if err != nil || got.State != provision.StateReady {
			t.Errorf("%s: %+v, %v; want ready", inst.Name, got, err)
		}
		if st, err := a.Services.Status(ctx, inst.Unit); err != nil || !st.Running() {
			t.Errorf("%s: unit %s %+v, %v; want running", inst.Name, inst.Unit, st, err)
		}
	}

	name := uniqueName(t, "exit")
	destroyLater(t, a, name)
	fails(provision.StepHealth, "the creation of "+name+" failed at step health and was rolled back", "create", name, "http")
	if _, err := a.Store.Instance(ctx, name); !errors.Is(err, provision.ErrInstanceNotFound) {
		t.Fatalf("after the failed creation the store has %s: %v", name, err)
	}
	succeeds("create", name, "http")
	inst, err := a.Store.Instance(ctx, name)
	if err != nil || inst.State != provision.StateReady {
		t.Fatalf("%s after its creation: %+v, %v", name, inst, err)
	}

	fails(provision.StepDump, "backup "+name+" failed at step dump", "backup", name)
	if list, err := a.Service.Backups(ctx, name); err != nil || len(list) != 0 {
		t.Fatalf("backups after a failed backup: %+v, %v; want none", list, err)
	}
	succeeds("backup", name)
	list, err := a.Service.Backups(ctx, name)
	if err != nil || len(list) != 1 {
		t.Fatalf("backups after a backup: %+v, %v; want one", list, err)
	}

	// backup-all backs up every ready instance: here, this one.
	fails(provision.StepDump, "backup "+name+": step dump failed", "backup-all")
	succeeds("backup-all")
	// The retention keeps the newest backup of a day: backup-all's.
	if list, err = a.Service.Backups(ctx, name); err != nil || len(list) == 0 || list[0].Reason != provision.ReasonScheduled {
		t.Fatalf("backups after backup-all: %+v, %v; want its scheduled backup first", list, err)
	}

	fails(provision.StepSwap, "restore "+name+" failed at step swap: the instance is as it was before", "restore", name, list[0].ID, "--yes")
	succeeds("restore", name, list[0].ID, "--yes")
	requireRunning()

	staging := uniqueName(t, "exit-stg")
	destroyLater(t, a, staging)
	fails(provision.StepCopy, "clone "+name+" to "+staging+" failed at step copy and was rolled back", "clone", name, staging)
	succeeds("clone", name, staging)
	if got, err := a.Store.Instance(ctx, staging); err != nil || got.StagingOf != name {
		t.Errorf("%s after its clone: %+v, %v", staging, got, err)
	}

	repo.commit("a later commit", map[string]string{"SECOND": "a later commit\n"})
	fails(provision.StepUpdate, "upgrade "+name+" failed at step update: it runs its old release as before", "upgrade", name, "latest", "--yes")
	succeeds("upgrade", name, "latest", "--yes")
	requireRunning()

	// reset-admin is no job: it fails when the instance's database takes
	// no connection.
	allowConnections := func(allow bool) {
		t.Helper()
		conn, err := pgx.Connect(ctx, a.Config.AdminDSN())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{inst.Internal}.Sanitize()+" ALLOW_CONNECTIONS "+map[bool]string{true: "true", false: "false"}[allow]); err != nil {
			t.Fatal(err)
		}
	}
	allowConnections(false)
	fails("", "reset-admin "+name+" failed", "reset-admin", name, "--yes")
	allowConnections(true)
	if out := succeeds("reset-admin", name, "--yes"); !strings.Contains(out, "password: ") {
		t.Errorf("reset-admin did not show the new password:\n%s", out)
	}

	fails(provision.StepFinalCopy, "delete "+name+" stopped at step backup: run it again to finish it", "delete", name, "--yes")
	succeeds("delete", name, "--yes")
	requireGone(t, ctx, a, name)
	succeeds("delete", staging, "--yes")
	requireGone(t, ctx, a, staging)
}
