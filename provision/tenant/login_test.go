package tenant

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"odoobot/internal/pgrole"
)

// TestReadConfTrustsOnlyRootsOwnFiles: an instance role's password is
// read from an odoo.conf that odoobot's user owns alone, in a directory
// it owns alone; a symbolic link (to the file or the directory), or a
// file or directory others may write, is refused, since a tenant could
// have put a password of its choosing there. A role name that is not a
// plain name is refused before anything is read.
func TestReadConfTrustsOnlyRootsOwnFiles(t *testing.T) {
	root := t.TempDir()
	write := func(dir string, dirMode, mode os.FileMode) string {
		t.Helper()
		d := filepath.Join(root, dir)
		if err := os.Mkdir(d, dirMode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(d, dirMode)
		p := filepath.Join(d, "odoo.conf")
		if err := os.WriteFile(p, []byte("[options]\ndb_user = prod-a\ndb_password =  s3cret \n"), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	good := write("prod-a", 0o750, 0o640)
	if user, pw, err := readConf(good); err != nil || user != "prod-a" || pw != "s3cret" {
		t.Errorf("readConf(good) = %q, %q, %v", user, pw, err)
	}
	groupWritable := write("gw", 0o750, 0o660)
	dirWritable := write("dw", 0o770, 0o640)
	linkDir := filepath.Join(root, "linkdir")
	if err := os.Symlink(filepath.Join(root, "prod-a"), linkDir); err != nil {
		t.Fatal(err)
	}
	linkFile := filepath.Join(root, "lf")
	os.Mkdir(linkFile, 0o750)
	if err := os.Symlink(good, filepath.Join(linkFile, "odoo.conf")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{groupWritable, dirWritable, filepath.Join(linkDir, "odoo.conf"), filepath.Join(linkFile, "odoo.conf")} {
		if _, pw, err := readConf(p); err == nil || pw != "" {
			t.Errorf("readConf(%s) = %q, %v; want a refusal", p, pw, err)
		}
	}
	if _, _, err := readConf(filepath.Join(root, "none", "odoo.conf")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("readConf of a missing file: %v, want ErrNotExist", err)
	}
	m := New(Config{ProdRoot: root, AdminDSN: "postgres://nobody@127.0.0.1:1/postgres"})
	for _, role := range []string{"", ".", "..", "../prod-a", "a/b"} {
		if _, err := m.Password(context.Background(), role); !errors.Is(err, pgrole.ErrForeignRole) {
			t.Errorf("Password(%q): %v, want pgrole.ErrForeignRole", role, err)
		}
	}
}
