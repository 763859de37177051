package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"odoobot/internal/app"
	"odoobot/internal/testenv"
	"odoobot/provision"
)

// TestLogrotateFollowsTheInstances follows LOGROTATE_FILE through an
// instance's life as odoobot rewrites it: created, its log is rotated as
// root (its directory is root's); made as API-DEV made it and imported
// with `odoobot import`, as SERVICE_USER, which the real logrotate,
// forced, reports doing while it rotates the log; isolated with `odoobot
// isolate`, as root again; deleted, its stanza is gone.
func TestLogrotateFollowsTheInstances(t *testing.T) {
	needSandbox(t)
	logrotate := testenv.LookPath(t, "logrotate")
	bin := odoobotBin(t)
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	file := a.Config.LogrotateFile
	name := uniqueName(t, "rot")
	made := createReady(t, ctx, a, name)
	destroyLater(t, a, name)
	log := a.Config.Layout().Paths(made).Log
	requireStanza(t, file, log, "su root root")

	svc, err := user.Lookup(a.Config.ServiceUser)
	if err != nil {
		t.Fatal(err)
	}
	group, err := user.LookupGroupId(svc.Gid)
	if err != nil {
		t.Fatal(err)
	}
	makeShared(t, ctx, a, made)
	if err := a.Store.ReleaseInstance(ctx, name); err != nil {
		t.Fatal(err)
	}
	apidev := apidevTracking(t, env, made)
	if out, err := exec.CommandContext(ctx, bin, "--env-file", "/dev/null", "import", "--tracking-dir", apidev).CombinedOutput(); err != nil {
		t.Fatalf("odoobot import: %v\n%s", err, out)
	}
	requireStanza(t, file, log, "su "+a.Config.ServiceUser+" "+group.Name)

	state := filepath.Join(env.root, "logrotate.status")
	out, err := exec.CommandContext(ctx, logrotate, "-v", "-f", "-s", state, file).CombinedOutput()
	if err != nil {
		t.Fatalf("logrotate -f: %v\n%s", err, out)
	}
	if want := fmt.Sprintf("switching euid from 0 to %s and egid from 0 to %s", svc.Uid, svc.Gid); !strings.Contains(string(out), want) {
		t.Errorf("logrotate does not report acting as %s (%q) in the imported instance's directory:\n%s", a.Config.ServiceUser, want, out)
	}
	if _, err := os.Stat(log + ".1"); err != nil {
		t.Errorf("the imported instance's log was not rotated: %v\n%s", err, out)
	}

	if out, err := exec.CommandContext(ctx, bin, "--env-file", "/dev/null", "isolate", name, "--yes").CombinedOutput(); err != nil {
		t.Fatalf("odoobot isolate: %v\n%s", err, out)
	}
	requireStanza(t, file, log, "su root root")

	task, err := a.Service.Delete(ctx, provision.JobRequest{Name: name, By: "e2e"})
	requireSucceeded(t, ctx, "delete "+name, task, err)
	if b := readFile(file); strings.Contains(b, log) {
		t.Errorf("%s still rotates %s after its delete:\n%s", file, log, b)
	}
}

// requireStanza fails the test unless the logrotate configuration file
// has a stanza for log whose su line is su.
func requireStanza(t *testing.T, file, log, su string) {
	t.Helper()
	b := readFile(file)
	_, rest, ok := strings.Cut(b, `"`+log+`" {`)
	body, _, _ := strings.Cut(rest, "}")
	if !ok || !strings.Contains(body, "\t"+su+"\n") {
		t.Fatalf("%s has no stanza for %s with %q:\n%s", file, log, su, b)
	}
}
