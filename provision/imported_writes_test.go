package provision_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	. "odoobot/provision"
	"odoobot/provision/sysusers"
	"odoobot/provision/tree"
	"odoobot/templates"
)

// The canary's content: a root-only odoo.conf of another instance, on
// the same release as the imported one (so an upgrade's checks would
// take it), holding a password the imported instance must never see.
const (
	oldRelease    = "/srv/releases/old"
	newRelease    = "/srv/releases/new"
	canarySecret  = "db_password = CANARY-neighbour-secret"
	importedConf  = "[options]\ndb_user = odoobot\ndb_password = shared\naddons_path = " + oldRelease + "/odoo/addons\n"
	importedUnit  = "[Service]\nUser=daemon\nExecStart=" + oldRelease + "/odoo-bin -c /x\n"
	canaryConfTxt = "[options]\n" + canarySecret + "\naddons_path = " + oldRelease + "/odoo/addons\n"
)

// importedTree lays out, as root, an instance imported from API-DEV:
// PROD_ROOT/prod-x and everything in it owned by the service user
// (daemon), as API-DEV left it, and PROD_ROOT itself writable by that
// user too (API-DEV's default layout: finding 5). Beside it a root-only
// canary directory holding neighbour.conf. It returns the layout, the
// instance's paths, the canary directory and a snapshot of the canary
// (every name, mode, owner and content digest) to compare with.
func importedTree(t *testing.T) (Layout, Paths, string, func() string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: it plays root writing into a tenant's tree")
	}
	svc, err := user.Lookup("daemon")
	if err != nil {
		t.Skip("no daemon user to play the service user")
	}
	uid, _ := strconv.Atoi(svc.Uid)
	gid, _ := strconv.Atoi(svc.Gid)
	base := t.TempDir()
	os.Chmod(base, 0o755)
	canary := filepath.Join(base, "canary")
	must(t, os.Mkdir(canary, 0o700))
	must(t, os.WriteFile(filepath.Join(canary, "neighbour.conf"), []byte(canaryConfTxt), 0o600))
	snapshot := func() string {
		var out []string
		filepath.WalkDir(canary, func(p string, e os.DirEntry, err error) error {
			fi, err := os.Lstat(p)
			if err != nil {
				return err
			}
			st := fi.Sys().(*syscall.Stat_t)
			sum := ""
			if fi.Mode().IsRegular() {
				b, _ := os.ReadFile(p)
				sum = fmt.Sprintf("%x", sha256.Sum256(b))
			}
			out = append(out, fmt.Sprintf("%s %v %d:%d %s", p, fi.Mode(), st.Uid, st.Gid, sum))
			return nil
		})
		sort.Strings(out)
		return strings.Join(out, "\n")
	}

	l := Layout{ProdRoot: filepath.Join(base, "apps"), UnitDir: filepath.Join(base, "units")}
	p := l.Paths(Instance{Internal: "prod-x", Unit: "odoo-x.service"})
	for _, d := range []string{filepath.Join(p.DataDir, "filestore", "prod-x"), p.CustomAddons, l.UnitDir} {
		must(t, os.MkdirAll(d, 0o750))
	}
	must(t, os.WriteFile(p.Conf, []byte(importedConf), 0o640))
	must(t, os.WriteFile(p.Log, nil, 0o640))
	must(t, os.WriteFile(p.Unit, []byte(importedUnit), 0o644))
	must(t, filepath.WalkDir(l.ProdRoot, func(path string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	}))
	return l, p, canary, snapshot
}

// ids are the uid and gid of system user name; the test is skipped
// when the host has no such user.
func ids(t *testing.T, name string) (int, int) {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Skipf("no %s user: %v", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uid, gid
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// swapDir is the tenant moving its instance's directory away and leaving
// a link to dir in its place (it can write PROD_ROOT); undone at the end.
func swapDir(t *testing.T, p Paths, dir string) func() {
	t.Helper()
	must(t, os.Rename(p.Dir, p.Dir+".moved"))
	must(t, os.Symlink(dir, p.Dir))
	return func() {
		must(t, os.Remove(p.Dir))
		must(t, os.Rename(p.Dir+".moved", p.Dir))
	}
}

// fileIs checks path is a regular file holding want, with mode and owner.
func fileIs(t *testing.T, path, want string, mode os.FileMode, uid, gid int) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != mode || int(st.Uid) != uid || int(st.Gid) != gid {
		t.Errorf("%s is %v %d:%d, want a regular file %v %d:%d", path, fi.Mode(), st.Uid, st.Gid, mode, uid, gid)
	}
	if b, _ := os.ReadFile(path); string(b) != want {
		t.Errorf("%s holds %q, want %q", path, b, want)
	}
	if b, _ := os.ReadFile(path); strings.Contains(string(b), "CANARY") {
		t.Errorf("%s holds the canary's secret:\n%s", path, b)
	}
}

// TestIsolateRollbackNeverWritesThroughALink runs an isolate's odoo.conf
// step on an imported instance, then its rollback (as a failure at the
// last step, or a recovery, undoes it) after the instance's user has
// laid a trap: its directory swapped for a link to a root-only
// directory; or, the tree being its own again (a kill before the files
// were laid out), odoo.conf swapped for a link to a root-only file. The
// canary is unchanged (content, owner, mode) and nothing is written
// into it; the instance's own odoo.conf is put back as it was, the
// service user's.
func TestIsolateRollbackNeverWritesThroughALink(t *testing.T) {
	l, p, canary, snapshot := importedTree(t)
	want := snapshot()
	svcUID, svcGID := ids(t, "daemon")
	tenant := "bin" // plays the instance's new user
	_, tenantGID := ids(t, tenant)
	files := tree.New(l)
	d := NewServiceForTest(Config{Host: Host{Users: sysusers.Host{}, Files: files}, Layout: l, ServiceUser: "daemon"})
	inst := Instance{Name: "x", Internal: "prod-x"}
	iso := d.IsolationForTest(inst, tenant, "prod-x", "new-role-password")
	ctx := context.Background()

	if err := iso.RewriteConf(ctx); err != nil {
		t.Fatalf("rewriteConf: %v", err)
	}
	fileIs(t, p.Conf, "[options]\ndb_user = prod-x\ndb_password = new-role-password\naddons_path = "+oldRelease+"/odoo/addons\n", 0o640, 0, tenantGID)

	t.Run("directory swapped for a link", func(t *testing.T) {
		back := swapDir(t, p, canary)
		err := iso.RestoreConf(ctx)
		back()
		if err == nil {
			t.Errorf("the rollback wrote through %s, a link to %s", p.Dir, canary)
		}
		if got := snapshot(); got != want {
			t.Errorf("the canary changed:\n%s\nwant:\n%s", got, want)
		}
	})

	t.Run("odoo.conf swapped for a link", func(t *testing.T) {
		must(t, files.Give(ctx, inst, "daemon", false))
		must(t, os.Remove(p.Conf))
		must(t, os.Symlink(filepath.Join(canary, "neighbour.conf"), p.Conf))
		if err := iso.RestoreConf(ctx); err != nil {
			t.Fatalf("restoreConf: %v", err)
		}
		if got := snapshot(); got != want {
			t.Errorf("the canary changed:\n%s\nwant:\n%s", got, want)
		}
		fileIs(t, p.Conf, importedConf, 0o640, svcUID, svcGID)
	})
}

// installFiles is the ServiceManager an upgrade's switch needs: Install
// writes the unit.
type installFiles struct{ ServiceManager }

func (installFiles) Install(_ context.Context, path string, b []byte) error {
	return os.WriteFile(path, b, 0o644)
}

// TestUpgradeSwitchNeverFollowsALink runs an upgrade's release switch and
// its switch back on an imported instance whose user has laid a trap:
// odoo.conf a link to a root-only file (another instance's odoo.conf on
// the same release); the directory where the old odoo.conf was kept
// replaced by its own holding such a link; its instance directory
// swapped for a link to a root-only directory. The canary is unchanged
// and its secret never reaches the instance's odoo.conf, which is the
// instance's own, root's with the service user's group, 0640.
func TestUpgradeSwitchNeverFollowsALink(t *testing.T) {
	l, p, canary, snapshot := importedTree(t)
	want := snapshot()
	svcUID, svcGID := ids(t, "daemon")
	d := NewServiceForTest(Config{Host: Host{Users: sysusers.Host{}, Services: installFiles{}, Files: tree.New(l)}, Layout: l, ServiceUser: "daemon"})
	inst := Instance{Name: "x", Internal: "prod-x", Unit: "odoo-x.service"}
	run := func() UpgradeForTest { return d.UpgradeForTest(inst, oldRelease, newRelease) }
	ctx := context.Background()
	canaryConf := filepath.Join(canary, "neighbour.conf")

	t.Run("odoo.conf a link", func(t *testing.T) {
		must(t, os.Rename(p.Conf, p.Conf+".mine"))
		must(t, os.Symlink(canaryConf, p.Conf))
		u := run()
		err := u.PrepareFiles(ctx)
		if err == nil {
			err = u.SwitchRelease(ctx)
		}
		if err == nil {
			t.Errorf("the switch read odoo.conf through a link to %s", canaryConf)
		}
		if got := snapshot(); got != want {
			t.Errorf("the canary changed:\n%s\nwant:\n%s", got, want)
		}
		// Still the tenant's link (never followed), or a file root wrote.
		if fi, err := os.Lstat(p.Conf); err == nil && fi.Mode().IsRegular() {
			if b, _ := os.ReadFile(p.Conf); strings.Contains(string(b), "CANARY") {
				t.Errorf("the instance's odoo.conf now holds the canary's secret:\n%s", b)
			}
		}
		u.SwitchBack(ctx)
		os.Remove(p.Conf)
		must(t, os.Rename(p.Conf+".mine", p.Conf))
	})

	t.Run("kept files swapped", func(t *testing.T) {
		u := run()
		must(t, u.PrepareFiles(ctx))
		must(t, u.SwitchRelease(ctx))
		newConf := strings.ReplaceAll(importedConf, oldRelease, newRelease)
		fileIs(t, p.Conf, newConf, 0o640, 0, svcGID)
		// Whatever an upgrade kept in the instance's directory, the
		// tenant puts its own there, odoo.conf a link to the canary.
		kept := filepath.Join(p.Dir, ".upgrade")
		if _, err := os.Lstat(kept); err == nil {
			must(t, os.Rename(kept, kept+".root"))
		}
		must(t, os.Mkdir(kept, 0o700))
		must(t, os.Symlink(canaryConf, filepath.Join(kept, "odoo.conf")))
		must(t, os.Lchown(kept, svcUID, svcGID))
		if err := u.SwitchBack(ctx); err != nil {
			t.Errorf("switchBack: %v", err)
		}
		if got := snapshot(); got != want {
			t.Errorf("the canary changed:\n%s\nwant:\n%s", got, want)
		}
		fileIs(t, p.Conf, importedConf, 0o640, 0, svcGID)
		os.RemoveAll(kept)
		os.RemoveAll(kept + ".root")
	})

	t.Run("directory swapped for a link", func(t *testing.T) {
		u := run()
		must(t, u.PrepareFiles(ctx))
		back := swapDir(t, p, canary)
		err := u.SwitchRelease(ctx)
		if err == nil {
			err = u.WriteTestConf(ctx)
		}
		back()
		if err == nil {
			t.Errorf("the switch wrote through %s, a link to %s", p.Dir, canary)
		}
		if got := snapshot(); got != want {
			t.Errorf("the canary changed:\n%s\nwant:\n%s", got, want)
		}
		u.SwitchBack(ctx)
	})
}

// TestUpgradeSwitchBackReadsWhatAnEarlierVersionKept: an upgrade
// interrupted under an earlier version kept odoo.conf and the unit in
// the instance's directory (.upgrade); for odoobot's own instance (its
// directory root's) the switch back puts them back and removes them. In
// an imported instance's directory (its user's) such a directory is
// never read.
func TestUpgradeSwitchBackReadsWhatAnEarlierVersionKept(t *testing.T) {
	l, p, _, _ := importedTree(t)
	svcUID, svcGID := ids(t, "daemon")
	d := NewServiceForTest(Config{Host: Host{Users: sysusers.Host{}, Services: installFiles{}, Files: tree.New(l)}, Layout: l, ServiceUser: "daemon"})
	u := d.UpgradeForTest(Instance{Name: "x", Internal: "prod-x", Unit: "odoo-x.service"}, "", "")
	kept := filepath.Join(p.Dir, ".upgrade")
	must(t, os.Mkdir(kept, 0o700))
	must(t, os.WriteFile(filepath.Join(kept, "odoo.conf"), []byte("[options]\nkept = yes\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(kept, "unit"), []byte("[Service]\nkept=yes\n"), 0o600))
	ctx := context.Background()

	if err := u.SwitchBack(ctx); err != nil {
		t.Fatalf("switchBack in an imported instance's directory: %v", err)
	}
	fileIs(t, p.Conf, importedConf, 0o640, svcUID, svcGID)

	must(t, os.Chown(p.Dir, 0, svcGID))
	if err := u.SwitchBack(ctx); err != nil {
		t.Fatalf("switchBack: %v", err)
	}
	fileIs(t, p.Conf, "[options]\nkept = yes\n", 0o640, 0, svcGID)
	if b, _ := os.ReadFile(p.Unit); string(b) != "[Service]\nkept=yes\n" {
		t.Errorf("the unit is %q, want the kept one", b)
	}
	if _, err := os.Lstat(kept); !os.IsNotExist(err) {
		t.Errorf("%s is left: %v", kept, err)
	}
}

// TestFilesStepRerunNeverFollowsALink runs a creation's files step on an
// existing directory its user owns (a shared instance's, as API-DEV
// left it) where that user made odoo.log a link to a name in a
// root-only directory (as /etc/nologin would be) and info-instancia.txt
// a link to a root-only file: nothing is created or written there;
// odoo.conf and the summary are the instance's own files.
func TestFilesStepRerunNeverFollowsALink(t *testing.T) {
	l, p, canary, snapshot := importedTree(t)
	want := snapshot()
	svcUID, svcGID := ids(t, "daemon")
	set, err := templates.Load()
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.Remove(p.Log))
	must(t, os.Symlink(filepath.Join(canary, "nologin"), p.Log))
	must(t, os.Lchown(p.Log, svcUID, svcGID))
	must(t, os.Symlink(filepath.Join(canary, "neighbour.conf"), p.Info))
	files := tree.New(l)
	c := NewService(Config{Host: Host{Users: sysusers.Host{}, Files: files}, Layout: l, ServiceUser: "daemon", Templates: set, DB: DBConn{Host: "127.0.0.1", Port: 5432, User: "odoobot", Password: "shared"}}, BackupConfig{})
	inst := Instance{Name: "x", Internal: "prod-x", Unit: "odoo-x.service", Ports: Ports{HTTP: 2001, Gevent: 3001}}
	if err := c.WriteFilesForTest(context.Background(), inst, Release{Version: "17.0", AddonsPaths: []string{oldRelease + "/odoo/addons"}}); err != nil {
		t.Fatalf("writeFiles: %v", err)
	}
	if got := snapshot(); got != want {
		t.Errorf("the canary changed:\n%s\nwant:\n%s", got, want)
	}
	fi, err := os.Lstat(p.Conf)
	if err != nil || !fi.Mode().IsRegular() || fi.Sys().(*syscall.Stat_t).Uid != uint32(svcUID) {
		t.Errorf("odoo.conf after the files step: %v, %v; want a regular file of the service user's", fi, err)
	}
	// As summarize writes it.
	b := []byte("summary\n")
	if err := files.WriteInfo(context.Background(), inst, b); err != nil {
		t.Fatalf("summary: %v", err)
	}
	if got := snapshot(); got != want {
		t.Errorf("the canary changed:\n%s\nwant:\n%s", got, want)
	}
	fileIs(t, p.Info, string(b), 0o644, 0, 0)
}
