package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"odoobot/internal/app"
	"odoobot/internal/testenv"
	"odoobot/provision"
	"odoobot/provision/probe"
)

// The real-Odoo lane (TestRealOdoo) runs odoobot, configured as an
// operator would, on real Odoo 17.0 and 19.0 built from the sources that
// scripts/odoo-sources.sh provides (ODOOBOT_ODOO_REPO_17_0 and
// ODOOBOT_ODOO_REPO_19_0, set by scripts/e2e.sh), with Debian's Python
// packages, the product's default memory limits and the default modules
// of a community server. Everything it checks, it checks through nginx
// with the instance's Host header, as a browser would.

// realOdooModules are the modules of a community server with API-DEV's
// localisation.
const realOdooModules = "base,web,contacts,l10n_ar"

// realOdooEnv is the test's configuration for real Odoo version v: the
// source, the version, the community edition and its modules.
func realOdooEnv(t *testing.T, v string) *createEnv {
	t.Helper()
	key := "ODOOBOT_ODOO_REPO_" + strings.ReplaceAll(v, ".", "_")
	repo := os.Getenv(key)
	if repo == "" {
		testenv.Missing(t, "no real Odoo "+v+" source ("+key+" is not set): run make test, which prepares it with scripts/odoo-sources.sh from ODOO_TEST_REPO (a git URL or path with branches 17.0 and 19.0) or ODOO_TEST_TARBALLS")
	}
	env := newCreateEnv(t)
	env.withBackupDir(t)
	for k, val := range map[string]string{
		"ODOO_REPO": repo, "ODOO_BRANCH": v, "ODOO_VERSION": v, "ODOO_EDITION": "c",
		"ODOO_MODULES": realOdooModules, "ODOO_PYTHON_DEPS": "debian",
	} {
		env.set(t, k, val)
	}
	return env
}

// set sets a configuration variable for the test and for the odoobot
// binary it runs.
func (e *createEnv) set(t *testing.T, key, value string) {
	t.Helper()
	e.overrides[key] = value
	t.Setenv(key, value)
}

// TestRealOdoo creates two instances of each version (a cold creation
// that builds the release and the template, then a warm one) and proves
// on them what a customer and an operator would check: the login page and
// the websocket through nginx, that admin/admin is refused and the
// password shown to the requester logs in, that each database has its own
// identity and URL, a data round trip through backup and restore, the
// service verbs, and a delete that leaves nothing behind.
func TestRealOdoo(t *testing.T) {
	needSandbox(t)
	for _, v := range []string{"17.0", "19.0"} {
		t.Run(v, func(t *testing.T) { testRealOdoo(t, v) })
	}
}

func testRealOdoo(t *testing.T, version string) {
	env := realOdooEnv(t, version)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	start := time.Now()
	first, firstPw := createRealOdoo(t, ctx, a, uniqueName(t, "ro"))
	t.Logf("Odoo %s: cold creation %s", version, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	second, secondPw := createRealOdoo(t, ctx, a, uniqueName(t, "ro"))
	t.Logf("Odoo %s: warm creation %s", version, time.Since(start).Round(time.Millisecond))

	if firstPw == secondPw {
		t.Errorf("both instances got the same admin password")
	}
	for _, c := range []struct {
		inst provision.Instance
		pw   string
	}{{first, firstPw}, {second, secondPw}} {
		inst := c.inst
		requireLoginPage(t, ctx, inst)
		requireWebsocket(t, inst)
		oc := newOdooClient(t, inst)
		if _, err := oc.authenticate(ctx, "admin", "admin"); err == nil {
			t.Errorf("%s: admin/admin logs in", inst.Domain)
		}
		if uid, err := oc.authenticate(ctx, "admin", c.pw); err != nil || uid == 0 {
			t.Errorf("%s: the password shown to the requester does not log in: uid %d, %v", inst.Domain, uid, err)
		}
		if got, want := configParam(t, ctx, a, inst.Internal, "web.base.url"), "http://"+inst.Domain; got != want {
			t.Errorf("%s: web.base.url = %q, want %q", inst.Internal, got, want)
		}
		info := readFile(a.Config.Layout().Paths(inst).Info)
		if !strings.Contains(info, version) || !strings.Contains(info, "community") || strings.Contains(info, c.pw) {
			t.Errorf("%s: info-instancia.txt does not state Odoo %s community, or holds the password:\n%s", inst.Internal, version, info)
		}
		if strings.Contains(readFile(a.Config.Layout().Paths(inst).CreateLog), c.pw) {
			t.Errorf("%s: the creation log holds the admin password", inst.Internal)
		}
		requireNoConfigWarnings(t, a, inst)
	}
	requireOwnIdentity(t, ctx, a, first, second)
	t.Run("tenants apart", func(t *testing.T) { requireTenantsApart(t, ctx, a, first, second) })
	// From here on, first's admin is hostile: every verb below runs on a
	// tenant whose database is full of traps (hostile_realodoo_test.go).
	traps := plantTrapsThroughOdoo(t, ctx, a, first, second.DBRole, firstPw)
	t.Run("reset-admin of a hostile tenant", func(t *testing.T) {
		for _, verb := range []string{"status", "info", "backups"} {
			if r, _ := dispatch(t, ctx, a, verb+" "+first.Name); strings.Contains(strings.ToLower(r.text()), "fail") || strings.Contains(r.text(), "refused") {
				t.Errorf("%s %s: %s", verb, first.Name, r.text())
			}
		}
		if r, _ := dispatch(t, ctx, a, "logs "+first.Name+" 5"); !strings.Contains(r.text(), "odoo.") {
			t.Errorf("logs %s shows no Odoo log line:\n%s", first.Name, r.text())
		}
		r, _ := dispatch(t, ctx, a, "reset-admin "+first.Name)
		c := confirmAndWait(t, ctx, a, r)
		pw := revealedPassword(c)
		if pw == "" || pw == firstPw {
			t.Fatalf("reset-admin showed no new password:\n%s", c.text())
		}
		firstPw = pw
		if uid, err := newOdooClient(t, first).authenticate(ctx, "admin", pw); err != nil || uid == 0 {
			t.Errorf("the new password does not log in: %d, %v", uid, err)
		}
		traps.requireIdle(t, ctx, a, first.Internal, "reset-admin")
	})
	// What a real instance uses, for the capacity guard's model
	// (INSTANCE_MEMORY_MB, INSTANCE_DISK_MB): its cgroup's memory after
	// serving the requests above, and its directory on disk.
	for _, inst := range []provision.Instance{first, second} {
		if st, err := a.Services.Status(ctx, inst.Unit); err == nil {
			t.Logf("Odoo %s: %s uses %d MiB of memory (its unit's cgroup, %d workers)", version, inst.Internal, st.MemoryBytes>>20, a.Config.Workers)
		}
		if out, err := exec.Command("du", "-sm", a.Config.Layout().Paths(inst).Dir).Output(); err == nil {
			t.Logf("Odoo %s: %s takes %s MiB on disk", version, inst.Internal, strings.Fields(string(out))[0])
		}
	}

	t.Run("backup and restore keep the data", func(t *testing.T) {
		oc := newOdooClient(t, first)
		if _, err := oc.authenticate(ctx, "admin", firstPw); err != nil {
			t.Fatalf("log in: %v", err)
		}
		id, err := oc.callInt(ctx, "res.partner", "create", []any{map[string]any{"name": "Before the backup"}})
		if err != nil {
			t.Fatalf("create a partner over JSON-RPC: %v", err)
		}
		r, _ := dispatch(t, ctx, a, "backup "+first.Name)
		waitFinished(t, r)
		bl, err := a.Service.Backups(ctx, first.Name)
		if err != nil || len(bl) == 0 {
			t.Fatalf("backup: %v, %v\n%s", bl, err, r.text())
		}
		if err := oc.call(ctx, "res.partner", "write", []any{[]int{id}, map[string]any{"name": "After the backup"}}, nil); err != nil {
			t.Fatalf("change the partner: %v", err)
		}
		r, _ = dispatch(t, ctx, a, "restore "+first.Name+" "+bl[0].ID)
		c := confirmAndWait(t, ctx, a, r)
		if f := finishes(c); !strings.Contains(f, "restored "+first.Internal) {
			t.Fatalf("restore did not succeed:\n%s", c.text())
		}
		requireLoginPage(t, ctx, first)
		oc = newOdooClient(t, first)
		if _, err := oc.authenticate(ctx, "admin", firstPw); err != nil {
			t.Fatalf("log in after the restore: %v", err)
		}
		var rows []struct {
			Name string `json:"name"`
		}
		if err := oc.call(ctx, "res.partner", "read", []any{[]int{id}, []string{"name"}}, &rows); err != nil || len(rows) != 1 {
			t.Fatalf("read the partner after the restore: %v, %v", rows, err)
		}
		if rows[0].Name != "Before the backup" {
			t.Errorf("partner after the restore = %q, want the backed-up name", rows[0].Name)
		}
	})
	traps.requireIdle(t, ctx, a, first.Internal, "backup and restore")

	t.Run("clone is a neutralized staging copy", func(t *testing.T) {
		oc := newOdooClient(t, first)
		if _, err := oc.authenticate(ctx, "admin", firstPw); err != nil {
			t.Fatalf("log in: %v", err)
		}
		if _, err := oc.callInt(ctx, "res.partner", "create", []any{map[string]any{"name": "Cliente de producción"}}); err != nil {
			t.Fatalf("create a partner over JSON-RPC: %v", err)
		}
		// A mail server and the crons production has, active.
		db := connectDB(t, ctx, a, first.Internal)
		if _, err := db.Exec(ctx, `INSERT INTO ir_mail_server (name, smtp_host, smtp_port, smtp_encryption, active, sequence, smtp_authentication)
			VALUES ('prod smtp', 'smtp.example.com', 587, 'starttls', true, 10, 'login')`); err != nil {
			t.Fatalf("add a mail server: %v", err)
		}
		var activeCrons int
		if err := db.QueryRow(ctx, "SELECT count(*) FROM ir_cron WHERE active").Scan(&activeCrons); err != nil || activeCrons == 0 {
			t.Fatalf("production has %d active crons (%v): nothing to neutralize", activeCrons, err)
		}
		db.Close(ctx)
		name := uniqueName(t, "stg")
		destroyLater(t, a, name)
		clone := requireClone(t, ctx, a, first, name, "clone "+first.Name+" "+name)
		requireLoginPage(t, ctx, clone)
		c := connectDB(t, ctx, a, clone.Internal)
		var partners, mail, crons int
		if err := c.QueryRow(ctx, "SELECT count(*) FROM res_partner WHERE name = 'Cliente de producción'").Scan(&partners); err != nil || partners != 1 {
			t.Errorf("the clone has %d of production's partner (%v)", partners, err)
		}
		// Odoo's neutralize turns every mail server off and adds one of its
		// own that goes nowhere (host "invalid"), so that no server given
		// on a command line is used either.
		if err := c.QueryRow(ctx, "SELECT count(*) FROM ir_mail_server WHERE active AND smtp_host <> 'invalid'").Scan(&mail); err != nil || mail != 0 {
			t.Errorf("the clone has %d active mail servers that send (%v)", mail, err)
		}
		if err := c.QueryRow(ctx, `SELECT count(*) FROM ir_cron WHERE active AND id NOT IN
			(SELECT res_id FROM ir_model_data WHERE module = 'base' AND name = 'autovacuum_job')`).Scan(&crons); err != nil || crons != 0 {
			t.Errorf("the clone has %d active crons besides autovacuum (%v)", crons, err)
		}
		c.Close(ctx)
		p := connectDB(t, ctx, a, first.Internal)
		if err := p.QueryRow(ctx, "SELECT count(*) FROM ir_mail_server WHERE active").Scan(&mail); err != nil || mail != 1 {
			t.Errorf("production has %d active mail servers after the clone (%v): it must be untouched", mail, err)
		}
		p.Close(ctx)
		requireLoginPage(t, ctx, first)
		r, _ := dispatch(t, ctx, a, "delete "+name)
		if f := finishes(confirmAndWait(t, ctx, a, r)); !strings.Contains(f, "deleted") {
			t.Errorf("delete the clone:\n%s", r.text())
		}
	})
	traps.requireIdle(t, ctx, a, first.Internal, "clone")

	t.Run("service verbs", func(t *testing.T) {
		for _, verb := range []string{"restart", "stop", "start"} {
			r, _ := dispatch(t, ctx, a, verb+" "+second.Name)
			if strings.Contains(strings.ToLower(r.text()), "fail") {
				t.Errorf("%s %s: %s", verb, second.Name, r.text())
			}
		}
		if !waitFor(90*time.Second, func() bool { return probe.Healthy(ctx, second.Ports.HTTP) }) {
			t.Errorf("%s is not healthy after stop and start", second.Internal)
		}
		requireLoginPage(t, ctx, second)
		r, _ := dispatch(t, ctx, a, "logs "+second.Name+" 20")
		if !strings.Contains(r.text(), "odoo") {
			t.Errorf("logs shows no Odoo log line:\n%s", r.text())
		}
		if strings.Contains(r.text(), secondPw) {
			t.Errorf("logs shows the admin password")
		}
	})
	traps.requireIdle(t, ctx, a, first.Internal, "restart, stop, start and logs")

	t.Run("delete leaves nothing", func(t *testing.T) {
		for _, inst := range []provision.Instance{first, second} {
			r, _ := dispatch(t, ctx, a, "delete "+inst.Name)
			c := confirmAndWait(t, ctx, a, r)
			if f := finishes(c); !strings.Contains(f, "deleted") {
				t.Errorf("delete %s:\n%s", inst.Name, c.text())
			}
			requireGone(t, ctx, a, inst.Name)
			if resp, _, err := get(ctx, inst.Domain, "/web/login"); err == nil && resp.StatusCode == http.StatusOK {
				t.Errorf("%s/web/login still answers 200 after the delete", inst.Domain)
			}
		}
	})
	traps.requireIdle(t, ctx, a, first.Internal, "delete")
}

// createRealOdoo creates an instance in http mode through the dispatcher,
// as the terminal's admin, and returns it with the admin password the
// requester was shown, which must appear nowhere else. The instance is
// destroyed when the test ends.
func createRealOdoo(t *testing.T, ctx context.Context, a *app.App, name string) (provision.Instance, string) {
	t.Helper()
	destroyLater(t, a, name)
	return createRealOdooKept(t, ctx, a, name)
}

// createRealOdooKept is createRealOdoo for an instance the test leaves
// in place, for a server that dies with it.
func createRealOdooKept(t *testing.T, ctx context.Context, a *app.App, name string) (provision.Instance, string) {
	t.Helper()
	r, task := dispatch(t, ctx, a, "create "+name+" http")
	if task == nil {
		t.Fatalf("create %s was not accepted:\n%s", name, r.text())
	}
	job, err := task.Wait(ctx)
	layout := a.Config.Layout()
	if err != nil || job.State != provision.JobSucceeded {
		t.Fatalf("create %s: job %s, %v\n%s\ncreation log:\n%s", name, job.State, err, r.text(), readFile(layout.Paths(layout.NewInstance(name, provision.SSLHTTP)).CreateLog))
	}
	inst, err := a.Store.Instance(ctx, name)
	if err != nil || inst.State != provision.StateReady {
		t.Fatalf("instance %s after its creation: %+v, %v", name, inst, err)
	}
	logText(t, "creation log of %s:\n%s", name, readFile(layout.Paths(inst).CreateLog))
	var pw string
	if !waitFor(10*time.Second, func() bool { pw = revealedPassword(r); return pw != "" }) {
		t.Fatalf("create %s: no admin password was shown privately:\n%s", name, r.text())
	}
	r.mu.Lock()
	public := strings.Join(append(append(append([]string{}, r.replies...), r.posts...), r.finishes...), "\n")
	r.mu.Unlock()
	if strings.Contains(public, pw) {
		t.Errorf("create %s: the admin password is in the thread or a public reply:\n%s", name, public)
	}
	return inst, pw
}

// passwordRE finds the admin password in the private message that shows
// it: the token after "password".
var passwordRE = regexp.MustCompile("(?i)password[^A-Za-z0-9]*[:=]\\s*`?([A-Za-z0-9_\\-]{12,})`?")

func revealedPassword(r *recorder) string {
	if m := passwordRE.FindStringSubmatch(r.private()); m != nil {
		return m[1]
	}
	return ""
}

// nginxClient asks nginx on a new connection each time: an idle
// keep-alive connection is closed by the old workers of an nginx that
// another test reloaded, and a request sent on it reads EOF.
var nginxClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// get is GET http://127.0.0.1:80<path> with Host: domain.
func get(ctx context.Context, domain, path string) (*http.Response, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:80"+path, nil)
	if err != nil {
		return nil, "", err
	}
	req.Host = domain
	resp, err := nginxClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b), nil
}

// requireLoginPage checks that /web/login answers 200 with Odoo's login
// form through nginx.
func requireLoginPage(t *testing.T, ctx context.Context, inst provision.Instance) {
	t.Helper()
	resp, body, err := get(ctx, inst.Domain, "/web/login")
	if err != nil {
		t.Errorf("GET /web/login with Host %s: %v", inst.Domain, err)
		return
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="login"`) {
		t.Errorf("GET /web/login with Host %s: %s, want 200 with the login form\n%.500s", inst.Domain, resp.Status, body)
	}
}

// requireWebsocket checks that /websocket upgrades (101) through nginx,
// with the Origin header a browser sends.
func requireWebsocket(t *testing.T, inst provision.Instance) {
	t.Helper()
	status, err := websocketStatus("127.0.0.1:80", inst.Domain)
	if err != nil || !strings.Contains(status, " 101 ") {
		t.Errorf("websocket at %s/websocket through nginx: %q, %v; want 101", inst.Domain, status, err)
	}
}

// websocketStatus asks addr for a websocket upgrade of /websocket with
// Host host and the Origin header a browser sends, and returns the status
// line of the answer.
func websocketStatus(addr, host string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "GET /websocket HTTP/1.1\r\nHost: %s\r\nOrigin: http://%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", host, host)
	status, err := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimSpace(status), err
}

// requireOwnIdentity checks that the two instances' database.uuid and
// database.secret differ from each other and from their template's.
func requireOwnIdentity(t *testing.T, ctx context.Context, a *app.App, x, y provision.Instance) {
	t.Helper()
	tpl := configParam(t, ctx, a, x.Internal, "odoobot.template")
	admin := connectDB(t, ctx, a, "postgres")
	allow := func(on bool) {
		if _, err := admin.Exec(ctx, fmt.Sprintf("ALTER DATABASE %q WITH ALLOW_CONNECTIONS %v", tpl, on)); err != nil {
			t.Fatalf("template %s: allow connections %v: %v", tpl, on, err)
		}
	}
	allow(true)
	defer allow(false)
	for _, key := range []string{"database.uuid", "database.secret"} {
		vals := map[string]string{}
		for _, db := range []string{x.Internal, y.Internal, tpl} {
			v := configParam(t, ctx, a, db, key)
			if other, dup := vals[v]; dup {
				t.Errorf("%s of %s is the same as %s's", key, db, other)
			}
			vals[v] = db
		}
	}
}

// configWarningRE matches the warnings Odoo logs about its configuration.
var configWarningRE = regexp.MustCompile(`WARNING \S+ odoo\.tools\.config|WARNING .*(invalid boolean value|longpolling_port|addons.path|http_interface|db_host|db_port|db_password|is not a valid addons directory)`)

// requireNoConfigWarnings checks the instance's odoo.log for a warning
// about the configuration odoobot wrote.
func requireNoConfigWarnings(t *testing.T, a *app.App, inst provision.Instance) {
	t.Helper()
	for _, l := range lines(readFile(a.Config.Layout().Paths(inst).Log)) {
		if configWarningRE.MatchString(l) {
			t.Errorf("%s logs a configuration warning: %s", inst.Internal, l)
		}
	}
}

// odooClient speaks Odoo's JSON-RPC web API through nginx, keeping the
// session cookie.
type odooClient struct {
	http   *http.Client
	domain string
	db     string
}

func newOdooClient(t *testing.T, inst provision.Instance) *odooClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &odooClient{http: &http.Client{Jar: jar, Timeout: 60 * time.Second, Transport: nginxClient.Transport}, domain: inst.Domain, db: inst.Internal}
}

// rpc posts a JSON-RPC call to path and decodes its result into out.
func (c *odooClient) rpc(ctx context.Context, path string, params, out any) error {
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": "call", "id": 1, "params": params})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://127.0.0.1:80"+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Host = c.domain
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var env struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Message string `json:"message"`
			Data    struct {
				Name    string `json:"name"`
				Message string `json:"message"`
			} `json:"data"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%s: %s: %.300s", path, resp.Status, raw)
	}
	if env.Error != nil {
		return fmt.Errorf("%s: %s: %s", path, env.Error.Data.Name, env.Error.Data.Message)
	}
	if out != nil {
		return json.Unmarshal(env.Result, out)
	}
	return nil
}

// authenticate logs in and returns the user's ID.
func (c *odooClient) authenticate(ctx context.Context, login, password string) (int, error) {
	var res struct {
		UID any `json:"uid"`
	}
	if err := c.rpc(ctx, "/web/session/authenticate", map[string]any{"db": c.db, "login": login, "password": password}, &res); err != nil {
		return 0, err
	}
	uid, ok := res.UID.(float64)
	if !ok || uid == 0 {
		return 0, fmt.Errorf("authenticate: no uid in the answer (%v)", res.UID)
	}
	return int(uid), nil
}

// call runs model.method(*args) through /web/dataset/call_kw.
func (c *odooClient) call(ctx context.Context, model, method string, args []any, out any) error {
	return c.rpc(ctx, "/web/dataset/call_kw/"+model+"/"+method,
		map[string]any{"model": model, "method": method, "args": args, "kwargs": map[string]any{}}, out)
}

func (c *odooClient) callInt(ctx context.Context, model, method string, args []any) (int, error) {
	var id int
	err := c.call(ctx, model, method, args, &id)
	return id, err
}
