package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/internal/app"
	"odoobot/provision"
)

// TestTenantsApart: two instances, each running as its own system user on
// its own database role. As instance A's user, B's odoo.conf and
// filestore cannot be read and A's own odoo.conf cannot be changed; with
// A's database credentials, B's database and odoobot's state database
// refuse the connection; both serve. Deleting A removes its user and role.
func TestTenantsApart(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	env.withBackupDir(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	nameA, nameB := uniqueName(t, "ten-a"), uniqueName(t, "ten-b")
	destroyLater(t, a, nameA)
	destroyLater(t, a, nameB)
	instA := createReady(t, ctx, a, nameA)
	instB := createReady(t, ctx, a, nameB)
	requireTenantsApart(t, ctx, a, instA, instB)

	r, _ := dispatch(t, ctx, a, "delete "+nameA)
	if r.lastCode() == "" {
		t.Fatalf("delete did not ask for a confirmation:\n%s", r.text())
	}
	if out := finishes(confirmAndWait(t, ctx, a, r)); out == "" || strings.Contains(out, "❌") {
		t.Fatalf("delete %s did not succeed:\n%s", nameA, out)
	}
	if _, err := user.Lookup(instA.User); err == nil {
		t.Errorf("system user %s is left after the delete", instA.User)
	}
	var role bool
	c := connectDB(t, ctx, a, "postgres")
	if err := c.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", instA.DBRole).Scan(&role); err != nil || role {
		t.Errorf("database role %s left after the delete (%v)", instA.DBRole, err)
	}
	requireAnswers(t, ctx, instB)
}

// requireTenantsApart checks, as the user a compromised instance A would
// be, that nothing of instance B or of odoobot is within its reach, and
// that both serve.
func requireTenantsApart(t *testing.T, ctx context.Context, a *app.App, instA, instB provision.Instance) {
	t.Helper()
	layout := a.Config.Layout()
	pa, pb := layout.Paths(instA), layout.Paths(instB)
	if instA.User == "" || instA.User == instB.User || instA.DBRole == instB.DBRole || instA.User == a.Config.ServiceUser {
		t.Fatalf("users %q and %q, roles %q and %q: want each instance its own", instA.User, instB.User, instA.DBRole, instB.DBRole)
	}

	t.Run("runs as its own user", func(t *testing.T) {
		for _, inst := range []provision.Instance{instA, instB} {
			st, err := a.Services.Status(ctx, inst.Unit)
			if err != nil || st.MainPID == 0 {
				t.Fatalf("status %s: %+v, %v", inst.Unit, st, err)
			}
			u, err := user.Lookup(inst.User)
			if err != nil {
				t.Fatal(err)
			}
			if got := processUID(t, st.MainPID); got != u.Uid {
				t.Errorf("%s runs as uid %s, want %s (%s)", inst.Unit, got, u.Uid, inst.User)
			}
		}
	})

	t.Run("files", func(t *testing.T) {
		asA := func(args ...string) error {
			cmd := exec.CommandContext(ctx, "runuser", append([]string{"-u", instA.User, "--"}, args...)...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
			}
			return nil
		}
		if err := asA("cat", pa.Conf); err != nil {
			t.Fatalf("A cannot read its own odoo.conf: %v", err)
		}
		if err := asA("test", "-w", pa.Conf); err == nil {
			t.Errorf("A may write its own odoo.conf: it could change its addons_path or admin_passwd")
		}
		if err := asA("sh", "-c", "echo x > "+filepath.Join(pa.Dir, "planted")); err == nil {
			t.Errorf("A may create files in its instance directory (it could replace odoo.conf)")
		}
		for _, f := range []string{pb.Conf, filepath.Join(pb.DataDir, "filestore"), pb.Log, pb.Dir} {
			if err := asA("ls", "-la", f); err == nil {
				t.Errorf("A can read %s of instance B", f)
			}
		}
		for _, f := range []struct {
			path  string
			owner string
			mode  os.FileMode
		}{
			{pa.Dir, "root:" + instA.User, 0o750},
			{pa.Conf, "root:" + instA.User, 0o640},
			{pa.DataDir, instA.User + ":" + instA.User, 0o750},
			{pa.Log, instA.User + ":" + instA.User, 0o640},
		} {
			owner, mode := fileOwner(t, f.path)
			if owner != f.owner || mode != f.mode {
				t.Errorf("%s is %s %o, want %s %o", f.path, owner, mode, f.owner, f.mode)
			}
		}
	})

	t.Run("databases", func(t *testing.T) {
		conf := readOdooConf(t, pa.Conf)
		if conf["db_user"] != instA.DBRole || conf["db_user"] == a.Config.DBUser || conf["db_password"] == "" || conf["db_password"] == a.Config.DBPassword.Reveal() {
			t.Fatalf("A's odoo.conf names role %q: want its own role %s with a password of its own", conf["db_user"], instA.DBRole)
		}
		connectAs := func(db string) error {
			port, _ := strconv.Atoi(conf["db_port"])
			cfg, err := pgx.ParseConfig(fmt.Sprintf("postgres://127.0.0.1:%d/?sslmode=disable", port))
			if err != nil {
				return err
			}
			cfg.Host, cfg.User, cfg.Password, cfg.Database = conf["db_host"], conf["db_user"], conf["db_password"], db
			c, err := pgx.ConnectConfig(ctx, cfg)
			if err != nil {
				return err
			}
			return c.Close(ctx)
		}
		if err := connectAs(instA.Internal); err != nil {
			t.Fatalf("A cannot connect to its own database: %v", err)
		}
		for _, db := range []string{instB.Internal, a.Config.StateDBName} {
			err := connectAs(db)
			if err == nil {
				t.Errorf("with A's credentials, database %s accepts a connection", db)
			} else if !strings.Contains(err.Error(), "permission denied") {
				t.Errorf("with A's credentials, %s: %v; want permission denied", db, err)
			}
		}
	})

	t.Run("both serve", func(t *testing.T) {
		for _, inst := range []provision.Instance{instA, instB} {
			resp, _, err := get(ctx, inst.Domain, "/web/login")
			if err != nil || resp.StatusCode != 200 {
				t.Errorf("GET /web/login of %s through nginx: %v, %v", inst.Domain, resp, err)
			}
		}
	})
}

// processUID is the real uid of process pid.
func processUID(t *testing.T, pid uint32) string {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Uid:"); ok {
			return strings.Fields(rest)[0]
		}
	}
	t.Fatalf("no Uid line for process %d", pid)
	return ""
}

// fileOwner is a file's "user:group" by name and its permission bits.
func fileOwner(t *testing.T, path string) (string, os.FileMode) {
	t.Helper()
	out, err := exec.Command("stat", "-c", "%U:%G", path).Output()
	if err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out)), fi.Mode().Perm()
}

// readOdooConf reads the key = value lines of an odoo.conf.
func readOdooConf(t *testing.T, path string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, l := range lines(readFile(path)) {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if len(m) == 0 {
		t.Fatalf("%s holds no setting", path)
	}
	return m
}
