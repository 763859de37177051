package rootpath

import (
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"odoobot/internal/testenv"
)

// needRoot stops a test that must chown: it runs as root under make test.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "rootpath's tests chown directories and need root")
	}
}

// rootTree makes a root-owned 0755 directory whose parents are safe:
// under /var/tmp (sticky), which Check accepts above a path.
func rootTree(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/var/tmp", "rootpath-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func nobody(t *testing.T) (uid, gid int) {
	t.Helper()
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("no user nobody: %v", err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid
}

func TestCheckAcceptsRootOnlyTrees(t *testing.T) {
	needRoot(t)
	top := rootTree(t)
	prod := filepath.Join(top, "apps", "production")
	if err := os.MkdirAll(prod, 0o755); err != nil {
		t.Fatal(err)
	}
	err := Check(map[string]string{
		"PROD_ROOT":  prod,
		"BACKUP_DIR": filepath.Join(top, "backups-not-made-yet"),
		"EMPTY":      "",
	})
	if err != nil {
		t.Fatalf("a root-only tree was refused: %v", err)
	}
}

func TestCheckRefusesWhatAnotherUserCanMove(t *testing.T) {
	needRoot(t)
	uid, gid := nobody(t)
	cases := []struct {
		name  string
		setup func(t *testing.T, home, prod string)
		dir   string // relative to the tree: the directory named
		who   string
	}{
		{"a parent owned by the service user", func(t *testing.T, home, prod string) {
			chown(t, home, uid, gid)
		}, "home", "user nobody"},
		{"the path itself owned by another user", func(t *testing.T, home, prod string) {
			chown(t, prod, uid, gid)
		}, "home/apps/production", "user nobody"},
		{"a parent writable by a group", func(t *testing.T, home, prod string) {
			chown(t, filepath.Dir(prod), 0, gid)
			chmod(t, filepath.Dir(prod), 0o775)
		}, "home/apps", "group "},
		{"a parent writable by everyone, not sticky", func(t *testing.T, home, prod string) {
			chmod(t, home, 0o777)
		}, "home", "every user"},
		{"the path itself sticky and writable by everyone", func(t *testing.T, home, prod string) {
			chmod(t, prod, 0o1777)
		}, "home/apps/production", "every user"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			top := rootTree(t)
			home := filepath.Join(top, "home")
			prod := filepath.Join(home, "apps", "production")
			if err := os.MkdirAll(prod, 0o755); err != nil {
				t.Fatal(err)
			}
			c.setup(t, home, prod)
			err := Check(map[string]string{"PROD_ROOT": prod})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Check = %v, want a refusal", err)
			}
			want := filepath.Join(top, c.dir)
			if len(e.Problems) != 1 || e.Problems[0].Dir != want || !strings.HasPrefix(e.Problems[0].Who, c.who) {
				t.Fatalf("problems %+v, want one naming %s and %q", e.Problems, want, c.who)
			}
			msg := err.Error()
			for _, part := range []string{"PROD_ROOT", want, "fix:"} {
				if !strings.Contains(msg, part) {
					t.Errorf("the refusal %q does not say %q", msg, part)
				}
			}
		})
	}
}

func TestCheckFollowsALinkToItsTarget(t *testing.T) {
	needRoot(t)
	uid, gid := nobody(t)
	top := rootTree(t)
	theirs := filepath.Join(top, "theirs")
	if err := os.MkdirAll(filepath.Join(theirs, "backups"), 0o755); err != nil {
		t.Fatal(err)
	}
	chown(t, theirs, uid, gid)
	link := filepath.Join(top, "backups")
	if err := os.Symlink(filepath.Join(theirs, "backups"), link); err != nil {
		t.Fatal(err)
	}
	err := Check(map[string]string{"BACKUP_DIR": link})
	var e *Error
	if !errors.As(err, &e) || e.Problems[0].Dir != theirs {
		t.Fatalf("a path linked into another user's directory: Check = %v, want a refusal naming %s", err, theirs)
	}
}

func TestCheckRefusesARelativePath(t *testing.T) {
	if err := Check(map[string]string{"PROD_ROOT": "apps"}); err == nil || !strings.Contains(err.Error(), "not an absolute path") {
		t.Fatalf("Check of a relative path = %v", err)
	}
}

func chown(t *testing.T, dir string, uid, gid int) {
	t.Helper()
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
}

func chmod(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
}
