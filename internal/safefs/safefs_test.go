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
