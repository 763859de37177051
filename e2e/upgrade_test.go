package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"odoobot/internal/app"
	"odoobot/provision"
	"odoobot/provision/probe"
)

// TestUpgrade moves a stand-in instance through upgrade's outcomes, on a
// source repository of the test's own that gains commits as it goes:
// nothing to upgrade to and an unknown tag are refused at once; a later
// commit is upgraded to (tested on a copy, production switched,
// recorded, nothing left behind, the old release collected); an update
// that fails on the copy stops there with Odoo's error, production never
// stopped; a failure injected after production was updated and started
// puts it back on its release, serving.
func TestUpgrade(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	env.withBackupDir(t)
	repo := env.withTestRepo(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	inst := createReady(t, ctx, a, uniqueName(t, "up"))
	first := inst.Release

	r, _ := dispatch(t, ctx, a, "upgrade "+inst.Name)
	if r.lastCode() != "" || !strings.Contains(r.private(), "already runs") {
		t.Errorf("upgrade to the commit it runs: want a private refusal saying so, no confirmation:\n%s", r.text())
	}
	r, _ = dispatch(t, ctx, a, "upgrade "+inst.Name+" no-such-tag")
	if r.lastCode() != "" || !strings.Contains(r.private(), "not found") {
		t.Errorf("upgrade to an unknown tag: want a private refusal saying not found:\n%s", r.text())
	}

	// A commit that changes one module: only that module is updated.
	second := repo.commit("a later commit", map[string]string{"addons/contacts/data.xml": "<odoo/>\n"})
	up, thread := requireUpgradedSaying(t, ctx, a, inst, "latest", second)
	requireReleaseGone(t, a, first.Key)
	requireAnswers(t, ctx, up)
	if log := readFile(jobLog(a, provision.JobUpgrade, inst)); !strings.Contains(thread, "contacts changed") ||
		!strings.Contains(log, "odoo-bin -u contacts") || strings.Contains(log, "-u all") {
		t.Errorf("the thread and the job's log do not say only contacts is updated:\n%s\nlog:\n%s", thread, log)
	}

	t.Run("a release that changes nothing Odoo loads only restarts", func(t *testing.T) {
		docs := repo.commit("documentation", map[string]string{"README.md": "more words\n", "addons/contacts/README.md": "about contacts\n"})
		var thread string
		up, thread = requireUpgradedSaying(t, ctx, a, up, "latest", docs)
		if !strings.Contains(thread, "no module to update") {
			t.Errorf("the thread does not say nothing is updated:\n%s", thread)
		}
		requireAnswers(t, ctx, up)
	})

	t.Run("an update that fails on the copy leaves production serving", func(t *testing.T) {
		main := string(repo.read("odoo-bin"))
		broken := strings.Replace(main, "def main(argv):\n", "def main(argv):\n"+
			"    if \"-u\" in argv:\n"+
			"        sys.stderr.write(\"2026-01-01 00:00:00,000 1 CRITICAL db odoo.modules.module: Couldn't load module broken_probe\\n\")\n"+
			"        return 255\n", 1)
		bad := repo.commit("a module that does not load", map[string]string{"odoo-bin": broken})
		before, err := a.Services.Status(ctx, up.Unit)
		if err != nil || !before.Running() {
			t.Fatalf("%s before: %+v, %v", up.Unit, before, err)
		}
		r := requireUpgradeFails(t, ctx, a, up, bad, provision.StepTestCopy)
		if !strings.Contains(r.text(), "broken_probe") || !strings.Contains(r.text(), "production was not touched") {
			t.Errorf("the failure does not show Odoo's error line, or does not say production was not touched:\n%s", r.text())
		}
		after, err := a.Services.Status(ctx, up.Unit)
		if err != nil || after.MainPID != before.MainPID {
			t.Errorf("production's process changed during a failed test on a copy: pid %d, then %d (%v)", before.MainPID, after.MainPID, err)
		}
		requireOnRelease(t, ctx, a, up.Name, up.Release.Commit)
		requireAnswers(t, ctx, up)
		// Back to a commit whose update works, for what follows.
		repo.commit("the module loads again", map[string]string{"odoo-bin": main})
	})

	t.Run("a failure after production was updated puts it back", func(t *testing.T) {
		later := repo.commit("another commit", map[string]string{"THIRD": "another commit\n"})
		failing, closeFailing := env.newApp(t, app.Options{FailAt: provision.StepVerify})
		defer closeFailing()
		requireUpgradeFails(t, ctx, failing, up, later, provision.StepVerify)
		requireOnRelease(t, ctx, a, up.Name, up.Release.Commit)
		requireAnswers(t, ctx, up)
	})
}

// TestUpgradeKilledIsRolledBack kills odoobot (SIGKILL, as a crash
// would) while an upgrade updates production; the next start rolls it
// back from what it finds on the host: the database kept aside replaces
// the one the update was changing, odoo.conf and the unit name the old
// release again, the instance serves, and nothing the upgrade kept is
// left.
func TestUpgradeKilledIsRolledBack(t *testing.T) {
	needSandbox(t)
	bin := odoobotBin(t)
	env := newCreateEnv(t)
	env.withBackupDir(t)
	repo := env.withTestRepo(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	inst := createReady(t, ctx, a, uniqueName(t, "uk"))
	first := inst.Release.Commit
	// A commit that changes a module: the update keeps the database aside.
	next := repo.commit("a later commit", map[string]string{"addons/contacts/data.xml": "<odoo/>\n"})

	log := jobLog(a, provision.JobUpgrade, inst)
	// The kill lands once the database is kept aside, while the update
	// runs: the recovery must put that copy back.
	aside := inst.Internal + provision.RestoreOldSuffix
	pg := connectDB(t, ctx, a, "postgres")
	asideMade := func() bool {
		var ok bool
		err := pg.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", aside).Scan(&ok)
		return err == nil && ok
	}
	out := runKilled(t, ctx, env, bin, killPoint{what: "database " + aside + " kept aside", cond: asideMade, within: 3 * time.Minute, log: log},
		"upgrade", inst.Name, next, "--yes")
	job := requireOpenJob(t, ctx, a, inst.Name, out)
	t.Logf("upgrade log at the kill:\n%s", readFile(log))
	if !strings.Contains(readFile(log), "… "+string(provision.StepUpdate)) || strings.Contains(readFile(log), "✓ "+string(provision.StepRecord)) {
		t.Fatalf("the kill did not land during the update")
	}
	// odoo-bin -u, started by the killed odoobot, may still run: let it end.
	waitFor(time.Minute, func() bool {
		return exec.Command("pgrep", "-f", "--", "-d "+inst.Internal+" -u ").Run() != nil
	})
	// What the update was changing when odoobot died: must go.
	setParam(t, ctx, a, inst.Internal, "e2e.half_updated", "yes")

	recoverWithServe(t, ctx, env, a, bin, job)
	requireOnRelease(t, ctx, a, inst.Name, first)
	db := connectDB(t, ctx, a, inst.Internal)
	var n int
	if err := db.QueryRow(ctx, "SELECT count(*) FROM ir_config_parameter WHERE key = 'e2e.half_updated'").Scan(&n); err != nil || n != 0 {
		t.Errorf("after the recovery %s holds what the interrupted update wrote (%d rows, %v): the database kept aside was not put back", inst.Internal, n, err)
	}
	db.Close(ctx)
	requireAnswers(t, ctx, inst)
}

// testRepo is a test's own clone of an Odoo source, to which it adds
// commits: the releases upgrade moves an instance between.
type testRepo struct {
	t   testing.TB
	dir string
}

// newTestRepo clones branch of src into directory root (which the build
// user must be able to read, as the release builder fetches as that
// user).
func newTestRepo(t testing.TB, root, src, branch string) *testRepo {
	t.Helper()
	r := &testRepo{t: t, dir: filepath.Join(root, "odoo-src-"+randomHex(t, 3))}
	r.git(root, "clone", "--quiet", "--branch", branch, "--", src, r.dir)
	return r
}

// withTestRepo clones the sandbox's Odoo source (ODOO_REPO, branch
// ODOO_BRANCH) into the test's root and points the test's ODOO_REPO at
// the clone, to which the test adds commits.
func (e *createEnv) withTestRepo(t *testing.T) *testRepo {
	t.Helper()
	repo := newTestRepo(t, e.root, os.Getenv("ODOO_REPO"), os.Getenv("ODOO_BRANCH"))
	e.set(t, "ODOO_REPO", "file://"+repo.dir)
	return repo
}

func (r *testRepo) git(dir string, args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t.invalid", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t.invalid")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// readMaybe is the file at path, or nil when there is none.
func (r *testRepo) readMaybe(path string) []byte {
	b, err := os.ReadFile(filepath.Join(r.dir, path))
	if err != nil {
		return nil
	}
	return b
}

func (r *testRepo) read(path string) []byte {
	r.t.Helper()
	b, err := os.ReadFile(filepath.Join(r.dir, path))
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

// commit writes files (path relative to the repository: content) and
// commits them; it returns the new commit.
func (r *testRepo) commit(msg string, files map[string]string) string {
	r.t.Helper()
	for path, content := range files {
		p := filepath.Join(r.dir, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if fi, err := os.Stat(p); err == nil {
			mode = fi.Mode().Perm()
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			r.t.Fatal(err)
		}
		r.git(r.dir, "add", "--", path)
	}
	r.git(r.dir, "commit", "-q", "--no-gpg-sign", "-m", msg)
	return r.git(r.dir, "rev-parse", "HEAD")
}

// upgradeTimeout bounds one upgrade job in these tests: a release build
// and two `-u all` runs of real Odoo.
const upgradeTimeout = 15 * time.Minute

// runUpgrade asks for "upgrade NAME target", confirms it, and waits for
// its thread to end; it returns what the confirmation answered.
func runUpgrade(t *testing.T, ctx context.Context, a *app.App, inst provision.Instance, target string) (asked, confirmed *recorder) {
	t.Helper()
	asked, _ = dispatch(t, ctx, a, strings.TrimSpace("upgrade "+inst.Name+" "+target))
	code := asked.lastCode()
	if code == "" {
		t.Fatalf("upgrade %s %s asked no confirmation:\n%s", inst.Name, target, asked.text())
	}
	confirmed, _ = dispatch(t, ctx, a, "confirm "+code)
	if !waitFor(upgradeTimeout, func() bool {
		confirmed.mu.Lock()
		defer confirmed.mu.Unlock()
		return len(confirmed.finishes) > 0 || len(confirmed.privates) > 0
	}) {
		t.Fatalf("the upgrade's thread never finished:\n%s", confirmed.text())
	}
	return asked, confirmed
}

// requireUpgraded upgrades inst to target, which must resolve to commit,
// and checks what an operator would: the thread says so, the store,
// odoo.conf, the unit and info-instancia.txt name the new release, the
// instance is healthy and nothing the upgrade kept is left. It returns
// the instance as the store has it now.
func requireUpgraded(t *testing.T, ctx context.Context, a *app.App, inst provision.Instance, target, commit string) provision.Instance {
	t.Helper()
	now, _ := requireUpgradedSaying(t, ctx, a, inst, target, commit)
	return now
}

// requireUpgradedSaying is requireUpgraded, which also returns what the
// upgrade's thread said.
func requireUpgradedSaying(t *testing.T, ctx context.Context, a *app.App, inst provision.Instance, target, commit string) (provision.Instance, string) {
	t.Helper()
	asked, c := runUpgrade(t, ctx, a, inst, target)
	if !strings.Contains(asked.text(), commit[:12]) {
		t.Errorf("the confirmation does not name the target commit %s:\n%s", commit[:12], asked.text())
	}
	if f := finishes(c); !strings.Contains(f, "upgraded") {
		t.Fatalf("upgrade %s to %s did not succeed:\n%s\nlog:\n%s", inst.Name, commit[:12], c.text(), readFile(jobLog(a, provision.JobUpgrade, inst)))
	}
	logText(t, "the upgrade's thread:\n%s", c.text())
	for _, step := range []string{"safety-backup", "test-on-copy", "update", "verify"} {
		if !strings.Contains(c.text(), step) {
			t.Errorf("the thread does not show step %s:\n%s", step, c.text())
		}
	}
	now := requireOnRelease(t, ctx, a, inst.Name, commit)
	info := readFile(a.Config.Layout().Paths(now).Info)
	if !strings.Contains(info, commit) {
		t.Errorf("info-instancia.txt does not name commit %s:\n%s", commit, info)
	}
	bl, err := a.Service.Backups(ctx, inst.Name)
	if err != nil || len(bl) == 0 || bl[0].Reason != provision.ReasonSafety || bl[0].OdooRelease != inst.Release.Commit {
		t.Errorf("no safety backup recording the release before the upgrade (%s): %+v, %v", inst.Release.Commit[:12], bl, err)
	}
	return now, c.text()
}

// requireUpgradeFails upgrades inst to commit, which must fail at step,
// and checks the thread says it runs its release as before.
func requireUpgradeFails(t *testing.T, ctx context.Context, a *app.App, inst provision.Instance, commit string, step provision.StepName) *recorder {
	t.Helper()
	_, c := runUpgrade(t, ctx, a, inst, commit)
	f := finishes(c)
	if !strings.Contains(f, "failed") || !strings.Contains(f, "as before") {
		t.Fatalf("upgrade %s to %s: want a failure saying it runs as before:\n%s", inst.Name, commit[:12], c.text())
	}
	if !strings.Contains(c.text(), "step "+string(step)+" failed") {
		t.Errorf("upgrade %s to %s: want step %s to fail:\n%s", inst.Name, commit[:12], step, c.text())
	}
	return c
}

// requireOnRelease checks that instance name runs commit, as the store,
// its odoo.conf and its unit say, is healthy, and that nothing an
// upgrade keeps while it runs is left: the test copy, the database and
// filestore kept aside, the kept files.
func requireOnRelease(t *testing.T, ctx context.Context, a *app.App, name, commit string) provision.Instance {
	t.Helper()
	inst, err := a.Store.Instance(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if inst.Release.Commit != commit || inst.State != provision.StateReady {
		t.Errorf("%s records release %s (%s), want %s, ready", name, inst.Release.Commit, inst.State, commit)
	}
	p := a.Config.Layout().Paths(inst)
	dir := filepath.Join(a.Config.StateDir, "releases", inst.Release.Key) + "/"
	for _, f := range []string{p.Conf, p.Unit} {
		if b := readFile(f); !strings.Contains(b, dir) {
			t.Errorf("%s does not name the release directory %s:\n%s", f, dir, b)
		}
	}
	if !waitFor(time.Minute, func() bool { return probe.Healthy(ctx, inst.Ports.HTTP) }) {
		t.Errorf("%s is not healthy", inst.Internal)
	}
	for _, db := range []string{inst.Internal + provision.RestoreStagingSuffix, inst.Internal + provision.RestoreOldSuffix} {
		if databaseExists(t, ctx, a, db) {
			t.Errorf("database %s is left", db)
		}
	}
	staging := filepath.Join(a.Config.ProdRoot, provision.StagingDirName)
	for _, f := range []string{filepath.Join(p.Dir, ".upgrade"), filepath.Join(p.Dir, ".odoo-upgrade.conf"),
		filepath.Join(staging, "upgrade-"+inst.Internal+".old"), filepath.Join(staging, "upgrade-"+inst.Internal+".copy"),
		filepath.Join(p.DataDir, "filestore", inst.Internal+provision.RestoreStagingSuffix)} {
		// odoobot makes no link: one there is the tenant's own plant.
		if fi, err := os.Lstat(f); err == nil && fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("%s is left", f)
		}
	}
	return inst
}

// requireReleaseGone checks that the release key left the cache: no
// instance runs it after the upgrade, and it is not the newest.
func requireReleaseGone(t *testing.T, a *app.App, key string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(a.Config.StateDir, "releases", key)); err == nil {
		t.Errorf("release %s, which no instance runs after the upgrade, is still in the cache", key)
	}
}

// TestRealOdooUpgrade upgrades real Odoo 17.0 and 19.0 instances between
// commits of a source of the test's own: a commit that bumps the
// contacts module's version and adds a field to partners is upgraded to,
// the field exists and the data is kept; a commit whose module does not
// load (a view naming a field that does not exist) fails on the copy,
// production serving throughout on the same process; a failure injected
// after production was updated and restarted puts it back on its release
// with its data, the newer field gone. The modules are base, web and
// contacts: what the upgrade touches, without a localisation's data,
// which would only make every -u all longer.
func TestRealOdooUpgrade(t *testing.T) {
	needSandbox(t)
	for _, v := range []string{"17.0", "19.0"} {
		t.Run(v, func(t *testing.T) { testRealOdooUpgrade(t, v) })
	}
}

func testRealOdooUpgrade(t *testing.T, version string) {
	env := realOdooEnv(t, version)
	env.set(t, "ODOO_MODULES", "base,web,contacts")
	repo := newTestRepo(t, env.root, os.Getenv("ODOO_REPO"), version)
	env.set(t, "ODOO_REPO", "file://"+repo.dir)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	inst, pw := createRealOdoo(t, ctx, a, uniqueName(t, "ru"))

	oc := newOdooClient(t, inst)
	if _, err := oc.authenticate(ctx, "admin", pw); err != nil {
		t.Fatalf("log in: %v", err)
	}
	partner, err := oc.callInt(ctx, "res.partner", "create", []any{map[string]any{"name": "Cliente antes del upgrade"}})
	if err != nil {
		t.Fatalf("create a partner over JSON-RPC: %v", err)
	}
	// The instance's admin is hostile: its traps aim at odoobot's own
	// role while the upgrade dumps, restores and updates its database.
	traps := plantTrapsThroughOdoo(t, ctx, a, inst, a.Config.DBUser, pw)

	const contacts = "odoo/addons/contacts/"
	manifest := string(repo.read(contacts + "__manifest__.py"))
	models := string(repo.read(contacts + "models/__init__.py"))
	withVersion := func(v string, data ...string) string {
		m := strings.Replace(manifest, "{\n", "{\n    'version': '"+v+"',\n", 1)
		for _, d := range data {
			m = strings.Replace(m, "'views/contact_views.xml',", "'views/contact_views.xml',\n        '"+d+"',", 1)
		}
		return m
	}
	probe := func(fields ...string) string {
		s := "from odoo import fields, models\n\n\nclass ResPartner(models.Model):\n    _inherit = 'res.partner'\n\n"
		for _, f := range fields {
			s += "    " + f + " = fields.Char()\n"
		}
		return s
	}
	started := time.Now()
	second := repo.commit("contacts 1.1: a field on partners", map[string]string{
		contacts + "__manifest__.py":         withVersion("1.1"),
		contacts + "models/__init__.py":      models + "from . import odoobot_probe\n",
		contacts + "models/odoobot_probe.py": probe("odoobot_probe"),
	})
	up := requireUpgraded(t, ctx, a, inst, "latest", second)
	t.Logf("Odoo %s: upgrade to a new commit took %s (the release built, a copy and production updated)", version, time.Since(started).Round(time.Millisecond))
	requireColumn(t, ctx, a, up, "odoobot_probe", true)
	if got := moduleVersion(t, ctx, a, up, "contacts"); got != version+".1.1" {
		t.Errorf("contacts' installed version after the upgrade = %q, want %s.1.1", got, version)
	}
	requirePartner(t, ctx, up, pw, partner, "Cliente antes del upgrade")
	traps.requireIdle(t, ctx, a, up.Internal, "upgrade")

	t.Run("a module that does not load fails on the copy", func(t *testing.T) {
		broken := repo.commit("contacts 1.2: a view naming a field that does not exist", map[string]string{
			contacts + "__manifest__.py": withVersion("1.2", "views/odoobot_broken.xml"),
			contacts + "views/odoobot_broken.xml": `<?xml version="1.0" encoding="utf-8"?>
<odoo>
    <record id="odoobot_broken_view" model="ir.ui.view">
        <field name="name">odoobot broken probe</field>
        <field name="model">res.partner</field>
        <field name="arch" type="xml">
            <form><field name="odoobot_no_such_field"/></form>
        </field>
    </record>
</odoo>
`,
		})
		before, err := a.Services.Status(ctx, up.Unit)
		if err != nil || !before.Running() {
			t.Fatalf("%s before: %+v, %v", up.Unit, before, err)
		}
		r := requireUpgradeFails(t, ctx, a, up, broken, provision.StepTestCopy)
		if !strings.Contains(r.text(), "odoobot_broken.xml") || !strings.Contains(r.text(), "odoobot_no_such_field") {
			t.Errorf("the failure does not show Odoo's lines about the broken view:\n%s", r.text())
		}
		after, err := a.Services.Status(ctx, up.Unit)
		if err != nil || after.MainPID != before.MainPID {
			t.Errorf("production's process changed during a failed test on a copy: pid %d, then %d (%v)", before.MainPID, after.MainPID, err)
		}
		requireOnRelease(t, ctx, a, up.Name, second)
		requireLoginPage(t, ctx, up)
	})

	t.Run("a failure after production was updated puts it back", func(t *testing.T) {
		later := repo.commit("contacts 1.3: another field", map[string]string{
			contacts + "__manifest__.py":         withVersion("1.3"),
			contacts + "models/odoobot_probe.py": probe("odoobot_probe", "odoobot_probe_later"),
		})
		failing, closeFailing := env.newApp(t, app.Options{FailAt: provision.StepVerify})
		defer closeFailing()
		requireUpgradeFails(t, ctx, failing, up, later, provision.StepVerify)
		requireOnRelease(t, ctx, a, up.Name, up.Release.Commit)
		requireColumn(t, ctx, a, up, "odoobot_probe_later", false)
		requireColumn(t, ctx, a, up, "odoobot_probe", true)
		if got := moduleVersion(t, ctx, a, up, "contacts"); got != version+".1.1" {
			t.Errorf("contacts' installed version after the rollback = %q, want %s.1.1 as before", got, version)
		}
		requireLoginPage(t, ctx, up)
		requirePartner(t, ctx, up, pw, partner, "Cliente antes del upgrade")
	})

	r, _ := dispatch(t, ctx, a, "delete "+up.Name)
	if f := finishes(confirmAndWait(t, ctx, a, r)); !strings.Contains(f, "deleted") {
		t.Errorf("delete %s:\n%s", up.Name, r.text())
	}
	requireGone(t, ctx, a, up.Name)
	traps.requireIdle(t, ctx, a, up.Internal, "the failed upgrades and the delete")
}

// requireColumn checks whether res_partner has column col in inst's
// database.
func requireColumn(t *testing.T, ctx context.Context, a *app.App, inst provision.Instance, col string, want bool) {
	t.Helper()
	db := connectDB(t, ctx, a, inst.Internal)
	defer db.Close(ctx)
	var got bool
	if err := db.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'res_partner' AND column_name = $1)", col).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("%s: res_partner has column %s: %v, want %v", inst.Internal, col, got, want)
	}
}

// moduleVersion is the installed version of module in inst's database.
func moduleVersion(t *testing.T, ctx context.Context, a *app.App, inst provision.Instance, module string) string {
	t.Helper()
	db := connectDB(t, ctx, a, inst.Internal)
	defer db.Close(ctx)
	var v string
	if err := db.QueryRow(ctx, "SELECT coalesce(latest_version, '') FROM ir_module_module WHERE name = $1 AND state = 'installed'", module).Scan(&v); err != nil {
		t.Fatalf("%s: module %s: %v", inst.Internal, module, err)
	}
	return v
}

// requirePartner logs in as admin over JSON-RPC through nginx and reads
// partner id's name.
func requirePartner(t *testing.T, ctx context.Context, inst provision.Instance, pw string, id int, name string) {
	t.Helper()
	oc := newOdooClient(t, inst)
	if _, err := oc.authenticate(ctx, "admin", pw); err != nil {
		t.Fatalf("log in to %s: %v", inst.Domain, err)
	}
	var rows []struct {
		Name string `json:"name"`
	}
	if err := oc.call(ctx, "res.partner", "read", []any{[]int{id}, []string{"name"}}, &rows); err != nil || len(rows) != 1 || rows[0].Name != name {
		t.Errorf("%s: partner %d = %+v (%v), want %q", inst.Domain, id, rows, err, name)
	}
}
