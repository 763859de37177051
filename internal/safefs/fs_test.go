package safefs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

// FS is a well-behaved fs.FS over a tree of directories and files, and
// refuses, without following, a link inside (to a file or a directory)
// and a hard link to a file the tree's owner does not own.
func TestFS(t *testing.T) {
	base := t.TempDir()
	tree := filepath.Join(base, "tree")
	os.MkdirAll(filepath.Join(tree, "ab", "cd"), 0o750)
	os.WriteFile(filepath.Join(tree, "ab", "one"), []byte("one"), 0o640)
	os.WriteFile(filepath.Join(tree, "ab", "cd", "two"), []byte("two"), 0o640)
	d, err := OpenDir(tree)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := fstest.TestFS(d.FS(os.Getuid()), "ab/one", "ab/cd/two"); err != nil {
		t.Error(err)
	}

	secret := filepath.Join(base, "secret")
	os.WriteFile(secret, []byte("secret"), 0o600)
	os.Symlink(secret, filepath.Join(tree, "ab", "link"))
	os.Symlink(base, filepath.Join(tree, "up"))
	fsys := d.FS(os.Getuid() + 1) // the tree's owner is someone else
	for _, name := range []string{"ab/link", "up", "up/secret"} {
		if b, err := fs.ReadFile(fsys, name); !errors.Is(err, ErrRefused) {
			t.Errorf("read %s: %q, %v; want refused", name, b, err)
		}
	}
	if entries, err := fs.ReadDir(fsys, "up"); err == nil {
		t.Errorf("listed through a link: %v", entries)
	}
	os.Link(filepath.Join(tree, "ab", "one"), filepath.Join(tree, "ab", "hard"))
	if _, err := fs.ReadFile(fsys, "ab/hard"); !errors.Is(err, ErrForeignLink) {
		t.Errorf("a hard link to a file the owner does not own: %v, want ErrForeignLink", err)
	}
	if b, err := fs.ReadFile(d.FS(os.Getuid()), "ab/hard"); err != nil || string(b) != "one" {
		t.Errorf("a hard link to the owner's own file: %q, %v", b, err)
	}
}
