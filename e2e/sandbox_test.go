package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"odoobot/internal/standin"
	"odoobot/internal/testenv"
)

// needSandbox stops the test unless it runs inside the sandbox host: the
// runner says so (ODOOBOT_IN_SANDBOX=1) and PID 1 is systemd. Both are
// required so that a developer's own systemd is never driven by mistake.
func needSandbox(t testing.TB) {
	t.Helper()
	comm, _ := os.ReadFile("/proc/1/comm")
	if os.Getenv("ODOOBOT_IN_SANDBOX") != "1" || strings.TrimSpace(string(comm)) != "systemd" {
		testenv.Missing(t, "not inside the sandbox host; run make e2e")
	}
}

func sandboxEnv(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// sandboxDB describes the sandbox's PostgreSQL cluster as scripts/sandbox.sh
// sets it up.
type sandboxDB struct{ host, port, user, password string }

func newSandboxDB() sandboxDB {
	return sandboxDB{
		host:     sandboxEnv("SANDBOX_DB_HOST", "127.0.0.1"),
		port:     sandboxEnv("SANDBOX_DB_PORT", "5433"),
		user:     sandboxEnv("SANDBOX_DB_USER", "odoo"),
		password: sandboxEnv("SANDBOX_DB_PASSWORD", "odoo"),
	}
}

func (d sandboxDB) url(db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(d.user, d.password), Host: net.JoinHostPort(d.host, d.port), Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// createDatabase creates an empty database owned by the sandbox user and
// drops it when the test ends.
func (d sandboxDB) createDatabase(t *testing.T, ctx context.Context) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "e2e-" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, d.url("postgres"))
	if err != nil {
		t.Fatalf("connect to the sandbox PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" ENCODING 'UTF8' TEMPLATE template0"); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, d.url("postgres"))
		if err != nil {
			t.Errorf("drop database: %v", err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return name
}

func sandboxSystemd(t *testing.T, ctx context.Context) *sdbus.Conn {
	t.Helper()
	conn, err := sdbus.NewSystemdConnectionContext(ctx)
	if err != nil {
		t.Fatalf("connect to systemd: %v", err)
	}
	t.Cleanup(conn.Close)
	return conn
}

func sandboxActiveState(t *testing.T, ctx context.Context, conn *sdbus.Conn, unit string) string {
	t.Helper()
	p, err := conn.GetUnitPropertyContext(ctx, unit, "ActiveState")
	if err != nil {
		t.Fatalf("ActiveState of %s: %v", unit, err)
	}
	return strings.Trim(p.Value.String(), `"`)
}

func sandboxRun(t *testing.T, dir string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func sandboxFreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestSandboxServices proves the sandbox host is what the other end-to-end
// tests rely on: systemd over D-Bus, nginx and PostgreSQL active and
// answering.
func TestSandboxServices(t *testing.T) {
	needSandbox(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := sandboxSystemd(t, ctx)

	st, err := conn.SystemStateContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s := strings.Trim(st.Value.String(), `"`); s != "running" && s != "degraded" {
		t.Errorf("system state %q, want running or degraded", s)
	}
	pg, err := conn.ListUnitsByPatternsContext(ctx, nil, []string{"postgresql@*-odoobot.service"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pg) != 1 {
		t.Fatalf("units postgresql@*-odoobot.service: %v, want one", pg)
	}
	got := map[string]string{}
	for _, u := range []string{"nginx.service", pg[0].Name} {
		got[u] = sandboxActiveState(t, ctx, conn, u)
	}
	want := map[string]string{"nginx.service": "active", pg[0].Name: "active"}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("unit states (-got +want):\n%s", diff)
	}

	// nginx listens on :80: Debian's default site, or odoobot's default
	// server, which closes a connection naming no instance unanswered.
	if c, err := net.DialTimeout("tcp", "127.0.0.1:80", 5*time.Second); err != nil {
		t.Errorf("nginx on :80: %v", err)
	} else {
		c.Close()
	}
	db := newSandboxDB()
	c, err := pgx.Connect(ctx, db.url("postgres"))
	if err != nil {
		t.Fatalf("PostgreSQL as %s: %v", db.user, err)
	}
	defer c.Close(ctx)
	var createdb bool
	if err := c.QueryRow(ctx, "SELECT rolcreatedb FROM pg_roles WHERE rolname = current_user").Scan(&createdb); err != nil || !createdb {
		t.Errorf("role %s CREATEDB = %v, %v; want true", db.user, createdb, err)
	}
}

// TestStandinReleaseRunsAsUnit builds a release the way the product does
// (clone, venv, requirements), initialises a database with -i
// --stop-after-init, runs odoo-bin as a transient systemd service and checks
// /web/health, then stops it.
func TestStandinReleaseRunsAsUnit(t *testing.T) {
	needSandbox(t)
	testenv.LookPath(t, "git")
	testenv.LookPath(t, "python3")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	repo := standin.Repo(t)
	root := t.TempDir()
	src := filepath.Join(root, "src")
	venv := filepath.Join(root, "venv")
	sandboxRun(t, root, "git", "clone", "-q", "--depth", "1", "--branch", standin.Branch, "file://"+repo, src)
	sandboxRun(t, root, "python3", "-m", "venv", venv)
	sandboxRun(t, root, filepath.Join(venv, "bin", "pip"), "install", "-q", "--no-index", "--disable-pip-version-check", "-r", filepath.Join(src, "requirements.txt"))

	db := newSandboxDB()
	name := db.createDatabase(t, ctx)
	inst := filepath.Join(root, "prod-e2e")
	if err := os.MkdirAll(inst, 0o755); err != nil {
		t.Fatal(err)
	}
	httpPort, geventPort := sandboxFreePort(t), sandboxFreePort(t)
	conf := filepath.Join(inst, "odoo.conf")
	logfile := filepath.Join(inst, "odoo.log")
	body := fmt.Sprintf(`[options]
admin_passwd = e2e-secret
http_interface = 127.0.0.1
http_port = %d
gevent_port = %d
db_host = %s
db_port = %s
db_user = %s
db_password = %s
db_name = %s
dbfilter = ^%s$
list_db = False
data_dir = %s
logfile = %s
addons_path = %s
workers = 2
proxy_mode = True
`, httpPort, geventPort, db.host, db.port, db.user, db.password, name, name,
		filepath.Join(inst, "data"), logfile, filepath.Join(src, standin.AddonsDir))
	if err := os.WriteFile(conf, []byte(body), 0o640); err != nil {
		t.Fatal(err)
	}
	python := filepath.Join(venv, "bin", "python3")
	bin := filepath.Join(src, standin.Bin)
	sandboxRun(t, inst, python, bin, "-c", conf, "-d", name, "-i", "base,web,contacts,l10n_ar", "--stop-after-init")

	pc, err := pgx.Connect(ctx, db.url(name))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(ctx)
	rows, _ := pc.Query(ctx, "SELECT name FROM ir_module_module WHERE state = 'installed' ORDER BY name")
	mods, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(mods, []string{"base", "contacts", "l10n_ar", "web"}); diff != "" {
		t.Errorf("installed modules (-got +want):\n%s", diff)
	}

	conn := sandboxSystemd(t, ctx)
	unit := "odoobot-e2e-" + name[len("e2e-"):] + ".service"
	ch := make(chan string, 1)
	props := []sdbus.Property{
		sdbus.PropDescription("stand-in Odoo for the end-to-end test"),
		sdbus.PropType("simple"),
		sdbus.PropExecStart([]string{python, bin, "-c", conf}, true),
		{Name: "WorkingDirectory", Value: godbus.MakeVariant(inst)},
	}
	if _, err := conn.StartTransientUnitContext(ctx, unit, "fail", props, ch); err != nil {
		t.Fatalf("start %s: %v", unit, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := conn.StopUnitContext(ctx, unit, "replace", nil); err == nil {
			_ = conn.ResetFailedUnitContext(ctx, unit)
		}
	})
	if r := <-ch; r != "done" {
		t.Fatalf("start %s: job %s", unit, r)
	}

	start := time.Now()
	health := fmt.Sprintf("http://127.0.0.1:%d/web/health", httpPort)
	for {
		resp, err := http.Get(health)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(b) != `{"status": "pass"}` {
				t.Fatalf("%s: %s %s", health, resp.Status, b)
			}
			break
		}
		if time.Since(start) > 30*time.Second {
			log, _ := os.ReadFile(logfile)
			t.Fatalf("%s not answering after 30s (unit %s): %v\nlog:\n%s", health, sandboxActiveState(t, ctx, conn, unit), err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%s healthy %v after start", unit, time.Since(start))
	if s := sandboxActiveState(t, ctx, conn, unit); s != "active" {
		t.Errorf("%s ActiveState %q while serving, want active", unit, s)
	}

	if _, err := conn.StopUnitContext(ctx, unit, "replace", ch); err != nil {
		t.Fatalf("stop %s: %v", unit, err)
	}
	if r := <-ch; r != "done" {
		t.Fatalf("stop %s: job %s", unit, r)
	}
	if _, err := http.Get(health); err == nil {
		t.Errorf("%s still answers after stop", health)
	}
	log, err := os.ReadFile(logfile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf(" INFO %s odoo.service.server: HTTP service (werkzeug) running on 127.0.0.1:%d\n", name, httpPort),
		fmt.Sprintf(" INFO %s odoo.service.server: Initiating shutdown\n", name),
	} {
		if !strings.Contains(string(log), want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}
