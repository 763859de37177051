package odoo_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"odoobot/internal/nofollow"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"odoobot/internal/standin"
	"odoobot/internal/testenv"
	"odoobot/provision"
	"odoobot/provision/odoo"
	"odoobot/provision/probe"
	"odoobot/provision/tenant"
	"odoobot/templates"
)

// dbEnv is a Databases on the test PostgreSQL with its own owner role and
// template filestore directory.
type dbEnv struct {
	admin string
	cfg   odoo.DatabaseConfig
	d     *odoo.Databases
	id    string // random, in every name the test makes
	// dbUser and dbPassword are what an instance's odoo.conf names.
	dbUser, dbPassword string
}

func newDBEnv(t *testing.T) *dbEnv {
	t.Helper()
	admin := testenv.DatabaseURL(t)
	testenv.LookPath(t, "psql") // the stand-in talks to PostgreSQL through it
	pc, err := pgx.ParseConfig(admin)
	if err != nil {
		t.Fatal(err)
	}
	e := &dbEnv{admin: admin, id: randHex(4), dbUser: pc.User, dbPassword: pc.Password}
	owner := "odoobot_t_" + e.id + "_owner"
	e.exec(t, "postgres", "CREATE ROLE "+pgx.Identifier{owner}.Sanitize()+" NOLOGIN")
	t.Cleanup(func() { e.dropRole(t, owner) })
	e.cfg = odoo.DatabaseConfig{
		AdminDSN:     admin,
		Owner:        owner,
		DBHost:       pc.Host,
		DBPort:       int(pc.Port),
		FilestoreDir: filepath.Join(t.TempDir(), "templates"),
		Tenant:       tenant.New(tenant.Config{AdminDSN: admin, Admin: owner}).Connect,
	}
	e.d = odoo.NewDatabases(e.cfg)
	return e
}

// dropRole drops role and the databases it still owns: the spare
// databases made in the background, once they are made.
func (e *dbEnv) dropRole(t *testing.T, role string) {
	t.Helper()
	e.d.Close()
	var owned []string
	c := e.connect(t, "postgres")
	rows, err := c.Query(context.Background(), "SELECT d.datname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE r.rolname = $1 AND NOT d.datistemplate", role)
	if err != nil {
		t.Errorf("databases of %s: %v", role, err)
		return
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err == nil {
			owned = append(owned, n)
		}
	}
	rows.Close()
	for _, n := range owned {
		e.exec(t, "postgres", "DROP DATABASE IF EXISTS "+pgx.Identifier{n}.Sanitize()+" WITH (FORCE)")
	}
	e.exec(t, "postgres", "DROP ROLE IF EXISTS "+pgx.Identifier{role}.Sanitize())
}

// name is a database name unique to this test run.
func (e *dbEnv) name(s string) string { return "prod-t" + e.id + "-" + s }

// dropAtEnd drops the databases (templates included) when the test ends.
func (e *dbEnv) dropAtEnd(t *testing.T, names ...string) {
	t.Helper()
	t.Cleanup(func() {
		for _, n := range names {
			id := pgx.Identifier{n}.Sanitize()
			var isTpl bool
			if e.query(t, "postgres", "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)", &isTpl, n); isTpl {
				e.exec(t, "postgres", "ALTER DATABASE "+id+" WITH IS_TEMPLATE false")
			}
			e.exec(t, "postgres", "DROP DATABASE IF EXISTS "+id+" WITH (FORCE)")
		}
	})
}

func (e *dbEnv) connect(t *testing.T, db string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(e.admin)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = db
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect to %s: %v", db, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func (e *dbEnv) exec(t *testing.T, db, sql string, args ...any) {
	t.Helper()
	c := e.connect(t, db)
	defer c.Close(context.Background())
	if _, err := c.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func (e *dbEnv) query(t *testing.T, db, sql string, dst any, args ...any) {
	t.Helper()
	c := e.connect(t, db)
	defer c.Close(context.Background())
	if err := c.QueryRow(context.Background(), sql, args...).Scan(dst); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func (e *dbEnv) exists(t *testing.T, name string) bool {
	t.Helper()
	ok, err := e.d.Exists(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// params returns a database's ir_config_parameter.
func (e *dbEnv) params(t *testing.T, db string) map[string]string {
	t.Helper()
	c := e.connect(t, db)
	defer c.Close(context.Background())
	rows, err := c.Query(context.Background(), "SELECT key, value FROM ir_config_parameter")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		m[k] = v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

func (e *dbEnv) create(t *testing.T, spec provision.DatabaseSpec) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	return e.d.Create(ctx, spec)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// wrappedRelease is a release running the stand-in's working tree
// through a shell wrapper that appends a line to the returned file on
// every odoo-bin run, and that fails with "boom" when fail is set. Its key
// is random, so that its templates are the test's own.
func wrappedRelease(t *testing.T, fail bool) (provision.Release, string) {
	t.Helper()
	repo := standin.Repo(t)
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	body := fmt.Sprintf("#!/bin/sh\necho run \"$@\" >> '%s'\nexec '%s' '%s' \"$@\"\n", runs, testenv.LookPath(t, "python3"), filepath.Join(repo, standin.Bin))
	if fail {
		body = fmt.Sprintf("#!/bin/sh\necho run \"$@\" >> '%s'\necho boom: the stand-in refuses >&2\nexit 3\n", runs)
	}
	bin := filepath.Join(dir, "odoo-bin")
	if err := os.WriteFile(bin, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return provision.Release{
		Key:         "test-" + randHex(8),
		Dir:         repo,
		Python:      "/bin/sh",
		OdooBin:     bin,
		AddonsPaths: []string{filepath.Join(repo, standin.AddonsDir)},
	}, runs
}

func countRuns(t *testing.T, runs string) int {
	t.Helper()
	return len(runArgs(t, runs))
}

// runArgs returns the arguments of each odoo-bin run, one line a run.
func runArgs(t *testing.T, runs string) []string {
	t.Helper()
	b, err := os.ReadFile(runs)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.HasPrefix(l, "run") {
			out = append(out, strings.TrimSpace(strings.TrimPrefix(l, "run")))
		}
	}
	return out
}

// readTree returns the files under dir and their contents.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		m[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestCreateFromBuiltRelease goes the whole way: a release built from the
// stand-in repo initialises the template; later databases are clones.
func TestCreateFromBuiltRelease(t *testing.T) {
	t.Parallel() // a venv takes seconds
	e := newDBEnv(t)
	rel := ensure(t, odoo.NewReleases(releaseConfig(t, standin.Repo(t))))
	a := provision.DatabaseSpec{
		Name: e.name("acme"), Release: rel, Modules: []string{"web", "contacts"},
		BaseURL: "https://acme.example.com", ReportURL: "http://127.0.0.1:2100", DataDir: t.TempDir(),
	}
	tpl := e.d.TemplateName(a)
	b := a
	b.Name, b.BaseURL, b.ReportURL, b.DataDir = e.name("beta"), "https://beta.example.com", "http://127.0.0.1:2101", t.TempDir()
	// b's release is a's, but its python cannot run anything: b must come
	// from the template alone.
	b.Release.Python = "/bin/false"
	e.dropAtEnd(t, a.Name, b.Name, tpl, tpl+"_init")

	if err := e.create(t, a); err != nil {
		t.Fatalf("Create %s: %v", a.Name, err)
	}
	var mods []string
	e.query(t, a.Name, "SELECT array_agg(name ORDER BY name) FROM ir_module_module WHERE state = 'installed'", &mods)
	if diff := cmp.Diff(mods, []string{"base", "contacts", "web"}); diff != "" {
		t.Errorf("installed modules (-got +want):\n%s", diff)
	}
	var isTpl, allowConn bool
	e.query(t, "postgres", "SELECT datistemplate FROM pg_database WHERE datname = $1", &isTpl, tpl)
	e.query(t, "postgres", "SELECT datallowconn FROM pg_database WHERE datname = $1", &allowConn, tpl)
	if !isTpl || allowConn {
		t.Errorf("template %s: datistemplate=%v datallowconn=%v, want true false", tpl, isTpl, allowConn)
	}
	var owner, enc string
	e.query(t, "postgres", "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", &owner, a.Name)
	e.query(t, "postgres", "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = $1", &enc, a.Name)
	if owner != e.cfg.Owner || enc != "UTF8" {
		t.Errorf("%s: owner %s encoding %s, want %s UTF8", a.Name, owner, enc, e.cfg.Owner)
	}
	// As Odoo makes a database: collation C, pg_trgm.
	for _, db := range []string{tpl, a.Name} {
		var collate string
		e.query(t, "postgres", "SELECT datcollate FROM pg_database WHERE datname = $1", &collate, db)
		if collate != "C" {
			t.Errorf("%s: collation %q, want C", db, collate)
		}
	}
	var trgm bool
	e.query(t, a.Name, "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')", &trgm)
	if !trgm {
		t.Errorf("%s has no pg_trgm extension", a.Name)
	}

	// The template gets an enterprise code, which no clone may inherit.
	e.exec(t, "postgres", "ALTER DATABASE "+pgx.Identifier{tpl}.Sanitize()+" WITH ALLOW_CONNECTIONS true")
	e.exec(t, tpl, "INSERT INTO ir_config_parameter (key, value) VALUES ('database.enterprise_code', 'M123')")
	e.exec(t, "postgres", "ALTER DATABASE "+pgx.Identifier{tpl}.Sanitize()+" WITH ALLOW_CONNECTIONS false")

	if err := e.create(t, b); err != nil {
		t.Fatalf("Create %s from the template: %v", b.Name, err)
	}
	pa, pb := e.params(t, a.Name), e.params(t, b.Name)
	for _, c := range []struct {
		spec provision.DatabaseSpec
		p    map[string]string
	}{{a, pa}, {b, pb}} {
		if c.p["web.base.url"] != c.spec.BaseURL || c.p["web.base.url.freeze"] != "True" {
			t.Errorf("%s: web.base.url=%q freeze=%q, want %q True", c.spec.Name, c.p["web.base.url"], c.p["web.base.url.freeze"], c.spec.BaseURL)
		}
		if c.p["report.url"] != c.spec.ReportURL {
			t.Errorf("%s: report.url=%q, want %q", c.spec.Name, c.p["report.url"], c.spec.ReportURL)
		}
		if c.p["odoobot.template"] != tpl {
			t.Errorf("%s: odoobot.template=%q, want %q", c.spec.Name, c.p["odoobot.template"], tpl)
		}
		if _, ok := c.p["database.enterprise_code"]; ok {
			t.Errorf("%s kept database.enterprise_code", c.spec.Name)
		}
		if len(c.p["database.uuid"]) != 36 || c.p["database.secret"] == "" || c.p["database.create_date"] == "" {
			t.Errorf("%s: identity parameters missing: %v", c.spec.Name, c.p)
		}
	}
	if pa["database.uuid"] == pb["database.uuid"] || pa["database.secret"] == pb["database.secret"] {
		t.Errorf("two databases share database.uuid or database.secret: %v / %v", pa, pb)
	}

	// Filestores: each a copy of the template's, which has the stand-in's file.
	want := readTree(t, filepath.Join(e.cfg.FilestoreDir, tpl))
	if len(want) == 0 {
		t.Fatalf("the template's filestore is empty")
	}
	for _, s := range []provision.DatabaseSpec{a, b} {
		if diff := cmp.Diff(readTree(t, filepath.Join(s.DataDir, "filestore", s.Name)), want); diff != "" {
			t.Errorf("%s filestore (-got +want):\n%s", s.Name, diff)
		}
	}

	// Again: a no-op, nothing changes.
	if err := e.create(t, a); err != nil {
		t.Errorf("Create of an existing odoobot database: %v", err)
	}
	if diff := cmp.Diff(e.params(t, a.Name), pa); diff != "" {
		t.Errorf("repeated Create changed the database (-got +want):\n%s", diff)
	}
}

// adminHash returns the password hash of db's admin user.
func (e *dbEnv) adminHash(t *testing.T, db string) string {
	t.Helper()
	var h string
	e.query(t, db, "SELECT password FROM res_users WHERE login = 'admin'", &h)
	return h
}

// TestSetAdminPassword: after the clone, the admin password is replaced
// by one passlib (Odoo's hasher) verifies, and "admin" no longer signs in;
// the template keeps its own.
func TestSetAdminPassword(t *testing.T) {
	e := newDBEnv(t)
	rel, _ := wrappedRelease(t, false)
	spec := provision.DatabaseSpec{Name: e.name("pw"), Release: rel, Modules: []string{"web"}, BaseURL: "https://pw.example.com", DataDir: t.TempDir()}
	tpl := e.d.TemplateName(spec)
	e.dropAtEnd(t, spec.Name, tpl, tpl+"_init")
	if err := e.create(t, spec); err != nil {
		t.Fatal(err)
	}
	old := e.adminHash(t, spec.Name)
	if !passlibVerify(t, "admin", old) {
		t.Fatalf("the clone's admin password is not admin before SetAdminPassword: %q", old)
	}
	pw, err := provision.NewAdminPassword()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := e.d.SetAdminPassword(context.Background(), spec.Name, pw); err != nil {
		t.Fatalf("SetAdminPassword: %v", err)
	}
	t.Logf("SetAdminPassword took %s", time.Since(start).Round(time.Millisecond))
	h := e.adminHash(t, spec.Name)
	if !strings.HasPrefix(h, "$pbkdf2-sha512$600000$") || !passlibVerify(t, pw, h) {
		t.Errorf("passlib does not verify the new password against %q", h)
	}
	if passlibVerify(t, "admin", h) {
		t.Errorf("admin still signs in")
	}
	// A database asking for more rounds gets them.
	e.exec(t, spec.Name, "INSERT INTO ir_config_parameter (key, value) VALUES ('password.hashing.rounds', '700000')")
	if err := e.d.SetAdminPassword(context.Background(), spec.Name, pw); err != nil {
		t.Fatal(err)
	}
	if h := e.adminHash(t, spec.Name); !strings.HasPrefix(h, "$pbkdf2-sha512$700000$") {
		t.Errorf("password.hashing.rounds ignored: %q", h)
	}
	// A database without an admin user is an error.
	e.exec(t, spec.Name, "UPDATE res_users SET login = 'boss' WHERE login = 'admin'")
	if err := e.d.SetAdminPassword(context.Background(), spec.Name, pw); err == nil || strings.Contains(err.Error(), pw) {
		t.Errorf("SetAdminPassword without an admin user: %v", err)
	}
}

// TestCreateLanguageCountry: with a language and a country, a template is
// made as Odoo's creation then an installation would: base with the
// language, the shell script for the company and the admin, then the
// modules base's run did not install (base itself, named again, would be
// loaded again). Each of them changes the template.
func TestCreateLanguageCountry(t *testing.T) {
	e := newDBEnv(t)
	plain := e.d.TemplateName(provision.DatabaseSpec{Release: provision.Release{Key: "k"}})
	e.cfg.Lang, e.cfg.Country = "es_AR", "ar"
	e.d = odoo.NewDatabases(e.cfg)
	rel, runs := wrappedRelease(t, false)
	spec := provision.DatabaseSpec{Name: e.name("ar"), Release: rel, Modules: []string{"base", "l10n_ar", "contacts"}, BaseURL: "https://ar.example.com", DataDir: t.TempDir()}
	tpl := e.d.TemplateName(spec)
	e.dropAtEnd(t, spec.Name, tpl, tpl+"_init")
	if plain == e.d.TemplateName(provision.DatabaseSpec{Release: provision.Release{Key: "k"}}) {
		t.Errorf("language and country do not change the template")
	}
	if err := e.create(t, spec); err != nil {
		t.Fatal(err)
	}
	got := runArgs(t, runs)
	if len(got) != 3 ||
		!strings.Contains(got[0], "-i base --stop-after-init --load-language=es_AR") ||
		!strings.HasPrefix(got[1], "shell -c ") ||
		!strings.Contains(got[2], "-i contacts,l10n_ar --stop-after-init") || strings.Contains(got[2], "load-language") {
		t.Errorf("odoo-bin runs:\n%s\nwant -i base with the language, shell, -i the modules but base", strings.Join(got, "\n"))
	}
	for _, r := range got {
		if strings.Contains(r, "without-demo") {
			t.Errorf("a 19.0 init run skips demo data with --without-demo: %s", r)
		}
	}
	var langs []string
	e.query(t, spec.Name, "SELECT array_agg(code ORDER BY code) FROM res_lang WHERE active", &langs)
	if diff := cmp.Diff(langs, []string{"en_US", "es_AR"}); diff != "" {
		t.Errorf("languages (-got +want):\n%s", diff)
	}
}

// TestCreateCommunityRefusesOtherLicences: an enterprise module (OEEL-1)
// among what the modules bring, or a module found nowhere, refuses the
// template before odoo-bin runs.
func TestCreateCommunityRefusesOtherLicences(t *testing.T) {
	e := newDBEnv(t)
	e.cfg.Community = true
	e.d = odoo.NewDatabases(e.cfg)
	rel, runs := wrappedRelease(t, false)
	ent := t.TempDir()
	writeModule(t, ent, "web_enterprise", `{'name': 'Web Enterprise', 'depends': ['web'], 'license': 'OEEL-1'}`)
	rel.AddonsPaths = append(rel.AddonsPaths, ent)
	for _, tt := range []struct{ mods, want string }{
		{"contacts,web_enterprise", "web_enterprise (OEEL-1"},
		{"contacts,nosuch", "module nosuch not found"},
	} {
		spec := provision.DatabaseSpec{Name: e.name("ce"), Release: rel, Modules: strings.Split(tt.mods, ","), BaseURL: "https://ce.example.com", DataDir: t.TempDir()}
		tpl := e.d.TemplateName(spec)
		e.dropAtEnd(t, spec.Name, tpl, tpl+"_init")
		err := e.create(t, spec)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Create of %s in community: %v, want an error naming %q", tt.mods, err, tt.want)
		}
		if e.exists(t, spec.Name) || e.exists(t, tpl) || e.exists(t, tpl+"_init") {
			t.Errorf("a refused Create left a database")
		}
	}
	if n := countRuns(t, runs); n != 0 {
		t.Errorf("odoo-bin ran %d times for refused modules", n)
	}
	// The stand-in's own modules are all LGPL-3.
	spec := provision.DatabaseSpec{Name: e.name("ok"), Release: rel, Modules: []string{"l10n_ar"}, BaseURL: "https://ok.example.com", DataDir: t.TempDir()}
	tpl := e.d.TemplateName(spec)
	e.dropAtEnd(t, spec.Name, tpl, tpl+"_init")
	if err := e.create(t, spec); err != nil {
		t.Errorf("Create of LGPL-3 modules in community: %v", err)
	}
}

func TestCreateConcurrentInitsOnce(t *testing.T) {
	e := newDBEnv(t)
	rel, runs := wrappedRelease(t, false)
	var specs []provision.DatabaseSpec
	for _, n := range []string{"one", "two", "three"} {
		specs = append(specs, provision.DatabaseSpec{
			Name: e.name(n), Release: rel, Modules: []string{"l10n_ar", "contacts"},
			BaseURL: "https://" + n + ".example.com", DataDir: t.TempDir(),
		})
		e.dropAtEnd(t, e.name(n))
	}
	tpl := e.d.TemplateName(specs[0])
	e.dropAtEnd(t, tpl, tpl+"_init")

	var wg sync.WaitGroup
	errs := make([]error, len(specs))
	for i, s := range specs {
		wg.Go(func() { errs[i] = e.create(t, s) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Create %s: %v", specs[i].Name, err)
		}
	}
	if n := countRuns(t, runs); n != 1 {
		t.Errorf("odoo-bin ran %d times for three databases of one template, want 1", n)
	}
	uuids := map[string]bool{}
	for _, s := range specs {
		uuids[e.params(t, s.Name)["database.uuid"]] = true
	}
	if len(uuids) != len(specs) {
		t.Errorf("database.uuid not unique: %v", uuids)
	}
}

func TestTemplateName(t *testing.T) {
	d := odoo.NewDatabases(odoo.DatabaseConfig{})
	base := provision.DatabaseSpec{Release: provision.Release{Key: "k1"}, Modules: []string{"web", "base"}}
	same := base
	same.Modules = []string{"base", "web", " web"}
	same.Name = "other"
	if d.TemplateName(base) != d.TemplateName(same) {
		t.Errorf("module order or the database name changed the template")
	}
	if got := d.TemplateName(base); !strings.HasPrefix(got, "odoobot_tpl_") || len(got) != len("odoobot_tpl_")+12 {
		t.Errorf("TemplateName = %q", got)
	}
	demo, rel, mods := base, base, base
	demo.Demo = true
	rel.Release.Key = "k2"
	mods.Modules = []string{"web"}
	names := []string{d.TemplateName(base), d.TemplateName(demo), d.TemplateName(rel), d.TemplateName(mods)}
	for _, cfg := range []odoo.DatabaseConfig{{Lang: "es_AR"}, {Country: "AR"}, {Unaccent: true}, {Community: true}} {
		names = append(names, odoo.NewDatabases(cfg).TemplateName(base))
	}
	slices.Sort(names)
	if len(slices.Compact(names)) != 8 {
		t.Errorf("demo, release, modules, language, country, unaccent and edition must each change the template: %v", names)
	}
	other := base
	other.BaseURL, other.ReportURL, other.DataDir = "https://x", "http://127.0.0.1:1", "/x"
	if d.TemplateName(base) != d.TemplateName(other) {
		t.Errorf("the clone's own settings changed the template")
	}
}

func TestCreateRefusesForeignDatabase(t *testing.T) {
	e := newDBEnv(t)
	rel, runs := wrappedRelease(t, false)
	spec := provision.DatabaseSpec{Name: e.name("foreign"), Release: rel, Modules: []string{"web"}, BaseURL: "https://f.example.com", DataDir: t.TempDir()}
	tpl := e.d.TemplateName(spec)
	e.dropAtEnd(t, spec.Name, tpl, tpl+"_init")
	e.exec(t, "postgres", "CREATE DATABASE "+pgx.Identifier{spec.Name}.Sanitize())
	e.exec(t, spec.Name, "CREATE TABLE precious (v text); INSERT INTO precious VALUES ('keep me')")

	err := e.create(t, spec)
	if err == nil || !strings.Contains(err.Error(), "already exists and was not made by odoobot") || !errors.Is(err, provision.ErrInstanceExists) {
		t.Fatalf("Create over a foreign database: %v, want a refusal wrapping ErrInstanceExists", err)
	}
	var v string
	e.query(t, spec.Name, "SELECT v FROM precious", &v)
	if v != "keep me" {
		t.Errorf("the foreign database was touched")
	}
	if n := countRuns(t, runs); n != 0 {
		t.Errorf("odoo-bin ran %d times for a refused Create", n)
	}
	if _, err := os.Stat(filepath.Join(spec.DataDir, "filestore", spec.Name)); !os.IsNotExist(err) {
		t.Errorf("a filestore was made for a refused Create: %v", err)
	}
}

func TestDropIsIdempotent(t *testing.T) {
	e := newDBEnv(t)
	rel, _ := wrappedRelease(t, false)
	spec := provision.DatabaseSpec{Name: e.name("gone"), Release: rel, Modules: []string{"web"}, BaseURL: "https://g.example.com", DataDir: t.TempDir()}
	tpl := e.d.TemplateName(spec)
	e.dropAtEnd(t, spec.Name, tpl, tpl+"_init")
	ctx := context.Background()

	if err := e.d.Drop(ctx, spec.Name); err != nil {
		t.Errorf("Drop of a missing database: %v", err)
	}
	if err := e.create(t, spec); err != nil {
		t.Fatal(err)
	}
	if !e.exists(t, spec.Name) {
		t.Fatalf("Exists = false after Create")
	}
	c := e.connect(t, spec.Name) // an open session must not stop the drop
	if err := e.d.Drop(ctx, spec.Name); err != nil {
		t.Errorf("Drop: %v", err)
	}
	_ = c
	if e.exists(t, spec.Name) {
		t.Errorf("Exists = true after Drop")
	}
	if err := e.d.Drop(ctx, spec.Name); err != nil {
		t.Errorf("second Drop: %v", err)
	}
	if !e.exists(t, tpl) {
		t.Errorf("Drop of an instance database removed its template")
	}
}

func TestCreateFailedInitLeavesNothing(t *testing.T) {
	e := newDBEnv(t)
	rel, runs := wrappedRelease(t, true)
	spec := provision.DatabaseSpec{Name: e.name("broken"), Release: rel, Modules: []string{"web"}, BaseURL: "https://b.example.com", DataDir: t.TempDir()}
	tpl := e.d.TemplateName(spec)
	e.dropAtEnd(t, spec.Name, tpl, tpl+"_init")

	err := e.create(t, spec)
	if err == nil || !strings.Contains(err.Error(), "boom: the stand-in refuses") {
		t.Fatalf("Create with a failing odoo-bin: %v, want an error carrying its output", err)
	}
	if countRuns(t, runs) != 1 {
		t.Errorf("odoo-bin did not run")
	}
	for _, n := range []string{spec.Name, tpl, tpl + "_init"} {
		if e.exists(t, n) {
			t.Errorf("database %s left behind by a failed Create", n)
		}
	}
	entries, _ := os.ReadDir(e.cfg.FilestoreDir)
	if len(entries) != 0 {
		t.Errorf("template filestores left behind: %v", entries)
	}
}

func TestCreateFailedCloneLeavesNothing(t *testing.T) {
	e := newDBEnv(t)
	rel, _ := wrappedRelease(t, false)
	a := provision.DatabaseSpec{Name: e.name("first"), Release: rel, Modules: []string{"web"}, BaseURL: "https://a.example.com", DataDir: t.TempDir()}
	b := a
	b.Name, b.DataDir = e.name("second"), t.TempDir()
	tpl := e.d.TemplateName(a)
	e.dropAtEnd(t, a.Name, b.Name, tpl, tpl+"_init")
	if err := e.create(t, a); err != nil {
		t.Fatal(err)
	}
	// The template's filestore is not a directory: the clone cannot be
	// completed.
	store := filepath.Join(e.cfg.FilestoreDir, tpl)
	if err := os.RemoveAll(store); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(store, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := e.create(t, b)
	if err == nil || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("Create with a broken template filestore: %v, want a rolled-back failure", err)
	}
	if e.exists(t, b.Name) {
		t.Errorf("database %s left behind by a failed Create", b.Name)
	}
	if _, err := os.Stat(filepath.Join(b.DataDir, "filestore", b.Name)); !os.IsNotExist(err) {
		t.Errorf("filestore left behind by a failed Create: %v", err)
	}
}

// TestDropLeavesForeignDatabases: a database odoobot did not make (no
// marker) survives Drop, so a rollback never destroys someone's data.
func TestDropLeavesForeignDatabases(t *testing.T) {
	admin := testenv.DatabaseURL(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	name := "prod-foreign-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 10)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	d := odoo.NewDatabases(odoo.DatabaseConfig{AdminDSN: admin, Owner: "postgres",
		Tenant: tenant.New(tenant.Config{AdminDSN: admin, Admin: "postgres"}).Connect})
	if err := d.Drop(ctx, name); err != nil {
		t.Fatalf("Drop: %v", err)
	}
	if ok, err := d.Exists(ctx, name); err != nil || !ok {
		t.Fatalf("foreign database dropped (exists %v, err %v)", ok, err)
	}
}

// TestTemplateWithoutFilestoreIsMadeAgain: a template database whose
// filestore is gone (STATE_DIR moved) is rebuilt, not cloned without files.
func TestTemplateWithoutFilestoreIsMadeAgain(t *testing.T) {
	e := newDBEnv(t)
	rel, _ := wrappedRelease(t, false)
	a := provision.DatabaseSpec{Name: e.name("first"), Release: rel, Modules: []string{"web"}, BaseURL: "https://a.example.com", DataDir: t.TempDir()}
	b := a
	b.Name, b.DataDir = e.name("second"), t.TempDir()
	tpl := e.d.TemplateName(a)
	e.dropAtEnd(t, a.Name, b.Name, tpl, tpl+"_init")
	if err := e.create(t, a); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(e.cfg.FilestoreDir, tpl)); err != nil {
		t.Fatal(err)
	}
	if err := e.create(t, b); err != nil {
		t.Fatalf("Create after the template's filestore was lost: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.cfg.FilestoreDir, tpl)); err != nil {
		t.Errorf("the template's filestore was not made again: %v", err)
	}
	if _, err := os.Stat(filepath.Join(b.DataDir, "filestore", b.Name)); err != nil {
		t.Errorf("the new database has no filestore: %v", err)
	}
}

// logBuffer collects a logger's lines for a test.
type logBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// configWarnings are the warnings Odoo logs about its configuration or
// its command line: none may come from what odoobot writes or runs.
var configWarnings = []string{
	"invalid boolean value", "invalid addons directory", "no such directory",
	"missing http_interface", "unknown option", "pg_trgm", "Unable to create PostgreSQL extensions",
	"longpolling", "isn't a boolean option",
}

// TestRealOdooTemplate initialises a template from the real Odoo 19.0
// source with a language and a country in the community edition, then
// runs the clone with the odoo.conf odoobot writes: the facts are checked
// on the real thing.
func TestRealOdooTemplate(t *testing.T) {
	if testing.Short() {
		t.Skip("real Odoo takes a minute")
	}
	e := newDBEnv(t)
	src := unpackOdoo(t, "19.0")
	py := debianPython(t)
	if err := exec.Command(py, "-c", "import werkzeug, psycopg2, lxml, passlib, babel, pytz").Run(); err != nil {
		testenv.Missing(t, "Debian's python3 packages for Odoo are not installed (scripts/deps.sh)")
	}
	venv := filepath.Join(t.TempDir(), "venv")
	if out, err := exec.Command(py, "-m", "venv", "--system-site-packages", venv).CombinedOutput(); err != nil {
		t.Fatalf("venv: %v\n%s", err, out)
	}
	rel := provision.Release{
		Key: "real-" + randHex(8), Dir: src, Python: filepath.Join(venv, "bin", "python"),
		OdooBin: filepath.Join(src, "odoo-bin"), AddonsPaths: []string{filepath.Join(src, "odoo", "addons")},
		Version: "19.0", Edition: "community",
	}
	// Odoo refuses to run as postgres: the instance's own role logs in
	// and owns the database, as in production.
	role := "odoobot_t_" + e.id + "_odoo"
	e.exec(t, "postgres", "CREATE ROLE "+pgx.Identifier{role}.Sanitize()+" LOGIN")
	t.Cleanup(func() { e.dropRole(t, role) })
	var logs logBuffer
	e.dbUser, e.dbPassword = role, ""
	e.cfg.Lang, e.cfg.Country, e.cfg.Community = "es_AR", "AR", true
	e.cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	e.d = odoo.NewDatabases(e.cfg)
	spec := provision.DatabaseSpec{
		Name: e.name("real"), Owner: role, Release: rel, Modules: []string{"base", "web", "contacts", "l10n_ar"},
		BaseURL: "https://real.example.com", DataDir: t.TempDir(),
	}
	tpl := e.d.TemplateName(spec)
	e.dropAtEnd(t, spec.Name, tpl, tpl+"_init")
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := e.d.Create(ctx, spec); err != nil {
		t.Fatalf("Create: %v\nlog:\n%s", err, logs.String())
	}
	t.Logf("template with es_AR and AR, and the clone, took %s", time.Since(start).Round(time.Second))
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "odoo-bin") {
			t.Logf("odoo-bin said: %s", l)
		}
		for _, w := range configWarnings {
			if strings.Contains(l, w) {
				t.Errorf("a warning about odoobot's configuration: %s", l)
			}
		}
	}

	var collate, country, currency, adminLang string
	var trgm, esAR bool
	e.query(t, "postgres", "SELECT datcollate FROM pg_database WHERE datname = $1", &collate, spec.Name)
	e.query(t, spec.Name, "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')", &trgm)
	e.query(t, spec.Name, "SELECT c.code FROM res_company co JOIN res_partner p ON p.id = co.partner_id JOIN res_country c ON c.id = p.country_id WHERE co.id = 1", &country)
	e.query(t, spec.Name, "SELECT cu.name FROM res_company co JOIN res_currency cu ON cu.id = co.currency_id WHERE co.id = 1", &currency)
	e.query(t, spec.Name, "SELECT p.lang FROM res_users u JOIN res_partner p ON p.id = u.partner_id WHERE u.login = 'admin'", &adminLang)
	e.query(t, spec.Name, "SELECT EXISTS (SELECT 1 FROM res_lang WHERE code = 'es_AR' AND active)", &esAR)
	got := map[string]any{"collate": collate, "trgm": trgm, "country": country, "currency": currency, "admin lang": adminLang, "es_AR active": esAR}
	want := map[string]any{"collate": "C", "trgm": true, "country": "AR", "currency": "ARS", "admin lang": "es_AR", "es_AR active": true}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("the real template (-got +want):\n%s", diff)
	}
	var demo int
	e.query(t, spec.Name, "SELECT count(*) FROM ir_module_module WHERE demo", &demo)
	if demo != 0 {
		t.Errorf("%d modules with demo data", demo)
	}

	pw, _ := provision.NewAdminPassword()
	start = time.Now()
	if err := e.d.SetAdminPassword(ctx, spec.Name, pw); err != nil {
		t.Fatal(err)
	}
	t.Logf("SetAdminPassword took %s", time.Since(start).Round(time.Millisecond))

	// The clone runs with the odoo.conf odoobot writes, and says nothing
	// about it; its admin signs in with the new password only.
	runRealInstance(t, e, rel, spec, pw)
}

// runRealInstance starts real Odoo on spec's database with the odoo.conf
// odoobot renders, checks /web/health?db_server_status=1, the admin's
// password through Odoo's own login, and that the log holds no warning
// about the configuration.
func runRealInstance(t *testing.T, e *dbEnv, rel provision.Release, spec provision.DatabaseSpec, pw string) {
	t.Helper()
	set, err := templates.Load()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	custom := filepath.Join(dir, "custom_addons")
	if err := os.MkdirAll(custom, 0o755); err != nil {
		t.Fatal(err)
	}
	httpPort, geventPort := freeTCPPort(t), freeTCPPort(t)
	logFile := filepath.Join(dir, "odoo.log")
	conf, err := set.OdooConf(templates.OdooConf{
		Version: rel.Version, HTTPPort: httpPort, GeventPort: geventPort,
		DBHost: e.cfg.DBHost, DBPort: e.cfg.DBPort, DBUser: e.dbUser, DBPassword: e.dbPassword,
		DBName: spec.Name, Workers: 0, AdminPasswd: "master-" + randHex(8),
		OdooAddons: rel.AddonsPaths, CustomAddons: custom, OmitCustomAddons: true,
		DataDir: spec.DataDir, LogFile: logFile,
	})
	if err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(dir, "odoo.conf")
	if err := os.WriteFile(confPath, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(rel.Python, rel.OdooBin, "-c", confPath)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := provision.WaitHealthy(ctx, probe.Health{}, httpPort, 2*time.Minute, provision.LogTail{Path: logFile, Lines: func(_ context.Context, n int) []string { return nofollow.Tail(logFile, n) }}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/web/health?db_server_status=1", httpPort))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"db_server_status": true`) {
		t.Errorf("health with db_server_status: %s %s", resp.Status, body)
	}
	login := func(password string) bool {
		req := fmt.Sprintf(`{"jsonrpc":"2.0","method":"call","params":{"service":"common","method":"authenticate","args":[%q,"admin",%q,{}]}}`, spec.Name, password)
		resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/jsonrpc", httpPort), "application/json", strings.NewReader(req))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Result any `json:"result"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		uid, ok := out.Result.(float64)
		return ok && uid > 0
	}
	if !login(pw) {
		t.Errorf("Odoo refuses admin's new password")
	}
	if login("admin") {
		t.Errorf("Odoo still takes admin's old password")
	}
	b, _ := os.ReadFile(logFile)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, " WARNING ") {
			t.Logf("odoo.log: %s", l)
			for _, w := range configWarnings {
				if strings.Contains(l, w) {
					t.Errorf("Odoo warns about odoobot's configuration: %s", l)
				}
			}
		}
	}
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// The second database of a template is the spare copied in the background
// after the first, renamed: it is as whole and as unique as a copy, with
// its own identity, marker and admin password, and a new spare follows.
func TestCreateTakesTheSpare(t *testing.T) {
	e := newDBEnv(t)
	rel, _ := wrappedRelease(t, false)
	first := provision.DatabaseSpec{Name: e.name("one"), Release: rel, Modules: []string{"web"}, BaseURL: "https://one.example.com", DataDir: t.TempDir(), AdminPassword: "first-Passw0rd-xyz"}
	second := first
	second.Name, second.BaseURL, second.AdminPassword = e.name("two"), "https://two.example.com", "second-Passw0rd-xyz"
	tpl := e.d.TemplateName(first)
	e.dropAtEnd(t, first.Name, second.Name, tpl, tpl+"_init")
	if err := e.create(t, first); err != nil {
		t.Fatal(err)
	}
	e.d.Close() // the spare is made in the background
	if !e.exists(t, tpl+"_spare") {
		t.Fatalf("no spare database %s_spare after the first creation", tpl)
	}
	if err := e.create(t, second); err != nil {
		t.Fatal(err)
	}
	e.d.Close()
	if !e.exists(t, tpl+"_spare") {
		t.Errorf("no new spare after the second creation")
	}
	var marker, url, uuid1, uuid2, hash string
	e.query(t, second.Name, "SELECT value FROM ir_config_parameter WHERE key = 'odoobot.template'", &marker)
	e.query(t, second.Name, "SELECT value FROM ir_config_parameter WHERE key = 'web.base.url'", &url)
	e.query(t, first.Name, "SELECT value FROM ir_config_parameter WHERE key = 'database.uuid'", &uuid1)
	e.query(t, second.Name, "SELECT value FROM ir_config_parameter WHERE key = 'database.uuid'", &uuid2)
	e.query(t, second.Name, "SELECT password FROM res_users WHERE login = 'admin'", &hash)
	if marker != tpl || url != second.BaseURL || uuid1 == uuid2 {
		t.Errorf("second database: marker %q url %q uuid %q (first's %q)", marker, url, uuid2, uuid1)
	}
	if !odoo.VerifyPassword(second.AdminPassword, hash) || odoo.VerifyPassword("admin", hash) {
		t.Errorf("second database's admin hash %q does not hold its own password", hash)
	}
	var spareMarker string
	e.query(t, tpl+"_spare", "SELECT value FROM ir_config_parameter WHERE key = 'odoobot.template'", &spareMarker)
	if spareMarker != "pending:"+tpl {
		t.Errorf("the spare's marker is %q, want %q: a copy is odoobot's, unfinished, from its first moment", spareMarker, "pending:"+tpl)
	}
}

// TestCreateAfterACrashBetweenCopyAndFinish: a database copied from the
// template whose finishing never ran (odoobot killed in between) does not
// block the name: Create makes it again, and Drop removes it.
func TestCreateAfterACrashBetweenCopyAndFinish(t *testing.T) {
	e := newDBEnv(t)
	rel, _ := wrappedRelease(t, false)
	spec := provision.DatabaseSpec{Name: e.name("crash"), Release: rel, Modules: []string{"web"}, BaseURL: "https://crash.example.com", DataDir: t.TempDir()}
	tpl := e.d.TemplateName(spec)
	e.dropAtEnd(t, spec.Name, tpl, tpl+"_init", tpl+"_spare", tpl+"_spare_new")
	if err := e.create(t, spec); err != nil {
		t.Fatal(err)
	}
	e.d.Close()
	// What a crash right after the copy leaves: a plain copy of the
	// template, owned by odoobot's role.
	e.exec(t, "postgres", "DROP DATABASE "+pgx.Identifier{spec.Name}.Sanitize()+" WITH (FORCE)")
	e.exec(t, "postgres", "CREATE DATABASE "+pgx.Identifier{spec.Name}.Sanitize()+" TEMPLATE "+pgx.Identifier{tpl}.Sanitize()+" OWNER "+pgx.Identifier{e.cfg.Owner}.Sanitize())
	if err := e.create(t, spec); err != nil {
		t.Fatalf("Create over an unfinished copy: %v", err)
	}
	e.d.Close()
	var marker string
	e.query(t, spec.Name, "SELECT value FROM ir_config_parameter WHERE key = 'odoobot.template'", &marker)
	if marker != tpl {
		t.Errorf("marker after the retry %q, want %q", marker, tpl)
	}
	e.exec(t, "postgres", "DROP DATABASE "+pgx.Identifier{spec.Name}.Sanitize()+" WITH (FORCE)")
	e.exec(t, "postgres", "CREATE DATABASE "+pgx.Identifier{spec.Name}.Sanitize()+" TEMPLATE "+pgx.Identifier{tpl}.Sanitize()+" OWNER "+pgx.Identifier{e.cfg.Owner}.Sanitize())
	if err := e.d.Drop(context.Background(), spec.Name); err != nil {
		t.Fatal(err)
	}
	if e.exists(t, spec.Name) {
		t.Errorf("Drop left the unfinished copy %s: it blocks the name", spec.Name)
	}
}

// TestCreateGivesTheDatabaseToItsRole: the database and everything Odoo
// made in it belong to the instance's role, and no other role may
// connect to it.
func TestCreateGivesTheDatabaseToItsRole(t *testing.T) {
	e := newDBEnv(t)
	rel, _ := wrappedRelease(t, false)
	role, other := "odoobot_t_"+e.id+"_inst", "odoobot_t_"+e.id+"_other"
	for _, r := range []string{role, other} {
		e.exec(t, "postgres", "CREATE ROLE "+pgx.Identifier{r}.Sanitize()+" LOGIN")
		t.Cleanup(func() { e.dropRole(t, r) })
	}
	spec := provision.DatabaseSpec{Name: e.name("owned"), Owner: role, Release: rel, Modules: []string{"web"}, BaseURL: "https://owned.example.com", DataDir: t.TempDir()}
	tpl := e.d.TemplateName(spec)
	e.dropAtEnd(t, spec.Name, tpl, tpl+"_init", tpl+"_spare", tpl+"_spare_new")
	if err := e.create(t, spec); err != nil {
		t.Fatal(err)
	}
	e.d.Close()
	var dbOwner string
	var notOwned int
	var otherConnects, ownerConnects bool
	e.query(t, "postgres", "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", &dbOwner, spec.Name)
	e.query(t, spec.Name, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) <> $1", &notOwned, role)
	e.query(t, "postgres", "SELECT has_database_privilege($1, $2, 'CONNECT')", &otherConnects, other, spec.Name)
	e.query(t, "postgres", "SELECT has_database_privilege($1, $2, 'CONNECT')", &ownerConnects, role, spec.Name)
	if dbOwner != role || notOwned != 0 || otherConnects || !ownerConnects {
		t.Errorf("database owner %q (want %q), %d relations not the role's, another role may connect: %v, the owner may: %v", dbOwner, role, notOwned, otherConnects, ownerConnects)
	}
}
