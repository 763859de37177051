package standin_test

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"odoobot/internal/standin"
	"odoobot/internal/testenv"
	"odoobot/provision/odoo"
)

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestRepoClonesShallowOnBranch(t *testing.T) {
	repo := standin.Repo(t)
	dst := filepath.Join(t.TempDir(), "src")
	git(t, "", "clone", "-q", "--depth", "1", "--branch", standin.Branch, "file://"+repo, dst)

	fi, err := os.Stat(filepath.Join(dst, standin.Bin))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o111 == 0 {
		t.Errorf("odoo-bin mode %v, want executable", fi.Mode())
	}
	for _, m := range standin.Modules() {
		dir := standin.AddonsDir
		if m == "base" {
			dir = "odoo/addons"
		}
		if _, err := os.Stat(filepath.Join(dst, dir, m, "__manifest__.py")); err != nil {
			t.Errorf("module %s: %v", m, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dst, "requirements.txt")); err != nil {
		t.Error(err)
	}
	if got := git(t, dst, "log", "--format=%an <%ae> %s"); got != "odoobot tests <tests@odoobot.invalid> stand-in Odoo 19.0 (test double)" {
		t.Errorf("commit = %q", got)
	}
}

func TestMakeRepoIsDeterministicAndMatchesScript(t *testing.T) {
	testenv.LookPath(t, "git")
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	if err := standin.MakeRepo(a); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("../../scripts/standin-repo.sh", b)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("standin-repo.sh: %v\n%s", err, out)
	}
	if diff := cmp.Diff(git(t, b, "rev-parse", "HEAD"), git(t, a, "rev-parse", "HEAD")); diff != "" {
		t.Errorf("script and MakeRepo commits differ (-script +go):\n%s", diff)
	}
	if err := standin.MakeRepo(a); err == nil {
		t.Error("MakeRepo on an existing repository: no error")
	}
}

// instance is one stand-in installation wired to a test database.
type instance struct {
	dir, conf, log, data, db string
	python                   string // the interpreter itself, not a wrapper such as a pyenv shim
	httpPort, geventPort     int
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func newInstance(t *testing.T) *instance {
	t.Helper()
	testenv.LookPath(t, "python3")
	testenv.LookPath(t, "psql")
	py, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	u, err := url.Parse(testenv.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := standin.WriteTree(src); err != nil {
		t.Fatal(err)
	}
	pw, ok := u.User.Password()
	if !ok {
		pw = "False"
	}
	in := &instance{
		dir: src, conf: filepath.Join(dir, "odoo.conf"), log: filepath.Join(dir, "odoo.log"),
		data: filepath.Join(dir, "data"), db: strings.TrimPrefix(u.Path, "/"),
		httpPort: freePort(t), geventPort: freePort(t),
		python: strings.TrimSpace(string(py)),
	}
	conf := fmt.Sprintf(`[options]
admin_passwd = secret
http_interface = 127.0.0.1
http_port = %d
gevent_port = %d
db_host = %s
db_port = %s
db_user = %s
db_password = %s
db_name = False
data_dir = %s
logfile = %s
addons_path = %s
workers = 2
`, in.httpPort, in.geventPort, u.Hostname(), u.Port(), u.User.Username(), pw, in.data, in.log, filepath.Join(src, standin.AddonsDir))
	if err := os.WriteFile(in.conf, []byte(conf), 0o640); err != nil {
		t.Fatal(err)
	}
	return in
}

func (in *instance) cmd(args ...string) *exec.Cmd {
	cmd := exec.Command(in.python, append([]string{filepath.Join(in.dir, standin.Bin), "-c", in.conf}, args...)...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	return cmd
}

func (in *instance) readLog(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(in.log)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (in *instance) init(t *testing.T, modules string) {
	t.Helper()
	out, err := in.cmd("-d", in.db, "-i", modules, "--stop-after-init").CombinedOutput()
	if err != nil {
		t.Fatalf("init: %v\n%s\nlog:\n%s", err, out, in.readLog(t))
	}
}

func TestInitCreatesOdooTablesAndFilestore(t *testing.T) {
	in := newInstance(t)
	in.init(t, "contacts,nosuchmodule")

	ctx := context.Background()
	u, _ := url.Parse(testenv.DatabaseURL(t))
	u.Path = "/" + in.db
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, "SELECT name FROM ir_module_module WHERE state = 'installed' ORDER BY name")
	mods, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(mods, []string{"base", "contacts", "web"}); diff != "" {
		t.Errorf("installed modules (-got +want):\n%s", diff)
	}
	params := map[string]string{}
	rows, _ = conn.Query(ctx, "SELECT key, value FROM ir_config_parameter")
	var k, v string
	if _, err := pgx.ForEachRow(rows, []any{&k, &v}, func() error { params[k] = v; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"database.uuid", "database.secret", "database.create_date"} {
		if params[key] == "" {
			t.Errorf("ir_config_parameter %s missing: %v", key, params)
		}
	}
	if len(params["database.uuid"]) != 36 {
		t.Errorf("database.uuid = %q, want a UUID", params["database.uuid"])
	}
	if want := fmt.Sprintf("http://localhost:%d", in.httpPort); params["web.base.url"] != want {
		t.Errorf("web.base.url = %q, want %q", params["web.base.url"], want)
	}
	files, _ := filepath.Glob(filepath.Join(in.data, "filestore", in.db, "*", "*"))
	if len(files) == 0 {
		t.Error("no file in the filestore")
	}
	log := in.readLog(t)
	if !strings.Contains(log, "WARNING "+in.db+" odoo.modules.loading: invalid module names, ignored: nosuchmodule") {
		t.Errorf("log lacks the invalid-module warning:\n%s", log)
	}

	// A second -i keeps the database's identity.
	in.init(t, "l10n_ar")
	var uuid2 string
	if err := conn.QueryRow(ctx, "SELECT value FROM ir_config_parameter WHERE key = 'database.uuid'").Scan(&uuid2); err != nil {
		t.Fatal(err)
	}
	if uuid2 != params["database.uuid"] {
		t.Errorf("database.uuid changed on re-init: %s -> %s", params["database.uuid"], uuid2)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM ir_module_module WHERE name = 'l10n_ar' AND state = 'installed'").Scan(&n); err != nil || n != 1 {
		t.Errorf("l10n_ar installed rows = %d, %v", n, err)
	}
}

func TestServeAnswersHealthPagesAndWebsocket(t *testing.T) {
	in := newInstance(t)
	in.init(t, "base")

	cmd := in.cmd("-d", in.db)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	start := time.Now()
	base := fmt.Sprintf("http://127.0.0.1:%d", in.httpPort)
	waitHealth(t, base, 20*time.Second)
	t.Logf("healthy %v after start", time.Since(start))

	req, _ := http.NewRequest("GET", base+"/web/login", nil)
	req.Host = "acme.example.com"
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	got := map[string]string{
		"status": resp.Status,
		"db":     resp.Header.Get("X-Standin-Db"),
		"host":   resp.Header.Get("X-Standin-Host"),
		"xff":    resp.Header.Get("X-Standin-X-Forwarded-For"),
		"proto":  resp.Header.Get("X-Standin-X-Forwarded-Proto"),
	}
	want := map[string]string{"status": "200 OK", "db": in.db, "host": "acme.example.com", "xff": "203.0.113.9", "proto": "https"}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("/web/login (-got +want):\n%s", diff)
	}
	if !strings.Contains(string(body), in.db) {
		t.Errorf("login page does not name the database:\n%s", body)
	}

	if resp, err := http.Get(base + "/web/health?db_server_status=1"); err != nil {
		t.Error(err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), `"db_server_status": true`) {
			t.Errorf("/web/health?db_server_status=1: %s %s", resp.Status, b)
		}
	}

	if resp, err := http.Get(base + "/websocket"); err != nil {
		t.Error(err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("/websocket on the http port: %s, want 400", resp.Status)
		}
	}

	status, accept := websocketHandshake(t, fmt.Sprintf("127.0.0.1:%d", in.geventPort))
	key := "dGhlIHNhbXBsZSBub25jZQ=="
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if want := base64.StdEncoding.EncodeToString(sum[:]); status != 101 || accept != want {
		t.Errorf("websocket on the gevent port: status %d accept %q, want 101 %q", status, accept, want)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0", err)
	}
	log := in.readLog(t)
	for _, want := range []string{
		fmt.Sprintf(" INFO %s odoo.service.server: HTTP service (werkzeug) running on 127.0.0.1:%d\n", in.db, in.httpPort),
		fmt.Sprintf(" INFO %s werkzeug: 127.0.0.1 - - [", in.db),
		" odoo.service.server: Initiating shutdown\n",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

// TestInitLanguageDemoUsersAndShell: --load-language, Odoo 19's demo flags,
// the admin user with Odoo's hash of "admin", and a shell that reads its
// script without running it.
func TestInitLanguageDemoUsersAndShell(t *testing.T) {
	in := newInstance(t)
	out, err := in.cmd("-d", in.db, "-i", "contacts", "--stop-after-init", "--load-language=es_AR", "--with-demo").CombinedOutput()
	if err != nil {
		t.Fatalf("init: %v\n%s\n%s", err, out, in.readLog(t))
	}
	ctx := context.Background()
	u, _ := url.Parse(testenv.DatabaseURL(t))
	u.Path = "/" + in.db
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var langs []string
	if err := conn.QueryRow(ctx, "SELECT array_agg(code ORDER BY code) FROM res_lang WHERE active").Scan(&langs); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(langs, []string{"en_US", "es_AR"}); diff != "" {
		t.Errorf("active languages (-got +want):\n%s", diff)
	}
	var demo bool
	if err := conn.QueryRow(ctx, "SELECT bool_and(demo) FROM ir_module_module").Scan(&demo); err != nil || !demo {
		t.Errorf("--with-demo: demo = %v, %v", demo, err)
	}
	var hash string
	if err := conn.QueryRow(ctx, "SELECT password FROM res_users WHERE login = 'admin'").Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if !odoo.VerifyPassword("admin", hash) {
		t.Errorf("admin's password %q is not Odoo's hash of admin", hash)
	}

	out, err = in.cmd("-d", in.db, "-i", "web", "--stop-after-init", "--without-demo=all").CombinedOutput()
	if err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	if log := in.readLog(t); !strings.Contains(log, "invalid boolean value: 'all'") {
		t.Errorf("--without-demo=all does not warn as Odoo 19 does:\n%s", log)
	}

	cmd := exec.Command(in.python, filepath.Join(in.dir, standin.Bin), "shell", "-c", in.conf, "-d", in.db)
	cmd.Stdin = strings.NewReader("env.cr.commit()\nprint('done')\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("shell: %v\n%s", err, out)
	}
	if log := in.readLog(t); !strings.Contains(log, "shell: read a script of 2 lines") {
		t.Errorf("shell did not read its script:\n%s", log)
	}
}

func TestServeRefusesUninitialisedDatabase(t *testing.T) {
	in := newInstance(t)
	out, err := in.cmd("-d", in.db).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("serve on an empty database: %v (want exit status 1)\n%s", err, out)
	}
	want := fmt.Sprintf(" ERROR %s odoo.service.server: Database %s not initialized, you can force it with `-i base`", in.db, in.db)
	if log := in.readLog(t); !strings.Contains(log, want) {
		t.Errorf("log lacks %q:\n%s", want, log)
	}

	out, err = in.cmd("-d", "no_such_db_standin").CombinedOutput()
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("serve on a missing database: %v (want exit status 1)\n%s", err, out)
	}
	if log := in.readLog(t); !strings.Contains(log, `database "no_such_db_standin" does not exist`) {
		t.Errorf("log lacks the missing-database error:\n%s", log)
	}
}

func waitHealth(t *testing.T, base string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(base + "/web/health")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && string(body) == `{"status": "pass"}` {
				return
			}
			t.Fatalf("/web/health: %s %s", resp.Status, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("/web/health not answering after %v: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// websocketHandshake sends an RFC 6455 upgrade request and returns the
// status code and Sec-WebSocket-Accept of the answer.
func websocketHandshake(t *testing.T, addr string) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET /websocket HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Sec-WebSocket-Accept")
}
