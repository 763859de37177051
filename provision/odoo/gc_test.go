package odoo_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/provision"
	"odoobot/provision/odoo"
)

// gcEnv is two releases of one cache (the stand-in pinned at its first
// commit, A, and at its head, B, built in that order: B is the newest),
// each with a template made by a database created from it.
type gcEnv struct {
	e          *dbEnv
	cache      string
	relA, relB provision.Release
	tplA, tplB string
	collector  *odoo.Collector
}

func newGCEnv(t *testing.T) *gcEnv {
	t.Helper()
	e := newDBEnv(t)
	repo, first := pinnedRepo(t)
	cfg := releaseConfig(t, repo)
	g := &gcEnv{e: e, cache: cfg.CacheDir}
	cfg.Commit = first
	relsA := odoo.NewReleases(cfg)
	g.relA = ensure(t, relsA)
	cfg.Commit = git(t, repo, "rev-parse", "HEAD")
	g.relB = ensure(t, odoo.NewReleases(cfg))
	if g.relA.Key == g.relB.Key {
		t.Fatalf("both pins gave release %s", g.relA.Key)
	}
	for _, rel := range []provision.Release{g.relA, g.relB} {
		spec := provision.DatabaseSpec{Name: e.name(rel.Key[:6]), Release: rel, Modules: []string{"web"},
			BaseURL: "https://x.example.com", DataDir: t.TempDir()}
		tpl := e.d.TemplateName(spec)
		// Cleanups run last first: the role goes after the databases.
		t.Cleanup(func() { e.exec(t, "postgres", "DROP ROLE IF EXISTS "+pgx.Identifier{tpl + "_owner"}.Sanitize()) })
		e.dropAtEnd(t, spec.Name, tpl, tpl+"_init", tpl+"_spare", tpl+"_spare_new")
		if err := e.create(t, spec); err != nil {
			t.Fatalf("create from release %s: %v", rel.Key, err)
		}
		if rel.Key == g.relA.Key {
			g.tplA = tpl
		} else {
			g.tplB = tpl
		}
	}
	e.d.Close() // the spares made in the background are there
	g.collector = &odoo.Collector{Releases: relsA, Databases: e.d}
	return g
}

func (g *gcEnv) collect(t *testing.T, use provision.ReleasesInUse, useErr error) (provision.GCReport, error) {
	t.Helper()
	return g.collectOnly(t, "", use, useErr)
}

func (g *gcEnv) collectOnly(t *testing.T, only string, use provision.ReleasesInUse, useErr error) (provision.GCReport, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return g.collector.Collect(ctx, only, func(context.Context) (provision.ReleasesInUse, error) { return use, useErr })
}

// present says what is left of a release and its template.
func (g *gcEnv) present(t *testing.T, rel provision.Release, tpl string) map[string]bool {
	t.Helper()
	_, dirErr := os.Stat(rel.Dir)
	_, fsErr := os.Stat(filepath.Join(g.e.cfg.FilestoreDir, tpl))
	var role bool
	g.e.query(t, "postgres", "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", &role, tpl+"_owner")
	return map[string]bool{
		"release dir": dirErr == nil, "template": g.e.exists(t, tpl), "spare": g.e.exists(t, tpl+"_spare"),
		"template role": role, "template filestore": fsErr == nil,
	}
}

func (g *gcEnv) wantAll(t *testing.T, what string, rel provision.Release, tpl string, want bool) {
	t.Helper()
	for part, ok := range g.present(t, rel, tpl) {
		if ok != want {
			t.Errorf("%s: %s of release %s present = %v, want %v", what, part, rel.Key, ok, want)
		}
	}
}

// TestCollect: the releases and templates an instance uses, the one a
// legacy instance's files name, and the newest are kept; the rest go,
// with the template's spare, role and filestore; nothing goes while a
// creation runs, nor a template without its release comment. A release
// collected is built again by the next Ensure.
func TestCollect(t *testing.T) {
	g := newGCEnv(t)
	e := g.e

	var comment string
	e.query(t, "postgres", "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = $1", &comment, g.tplA)
	if comment != "odoobot release "+g.relA.Key {
		t.Errorf("template %s's comment = %q, want it to name release %s", g.tplA, comment, g.relA.Key)
	}

	// A template made before templates recorded their release.
	unmarked := "odoobot_tpl_0000" + randHex(4)
	e.exec(t, "postgres", "CREATE DATABASE "+pgx.Identifier{unmarked}.Sanitize())
	e.dropAtEnd(t, unmarked)
	if err := os.MkdirAll(filepath.Join(e.cfg.FilestoreDir, unmarked), 0o755); err != nil {
		t.Fatal(err)
	}

	// A creation is running: nothing is removed.
	busy := provision.ErrCreationRunning
	if _, err := g.collect(t, provision.ReleasesInUse{}, busy); !errors.Is(err, busy) {
		t.Errorf("gc during a creation: err = %v, want %v", err, busy)
	}
	g.wantAll(t, "during a creation", g.relA, g.tplA, true)

	// An instance records A: A is kept; B is the newest: kept.
	rep, err := g.collect(t, provision.ReleasesInUse{Keys: map[string]bool{g.relA.Key: true}}, nil)
	if err != nil {
		t.Fatalf("gc: %v", err)
	}
	if len(rep.RemovedReleases) > 0 || len(rep.RemovedTemplates) > 0 || rep.Newest != g.relB.Key {
		t.Errorf("gc with A in use and B newest: %+v; want nothing removed, newest %s", rep, g.relB.Key)
	}

	// A legacy instance that records no release runs A, as its
	// odoo.conf says.
	conf := filepath.Join(t.TempDir(), "odoo.conf")
	if err := os.WriteFile(conf, []byte("[options]\naddons_path = "+filepath.Join(g.relA.Dir, "odoo", "addons")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err = g.collect(t, provision.ReleasesInUse{Files: []string{conf, filepath.Join(t.TempDir(), "gone.service")}}, nil)
	if err != nil {
		t.Fatalf("gc: %v", err)
	}
	if len(rep.RemovedReleases) > 0 || len(rep.RemovedTemplates) > 0 {
		t.Errorf("gc with a legacy instance on A: removed %v and %v, want nothing", rep.RemovedReleases, rep.RemovedTemplates)
	}
	g.wantAll(t, "legacy instance on A", g.relA, g.tplA, true)

	// No instance uses A any more, as after the delete of its last
	// instance: collected alone, A and its template go; B, the newest,
	// stays whoever asks; the unmarked template is left alone.
	rep, err = g.collectOnly(t, g.relB.Key, provision.ReleasesInUse{}, nil)
	if err != nil || len(rep.RemovedReleases) > 0 || len(rep.RemovedTemplates) > 0 {
		t.Errorf("gc of B alone, the newest: %+v, %v; want nothing removed", rep, err)
	}
	rep, err = g.collectOnly(t, g.relA.Key, provision.ReleasesInUse{}, nil)
	if err != nil {
		t.Fatalf("gc: %v", err)
	}
	if !slices.Equal(rep.RemovedReleases, []string{g.relA.Key}) || !slices.Equal(rep.RemovedTemplates, []string{g.tplA}) {
		t.Errorf("gc of A with no instance: removed releases %v templates %v, want [%s] [%s]", rep.RemovedReleases, rep.RemovedTemplates, g.relA.Key, g.tplA)
	}
	rep, err = g.collect(t, provision.ReleasesInUse{}, nil)
	if err != nil {
		t.Fatalf("gc: %v", err)
	}
	if len(rep.RemovedReleases) > 0 || len(rep.RemovedTemplates) > 0 || !slices.Equal(rep.KeptReleases, []string{g.relB.Key}) {
		t.Errorf("gc of everything after A went: %+v; want nothing more removed, B kept", rep)
	}
	if !slices.Contains(rep.UnmarkedTemplates, unmarked) || !e.exists(t, unmarked) {
		t.Errorf("the unmarked template %s: listed %v, exists %v; want left alone and said so", unmarked, rep.UnmarkedTemplates, e.exists(t, unmarked))
	}
	g.wantAll(t, "A after gc", g.relA, g.tplA, false)
	g.wantAll(t, "B after gc", g.relB, g.tplB, true)
	if e.exists(t, g.tplA+"_init") {
		t.Errorf("%s_init is left", g.tplA)
	}

	// Pinning A again builds it again.
	rebuilt := ensure(t, g.collector.Releases)
	if rebuilt.Key != g.relA.Key || odoo.BuildCount(g.collector.Releases) != 2 {
		t.Errorf("Ensure after gc: release %s, %d builds; want %s built again", rebuilt.Key, odoo.BuildCount(g.collector.Releases), g.relA.Key)
	}
}
