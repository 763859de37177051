package tree

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"odoobot/internal/safefs"
	"odoobot/provision"
)

// testTree is a layout under a temporary directory, its PROD_ROOT made,
// the driver over it, and instance x's names.
func testTree(t *testing.T) (*Files, provision.Layout, provision.Instance, provision.Paths) {
	t.Helper()
	base := t.TempDir()
	os.Chmod(base, 0o755)
	l := provision.Layout{Zone: "example.com", UnitPrefix: "odoo19e", ProdRoot: filepath.Join(base, "apps"),
		UnitDir: filepath.Join(base, "units"), NginxAvailable: filepath.Join(base, "avail"), NginxEnabled: filepath.Join(base, "enabled"),
		LogDir: filepath.Join(base, "log"), CertDir: filepath.Join(base, "certs")}
	for _, d := range []string{l.ProdRoot, l.UnitDir, l.NginxAvailable, l.NginxEnabled, l.CertDir} {
		must(t, os.MkdirAll(d, 0o755))
	}
	inst := l.NewInstance("x", provision.SSLHTTP)
	return New(l), l, inst, l.Paths(inst)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// within fails the test when f takes more than a few seconds: a read
// that blocks (on a FIFO) must not hang the job.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s blocked", what)
	}
}

// A secret outside the tree, which no read of the tree may return.
func secretFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "neighbour.conf")
	must(t, os.WriteFile(p, []byte("[options]\ndb_password = CANARY\nhttp_port = 2001\n"), 0o600))
	return p
}

// ReadConf refuses a link at odoo.conf or in place of the instance's
// directory, a hard link, a FIFO (without blocking) and a file larger
// than an odoo.conf; a missing one says so (fs.ErrNotExist); a good one
// comes back with its bytes, mode and options.
func TestReadConfRefusesWhatATenantPlants(t *testing.T) {
	f, _, inst, p := testTree(t)
	ctx := context.Background()
	if _, err := f.ReadConf(ctx, inst, provision.ConfLive); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no odoo.conf: %v, want fs.ErrNotExist", err)
	}
	must(t, os.MkdirAll(p.Dir, 0o750))
	secret := secretFile(t)

	plant := func(name string, make func()) {
		t.Helper()
		os.RemoveAll(p.Conf)
		make()
		var c provision.OdooConf
		var err error
		within(t, name, func() { c, err = f.ReadConf(ctx, inst, provision.ConfLive) })
		if err == nil || strings.Contains(string(c.Raw), "CANARY") {
			t.Errorf("%s: read %q, %v; want it refused", name, c.Raw, err)
		}
	}
	plant("a symbolic link", func() { must(t, os.Symlink(secret, p.Conf)) })
	plant("a hard link", func() { must(t, os.Link(secret, p.Conf)) })
	plant("a FIFO", func() { must(t, syscall.Mkfifo(p.Conf, 0o640)) })
	plant("a huge file", func() {
		must(t, os.WriteFile(p.Conf, []byte("[options]\n"), 0o640))
		must(t, os.Truncate(p.Conf, 2<<20))
	})

	os.RemoveAll(p.Conf)
	must(t, os.WriteFile(p.Conf, []byte("[options]\nhttp_port = 2001\n"), 0o640))
	c, err := f.ReadConf(ctx, inst, provision.ConfLive)
	if err != nil || c.Mode != 0o640 || c.Options["http_port"] != "2001" || string(c.Raw) != "[options]\nhttp_port = 2001\n" {
		t.Errorf("a good odoo.conf: %+v, %v", c, err)
	}

	// The directory swapped for a link to one holding another odoo.conf.
	other := filepath.Dir(secret)
	must(t, os.Rename(secret, filepath.Join(other, "odoo.conf")))
	must(t, os.Rename(p.Dir, p.Dir+".moved"))
	must(t, os.Symlink(other, p.Dir))
	if c, err := f.ReadConf(ctx, inst, provision.ConfLive); err == nil {
		t.Errorf("read through a link in place of the directory: %q", c.Raw)
	}
}

// WriteConf replaces a link at odoo.conf with the file, never writing
// through it, and sets the mode and owner asked for.
func TestWriteConfReplacesALink(t *testing.T) {
	f, _, inst, p := testTree(t)
	ctx := context.Background()
	must(t, os.MkdirAll(p.Dir, 0o750))
	secret := secretFile(t)
	must(t, os.Symlink(secret, p.Conf))
	must(t, f.WriteConf(ctx, inst, provision.ConfLive, []byte("[options]\n"), 0o640, provision.FileOwner{}))
	if b, _ := os.ReadFile(secret); !strings.Contains(string(b), "CANARY") {
		t.Errorf("the link's target was written: %q", b)
	}
	fi, err := os.Lstat(p.Conf)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o640 {
		t.Errorf("odoo.conf is %v, %v; want a regular file 0640", fi, err)
	}
	must(t, f.WriteConf(ctx, inst, provision.ConfUpgradeTest, []byte("[options]\n"), 0o640, provision.FileOwner{}))
	if _, err := os.Stat(p.UpgradeConf); err != nil {
		t.Errorf("the upgrade's test odoo.conf: %v", err)
	}
	must(t, f.RemoveConf(ctx, inst, provision.ConfUpgradeTest))
	must(t, f.RemoveConf(ctx, inst, provision.ConfUpgradeTest))
	if _, err := os.Lstat(p.UpgradeConf); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the test odoo.conf is left: %v", err)
	}
}

// The unit is read without following a link, without blocking on a
// FIFO, and a line longer than the bound is an error, not a hang or an
// answer.
func TestUnitReads(t *testing.T) {
	f, _, inst, p := testTree(t)
	ctx := context.Background()
	if _, err := f.UnitUser(ctx, inst); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no unit: %v, want fs.ErrNotExist", err)
	}
	if _, err := f.ReadUnit(ctx, inst); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no unit: %v, want fs.ErrNotExist", err)
	}
	must(t, os.WriteFile(p.Unit, []byte("[Service]\nUser=odoo\nUser = odoo-x\nExecStart=/bin/true\n"), 0o644))
	if u, err := f.UnitUser(ctx, inst); err != nil || u != "odoo-x" {
		t.Errorf("UnitUser = %q, %v; want the last User=", u, err)
	}
	if b, err := f.ReadUnit(ctx, inst); err != nil || !strings.Contains(string(b), "ExecStart") {
		t.Errorf("ReadUnit = %q, %v", b, err)
	}

	other := filepath.Join(t.TempDir(), "u.service")
	must(t, os.WriteFile(other, []byte("[Service]\nUser=odoo\n"), 0o644))
	must(t, os.Remove(p.Unit))
	must(t, os.Symlink(other, p.Unit))
	if u, err := f.UnitUser(ctx, inst); err == nil {
		t.Errorf("a link at the unit's path was followed: %q", u)
	}
	if _, err := f.ReadUnit(ctx, inst); err == nil {
		t.Error("ReadUnit followed a link at the unit's path")
	}

	must(t, os.Remove(p.Unit))
	must(t, syscall.Mkfifo(p.Unit, 0o644))
	within(t, "UnitUser on a FIFO", func() {
		if u, err := f.UnitUser(ctx, inst); err == nil {
			t.Errorf("a FIFO at the unit's path: %q, want it refused", u)
		}
	})

	must(t, os.Remove(p.Unit))
	huge := "[Service]\nUser=odoo\nDescription=" + strings.Repeat("x", 2<<20) + "\n"
	must(t, os.WriteFile(p.Unit, []byte(huge), 0o644))
	if u, err := f.UnitUser(ctx, inst); err == nil {
		t.Errorf("a 2 MiB line: %q, want an error", u)
	}
	if _, err := f.ReadUnit(ctx, inst); err == nil {
		t.Error("ReadUnit read a unit over its bound")
	}
}

// info-instancia.txt is written on a handle (a link replaced, not
// followed), read back without following a link or blocking on a FIFO,
// and removed; its absence is fine to remove.
func TestInfo(t *testing.T) {
	f, _, inst, p := testTree(t)
	ctx := context.Background()
	must(t, f.RemoveInfo(ctx, inst))
	must(t, os.MkdirAll(p.Dir, 0o750))
	secret := secretFile(t)
	must(t, os.Symlink(secret, p.Info))
	if b, err := f.ReadInfo(ctx, inst); err == nil {
		t.Errorf("ReadInfo followed a link: %q", b)
	}
	must(t, f.WriteInfo(ctx, inst, []byte("summary\n")))
	if b, err := f.ReadInfo(ctx, inst); err != nil || string(b) != "summary\n" {
		t.Errorf("ReadInfo = %q, %v", b, err)
	}
	if b, _ := os.ReadFile(secret); !strings.Contains(string(b), "CANARY") {
		t.Errorf("written through the link: %q", b)
	}
	must(t, f.RemoveInfo(ctx, inst))
	must(t, syscall.Mkfifo(p.Info, 0o644))
	within(t, "ReadInfo on a FIFO", func() {
		if _, err := f.ReadInfo(ctx, inst); err == nil {
			t.Error("ReadInfo read a FIFO")
		}
	})
}

// The tracking export holds the ready instances given, in API-DEV's
// formats, and replaces the files whole.
func TestExportTracking(t *testing.T) {
	f, _, inst, _ := testTree(t)
	dir := filepath.Join(t.TempDir(), "tracking", "sub")
	inst.Ports = provision.Ports{HTTP: 2001, Gevent: 3001}
	inst.CreatedAt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	must(t, f.ExportTracking(context.Background(), dir, []provision.Instance{inst}))
	b, _ := os.ReadFile(filepath.Join(dir, "prod-instances.txt"))
	if string(b) != "prod-x|x.example.com|2001|3001|http|2026-01-02T03:04:05Z\n" {
		t.Errorf("prod-instances.txt: %q", b)
	}
	b, _ = os.ReadFile(filepath.Join(dir, "puertos_ocupados_odoo.txt"))
	if string(b) != "2001 prod-x http\n3001 prod-x gevent\n" {
		t.Errorf("puertos_ocupados_odoo.txt: %q", b)
	}
	must(t, f.ExportTracking(context.Background(), dir, nil))
	if b, _ := os.ReadFile(filepath.Join(dir, "prod-instances.txt")); len(b) != 0 {
		t.Errorf("after the last instance: %q", b)
	}
}

// Leftover finds whatever of an instance is on the host, a dangling
// link included; nothing when nothing is.
func TestLeftover(t *testing.T) {
	f, _, inst, p := testTree(t)
	ctx := context.Background()
	if got, err := f.Leftover(ctx, inst); err != nil || got != "" {
		t.Errorf("an empty host: %q, %v", got, err)
	}
	must(t, os.Symlink("/nonexistent", p.SiteEnabled))
	if got, err := f.Leftover(ctx, inst); err != nil || got != p.SiteEnabled {
		t.Errorf("a dangling site link: %q, %v", got, err)
	}
	must(t, os.WriteFile(p.Unit, nil, 0o644))
	if got, _ := f.Leftover(ctx, inst); got != p.Unit {
		t.Errorf("a unit: %q, want %s first", got, p.Unit)
	}
}

// Kept files are root's alone in the staging directory, read back as
// written, replaced, and forgotten; a staging directory another user
// made is refused.
func TestKept(t *testing.T) {
	f, l, inst, _ := testTree(t)
	ctx := context.Background()
	if b, err := f.Kept(ctx, inst, provision.KeptIsolate, "unit"); err != nil || b != nil {
		t.Errorf("nothing kept: %q, %v", b, err)
	}
	must(t, f.Keep(ctx, inst, provision.KeptIsolate, "unit", []byte("one")))
	must(t, f.Keep(ctx, inst, provision.KeptIsolate, "unit", []byte("two")))
	if b, err := f.Kept(ctx, inst, provision.KeptIsolate, "unit"); err != nil || string(b) != "two" {
		t.Errorf("Kept = %q, %v", b, err)
	}
	if b, _ := f.Kept(ctx, inst, provision.KeptUpgrade, "unit"); b != nil {
		t.Errorf("another set holds %q", b)
	}
	fi, err := os.Stat(filepath.Join(l.ProdRoot, StagingDirName))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("the staging directory: %v, %v; want 0700", fi, err)
	}
	must(t, f.ForgetKept(ctx, inst, provision.KeptIsolate))
	if b, err := f.Kept(ctx, inst, provision.KeptIsolate, "unit"); err != nil || b != nil {
		t.Errorf("after ForgetKept: %q, %v", b, err)
	}
	if err := f.Keep(ctx, inst, "nonsense", "x", nil); err == nil {
		t.Error("a set with no name was kept")
	}
	must(t, os.Chmod(filepath.Join(l.ProdRoot, StagingDirName), 0o777))
	if err := f.Keep(ctx, inst, provision.KeptIsolate, "unit", []byte("x")); err == nil {
		t.Error("a staging directory open to others was used")
	}
}

// ScratchDir makes a private directory, its parent when missing, and
// removes it.
func TestScratchDir(t *testing.T) {
	f, _, _, _ := testTree(t)
	parent := filepath.Join(t.TempDir(), "backups")
	dir, remove, err := f.ScratchDir(context.Background(), parent, ".clone-x-")
	must(t, err)
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 || !strings.HasPrefix(filepath.Base(dir), ".clone-x-") || filepath.Dir(dir) != parent {
		t.Errorf("scratch dir %s: %v, %v", dir, fi, err)
	}
	must(t, os.WriteFile(filepath.Join(dir, "database.dump"), nil, 0o600))
	remove()
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("left after remove: %v", err)
	}
}

// tenant returns a system user to play an instance's, with its ids; the
// test is skipped without root or such a user.
func tenant(t *testing.T) (string, int, int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: it plays root in a tenant's tree")
	}
	u, err := user.Lookup("daemon")
	if err != nil {
		t.Skip("no daemon user to play the tenant")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return u.Username, uid, gid
}

// A creation's tree: Prepare makes it and reports modules, Give lays
// it out as a tenant's, Remove takes it away; Remove of a directory
// swapped for a link removes the link only.
func TestLayAndRemove(t *testing.T) {
	name, uid, gid := tenant(t)
	f, _, inst, p := testTree(t)
	ctx := context.Background()
	mods, err := f.Prepare(ctx, inst)
	if err != nil || mods {
		t.Fatalf("Prepare = %v, %v; want an empty custom_addons", mods, err)
	}
	must(t, os.MkdirAll(filepath.Join(p.CustomAddons, "m"), 0o755))
	must(t, os.WriteFile(filepath.Join(p.CustomAddons, "m", "__init__.py"), nil, 0o644))
	must(t, os.WriteFile(filepath.Join(p.CustomAddons, "m", "__manifest__.py"), nil, 0o644))
	if mods, err := f.Prepare(ctx, inst); err != nil || !mods {
		t.Errorf("Prepare with a module = %v, %v", mods, err)
	}
	must(t, f.WriteConf(ctx, inst, provision.ConfLive, []byte("[options]\n"), 0o640, provision.FileOwner{}))
	must(t, f.Give(ctx, inst, name, true))
	for _, c := range []struct {
		path     string
		uid, gid int
		mode     os.FileMode
	}{
		{p.Dir, 0, gid, 0o750}, {p.CustomAddons, 0, gid, 0o750}, {p.Conf, 0, gid, 0o640},
		{p.Log, uid, gid, 0o640}, {p.DataDir, uid, gid, 0o750},
	} {
		fi, err := os.Lstat(c.path)
		if err != nil {
			t.Errorf("%s: %v", c.path, err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		if int(st.Uid) != c.uid || int(st.Gid) != c.gid || fi.Mode().Perm() != c.mode {
			t.Errorf("%s is %d:%d %v, want %d:%d %v", c.path, st.Uid, st.Gid, fi.Mode().Perm(), c.uid, c.gid, c.mode)
		}
	}
	if err := f.Give(ctx, inst, "no-such-user-here", true); !errors.Is(err, provision.ErrNoSystemUser) {
		t.Errorf("Give to a missing user: %v, want ErrNoSystemUser", err)
	}

	// RemoveData removes the filestore and what it leaves empty only.
	must(t, os.MkdirAll(filepath.Join(p.DataDir, "filestore", inst.Internal, "ab"), 0o750))
	must(t, f.RemoveData(ctx, inst))
	if _, err := os.Stat(filepath.Join(p.DataDir, "filestore")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the empty filestore directory is left: %v", err)
	}
	if _, err := os.Stat(p.Dir); err != nil {
		t.Errorf("RemoveData removed a directory that is not empty: %v", err)
	}

	outside := t.TempDir()
	must(t, os.WriteFile(filepath.Join(outside, "keep"), nil, 0o600))
	must(t, os.Rename(p.Dir, p.Dir+".moved"))
	must(t, os.Symlink(outside, p.Dir))
	must(t, f.Remove(ctx, inst))
	if _, err := os.Stat(filepath.Join(outside, "keep")); err != nil {
		t.Errorf("Remove went through the link: %v", err)
	}
	if _, err := os.Lstat(p.Dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the link is left: %v", err)
	}
	must(t, os.Rename(p.Dir+".moved", p.Dir))
	must(t, f.Remove(ctx, inst))
	must(t, f.Remove(ctx, inst))
	if _, err := os.Lstat(p.Dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the directory is left: %v", err)
	}
}

// A clone's filestore copy leaves out links and FIFOs, refuses a hard
// link to a file the source's owner does not own, and lands in the new
// instance's tree owned by its user; the upgrade's aside and test copies
// go and come back.
func TestFilestoreCopies(t *testing.T) {
	name, uid, _ := tenant(t)
	f, l, src, sp := testTree(t)
	ctx := context.Background()
	dst := l.NewInstance("y", provision.SSLHTTP)
	dp := l.Paths(dst)
	store := filepath.Join(sp.DataDir, "filestore", src.Internal)
	must(t, os.MkdirAll(filepath.Join(store, "ab"), 0o750))
	must(t, os.WriteFile(filepath.Join(store, "ab", "file"), []byte("attachment"), 0o640))
	secret := secretFile(t)
	must(t, os.Symlink(secret, filepath.Join(store, "ab", "link")))
	must(t, syscall.Mkfifo(filepath.Join(store, "ab", "fifo"), 0o640))
	must(t, filepath.Walk(sp.Dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, uid)
	}))

	within(t, "CopyFilestore", func() { must(t, f.CopyFilestore(ctx, src, dst, name)) })
	copied := filepath.Join(dp.DataDir, "filestore", dst.Internal, "ab")
	if b, err := os.ReadFile(filepath.Join(copied, "file")); err != nil || string(b) != "attachment" {
		t.Errorf("the copied file: %q, %v", b, err)
	}
	for _, n := range []string{"link", "fifo"} {
		if _, err := os.Lstat(filepath.Join(copied, n)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s was copied: %v", n, err)
		}
	}
	fi, _ := os.Stat(copied)
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != uid {
		t.Errorf("the copy is uid %d's, want the tenant's", st.Uid)
	}
	if _, err := os.Lstat(filepath.Join(l.ProdRoot, StagingDirName, "clone-"+dst.Internal)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the staged copy is left: %v", err)
	}

	// A hard link to a root-only file in the source's filestore.
	must(t, os.Link(secret, filepath.Join(store, "ab", "hard")))
	if err := f.CopyFilestore(ctx, src, dst, name); !errors.Is(err, safefs.ErrForeignLink) {
		t.Errorf("a hard link to root's file: %v, want safefs.ErrForeignLink", err)
	}
	must(t, os.Remove(filepath.Join(store, "ab", "hard")))

	// The upgrade's copies.
	must(t, f.LinkCopy(ctx, src, name, src.Internal+"_copy"))
	if b, err := os.ReadFile(filepath.Join(sp.DataDir, "filestore", src.Internal+"_copy", "ab", "file")); err != nil || string(b) != "attachment" {
		t.Errorf("the linked copy: %q, %v", b, err)
	}
	must(t, f.RemoveCopy(ctx, src, src.Internal+"_copy"))
	if _, err := os.Lstat(filepath.Join(sp.DataDir, "filestore", src.Internal+"_copy")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the linked copy is left: %v", err)
	}
	must(t, f.SetAside(ctx, src, name))
	// As Odoo writes: a new file for new content.
	must(t, os.Remove(filepath.Join(store, "ab", "file")))
	must(t, os.WriteFile(filepath.Join(store, "ab", "file"), []byte("changed by the update"), 0o640))
	must(t, f.PutBack(ctx, src, name))
	if b, _ := os.ReadFile(filepath.Join(store, "ab", "file")); string(b) != "attachment" {
		t.Errorf("after PutBack: %q, want the file as it was set aside", b)
	}
	must(t, f.DropAside(ctx, src))
	must(t, f.PutBack(ctx, src, name)) // nothing kept: nothing done
}
