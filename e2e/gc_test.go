package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/internal/app"
	"odoobot/provision"
	"odoobot/provision/nginx"
)

// TestGCPinnedReleases pins the stand-in at a commit A and creates an
// instance, pins it at a later commit B and creates another, then
// deletes the first: A's release and its template (with its spare, role
// and filestore) go with it, B's stay, and `odoobot gc` then removes
// nothing the remaining instance uses. The test has a STATE_DIR of its
// own, so that its releases and templates are its alone.
func TestGCPinnedReleases(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	env.withBackupDir(t)
	state := filepath.Join(env.root, "state")
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	keepDefaultSite(t, env.config(t).NginxAvailable, env.config(t).NginxEnabled)
	env.set(t, "STATE_DIR", state)
	repo, commitA, commitB := twoCommitRepo(t, env)
	env.set(t, "ODOO_REPO", "file://"+repo)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	dropTemplatesOf(t, env.config(t).AdminDSN(), filepath.Join(state, "templates"))

	env.set(t, "ODOO_COMMIT", commitA)
	a1, _ := env.newApp(t, app.Options{})
	first := createReady(t, ctx, a1, uniqueName(t, "gca"))
	env.set(t, "ODOO_COMMIT", commitB)
	a, _ := env.newApp(t, app.Options{})
	second := createReady(t, ctx, a, uniqueName(t, "gcb"))

	for _, c := range []struct {
		inst   provision.Instance
		commit string
	}{{first, commitA}, {second, commitB}} {
		rel := c.inst.Release
		if rel.Commit != c.commit || rel.Repo != "file://"+repo || rel.Deps != "debian" || !strings.HasPrefix(filepath.Base(rel.Python), "python3") {
			t.Errorf("%s records release %+v, want commit %s of file://%s, debian, a python3", c.inst.Name, rel, c.commit, repo)
		}
		info, _ := dispatch(t, ctx, a, "info "+c.inst.Name)
		if !strings.Contains(info.text(), "file://"+repo+"@"+c.commit) || !strings.Contains(info.text(), rel.Python) {
			t.Errorf("info %s does not show its release %s@%s and its Python:\n%s", c.inst.Name, repo, c.commit, info.text())
		}
	}
	list, _ := dispatch(t, ctx, a, "list")
	for _, c := range []string{commitA[:12], commitB[:12]} {
		if !strings.Contains(list.text(), c) {
			t.Errorf("list does not show release commit %s:\n%s", c, list.text())
		}
	}

	// A backup records the release the instance runs, not the head.
	br, _ := dispatch(t, ctx, a, "backup "+first.Name)
	waitFinished(t, br)
	if bl, err := a.Service.Backups(ctx, first.Name); err != nil || len(bl) != 1 || bl[0].OdooRelease != commitA {
		t.Errorf("backup of %s: %+v, %v; want one recording commit %s", first.Name, bl, err, commitA)
	}

	keyA, keyB := first.Release.Key, second.Release.Key
	tplA, tplB := templateOf(t, ctx, a, keyA), templateOf(t, ctx, a, keyB)
	releases := filepath.Join(state, "releases")
	for _, p := range []string{filepath.Join(releases, keyA), filepath.Join(releases, keyB),
		filepath.Join(state, "templates", tplA), filepath.Join(state, "templates", tplB)} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("before the delete: %v", err)
		}
	}

	r, _ := dispatch(t, ctx, a, "delete "+first.Name)
	if f := finishes(confirmAndWait(t, ctx, a, r)); !strings.Contains(f, "deleted") {
		t.Fatalf("delete %s:\n%s", first.Name, r.text())
	}
	requireGone(t, ctx, a, first.Name)
	requireGCd(t, ctx, a, state, keyA, tplA, false)
	requireGCd(t, ctx, a, state, keyB, tplB, true)

	out, err := env.command(ctx, odoobotBin(t), "gc").CombinedOutput()
	if err != nil {
		t.Fatalf("odoobot gc: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "releases removed: none") || !strings.Contains(string(out), "releases kept: "+keyB) {
		t.Errorf("odoobot gc after the delete removed something, or does not say it kept %s:\n%s", keyB, out)
	}
	requireGCd(t, ctx, a, state, keyB, tplB, true)
	requireAnswers(t, ctx, second)
}

// keepDefaultSite puts odoobot's default nginx site back as it was when
// the test ends (after its apps are closed): the test's odoobot may
// rewrite it, and the sandbox shares the machine's /etc/nginx. nginx is
// then checked and reloaded.
func keepDefaultSite(t testing.TB, available, enabled string) {
	t.Helper()
	site := filepath.Join(available, nginx.DefaultSiteName)
	link := filepath.Join(enabled, nginx.DefaultSiteName)
	before, readErr := os.ReadFile(site)
	if readErr != nil && !os.IsNotExist(readErr) {
		t.Fatal(readErr)
	}
	_, linkErr := os.Lstat(link)
	t.Cleanup(func() {
		if readErr == nil {
			if err := os.WriteFile(site, before, 0o644); err != nil {
				t.Errorf("cleanup: restore %s: %v", site, err)
			}
		} else {
			os.Remove(site)
		}
		if linkErr != nil {
			os.Remove(link)
		}
		requireNginxTestPasses(t)
		if out, err := exec.Command("systemctl", "reload", "nginx.service").CombinedOutput(); err != nil {
			t.Errorf("cleanup: reload nginx: %v\n%s", err, out)
		}
	})
}

// twoCommitRepo clones the sandbox's stand-in repository under the
// test's root and adds a second commit; it returns the clone and its two
// commits, oldest first.
func twoCommitRepo(t *testing.T, env *createEnv) (repo, first, second string) {
	t.Helper()
	r := newTestRepo(t, env.root, os.Getenv("ODOO_REPO"), os.Getenv("ODOO_BRANCH"))
	first = r.git(r.dir, "rev-parse", "HEAD")
	return r.dir, first, r.commit("a later commit", map[string]string{"SECOND": "a later commit\n"})
}

// templateOf is the template database of release key: the one whose
// comment names it.
func templateOf(t *testing.T, ctx context.Context, a *app.App, key string) string {
	t.Helper()
	var name string
	c := connectDB(t, ctx, a, "postgres")
	if err := c.QueryRow(ctx, "SELECT datname FROM pg_database WHERE shobj_description(oid, 'pg_database') = $1",
		"odoobot release "+key).Scan(&name); err != nil {
		t.Fatalf("the template of release %s: %v", key, err)
	}
	return name
}

// requireGCd checks that release key and its template tpl (database,
// spare, role, filestore) are all there (want true) or all gone. Gone is
// waited for, up to two minutes: the collection after a delete runs once
// the delete's thread is finished, so it may still be under way when
// the test reads the thread.
func requireGCd(t *testing.T, ctx context.Context, a *app.App, state, key, tpl string, want bool) {
	t.Helper()
	look := func() map[string]bool {
		c := connectDB(t, ctx, a, "postgres")
		defer c.Close(ctx)
		var role bool
		if err := c.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", tpl+"_owner").Scan(&role); err != nil {
			t.Fatal(err)
		}
		_, dirErr := os.Stat(filepath.Join(state, "releases", key))
		_, fsErr := os.Stat(filepath.Join(state, "templates", tpl))
		parts := map[string]bool{
			"release " + key: dirErr == nil, "template " + tpl: databaseExists(t, ctx, a, tpl),
			"role " + tpl + "_owner": role, "filestore of " + tpl: fsErr == nil,
		}
		if !want {
			parts["spare "+tpl+"_spare"] = databaseExists(t, ctx, a, tpl+"_spare")
		}
		return parts
	}
	parts := look()
	if !want {
		waitFor(2*time.Minute, func() bool {
			parts = look()
			for _, there := range parts {
				if there {
					return false
				}
			}
			return true
		})
	}
	for what, there := range parts {
		if there != want {
			t.Errorf("%s present = %v, want %v", what, there, want)
		}
	}
}

// dropTemplatesOf drops, when the test ends, the template databases whose
// filestore is under dir (the test's own), with their spares, _init
// databases and roles.
func dropTemplatesOf(t *testing.T, adminDSN, dir string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		entries, _ := os.ReadDir(dir)
		if len(entries) == 0 {
			return
		}
		conn, err := pgx.Connect(ctx, adminDSN)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer conn.Close(ctx)
		for _, e := range entries {
			tpl := e.Name()
			if !strings.HasPrefix(tpl, "odoobot_tpl_") {
				continue
			}
			id := pgx.Identifier{tpl}.Sanitize()
			conn.Exec(ctx, "ALTER DATABASE "+id+" WITH IS_TEMPLATE false")
			for _, db := range []string{tpl, tpl + "_spare", tpl + "_spare_new", tpl + "_init"} {
				if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)"); err != nil {
					t.Errorf("cleanup: drop %s: %v", db, err)
				}
			}
			if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{tpl + "_owner"}.Sanitize()); err != nil {
				t.Errorf("cleanup: drop role %s_owner: %v", tpl, err)
			}
		}
	})
}
