package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/bot/shell"
	"odoobot/commands"
	"odoobot/config"
	"odoobot/internal/app"
	"odoobot/provision"
	"odoobot/provision/cloudflare/cftest"
	"odoobot/provision/nginx"
	"odoobot/provision/tenant"
)

// The creation tests (TestCreate*) build odoobot in-process with
// internal/app from the sandbox configuration (scripts/sandbox.env,
// exported by scripts/e2e.sh), each with its own instance root, log and
// tracking directories under e2eRoot and its own state database, so that
// tests never see each other's instances. The release cache and the
// template databases (STATE_DIR) are shared: that is the warm path.

// e2eRoot holds the per-test directories. It is under the sandbox's state
// directory, not /tmp: the sandbox's /tmp is private to it and the service
// user must be able to traverse every directory above an instance.
const e2eRoot = "/var/lib/odoobot-sandbox/e2e"

// nginxBinary is the nginx the product runs for `nginx -t`.
const nginxBinary = "/usr/sbin/nginx"

// createEnv is one test's odoobot configuration: its directories and its
// state database, set in the environment so that config.Load, and the
// odoobot binary run as a subprocess, both use them.
type createEnv struct {
	root      string
	stateDB   string
	overrides map[string]string
}

// newCreateEnv makes the test's directories (0755, under e2eRoot) and
// names its state database; it sets PROD_ROOT, LOG_DIR, TRACKING_DIR,
// LOGROTATE_FILE and STATE_DB_NAME for the test and, when it ends, drops the state database
// and removes the directories. It needs the sandbox configuration
// exported (CF_ZONE_NAME set).
func newCreateEnv(t *testing.T) *createEnv {
	t.Helper()
	if os.Getenv("CF_ZONE_NAME") == "" || os.Getenv("ODOO_REPO") == "" {
		t.Fatal("the sandbox configuration is not in the environment: run scripts/e2e.sh (it exports scripts/sandbox.env)")
	}
	if err := os.MkdirAll(e2eRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(e2eRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	suffix := randomHex(t, 4)
	root, err := os.MkdirTemp(e2eRoot, strings.ReplaceAll(t.Name(), "/", "_")+"-")
	if err != nil {
		t.Fatal(err)
	}
	e := &createEnv{root: root, stateDB: "odoobot_e2e_" + suffix, overrides: map[string]string{}}
	for key, sub := range map[string]string{"PROD_ROOT": "apps", "LOG_DIR": "log", "TRACKING_DIR": "tracking"} {
		dir := filepath.Join(root, sub)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		e.overrides[key] = dir
	}
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	e.overrides["STATE_DB_NAME"] = e.stateDB
	e.overrides["LOGROTATE_FILE"] = filepath.Join(root, "logrotate.d", "odoobot-instances")
	for k, v := range e.overrides {
		t.Setenv(k, v)
	}
	t.Setenv("ODOOBOT_FAIL_AT", "")
	t.Cleanup(func() {
		if !t.Failed() || os.Getenv("ODOOBOT_E2E_KEEP") == "" {
			os.RemoveAll(root)
		}
	})
	t.Cleanup(func() {
		cfg := e.config(t)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, cfg.AdminDSN())
		if err != nil {
			t.Errorf("cleanup: connect to drop %s: %v", e.stateDB, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{e.stateDB}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("cleanup: drop state database %s: %v", e.stateDB, err)
		}
	})
	return e
}

// trustRoots writes pem to a file of the test and points
// TLS_VERIFY_CA_FILE at it: the setting an operator uses to trust a
// private CA, so the test runs the production wiring of verify's roots.
func (e *createEnv) trustRoots(t *testing.T, pem []byte) {
	t.Helper()
	file := filepath.Join(e.root, "verify-roots.pem")
	if err := os.WriteFile(file, pem, 0o644); err != nil {
		t.Fatal(err)
	}
	e.overrides["TLS_VERIFY_CA_FILE"] = file
	t.Setenv("TLS_VERIFY_CA_FILE", file)
}

// config loads the configuration as the product does, from the
// environment.
func (e *createEnv) config(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Load("", false)
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	if cfg.StateDBName != e.stateDB || cfg.ProdRoot != e.overrides["PROD_ROOT"] {
		t.Fatalf("config.Load did not take the test's overrides: state db %q, prod root %q", cfg.StateDBName, cfg.ProdRoot)
	}
	return cfg
}

// newApp builds odoobot in-process (app.New, as cmd/odoobot does). The
// returned close function is idempotent and is also called when the test
// ends; instances registered with destroy are removed before it runs.
func (e *createEnv) newApp(t *testing.T, opt app.Options) (*app.App, func()) {
	t.Helper()
	cfg := e.config(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(systemdLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := app.New(ctx, cfg, log, opt)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	var once sync.Once
	closeApp := func() { once.Do(a.Close) }
	t.Cleanup(closeApp)
	return a, closeApp
}

// uniqueName is an instance name no other run uses: prefix and 6 random
// hex digits.
func uniqueName(t *testing.T, prefix string) string {
	t.Helper()
	return prefix + "-" + randomHex(t, 3)
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// recorder is a commands.Responder that keeps every answer.
type recorder struct {
	mu       sync.Mutex
	replies  []string
	privates []string
	longs    []string // title, a newline, the text
	posts    []string // thread lines
	finishes []string // root, a newline, the summary
	codes    []string // confirmation codes asked for
}

var (
	_ commands.Responder = (*recorder)(nil)
	_ commands.Thread    = (*recorderThread)(nil)
)

func (r *recorder) add(list *[]string, s string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	*list = append(*list, s)
	return nil
}

func (r *recorder) Reply(_ context.Context, text string) error   { return r.add(&r.replies, text) }
func (r *recorder) Private(_ context.Context, text string) error { return r.add(&r.privates, text) }

// Failure, Secret and PrivateLong are kept with Private's answers, as a
// chat adapter with no other way shows them.
func (r *recorder) Failure(ctx context.Context, text string) error { return r.Private(ctx, text) }
func (r *recorder) Secret(ctx context.Context, text string) error  { return r.Private(ctx, text) }
func (r *recorder) PrivateLong(ctx context.Context, title, text string) error {
	return r.Private(ctx, title+"\n"+text)
}
func (r *recorder) PrivateFile(ctx context.Context, name, text string) error {
	return r.Private(ctx, name+"\n"+text)
}
func (r *recorder) Attach(_ context.Context, name string, png []byte, alt string) error {
	return r.add(&r.longs, fmt.Sprintf("%s (%s, %d bytes of PNG)", name, alt, len(png)))
}
func (r *recorder) Long(_ context.Context, title, text string) error {
	return r.add(&r.longs, title+"\n"+text)
}
func (r *recorder) Thread(_ context.Context, root string) (commands.Thread, error) {
	r.add(&r.posts, root)
	return &recorderThread{r}, nil
}

func (r *recorder) AskApproval(_ context.Context, prompt, code string) (string, error) {
	return "", r.add(&r.replies, prompt)
}

func (r *recorder) Confirm(_ context.Context, prompt, code string) error {
	r.add(&r.privates, prompt)
	return r.add(&r.codes, code)
}

// lastCode is the last confirmation code asked for, "" if none.
func (r *recorder) lastCode() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.codes) == 0 {
		return ""
	}
	return r.codes[len(r.codes)-1]
}

// text is everything the responder was given so far.
func (r *recorder) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var all []string
	for _, l := range [][]string{r.replies, r.privates, r.longs, r.posts, r.finishes} {
		all = append(all, l...)
	}
	return strings.Join(all, "\n")
}

func (r *recorder) private() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.privates, "\n")
}

type recorderThread struct{ r *recorder }

func (t *recorderThread) Post(_ context.Context, text string) error { return t.r.add(&t.r.posts, text) }
func (t *recorderThread) StepLine(ctx context.Context, _ string, kind provision.EventKind, line string) error {
	return commands.PostStepLine(ctx, t.Post, kind, line)
}
func (t *recorderThread) Finish(_ context.Context, root, summary string) error {
	return t.r.add(&t.r.finishes, root+"\n"+summary)
}
func (t *recorderThread) Ref() map[string]string { return map[string]string{"platform": "e2e"} }

// dispatch runs one command through the dispatcher as the terminal user
// (an admin) and returns what it answered and the creation task, if any.
func dispatch(t *testing.T, ctx context.Context, a *app.App, text string) (*recorder, *provision.Task) {
	t.Helper()
	r := &recorder{}
	task, err := a.Dispatcher.Handle(ctx, commands.Request{Identity: shell.Identity(), Channel: "e2e", Text: text}, r)
	if err != nil {
		t.Fatalf("%s: the dispatcher could not answer: %v", text, err)
	}
	return r, task
}

// createReady creates an instance in http mode through the dispatcher,
// waits for the job, requires it to succeed, and removes the instance
// when the test ends.
func createReady(t *testing.T, ctx context.Context, a *app.App, name string) provision.Instance {
	t.Helper()
	destroyLater(t, a, name)
	r, task := dispatch(t, ctx, a, "create "+name+" http")
	if task == nil {
		t.Fatalf("create %s was not accepted:\n%s", name, r.text())
	}
	job, err := task.Wait(ctx)
	if err != nil || job.State != provision.JobSucceeded {
		t.Fatalf("create %s: job %s, %v\n%s\ncreation log:\n%s", name, job.State, err, r.text(), readFile(a.Config.Layout().Paths(a.Config.Layout().NewInstance(name, provision.SSLHTTP)).CreateLog))
	}
	inst, err := a.Store.Instance(ctx, name)
	if err != nil {
		t.Fatalf("instance %s after its creation: %v", name, err)
	}
	if inst.State != provision.StateReady {
		t.Fatalf("instance %s is %s after its creation, want ready", name, inst.State)
	}
	return inst
}

// destroyLater registers destroy for when the test ends (before the app
// is closed).
func destroyLater(t *testing.T, a *app.App, name string) {
	t.Helper()
	t.Cleanup(func() { destroy(t, a, name) })
}

// destroy removes everything of an instance, whatever state it is in: the
// unit, the nginx site, the database, the directory, the creation log and
// the store row with its ports. Each part missing is not an error.
func destroy(t *testing.T, a *app.App, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	layout := a.Config.Layout()
	inst := layout.NewInstance(name, provision.SSLHTTP)
	p := layout.Paths(inst)
	if err := a.Services.Remove(ctx, p.Unit); err != nil {
		t.Errorf("destroy %s: unit: %v", name, err)
	}
	if err := appSites(a).Remove(ctx, inst.Internal); err != nil {
		t.Errorf("destroy %s: site: %v", name, err)
	}
	if err := dropDatabase(ctx, a, inst.Internal); err != nil {
		t.Errorf("destroy %s: %v", name, err)
	}
	for _, path := range []string{p.Dir, p.CreateLog} {
		if err := os.RemoveAll(path); err != nil {
			t.Errorf("destroy %s: %v", name, err)
		}
	}
	if err := a.Store.ReleaseInstance(ctx, name); err != nil {
		t.Errorf("destroy %s: %v", name, err)
	}
	tenants := tenant.New(tenant.Config{AdminDSN: a.Config.AdminDSN(), Admin: a.Config.DBUser})
	if err := tenants.DropRole(ctx, inst.DBRole); err != nil {
		t.Errorf("destroy %s: %v", name, err)
	}
	if err := tenants.RemoveUser(ctx, inst.User); err != nil {
		t.Errorf("destroy %s: %v", name, err)
	}
}

// appSites is the nginx driver as internal/app builds it.
func appSites(a *app.App) *nginx.Sites {
	return nginx.New(nginx.Config{
		Available: a.Config.NginxAvailable, Enabled: a.Config.NginxEnabled, Binary: nginxBinary,
		Reload: func(ctx context.Context) error { return a.Services.Reload(ctx, "nginx.service") },
	})
}

func dropDatabase(ctx context.Context, a *app.App, name string) error {
	conn, err := pgx.Connect(ctx, a.Config.AdminDSN())
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// markerSetter returns a function that sets the e2e.marker system
// parameter of the database db is connected to: a value a test reads
// back after a backup, restore or recovery.
func markerSetter(t *testing.T, ctx context.Context, db *pgx.Conn) func(string) {
	return func(v string) {
		t.Helper()
		tag, err := db.Exec(ctx, `UPDATE ir_config_parameter SET value = $1 WHERE key = 'e2e.marker'`, v)
		if err == nil && tag.RowsAffected() == 0 {
			_, err = db.Exec(ctx, `INSERT INTO ir_config_parameter (key, value) VALUES ('e2e.marker', $1)`, v)
		}
		if err != nil {
			t.Fatalf("set marker: %v", err)
		}
	}
}

// connectDB connects with the admin credentials to database db.
func connectDB(t testing.TB, ctx context.Context, a *app.App, db string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(a.Config.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = db
	// The test's own connection sees no schema a tenant may have planted
	// ahead of public (one named like odoobot's role, first on "$user").
	cfg.RuntimeParams["search_path"] = "public"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect to database %s: %v", db, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// databaseExists looks name up in pg_database.
func databaseExists(t *testing.T, ctx context.Context, a *app.App, name string) bool {
	t.Helper()
	conn := connectDB(t, ctx, a, "postgres")
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&ok); err != nil {
		t.Fatalf("pg_database: %v", err)
	}
	return ok
}

// configParam reads an ir_config_parameter of an instance database.
func configParam(t *testing.T, ctx context.Context, a *app.App, db, key string) string {
	t.Helper()
	conn := connectDB(t, ctx, a, db)
	var v string
	if err := conn.QueryRow(ctx, "SELECT value FROM ir_config_parameter WHERE key = $1", key).Scan(&v); err != nil {
		t.Fatalf("%s: parameter %s: %v", db, key, err)
	}
	return v
}

// throughNginx is GET http://127.0.0.1:80/ with Host: domain.
func throughNginx(ctx context.Context, domain string) (*http.Response, string, error) {
	return get(ctx, domain, "/")
}

// requireAnswers checks that the instance's domain is served by nginx
// from the instance's own database, as a browser would reach it. A
// connection closed without an answer is asked again twice, 250 ms
// apart, as a browser retries: the sandbox's one nginx is reloaded by
// the tests running beside this one, and a reload closes its old
// workers' connections. An instance nginx does not serve (its default
// server closes every connection) still fails.
func requireAnswers(t *testing.T, ctx context.Context, inst provision.Instance) {
	t.Helper()
	resp, body, err := throughNginx(ctx, inst.Domain)
	for try := 0; err != nil && try < 2; try++ {
		time.Sleep(250 * time.Millisecond)
		resp, body, err = throughNginx(ctx, inst.Domain)
	}
	if err != nil {
		t.Errorf("GET / with Host %s through nginx: %v", inst.Domain, err)
		return
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Standin-Db") != inst.Internal {
		t.Errorf("GET / with Host %s through nginx: %s, X-Standin-Db %q, want 200 from %s\n%s",
			inst.Domain, resp.Status, resp.Header.Get("X-Standin-Db"), inst.Internal, body)
	}
}

// requireNginxTestPasses runs `nginx -t` on the machine's configuration.
func requireNginxTestPasses(t testing.TB) {
	t.Helper()
	if out, err := exec.Command(nginxBinary, "-t").CombinedOutput(); err != nil {
		t.Errorf("nginx -t: %v\n%s", err, out)
	}
}

// requireGone checks, the way an operator would, that nothing of an
// instance is left: no database, no unit file and no active unit, no
// nginx site, no directory, no tracking line, no store row, no port.
func requireGone(t *testing.T, ctx context.Context, a *app.App, name string) {
	t.Helper()
	layout := a.Config.Layout()
	inst := layout.NewInstance(name, provision.SSLHTTP)
	p := layout.Paths(inst)
	if databaseExists(t, ctx, a, inst.Internal) {
		t.Errorf("database %s still exists", inst.Internal)
	}
	for _, path := range []string{p.Unit, p.SiteAvail, p.SiteEnabled, p.Dir} {
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there (%v)", path, err)
		}
	}
	st, err := a.Services.Status(ctx, inst.Unit)
	if err != nil {
		t.Errorf("status of %s: %v", inst.Unit, err)
	} else if st.Running() || st.Loaded {
		t.Errorf("unit %s is still loaded or active: %+v", inst.Unit, st)
	}
	if line := trackingLine(a, inst.Internal); line != "" {
		t.Errorf("the tracking files still list %s: %q", inst.Internal, line)
	}
	if _, err := user.Lookup(inst.User); err == nil {
		t.Errorf("system user %s still exists", inst.User)
	}
	var role bool
	c := connectDB(t, ctx, a, "postgres")
	if err := c.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", inst.DBRole).Scan(&role); err != nil || role {
		t.Errorf("database role %s still exists (%v)", inst.DBRole, err)
	}
	if got, err := a.Store.Instance(ctx, name); !errors.Is(err, provision.ErrInstanceNotFound) {
		t.Errorf("the store still has %s: %+v, %v", name, got, err)
	}
	ports, err := a.Store.TakenPorts(ctx)
	if err != nil {
		t.Fatalf("TakenPorts: %v", err)
	}
	for _, pr := range ports {
		if pr.Instance == name || pr.Instance == inst.Internal {
			t.Errorf("port %d (%s) is still reserved for %s", pr.Port, pr.Kind, name)
		}
	}
	if resp, _, err := throughNginx(ctx, inst.Domain); err == nil && resp.Header.Get("X-Standin-Db") == inst.Internal {
		t.Errorf("%s is still served through nginx", inst.Domain)
	}
}

// recordsOf are the records named domain in the Cloudflare double's
// zone, in its order.
func recordsOf(cf *cftest.Server, domain string) []cftest.Record {
	var out []cftest.Record
	for _, r := range cf.Records() {
		if r.Name == domain {
			out = append(out, r)
		}
	}
	return out
}

// requireNoRecord checks that the zone holds no record named domain:
// with requireGone, that nothing of an instance is left.
func requireNoRecord(t testing.TB, cf *cftest.Server, domain string) {
	t.Helper()
	if recs := recordsOf(cf, domain); len(recs) != 0 {
		t.Errorf("the DNS records of %s are still there: %+v", domain, recs)
	}
}

// adminPasswd reads the master password from an instance's odoo.conf.
func adminPasswd(t *testing.T, a *app.App, inst provision.Instance) string {
	t.Helper()
	conf := a.Config.Layout().Paths(inst).Conf
	for _, l := range lines(readFile(conf)) {
		k, v, ok := strings.Cut(l, "=")
		if ok && strings.TrimSpace(k) == "admin_passwd" && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("%s has no admin_passwd", conf)
	return ""
}

// trackingLine returns the first line of the tracking files (API-DEV's
// prod-instances.txt, "prod-acme|domain|http|gevent|mode|created", and
// puertos_ocupados_odoo.txt, "port prod-acme kind") naming internal, or "".
func trackingLine(a *app.App, internal string) string {
	for _, f := range []string{"prod-instances.txt", "puertos_ocupados_odoo.txt"} {
		for _, line := range lines(readFile(filepath.Join(a.Config.TrackingDir, f))) {
			fields := strings.Fields(line)
			if strings.HasPrefix(line, internal+"|") || (len(fields) > 1 && fields[1] == internal) {
				return line
			}
		}
	}
	return ""
}

// logText logs a long text (a thread, a log) from inside a helper. It is
// not a helper itself, so the line it is reported at is a t.Logf, and
// scripts/e2e-recap.sh does not take it for an error.
func logText(t testing.TB, format string, args ...any) {
	t.Logf(format, args...)
}

// readFile is the file's content, "" when it cannot be read.
func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := sc.Text(); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// waitFor polls cond every 20 ms until it holds or the timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// odoobotBin is the real odoobot binary the tests run (ODOOBOT_BIN, built
// by scripts/e2e.sh); the test fails when it is not set.
func odoobotBin(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("ODOOBOT_BIN")
	if bin == "" {
		t.Fatal("ODOOBOT_BIN is not set: run scripts/e2e.sh, which builds the odoobot binary")
	}
	return bin
}

// command is the real odoobot binary (ODOOBOT_BIN, built by scripts/e2e.sh)
// run with args and the test's configuration, as an operator would.
func (e *createEnv) command(ctx context.Context, bin string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, append([]string{"--env-file", "/dev/null"}, args...)...)
	cmd.Env = os.Environ()
	for k, v := range e.overrides {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}
