package e2e

import (
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"odoobot/internal/app"
	"odoobot/provision"
)

// TestIsolateImportedNeverFollowsTenantLinks: an instance as API-DEV
// made it (its whole directory the service user's) whose user, before
// isolate, has laid links to a root-only canary directory: in its
// filestore, at the upgrade's old kept-files name, at
// info-instancia.txt and at the upgrade's test odoo.conf. isolate, with
// a failure injected at its last step, is rolled back; then it succeeds.
// After each: the canary is unchanged (names, owners, modes, content),
// odoo.conf is a regular file (the service user's, naming odoobot's
// role, after the rollback; root's with the instance's group after the
// isolate) and the instance answers.
func TestIsolateImportedNeverFollowsTenantLinks(t *testing.T) {
	needSandbox(t)
	bin := odoobotBin(t)
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	name := uniqueName(t, "impw")
	made := createReady(t, ctx, a, name)
	destroyLater(t, a, name)
	makeImported(t, ctx, a, made)
	svc, err := user.Lookup(a.Config.ServiceUser)
	if err != nil {
		t.Fatal(err)
	}
	svcUID, _ := strconv.Atoi(svc.Uid)
	svcGID, _ := strconv.Atoi(svc.Gid)
	p := a.Config.Layout().Paths(made)

	canary := filepath.Join(env.root, "canary")
	if err := os.MkdirAll(canary, 0o700); err != nil {
		t.Fatal(err)
	}
	secret := "ODOOBOT_CANARY_SECRET_" + randomHex(t, 8)
	if err := os.WriteFile(filepath.Join(canary, "odoobot.env"), []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := snapshot(t, canary)
	// plant is the service user's link at path to target.
	plant := func(path, target string) {
		t.Helper()
		os.RemoveAll(path)
		if err := os.Symlink(target, path); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(path, svcUID, svcGID); err != nil {
			t.Fatal(err)
		}
	}
	plant(filepath.Join(p.DataDir, "filestore", made.Internal, "etc"), canary)
	plant(filepath.Join(p.Dir, ".upgrade"), canary)
	plant(p.Info, filepath.Join(canary, "info"))
	plant(filepath.Join(p.Dir, ".odoo-upgrade.conf"), filepath.Join(canary, "odoobot.env"))

	isolate := func(failAt string) (string, error) {
		cmd := exec.CommandContext(ctx, bin, "--env-file", "/dev/null", "isolate", name, "--yes")
		cmd.Env = append(os.Environ(), "ODOOBOT_FAIL_AT="+failAt)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	requireCanary := func(after string) {
		t.Helper()
		if got := snapshot(t, canary); got != want {
			t.Errorf("after %s, the canary changed (root wrote or chowned through the tenant's link):\nbefore:\n%s\nafter:\n%s", after, want, got)
			want = got
		}
	}
	requireConf := func(after string, uid, gid int, dbUser string) {
		t.Helper()
		fi, err := os.Lstat(p.Conf)
		if err != nil {
			t.Fatalf("after %s: %v", after, err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o640 || int(st.Uid) != uid || int(st.Gid) != gid {
			t.Errorf("after %s, odoo.conf is %v %d:%d, want a regular file 0640 %d:%d", after, fi.Mode(), st.Uid, st.Gid, uid, gid)
		}
		conf := readOdooConf(t, p.Conf)
		if conf["db_user"] != dbUser {
			t.Errorf("after %s, odoo.conf names db_user %q, want %q", after, conf["db_user"], dbUser)
		}
		if strings.Contains(readFile(p.Conf), secret) {
			t.Errorf("after %s, odoo.conf holds the canary's secret", after)
		}
	}

	out, err := isolate(string(provision.StepStore))
	if err == nil || !strings.Contains(out, "isolate "+name+" failed at step store and was undone") {
		t.Fatalf("isolate with a failure injected at its last step: %v\n%s", err, out)
	}
	requireCanary("the rolled-back isolate")
	requireConf("the rolled-back isolate", svcUID, svcGID, a.Config.DBUser)
	requireAnswers(t, ctx, made)

	out, err = isolate("")
	own := a.Config.Layout().NewInstance(name, provision.SSLHTTP)
	if err != nil || !strings.Contains(out, "now runs as system user "+own.User) {
		t.Fatalf("isolate: %v\n%s", err, out)
	}
	requireCanary("the isolate")
	_, gid := lookupIDs(t, own.User)
	requireConf("the isolate", 0, gid, own.DBRole)
	requireAnswers(t, ctx, made)
}

// lookupIDs is name's uid and gid.
func lookupIDs(t *testing.T, name string) (int, int) {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uid, gid
}
