package tree

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"odoobot/internal/safefs"
	"odoobot/provision"
)

// tarGz is a gzip-compressed tar of hdrs, each regular file holding body.
func tarGz(t *testing.T, body string, hdrs ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, h := range hdrs {
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(body))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		must(t, tw.WriteHeader(h))
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(body))
		}
	}
	must(t, tw.Close())
	must(t, gz.Close())
	return buf.Bytes()
}

// canary is a root-owned directory standing for /etc: nothing may be
// written, removed or chowned in it. It returns a check that fails the
// test when it was.
func canary(t *testing.T) (string, func()) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "etc")
	must(t, os.MkdirAll(dir, 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "passwd"), []byte("root:x:0:0"), 0o644))
	return dir, func() {
		t.Helper()
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 || entries[0].Name() != "passwd" {
			t.Errorf("the canary directory was written: %v", entries)
		}
		for _, p := range []string{dir, filepath.Join(dir, "passwd")} {
			if uid := ownerOf(t, p); uid != 0 {
				t.Errorf("%s was given to uid %d", p, uid)
			}
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "passwd")); string(b) != "root:x:0:0" {
			t.Errorf("the canary file was changed: %q", b)
		}
	}
}

// ownerOf is the uid owning p (a link: the link itself).
func ownerOf(t *testing.T, p string) int {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return int(fi.Sys().(*syscall.Stat_t).Uid)
}

// chownTree gives p and everything under it to uid (links themselves).
func chownTree(t *testing.T, p string, uid int) {
	t.Helper()
	must(t, filepath.Walk(p, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, uid)
	}))
}

// readAll reads every regular file of fsys the view lets it open, and
// the errors of the others.
func readAll(t *testing.T, fsys fs.FS) (files map[string]string, refused map[string]error) {
	t.Helper()
	files, refused = map[string]string{}, map[string]error{}
	must(t, fs.WalkDir(fsys, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			refused[p] = err
			return nil
		}
		files[p] = string(b)
		return nil
	}))
	return files, refused
}

// ReadFilestore hands over a view of the filestore that reads the
// tenant's own files and refuses what it planted: a link inside (to a
// file or a directory), a hard link to a root-only file, a FIFO (without
// blocking); a link in place of the data dir or of the filestore itself
// is refused before read is called; no filestore is an empty view.
func TestReadFilestoreFollowsNoLink(t *testing.T) {
	_, uid, _ := tenant(t)
	f, _, inst, p := testTree(t)
	ctx := context.Background()
	read := func() (map[string]string, map[string]error, error) {
		var files map[string]string
		var refused map[string]error
		var err error
		within(t, "ReadFilestore", func() {
			err = f.ReadFilestore(ctx, inst, func(fsys fs.FS) error {
				files, refused = readAll(t, fsys)
				return nil
			})
		})
		return files, refused, err
	}
	if files, _, err := read(); err != nil || len(files) != 0 {
		t.Errorf("no instance directory: %v, %v; want an empty view", files, err)
	}

	store := filepath.Join(p.DataDir, "filestore", inst.Internal)
	must(t, os.MkdirAll(filepath.Join(store, "ab"), 0o750))
	must(t, os.WriteFile(filepath.Join(store, "ab", "abcdef"), []byte("attachment"), 0o640))
	secret := secretFile(t)
	must(t, os.Symlink(secret, filepath.Join(store, "ab", "link")))
	must(t, os.Symlink(filepath.Dir(secret), filepath.Join(store, "cd")))
	must(t, syscall.Mkfifo(filepath.Join(store, "ab", "fifo"), 0o640))
	chownTree(t, p.Dir, uid)
	must(t, os.Link(secret, filepath.Join(store, "ab", "hard")))

	files, refused, err := read()
	if err != nil {
		t.Fatal(err)
	}
	if files["ab/abcdef"] != "attachment" || len(files) != 1 {
		t.Errorf("read %v; want only the tenant's own file", files)
	}
	for _, n := range []string{"ab/link", "ab/fifo", "cd"} {
		if err := refused[n]; !errors.Is(err, safefs.ErrRefused) {
			t.Errorf("%s: %v, want refused", n, err)
		}
	}
	if _, ok := refused["cd/neighbour.conf"]; ok {
		t.Errorf("the walk went through the link to a directory")
	}
	if err := refused["ab/hard"]; !errors.Is(err, safefs.ErrForeignLink) {
		t.Errorf("the hard link to a root-only file: %v, want safefs.ErrForeignLink", err)
	}
	must(t, os.Remove(filepath.Join(store, "ab", "hard")))

	// A link in place of the filestore, then of the data dir, to a tree
	// laid out like the tenant's, holding the root-only file.
	decoy := filepath.Join(t.TempDir(), "data")
	must(t, os.MkdirAll(filepath.Join(decoy, "filestore", inst.Internal), 0o700))
	must(t, os.Link(secret, filepath.Join(decoy, "filestore", inst.Internal, "env")))
	must(t, os.Rename(store, store+".moved"))
	must(t, os.Symlink(filepath.Join(decoy, "filestore", inst.Internal), store))
	called := false
	err = f.ReadFilestore(ctx, inst, func(fs.FS) error { called = true; return nil })
	if err == nil || called {
		t.Errorf("a filestore that is a link: %v (read called: %v), want refused", err, called)
	}
	must(t, os.Remove(store))
	must(t, os.Rename(store+".moved", store))
	must(t, os.Rename(p.DataDir, p.DataDir+".moved"))
	must(t, os.Symlink(decoy, p.DataDir))
	err = f.ReadFilestore(ctx, inst, func(fs.FS) error { called = true; return nil })
	if err == nil || called {
		t.Errorf("a data dir that is a link: %v (read called: %v), want refused", err, called)
	}
}

// A restore's filestore: staged from an archive owned by the tenant in
// the staging directory, swapped with the live one, swapped back, and
// dropped; what the host shows at each point is what RestoreLeftover
// says. An instance with no filestore gets none back on the unswap.
func TestRestoreSwap(t *testing.T) {
	name, uid, _ := tenant(t)
	f, l, inst, p := testTree(t)
	ctx := context.Background()
	store := filepath.Join(p.DataDir, "filestore", inst.Internal)
	must(t, os.MkdirAll(filepath.Join(store, "ab"), 0o750))
	must(t, os.WriteFile(filepath.Join(store, "ab", "live"), []byte("live"), 0o640))
	chownTree(t, p.Dir, uid)
	staging := filepath.Join(l.ProdRoot, StagingDirName)
	left := func(want provision.RestoreLeft) {
		t.Helper()
		got, err := f.RestoreLeftover(ctx, inst)
		if err != nil || got != want {
			t.Errorf("RestoreLeftover = %+v, %v; want %+v", got, err, want)
		}
	}
	content := func(want string) {
		t.Helper()
		entries, _ := os.ReadDir(filepath.Join(store, "ab"))
		var got []string
		for _, e := range entries {
			got = append(got, e.Name())
		}
		if strings.Join(got, ",") != want {
			t.Errorf("the live filestore holds %v, want %s", got, want)
		}
	}
	left(provision.RestoreLeft{Live: true})

	arc := tarGz(t, "restored", &tar.Header{Typeflag: tar.TypeDir, Name: "ab/"}, &tar.Header{Typeflag: tar.TypeReg, Name: "ab/restored", Mode: 0o4755})
	must(t, f.StageRestore(ctx, inst, name, bytes.NewReader(arc)))
	staged := filepath.Join(staging, "restore-"+inst.Internal)
	for _, q := range []string{staged, filepath.Join(staged, "ab"), filepath.Join(staged, "ab", "restored")} {
		if got := ownerOf(t, q); got != uid {
			t.Errorf("%s is uid %d's, want the tenant's", q, got)
		}
	}
	if fi, err := os.Stat(filepath.Join(staged, "ab", "restored")); err != nil || fi.Mode()&fs.ModeSetuid != 0 {
		t.Errorf("the restored file: %v, %v; want it without its set-uid bit", fi, err)
	}
	if fi, _ := os.Stat(staging); fi.Mode().Perm() != 0o700 || ownerOf(t, staging) != 0 {
		t.Errorf("the staging directory is %s, uid %d", fi.Mode(), ownerOf(t, staging))
	}
	left(provision.RestoreLeft{Staged: true, Live: true})

	sw, err := f.SwapRestore(ctx, inst, name)
	if err != nil || sw != (provision.RestoreSwap{Swapped: true, HadLive: true}) {
		t.Fatalf("SwapRestore = %+v, %v", sw, err)
	}
	content("restored")
	left(provision.RestoreLeft{Replaced: true, Live: true})

	must(t, f.UnswapRestore(ctx, inst, sw.HadLive))
	content("live")
	left(provision.RestoreLeft{Live: true})

	// Again, to the end: the replaced one is dropped.
	must(t, f.StageRestore(ctx, inst, name, bytes.NewReader(arc)))
	if _, err := f.SwapRestore(ctx, inst, name); err != nil {
		t.Fatal(err)
	}
	must(t, f.DropRestore(ctx, inst, provision.RestoreReplaced))
	left(provision.RestoreLeft{Live: true})
	content("restored")

	// An instance without a filestore: none after the unswap; a nil
	// archive stages an empty one.
	must(t, os.RemoveAll(store))
	must(t, f.StageRestore(ctx, inst, name, nil))
	left(provision.RestoreLeft{Staged: true})
	sw, err = f.SwapRestore(ctx, inst, name)
	if err != nil || sw != (provision.RestoreSwap{Swapped: true}) {
		t.Fatalf("SwapRestore with no live filestore = %+v, %v", sw, err)
	}
	left(provision.RestoreLeft{Live: true})
	must(t, f.UnswapRestore(ctx, inst, sw.HadLive))
	left(provision.RestoreLeft{})
	must(t, f.StageRestore(ctx, inst, name, nil))
	must(t, f.DropRestore(ctx, inst, provision.RestoreStaged))
	left(provision.RestoreLeft{})
}

// What a tenant plants in its tree never leads a restore astray: a link
// in place of its filestore is moved aside and dropped as a link (its
// target untouched), a link in place of the filestore directory stops
// the swap before anything moves, and nothing is written or chowned
// outside the tree.
func TestRestoreSwapTenantTraps(t *testing.T) {
	name, uid, _ := tenant(t)
	f, _, inst, p := testTree(t)
	ctx := context.Background()
	arc := tarGz(t, "restored", &tar.Header{Typeflag: tar.TypeReg, Name: "passwd"})
	stores := filepath.Join(p.DataDir, "filestore")
	must(t, os.MkdirAll(stores, 0o750))
	chownTree(t, p.Dir, uid)

	t.Run("link in place of the filestore", func(t *testing.T) {
		etc, check := canary(t)
		store := filepath.Join(stores, inst.Internal)
		must(t, os.Symlink(etc, store))
		must(t, f.StageRestore(ctx, inst, name, bytes.NewReader(arc)))
		sw, err := f.SwapRestore(ctx, inst, name)
		if err != nil {
			t.Fatal(err)
		}
		must(t, f.UnswapRestore(ctx, inst, sw.HadLive))
		if target, err := os.Readlink(store); err != nil || target != etc {
			t.Errorf("the tenant's link is not back as it was: %q, %v", target, err)
		}
		must(t, f.StageRestore(ctx, inst, name, bytes.NewReader(arc)))
		if _, err := f.SwapRestore(ctx, inst, name); err != nil {
			t.Fatal(err)
		}
		must(t, f.DropRestore(ctx, inst, provision.RestoreReplaced))
		check()
		must(t, os.RemoveAll(store))
	})

	t.Run("link in place of the filestore directory", func(t *testing.T) {
		etc, check := canary(t)
		must(t, os.Rename(stores, stores+".moved"))
		must(t, os.Symlink(etc, stores))
		must(t, f.StageRestore(ctx, inst, name, bytes.NewReader(arc)))
		sw, err := f.SwapRestore(ctx, inst, name)
		if err == nil || sw.Swapped {
			t.Errorf("swapped through a link in place of the filestore directory: %+v, %v", sw, err)
		}
		if err := f.UnswapRestore(ctx, inst, false); err == nil {
			t.Errorf("unswapped through a link in place of the filestore directory")
		}
		check()
		must(t, f.DropRestore(ctx, inst, provision.RestoreStaged))
		must(t, os.Remove(stores))
		must(t, os.Rename(stores+".moved", stores))
	})
}

// unpack refuses an archive whose entries are absolute, climb out, are
// links, devices or repeated names, and a destination that exists (a
// link planted there included); root writes and chowns nothing outside
// the destination, and what it makes is the tenant's.
func TestUnpackTenantTraps(t *testing.T) {
	ctx := context.Background()
	_, uid, gid := tenant(t)
	good := tarGz(t, "planted", &tar.Header{Typeflag: tar.TypeDir, Name: "ld.so.preload.d/"}, &tar.Header{Typeflag: tar.TypeReg, Name: "ld.so.preload"})
	open := func(t *testing.T, dir string) *safefs.Dir {
		t.Helper()
		d, err := safefs.OpenDir(dir)
		must(t, err)
		t.Cleanup(func() { d.Close() })
		return d
	}

	t.Run("link planted at the destination", func(t *testing.T) {
		etc, check := canary(t)
		parent := t.TempDir()
		must(t, os.Symlink(etc, filepath.Join(parent, "restore")))
		if err := unpack(ctx, bytes.NewReader(good), open(t, parent), "restore", uid, gid); err == nil {
			t.Errorf("unpacked through a link planted at the destination")
		}
		check()
	})

	t.Run("directory planted at the destination", func(t *testing.T) {
		etc, check := canary(t)
		parent := t.TempDir()
		os.Mkdir(filepath.Join(parent, "restore"), 0o777)
		os.Symlink(etc, filepath.Join(parent, "restore", "ld.so.preload.d"))
		if err := unpack(ctx, bytes.NewReader(good), open(t, parent), "restore", uid, gid); err == nil {
			t.Errorf("unpacked into a destination that already existed")
		}
		check()
	})

	for name, hdrs := range map[string][]*tar.Header{
		"absolute":       {{Typeflag: tar.TypeReg, Name: "/ETC/ld.so.preload"}},
		"climbing":       {{Typeflag: tar.TypeReg, Name: "ab/../../etc/ld.so.preload"}},
		"symlink":        {{Typeflag: tar.TypeSymlink, Name: "ab", Linkname: "ETC"}, {Typeflag: tar.TypeReg, Name: "ab/ld.so.preload"}},
		"hard link":      {{Typeflag: tar.TypeLink, Name: "passwd", Linkname: "ETC/passwd"}},
		"device":         {{Typeflag: tar.TypeChar, Name: "mem", Devmajor: 1, Devminor: 1}},
		"repeated names": {{Typeflag: tar.TypeReg, Name: "a"}, {Typeflag: tar.TypeReg, Name: "a"}},
	} {
		t.Run(name, func(t *testing.T) {
			etc, check := canary(t)
			for _, h := range hdrs {
				h.Name = strings.ReplaceAll(h.Name, "ETC", etc)
				h.Linkname = strings.ReplaceAll(h.Linkname, "ETC", etc)
			}
			if err := unpack(ctx, bytes.NewReader(tarGz(t, "planted", hdrs...)), open(t, filepath.Dir(etc)), "restore", uid, gid); err == nil {
				t.Errorf("unpacked an archive with a %s entry", name)
			}
			check()
		})
	}

	t.Run("owned by the tenant", func(t *testing.T) {
		parent := t.TempDir()
		if err := unpack(ctx, bytes.NewReader(good), open(t, parent), "restore", uid, gid); err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(parent, "restore")
		for _, q := range []string{dst, filepath.Join(dst, "ld.so.preload.d"), filepath.Join(dst, "ld.so.preload")} {
			if got := ownerOf(t, q); got != uid {
				t.Errorf("%s is uid %d's, not the tenant's", q, got)
			}
		}
	})

	t.Run("not an archive", func(t *testing.T) {
		if err := unpack(ctx, strings.NewReader("not gzip"), open(t, t.TempDir()), "restore", uid, gid); err == nil {
			t.Errorf("unpacked what is not a tar.gz")
		}
	})
}
