package odoo_test

import (
	"context"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"odoobot/internal/testenv"
	"odoobot/provision"
	"odoobot/provision/odoo"
)

// fakeOdooBin writes script as an odoo-bin /bin/sh runs, in a directory
// every user may read, and returns the release that names it: the
// process handling of Runs (user, environment, output, deadline) is
// checked without the minutes a real Odoo takes. The real Odoo's
// neutralize and update are proven by the end-to-end clone and upgrade
// tests.
func fakeOdooBin(t *testing.T, script string) (provision.Release, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "running Odoo as another user needs root")
	}
	dir, err := os.MkdirTemp("", "odooruns-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "odoo-bin")
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return provision.Release{Python: "/bin/sh", OdooBin: bin}, dir
}

// nobody is the unprivileged user the fake Odoo runs as, and its ids.
func nobody(t *testing.T) (name, uid, gid string) {
	t.Helper()
	u, err := user.Lookup("nobody")
	if err != nil {
		testenv.Missing(t, "no user nobody")
	}
	return u.Username, u.Uid, u.Gid
}

// TestRunsAsTheUserWithItsArguments: Update and Neutralize run odoo-bin
// as the instance's user (its own group only), in its directory, with
// the arguments Odoo needs (-u all or the modules named, no HTTP server,
// the log on the output, stop after init) and none of odoobot's
// environment; a failure's error carries what Odoo said.
func TestRunsAsTheUserWithItsArguments(t *testing.T) {
	t.Setenv("ODOOBOT_TEST_SECRET", "s3cret-in-odoobots-env")
	rel, dir := fakeOdooBin(t, `echo "uid=$(id -u) groups=$(id -G) pwd=$(pwd)"
echo "args=$*"
env | grep -q s3cret && echo "LEAKED"
echo "2026-01-01 00:00:00,000 1 ERROR db odoo.modules.registry: Failed to load registry"
exit 1
`)
	name, uid, gid := nobody(t)
	run := provision.OdooRun{User: name, Dir: dir, Conf: "/srv/x/odoo.conf", DB: "prod-x"}
	r := &odoo.Runs{}
	ctx := context.Background()

	err := r.Update(ctx, rel, run)
	if err == nil {
		t.Fatal("Update of a failing Odoo: nil error")
	}
	msg := err.Error()
	for _, want := range []string{"Failed to load registry", "odoo-bin -u all"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Update's error %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "LEAKED") {
		t.Errorf("odoobot's environment reached Odoo: %q", msg)
	}

	// The error of a failure with no ERROR line carries the output's tail.
	err = r.Neutralize(ctx, rel, run)
	if err == nil {
		t.Fatal("Neutralize of a failing Odoo: nil error")
	}
	msg = err.Error()
	for _, want := range []string{
		"uid=" + uid + " groups=" + gid + " pwd=" + dir,
		"args=neutralize -c /srv/x/odoo.conf -d prod-x --logfile  --stop-after-init",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("Neutralize's error %q does not say %q", msg, want)
		}
	}

	// The update's own arguments, seen in a failure with no log line.
	rel, _ = fakeOdooBin(t, "echo \"args=$*\"; exit 3\n")
	err = r.Update(ctx, rel, run, "sale", "stock")
	if err == nil || !strings.Contains(err.Error(), "args=-c /srv/x/odoo.conf -d prod-x -u sale,stock --stop-after-init --no-http --logfile") {
		t.Errorf("Update of two modules: %v, want its arguments", err)
	}
	for _, bad := range []string{"", "-x", "sale,stock", "a b"} {
		if err := r.Update(ctx, rel, run, bad); err == nil || !strings.Contains(err.Error(), "not a module name") {
			t.Errorf("Update(%q): %v, want a refusal", bad, err)
		}
	}
}

// TestRunsUnknownUser: a user that does not exist is an error saying
// how to make it, and Odoo never runs.
func TestRunsUnknownUser(t *testing.T) {
	rel, dir := fakeOdooBin(t, "touch ran\n")
	run := provision.OdooRun{User: "odoobot-no-such-user", Dir: dir, Conf: "c", DB: "d"}
	err := (&odoo.Runs{}).Update(context.Background(), rel, run)
	if err == nil || !strings.Contains(err.Error(), `"odoobot-no-such-user" does not exist`) || !strings.Contains(err.Error(), "useradd") {
		t.Errorf("Update as an unknown user: %v, want an error naming it and how to make it", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Error("Odoo ran although its user does not exist")
	}
}

// TestRunsOutputIsBounded: an Odoo that writes 16 MiB before it fails
// gives an error of a few kilobytes that still says why.
func TestRunsOutputIsBounded(t *testing.T) {
	rel, dir := fakeOdooBin(t, `head -c 16777216 /dev/zero | tr '\0' 'x' | fold -w 1000
echo
echo "2026-01-01 00:00:00,000 1 CRITICAL db odoo.service.server: Failed to initialize database"
exit 1
`)
	name, _, _ := nobody(t)
	err := (&odoo.Runs{}).Update(context.Background(), rel, provision.OdooRun{User: name, Dir: dir, Conf: "c", DB: "d"})
	if err == nil || !strings.Contains(err.Error(), "Failed to initialize database") {
		t.Fatalf("Update: %v, want the CRITICAL line", err)
	}
	if n := len(err.Error()); n > 16<<10 {
		t.Errorf("the error is %d bytes, want a few kilobytes", n)
	}
}

// TestRunsGivesUpAtItsTimeout: an Odoo that does not end is killed at
// the run's timeout, with what it started, and the error says it gave
// up; the call returns at once, not when a leftover child closes the
// output.
func TestRunsGivesUpAtItsTimeout(t *testing.T) {
	rel, dir := fakeOdooBin(t, "sleep 60 &\nsleep 60\n")
	name, _, _ := nobody(t)
	r := &odoo.Runs{UpdateTimeout: 300 * time.Millisecond}
	start := time.Now()
	err := r.Update(context.Background(), rel, provision.OdooRun{User: name, Dir: dir, Conf: "c", DB: "d"})
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "gave up") {
		t.Errorf("Update past its timeout: %v, want an error saying it gave up", err)
	}
	if took > 3*time.Second {
		t.Errorf("Update returned %s after its 300ms timeout: what Odoo started was not killed", took.Round(100*time.Millisecond))
	}
}
