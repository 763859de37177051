package safefs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// tree makes base/t (the tenant's tree, owned by uid 4242) holding a/f,
// and base/etc, a root-owned directory holding passwd; it returns base
// opened, and a check that etc and passwd are unchanged and root's.
func tree(t *testing.T) (*Dir, string, func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	base := t.TempDir()
	os.MkdirAll(filepath.Join(base, "t", "a"), 0o750)
	os.WriteFile(filepath.Join(base, "t", "a", "f"), []byte("tenant"), 0o640)
	for _, p := range []string{"t", "t/a", "t/a/f"} {
		os.Lchown(filepath.Join(base, p), 4242, 4242)
	}
	etc := filepath.Join(base, "etc")
	os.MkdirAll(etc, 0o755)
	os.WriteFile(filepath.Join(etc, "passwd"), []byte("root"), 0o600)
	d, err := OpenDir(base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, etc, func() {
		t.Helper()
		for _, p := range []string{etc, filepath.Join(etc, "passwd")} {
			fi, err := os.Lstat(p)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if st := fi.Sys().(*syscall.Stat_t); st.Uid != 0 || st.Gid != 0 {
				t.Errorf("%s was given to %d:%d", p, st.Uid, st.Gid)
			}
		}
		if entries, _ := os.ReadDir(etc); len(entries) != 1 {
			t.Errorf("etc was written: %v", entries)
		}
	}
}

// TestNoLinkFollowed plants links where root works and runs every
// operation through them: each is refused or acts on the link itself;
// nothing outside the tree is written, removed or chowned.
func TestNoLinkFollowed(t *testing.T) {
	d, etc, check := tree(t)
	base := d.Path()
	os.Symlink(etc, filepath.Join(base, "t", "l"))
	os.Symlink(filepath.Join(etc, "passwd"), filepath.Join(base, "t", "a", "pl"))

	if _, err := d.Dir("t/l"); !errors.Is(err, ErrRefused) {
		t.Errorf("Dir through a link: %v, want refused", err)
	}
	if _, err := d.MkdirAll("t/l/new", 0o750, 4242, 4242); !errors.Is(err, ErrRefused) {
		t.Errorf("MkdirAll through a link: %v, want refused", err)
	}
	if _, err := d.Create("t/l/ld.so.preload", 0o644); !errors.Is(err, ErrRefused) {
		t.Errorf("Create through a link: %v, want refused", err)
	}
	if _, _, err := d.Open("t/a/pl", -1); !errors.Is(err, ErrRefused) {
		t.Errorf("Open of a link: %v, want refused", err)
	}
	if _, err := d.Dir("t/../etc"); !errors.Is(err, ErrRefused) {
		t.Errorf("Dir with ..: %v, want refused", err)
	}
	if _, err := d.Dir(etc); !errors.Is(err, ErrRefused) {
		t.Errorf("Dir of an absolute name: %v, want refused", err)
	}
	if err := d.Chmod("t/a/pl", 0o666); !errors.Is(err, ErrRefused) {
		t.Errorf("Chmod of a link: %v, want refused", err)
	}
	if err := d.ChownTree("t", 4242, 4242, 4242); err != nil {
		t.Errorf("ChownTree: %v", err)
	}
	tdir, _ := d.Dir("t")
	if err := tdir.RemoveAll("l"); err != nil {
		t.Errorf("RemoveAll of a link: %v", err)
	}
	if err := d.RemoveAll("t"); err != nil {
		t.Errorf("RemoveAll: %v", err)
	}
	tdir.Close()
	if _, err := os.Lstat(filepath.Join(base, "t")); !os.IsNotExist(err) {
		t.Errorf("the tree is still there: %v", err)
	}
	check()
}

// TestForeignHardLink: a hard link in the tree to a root-owned file is
// neither read, linked, copied nor chowned.
func TestForeignHardLink(t *testing.T) {
	d, etc, check := tree(t)
	if err := os.Link(filepath.Join(etc, "passwd"), filepath.Join(d.Path(), "t", "a", "hl")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Open("t/a/hl", 4242); !errors.Is(err, ErrForeignLink) {
		t.Errorf("Open: %v, want a foreign link", err)
	}
	if err := d.ChownTree("t", 4242, 4242, 4242); !errors.Is(err, ErrForeignLink) {
		t.Errorf("ChownTree: %v, want a foreign link", err)
	}
	src, _ := d.Dir("t")
	defer src.Close()
	dst, _ := d.Mkdir("copy", 0o700)
	defer dst.Close()
	if err := CopyTree(context.Background(), src, dst, 4242, true); !errors.Is(err, ErrForeignLink) {
		t.Errorf("CopyTree: %v, want a foreign link", err)
	}
	check()
}

// TestCopyTreeAndRename copies a tree (files by content, then by link)
// and renames it into place without replacing anything.
func TestCopyTreeAndRename(t *testing.T) {
	d, etc, check := tree(t)
	os.Symlink(etc, filepath.Join(d.Path(), "t", "a", "l"))
	src, _ := d.Dir("t")
	defer src.Close()
	for _, link := range []bool{false, true} {
		name := map[bool]string{false: "copy", true: "links"}[link]
		dst, err := d.Mkdir(name, 0o700)
		if err != nil {
			t.Fatal(err)
		}
		if err := CopyTree(context.Background(), src, dst, 4242, link); err != nil {
			t.Fatalf("CopyTree(link %v): %v", link, err)
		}
		dst.Close()
		if b, err := os.ReadFile(filepath.Join(d.Path(), name, "a", "f")); string(b) != "tenant" {
			t.Errorf("%s/a/f = %q, %v", name, b, err)
		}
		if _, err := os.Lstat(filepath.Join(d.Path(), name, "a", "l")); !os.IsNotExist(err) {
			t.Errorf("a link was copied: %v", err)
		}
	}
	if err := d.Rename("copy", d, "links"); !errors.Is(err, ErrRefused) {
		t.Errorf("Rename over a directory with entries: %v, want refused", err)
	}
	if err := d.Rename("copy", d, "moved"); err != nil {
		t.Errorf("Rename: %v", err)
	}
	// Replace puts a tree where a tenant planted a link: the link goes,
	// its target stays as it was.
	os.Symlink(etc, filepath.Join(d.Path(), "t", "planted"))
	if err := d.Replace("moved", src, "planted"); err != nil {
		t.Fatalf("Replace: %v", err)
	}
	if fi, err := os.Lstat(filepath.Join(d.Path(), "t", "planted")); err != nil || !fi.IsDir() {
		t.Errorf("after Replace, t/planted is %v, %v; want the directory", fi, err)
	}
	if _, err := os.Lstat(filepath.Join(d.Path(), "moved")); !os.IsNotExist(err) {
		t.Errorf("the planted link is left where the tree was: %v", err)
	}
	check()
}

// TestByHandRefusesLinks: where openat2 is missing (a seccomp filter
// that does not know it), the walk by hand refuses a link on the way or
// at the end just the same.
func TestByHandRefusesLinks(t *testing.T) {
	d, etc, check := tree(t)
	os.Symlink(etc, filepath.Join(d.Path(), "t", "l"))
	os.Symlink(filepath.Join(etc, "passwd"), filepath.Join(d.Path(), "t", "a", "pl"))
	for _, rel := range []string{"t/l/passwd", "t/a/pl", "t/l"} {
		fd, err := d.openatByHand(rel, syscall.O_RDONLY, 0)
		if err == nil {
			syscall.Close(fd)
			t.Errorf("%s opened through a link", rel)
		} else if !errors.Is(err, syscall.ELOOP) {
			t.Errorf("%s: %v, want ELOOP", rel, err)
		}
	}
	fd, err := d.openatByHand("t/a/f", syscall.O_RDONLY, 0)
	if err != nil {
		t.Fatalf("t/a/f: %v", err)
	}
	syscall.Close(fd)
	check()
}

// TestWriteFileNeverFollowsALink: WriteFile over a name the tenant made
// a link to a root-only file replaces the link with the file asked for
// (content, mode, owner), and the file it pointed to is unchanged; a
// directory at the name is an error; nothing is left behind.
func TestWriteFileNeverFollowsALink(t *testing.T) {
	d, etc, check := tree(t)
	base := d.Path()
	os.Symlink(filepath.Join(etc, "passwd"), filepath.Join(base, "t", "odoo.conf"))
	tt, err := d.Dir("t")
	if err != nil {
		t.Fatal(err)
	}
	defer tt.Close()
	if err := tt.WriteFile("odoo.conf", []byte("[options]\n"), 0o640, 0, 4242); err != nil {
		t.Fatalf("WriteFile over a link: %v", err)
	}
	check()
	if b, _ := os.ReadFile(filepath.Join(etc, "passwd")); string(b) != "root" {
		t.Errorf("the link's target holds %q", b)
	}
	fi, err := os.Lstat(filepath.Join(base, "t", "odoo.conf"))
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o640 {
		t.Fatalf("odoo.conf after WriteFile: %v %v, want a regular file 0640", fi, err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 0 || st.Gid != 4242 {
		t.Errorf("odoo.conf is %d:%d, want 0:4242", st.Uid, st.Gid)
	}
	if b, _ := os.ReadFile(filepath.Join(base, "t", "odoo.conf")); string(b) != "[options]\n" {
		t.Errorf("odoo.conf holds %q", b)
	}
	if err := tt.WriteFile("a", []byte("x"), 0o644, -1, -1); err == nil {
		t.Errorf("WriteFile over a directory succeeded")
	}
	if err := tt.WriteFile("../etc", []byte("x"), 0o644, -1, -1); !errors.Is(err, ErrRefused) {
		t.Errorf("WriteFile of ../etc: %v, want refused", err)
	}
	entries, _ := os.ReadDir(filepath.Join(base, "t"))
	if len(entries) != 2 {
		t.Errorf("the tree holds %v, want a and odoo.conf", entries)
	}
	os.Symlink(filepath.Join(etc, "passwd"), filepath.Join(base, "t", "l"))
	if err := tt.Remove("l"); err != nil {
		t.Errorf("Remove of a link: %v", err)
	}
	if err := tt.Remove("l"); err != nil {
		t.Errorf("Remove of nothing: %v", err)
	}
	if err := tt.Remove("a"); err == nil {
		t.Errorf("Remove of a directory succeeded")
	}
	check()
}
