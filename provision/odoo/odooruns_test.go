package odoo_test

import (
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/internal/testenv"
	"odoobot/provision"
	"odoobot/provision/odoo"
)

// fakeOdooBin writes script as an odoo-bin /bin/sh runs, in a directory
// every user may read, and returns the release that names it: the
// process handling of Runs (user, environment, output, deadline) is
// checked without the minutes a real Odoo takes. The real Odoo's
// neutralize and update are proven by the end-to-end clone and upgrade
// tests.
func fakeOdooBin(t *testing.T, script string) (provision.Release, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "running Odoo as another user needs root")
	}
	dir, err := os.MkdirTemp("", "odooruns-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "odoo-bin")
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return provision.Release{Python: "/bin/sh", OdooBin: bin}, dir
}

// nobody is the unprivileged user the fake Odoo runs as, and its ids.
func nobody(t *testing.T) (name, uid, gid string) {
	t.Helper()
	u, err := user.Lookup("nobody")
	if err != nil {
		testenv.Missing(t, "no user nobody")
	}
	return u.Username, u.Uid, u.Gid
}

// TestRunsAsTheUserWithItsArguments: Update and Neutralize run odoo-bin
// as the instance's user (its own group only), in its directory, with
// the arguments Odoo needs (-u all or the modules named, no HTTP server,
// the log on the output, stop after init) and none of odoobot's
// environment; a failure's error carries what Odoo said.
func TestRunsAsTheUserWithItsArguments(t *testing.T) {
	t.Setenv("ODOOBOT_TEST_SECRET", "s3cret-in-odoobots-env")
	rel, dir := fakeOdooBin(t, `echo "uid=$(id -u) groups=$(id -G) pwd=$(pwd)"
echo "args=$*"
env | grep -q s3cret && echo "LEAKED"
echo "2026-01-01 00:00:00,000 1 ERROR db odoo.modules.registry: Failed to load registry"
exit 1
`)
	name, uid, gid := nobody(t)
	run := provision.OdooRun{User: name, Dir: dir, Conf: "/srv/x/odoo.conf", DB: "prod-x"}
	r := &odoo.Runs{}
	ctx := context.Background()

	err := r.Update(ctx, rel, run)
	if err == nil {
		t.Fatal("Update of a failing Odoo: nil error")
	}
	msg := err.Error()
	for _, want := range []string{"Failed to load registry", "odoo-bin -u all"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Update's error %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "LEAKED") {
		t.Errorf("odoobot's environment reached Odoo: %q", msg)
	}

	// The error of a failure with no ERROR line carries the output's tail.
	err = r.Neutralize(ctx, rel, run)
	if err == nil {
		t.Fatal("Neutralize of a failing Odoo: nil error")
	}
	msg = err.Error()
	for _, want := range []string{
		"uid=" + uid + " groups=" + gid + " pwd=" + dir,
		"args=neutralize -c /srv/x/odoo.conf -d prod-x --logfile  --stop-after-init",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("Neutralize's error %q does not say %q", msg, want)
		}
	}

	// The update's own arguments, seen in a failure with no log line.
	rel, _ = fakeOdooBin(t, "echo \"args=$*\"; exit 3\n")
	err = r.Update(ctx, rel, run, "sale", "stock")
	if err == nil || !strings.Contains(err.Error(), "args=-c /srv/x/odoo.conf -d prod-x -u sale,stock --stop-after-init --no-http --logfile") {
		t.Errorf("Update of two modules: %v, want its arguments", err)
	}
	for _, bad := range []string{"", "-x", "sale,stock", "a b"} {
		if err := r.Update(ctx, rel, run, bad); err == nil || !strings.Contains(err.Error(), "not a module name") {
			t.Errorf("Update(%q): %v, want a refusal", bad, err)
		}
	}
}

// TestRunsUnknownUser: a user that does not exist is an error saying
// how to make it, and Odoo never runs.
func TestRunsUnknownUser(t *testing.T) {
	rel, dir := fakeOdooBin(t, "touch ran\n")
	run := provision.OdooRun{User: "odoobot-no-such-user", Dir: dir, Conf: "c", DB: "d"}
	err := (&odoo.Runs{}).Update(context.Background(), rel, run)
	if err == nil || !strings.Contains(err.Error(), `"odoobot-no-such-user" does not exist`) || !strings.Contains(err.Error(), "useradd") {
		t.Errorf("Update as an unknown user: %v, want an error naming it and how to make it", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Error("Odoo ran although its user does not exist")
	}
}

// TestRunsOutputIsBounded: an Odoo that writes 16 MiB before it fails
// gives an error of a few kilobytes that still says why.
func TestRunsOutputIsBounded(t *testing.T) {
	rel, dir := fakeOdooBin(t, `head -c 16777216 /dev/zero | tr '\0' 'x' | fold -w 1000
echo
echo "2026-01-01 00:00:00,000 1 CRITICAL db odoo.service.server: Failed to initialize database"
exit 1
`)
	name, _, _ := nobody(t)
	err := (&odoo.Runs{}).Update(context.Background(), rel, provision.OdooRun{User: name, Dir: dir, Conf: "c", DB: "d"})
	if err == nil || !strings.Contains(err.Error(), "Failed to initialize database") {
		t.Fatalf("Update: %v, want the CRITICAL line", err)
	}
	if n := len(err.Error()); n > 16<<10 {
		t.Errorf("the error is %d bytes, want a few kilobytes", n)
	}
}

// TestRunsGivesUpAtItsTimeout: an Odoo that does not end is killed at
// the run's timeout, with what it started, and the error says it gave
// up; the call returns at once, not when a leftover child closes the
// output.
func TestRunsGivesUpAtItsTimeout(t *testing.T) {
	rel, dir := fakeOdooBin(t, "sleep 60 &\nsleep 60\n")
	name, _, _ := nobody(t)
	r := &odoo.Runs{UpdateTimeout: 300 * time.Millisecond}
	start := time.Now()
	err := r.Update(context.Background(), rel, provision.OdooRun{User: name, Dir: dir, Conf: "c", DB: "d"})
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "gave up") {
		t.Errorf("Update past its timeout: %v, want an error saying it gave up", err)
	}
	if took > 3*time.Second {
		t.Errorf("Update returned %s after its 300ms timeout: what Odoo started was not killed", took.Round(100*time.Millisecond))
	}
}

// TestRunsRealOdoo: on a database of the real Odoo 19.0 (base and web),
// as an unprivileged user with an odoo.conf as an instance has,
// Neutralize leaves database.is_neutralized True and every cron off but
// Odoo's autovacuum, and
// Update (every module) succeeds and updates base.
func TestRunsRealOdoo(t *testing.T) {
	if testing.Short() {
		t.Skip("real Odoo takes a minute")
	}
	name, _, _ := nobody(t)
	if os.Geteuid() != 0 {
		testenv.Missing(t, "running Odoo as another user needs root")
	}
	e := newDBEnv(t)
	src := unpackOdoo(t, "19.0")
	// The unpacked source is shared by the package's tests, in a
	// directory only root may enter: open it to the user Odoo runs as.
	if err := os.Chmod(filepath.Dir(src), 0o755); err != nil {
		t.Fatal(err)
	}
	py := debianPython(t)
	if err := exec.Command(py, "-c", "import werkzeug, psycopg2, lxml, passlib, babel, pytz").Run(); err != nil {
		testenv.Missing(t, "Debian's python3 packages for Odoo are not installed (scripts/deps.sh)")
	}
	shared := sharedDir(t)
	venv := filepath.Join(shared, "venv")
	if out, err := exec.Command(py, "-m", "venv", "--system-site-packages", venv).CombinedOutput(); err != nil {
		t.Fatalf("venv: %v\n%s", err, out)
	}
	addons := filepath.Join(src, "odoo", "addons")
	rel := provision.Release{
		Key: "real-" + randHex(8), Dir: src, Python: filepath.Join(venv, "bin", "python"),
		OdooBin: filepath.Join(src, "odoo-bin"), AddonsPaths: []string{addons},
		Version: "19.0", Edition: "community",
	}
	role := "odoobot_t_" + e.id + "_odoo"
	e.exec(t, "postgres", "CREATE ROLE "+pgx.Identifier{role}.Sanitize()+" LOGIN")
	t.Cleanup(func() { e.dropRole(t, role) })
	e.dbUser, e.dbPassword = role, ""
	e.d = odoo.NewDatabases(e.cfg)
	data := filepath.Join(shared, "data")
	spec := provision.DatabaseSpec{
		Name: e.name("runs"), Owner: role, Release: rel, Modules: []string{"base", "web"},
		BaseURL: "https://runs.example.com", DataDir: data,
	}
	tpl := e.d.TemplateName(spec)
	e.dropAtEnd(t, spec.Name, tpl, tpl+"_init")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	if err := e.d.Create(ctx, spec); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if out, err := exec.Command("chown", "-R", name, data).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v\n%s", err, out)
	}
	conf := filepath.Join(shared, "odoo.conf")
	if err := os.WriteFile(conf, []byte("[options]\n"+
		"addons_path = "+addons+"\n"+
		"data_dir = "+data+"\n"+
		"db_host = "+e.cfg.DBHost+"\n"+
		"db_port = "+strconv.Itoa(e.cfg.DBPort)+"\n"+
		"db_user = "+role+"\n"+
		"db_password = False\n"+
		"dbfilter = ^"+spec.Name+"$\n"+
		"list_db = False\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := provision.OdooRun{User: name, Dir: shared, Conf: conf, DB: spec.Name}
	r := &odoo.Runs{}

	start := time.Now()
	if err := r.Neutralize(ctx, rel, run); err != nil {
		t.Fatalf("Neutralize: %v", err)
	}
	t.Logf("neutralize took %s", time.Since(start).Round(100*time.Millisecond))
	var neutralized string
	var activeCrons int
	e.query(t, spec.Name, "SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'", &neutralized)
	// Odoo's neutralize keeps its database autovacuum on, and only it.
	e.query(t, spec.Name, `SELECT count(*) FROM ir_cron c WHERE active AND NOT EXISTS (
		SELECT 1 FROM ir_model_data d WHERE d.model = 'ir.cron' AND d.res_id = c.id AND d.module = 'base' AND d.name = 'autovacuum_job')`, &activeCrons)
	if !strings.EqualFold(neutralized, "true") || activeCrons != 0 {
		t.Errorf("after Neutralize: database.is_neutralized %q, %d active crons besides the autovacuum; want True and none", neutralized, activeCrons)
	}

	var before, after time.Time
	e.query(t, spec.Name, "SELECT write_date FROM ir_module_module WHERE name = 'base'", &before)
	start = time.Now()
	if err := r.Update(ctx, rel, run); err != nil {
		t.Fatalf("Update: %v", err)
	}
	t.Logf("update of every module took %s", time.Since(start).Round(100*time.Millisecond))
	e.query(t, spec.Name, "SELECT write_date FROM ir_module_module WHERE name = 'base'", &after)
	if !after.After(before) {
		t.Errorf("base's write_date %s after Update, %s before: base was not updated", after, before)
	}
}

// TestOpenRefusesWhatOdooLogsAsAnError: Open runs odoo-bin as the user,
// on the database, stopping after init with no HTTP and no module
// named; an Odoo that exits 0 but logs an ERROR (as Odoo does for a
// database that is not an Odoo one: "Database … not initialized") has
// not opened it, and Open says what Odoo said.
func TestOpenRefusesWhatOdooLogsAsAnError(t *testing.T) {
	rel, dir := fakeOdooBin(t, `echo "args=$*" >&2
case "$*" in *" -i "*|*" -u "*) exit 3;; esac
echo "2026-01-01 00:00:00,000 1 INFO prod-x odoo.modules.loading: loading 1 modules..."
[ -f "$(dirname "$0")/broken" ] && echo "2026-01-01 00:00:00,000 1 ERROR prod-x odoo.modules.loading: Database prod-x not initialized, you can force it with -i base"
exit 0
`)
	name, _, _ := nobody(t)
	run := provision.OdooRun{User: name, Dir: dir, Conf: "/srv/x/odoo.conf", DB: "prod-x_drill"}
	r := &odoo.Runs{}
	if err := r.Open(context.Background(), rel, run); err != nil {
		t.Fatalf("Open of a database Odoo loads: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "broken"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := r.Open(context.Background(), rel, run)
	if err == nil || !strings.Contains(err.Error(), "not initialized") {
		t.Fatalf("Open of a database Odoo logs an ERROR for: %v, want the error naming it", err)
	}
}

// TestOpenBoundsTheMemory: a run given MemoryMax has its address space
// bounded (RLIMIT_AS) to it, as Odoo bounds its workers.
func TestOpenBoundsTheMemory(t *testing.T) {
	rel, dir := fakeOdooBin(t, `echo "2026-01-01 00:00:00,000 1 INFO x odoo: limit $(ulimit -v)" >"$(dirname "$0")/said"
`)
	name, _, _ := nobody(t)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	run := provision.OdooRun{User: name, Dir: dir, Conf: "/srv/x/odoo.conf", DB: "prod-x_drill", MemoryMax: 700 << 20}
	if err := (&odoo.Runs{}).Open(context.Background(), rel, run); err != nil {
		t.Fatal(err)
	}
	if got := readSaid(t, dir); !strings.Contains(got, "limit 716800") {
		t.Errorf("the run's ulimit -v: %q, want 716800 (KiB, 700 MiB)", got)
	}
}

func readSaid(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "said"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
