package tree

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"odoobot/provision"
)

// TestLayTenantFilesTraps lays out (as create, clone and isolate do) the
// tree of an instance whose user had it to itself (an imported one):
// odoo.log is a link to a root-owned file, data/ holds a link to a
// root-owned directory and a hard link to a root-only file. Nothing
// outside the tree is chowned, chmodded or created; the hard link is
// refused, saying so.
func TestLayTenantFilesTraps(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it plays root laying out a tenant's tree")
	}
	const uid, gid = 4343, 4343
	base := t.TempDir()
	etc := filepath.Join(base, "etc")
	os.MkdirAll(etc, 0o755)
	os.WriteFile(filepath.Join(etc, "shadow"), []byte("root:*:"), 0o600)
	os.WriteFile(filepath.Join(etc, "motd"), []byte("hello"), 0o644)
	canary := func() string {
		var out []string
		filepath.WalkDir(etc, func(p string, e os.DirEntry, err error) error {
			fi, _ := os.Lstat(p)
			st := fi.Sys().(*syscall.Stat_t)
			out = append(out, fmt.Sprintf("%s %v %d:%d", p, fi.Mode(), st.Uid, st.Gid))
			return nil
		})
		sort.Strings(out)
		return strings.Join(out, "\n")
	}
	want := canary()

	l := provision.Layout{ProdRoot: filepath.Join(base, "apps")}
	f := New(l)
	p := l.Paths(provision.Instance{Internal: "prod-x"})
	os.MkdirAll(filepath.Join(p.DataDir, "filestore", "prod-x"), 0o755)
	os.MkdirAll(p.CustomAddons, 0o755)
	os.WriteFile(p.Conf, []byte("[options]\n"), 0o640)
	os.Symlink(filepath.Join(etc, "motd"), p.Log)
	os.Symlink(etc, filepath.Join(p.DataDir, "filestore", "prod-x", "etc"))

	if err := f.layTenantFiles(p, uid, gid); err == nil {
		t.Errorf("odoo.log being a link was not refused")
	}
	if got := canary(); got != want {
		t.Errorf("outside the tree changed:\n%s\nwant:\n%s", got, want)
	}

	os.Remove(p.Log)
	os.Link(filepath.Join(etc, "shadow"), filepath.Join(p.DataDir, "filestore", "prod-x", "ab"))
	if err := f.layTenantFiles(p, uid, gid); err == nil || !strings.Contains(err.Error(), "hard link") {
		t.Errorf("a hard link to a root-only file: %v, want it refused as a hard link", err)
	}
	if got := canary(); got != want {
		t.Errorf("outside the tree changed:\n%s\nwant:\n%s", got, want)
	}

	os.Remove(filepath.Join(p.DataDir, "filestore", "prod-x", "ab"))
	if err := f.layTenantFiles(p, uid, gid); err != nil {
		t.Fatalf("layTenantFiles: %v", err)
	}
	if got := canary(); got != want {
		t.Errorf("outside the tree changed:\n%s\nwant:\n%s", got, want)
	}
	fi, _ := os.Lstat(filepath.Join(p.DataDir, "filestore", "prod-x"))
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != uid {
		t.Errorf("the filestore is uid %d's, want the tenant's", st.Uid)
	}
}
