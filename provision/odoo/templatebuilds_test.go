package odoo_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"odoobot/internal/standin"
	"odoobot/internal/testenv"
	"odoobot/provision"
)

// gatedRelease is a release running the stand-in through a wrapper that
// counts its runs (the returned runs file), says it is installing module
// 1 of 3 as Odoo's log would, then waits for the gate file to exist
// (for two minutes at most) before the stand-in runs: a template build
// the test can watch.
func gatedRelease(t *testing.T) (rel provision.Release, runs, gate string) {
	t.Helper()
	repo := standin.Repo(t)
	dir := t.TempDir()
	runs, gate = filepath.Join(dir, "runs"), filepath.Join(dir, "gate")
	body := fmt.Sprintf(`#!/bin/sh
echo run "$@" >> '%s'
echo "2026-01-01 00:00:00,000 1 INFO db odoo.modules.loading: loading 3 modules..."
echo "2026-01-01 00:00:00,000 1 INFO db odoo.modules.loading: loading base/data/base_data.sql"
n=0
while [ ! -e '%s' ] && [ $n -lt 1200 ]; do sleep 0.1; n=$((n+1)); done
exec '%s' '%s' "$@"
`, runs, gate, testenv.LookPath(t, "python3"), filepath.Join(repo, standin.Bin))
	bin := filepath.Join(dir, "odoo-bin")
	if err := os.WriteFile(bin, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	// A test that fails with the gate shut lets its odoo-bin go.
	t.Cleanup(func() { os.WriteFile(gate, nil, 0o644) })
	return provision.Release{
		Key: "test-" + randHex(8), Commit: strings.Repeat("ab", 20), Version: "19.0",
		Dir: repo, Python: "/bin/sh", OdooBin: bin,
		AddonsPaths: []string{filepath.Join(repo, standin.AddonsDir)},
	}, runs, gate
}

// lines collects progress lines, safe for concurrent use.
type lines struct {
	mu sync.Mutex
	l  []string
}

func (l *lines) add(s string) { l.mu.Lock(); l.l = append(l.l, s); l.mu.Unlock() }
func (l *lines) has(sub string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.l, func(s string) bool { return strings.Contains(s, sub) })
}
func (l *lines) String() string { l.mu.Lock(); defer l.mu.Unlock(); return strings.Join(l.l, "\n") }

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after a minute: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCreationWaitsForTheRunningBuild: a creation that needs a template
// another creation of this process is building waits for that build,
// sees that it waits and the build's progress, and no second odoo-bin
// runs.
func TestCreationWaitsForTheRunningBuild(t *testing.T) {
	e := newDBEnv(t)
	rel, runs, gate := gatedRelease(t)
	spec := func(n string, l *lines) provision.DatabaseSpec {
		e.dropAtEnd(t, e.name(n))
		return provision.DatabaseSpec{Name: e.name(n), Release: rel, Modules: []string{"contacts"},
			BaseURL: "https://" + n + ".example.com", DataDir: t.TempDir(), Progress: l.add}
	}
	var first, second lines
	a, b := spec("first", &first), spec("second", &second)
	tpl := e.d.TemplateName(a)
	e.dropAtEnd(t, tpl, tpl+"_init")

	errs := make(chan error, 2)
	go func() { errs <- e.create(t, a) }()
	waitUntil(t, "the first creation's build reports its progress", func() bool { return first.has("installing modules 1/3") })
	go func() { errs <- e.create(t, b) }()
	waitUntil(t, "the second creation says it waits for the build, with its progress:\n"+second.String(), func() bool {
		return second.has("waiting for template "+tpl) && second.has("installing modules 1/3")
	})
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("Create: %v", err)
		}
	}
	if n := countRuns(t, runs); n != 1 {
		t.Errorf("odoo-bin ran %d times for two creations of one template, want 1", n)
	}
	if !e.exists(t, b.Name) {
		t.Errorf("the waiting creation made no database")
	}
}

// TestEnsureTemplateConcurrentBuildsOnce: two concurrent EnsureTemplate
// (the warmer's and a creation's) build once; while the build runs,
// Templates shows it building with its progress; once made, ready with
// its release, modules, size and age; a later EnsureTemplate builds
// nothing.
func TestEnsureTemplateConcurrentBuildsOnce(t *testing.T) {
	e := newDBEnv(t)
	rel, runs, gate := gatedRelease(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var warm, other lines
	spec := provision.DatabaseSpec{Release: rel, Modules: []string{"contacts", "web"}, Progress: warm.add}
	tpl := e.d.TemplateName(spec)
	e.dropAtEnd(t, tpl, tpl+"_init")

	type result struct {
		built bool
		err   error
	}
	res := make(chan result, 2)
	ensure := func(s provision.DatabaseSpec) {
		_, built, err := e.d.EnsureTemplate(ctx, s)
		res <- result{built, err}
	}
	go ensure(spec)
	waitUntil(t, "the build reports its progress", func() bool { return warm.has("installing modules 1/3") })
	s2 := spec
	s2.Progress = other.add
	go ensure(s2)
	waitUntil(t, "the second ensure waits for the first's build:\n"+other.String(), func() bool { return other.has("installing modules 1/3") })

	list, err := e.d.Templates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(list, func(x provision.TemplateInfo) bool { return x.Name == tpl })
	if i < 0 || list[i].State != provision.TemplateBuilding || list[i].Progress != "installing modules 1/3" || list[i].Release != rel.Commit[:12] {
		t.Errorf("Templates while building: %+v; want %s building, at installing modules 1/3, release %s", list, tpl, rel.Commit[:12])
	}

	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if r := <-res; r.err != nil || !r.built {
			t.Fatalf("EnsureTemplate: built %v, %v; want built (or waited for), nil", r.built, r.err)
		}
	}
	if n, started := countRuns(t, runs), e.d.TemplateBuildsStarted(); n != 1 || started != 1 {
		t.Errorf("two concurrent ensures: odoo-bin ran %d times, %d builds started; want 1 and 1", n, started)
	}
	if _, built, err := e.d.EnsureTemplate(ctx, spec); err != nil || built {
		t.Errorf("EnsureTemplate of a ready template: built %v, %v; want false, nil", built, err)
	}
	list, err = e.d.Templates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i = slices.IndexFunc(list, func(x provision.TemplateInfo) bool { return x.Name == tpl })
	if i < 0 {
		t.Fatalf("Templates after the build does not list %s: %+v", tpl, list)
	}
	got := list[i]
	if got.State != provision.TemplateReady || !slices.Equal(got.Modules, []string{"contacts", "web"}) || got.Version != "19.0" ||
		got.Size <= 0 || time.Since(got.Since) > time.Minute {
		t.Errorf("Templates after the build: %+v; want ready, modules contacts,web, Odoo 19.0, a size, made just now", got)
	}
}

// TestFailedTemplateBuildIsListed: a build that fails is listed as
// failed with odoo-bin's error, and the next ensure tries again.
func TestFailedTemplateBuildIsListed(t *testing.T) {
	e := newDBEnv(t)
	rel, runs := wrappedRelease(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	spec := provision.DatabaseSpec{Release: rel, Modules: []string{"contacts"}}
	tpl := e.d.TemplateName(spec)
	e.dropAtEnd(t, tpl, tpl+"_init")
	if _, _, err := e.d.EnsureTemplate(ctx, spec); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("EnsureTemplate with an odoo-bin that fails: %v; want its error", err)
	}
	list, err := e.d.Templates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(list, func(x provision.TemplateInfo) bool { return x.Name == tpl })
	if i < 0 || list[i].State != provision.TemplateFailed || !strings.Contains(list[i].Error, "boom") {
		t.Errorf("Templates after a failed build: %+v; want %s failed, saying boom", list, tpl)
	}
	if _, _, err := e.d.EnsureTemplate(ctx, spec); err == nil {
		t.Fatal("the second EnsureTemplate succeeded with an odoo-bin that fails")
	}
	if n := countRuns(t, runs); n != 2 {
		t.Errorf("odoo-bin ran %d times for two ensures of a failing template, want 2 (a failure is tried again)", n)
	}
}

// TestWaiterTakesOverAnAbandonedBuild: when the caller that leads a
// build goes away (its context ends), a caller waiting for the build
// builds the template itself.
func TestWaiterTakesOverAnAbandonedBuild(t *testing.T) {
	e := newDBEnv(t)
	rel, _, gate := gatedRelease(t)
	var lead, wait lines
	spec := provision.DatabaseSpec{Release: rel, Modules: []string{"contacts"}, Progress: lead.add}
	tpl := e.d.TemplateName(spec)
	e.dropAtEnd(t, tpl, tpl+"_init")
	lctx, lcancel := context.WithCancel(context.Background())
	defer lcancel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	lerr := make(chan error, 1)
	go func() { _, _, err := e.d.EnsureTemplate(lctx, spec); lerr <- err }()
	waitUntil(t, "the build reports its progress", func() bool { return lead.has("installing modules 1/3") })
	werr := make(chan error, 1)
	s2 := spec
	s2.Progress = wait.add
	go func() { _, _, err := e.d.EnsureTemplate(ctx, s2); werr <- err }()
	waitUntil(t, "the second caller waits", func() bool { return wait.has("waiting for template") })
	lcancel()
	if err := <-lerr; err == nil {
		t.Fatal("the cancelled build succeeded")
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-werr; err != nil {
		t.Fatalf("the waiter, once the build it waited for was abandoned: %v; want it to build the template", err)
	}
	if !e.exists(t, tpl) {
		t.Errorf("template %s not made", tpl)
	}
}

// TestEnsureTemplateMakesItsSpare: a template built ahead of need has its
// spare copy made, so the first creation from it takes the spare.
func TestEnsureTemplateMakesItsSpare(t *testing.T) {
	e := newDBEnv(t)
	rel, _ := wrappedRelease(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	spec := provision.DatabaseSpec{Release: rel, Modules: []string{"contacts"}}
	tpl := e.d.TemplateName(spec)
	e.dropAtEnd(t, tpl, tpl+"_init", tpl+"_spare", tpl+"_spare_new")
	if _, built, err := e.d.EnsureTemplate(ctx, spec); err != nil || !built {
		t.Fatalf("EnsureTemplate: built %v, %v", built, err)
	}
	waitUntil(t, "the spare of the template built ahead is made", func() bool { return e.exists(t, tpl+"_spare") })
}
