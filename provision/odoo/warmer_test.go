package odoo_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"odoobot/internal/standin"
	"odoobot/provision"
	"odoobot/provision/odoo"
)

// TestWarmerBuildsAheadOfNeed: the warmer builds the configured release
// and its template when it starts, builds nothing more while the branch
// stays, and, kicked after a commit on the branch, builds the new
// release's template; the templates it lists mark the configured one.
func TestWarmerBuildsAheadOfNeed(t *testing.T) {
	e := newDBEnv(t)
	repo := standin.Repo(t)
	releases := odoo.NewReleases(releaseConfig(t, repo))
	w := odoo.NewWarmer(odoo.WarmerConfig{Releases: releases, Databases: e.d, Modules: []string{"contacts"}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	configured := func() string { tpl, _ := w.Configured(); return tpl }
	waitUntil(t, "the warmer builds the configured template at start", func() bool { return configured() != "" })
	first := configured()
	e.dropAtEnd(t, first, first+"_init")
	if !e.exists(t, first) {
		t.Fatalf("template %s does not exist after the warmer's first check", first)
	}
	if tpl, err := w.Check(ctx); err != nil || tpl != first || e.d.TemplateBuildsStarted() != 1 || odoo.BuildCount(releases) != 1 {
		t.Errorf("a check with the branch unmoved: %s, %v, %d template builds, %d release builds; want %s, nil, 1, 1",
			tpl, err, e.d.TemplateBuildsStarted(), odoo.BuildCount(releases), first)
	}

	git(t, repo, "commit", "-q", "--allow-empty", "--no-gpg-sign", "-m", "next")
	w.Kick()
	waitUntil(t, "the warmer, kicked, builds the new commit's template", func() bool { return configured() != first })
	second := configured()
	e.dropAtEnd(t, second, second+"_init")
	if !e.exists(t, second) || e.d.TemplateBuildsStarted() != 2 {
		t.Errorf("after a commit: template %s exists %v, %d template builds; want it made, 2 builds", second, e.exists(t, second), e.d.TemplateBuildsStarted())
	}
	list, err := w.Templates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(list, func(x provision.TemplateInfo) bool { return x.Name == second })
	j := slices.IndexFunc(list, func(x provision.TemplateInfo) bool { return x.Name == first })
	if i < 0 || j < 0 || !list[i].Configured || list[j].Configured || list[i].Release != git(t, repo, "rev-parse", "HEAD")[:12] {
		t.Errorf("templates: %+v; want %s configured (release HEAD), %s not", list, second, first)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestWarmerAlertsOnceUntilItWorks: a check that fails is alerted, the
// same failure again is not, and Configured says why.
func TestWarmerAlertsOnceUntilItWorks(t *testing.T) {
	cfg := releaseConfig(t, filepath.Join(t.TempDir(), "no-such-repo"))
	var mu sync.Mutex
	var alerts []string
	d := odoo.NewDatabases(odoo.DatabaseConfig{})
	w := odoo.NewWarmer(odoo.WarmerConfig{Releases: odoo.NewReleases(cfg), Databases: d,
		Alert: func(_ context.Context, text string) { mu.Lock(); alerts = append(alerts, text); mu.Unlock() }})
	ctx := context.Background()
	for range 2 {
		if _, err := w.Check(ctx); err == nil {
			t.Fatal("a check of a repository that does not exist succeeded")
		}
	}
	if len(alerts) != 1 || !strings.Contains(alerts[0], "no-such-repo") {
		t.Errorf("alerts after two failed checks: %q; want one, naming the repository", alerts)
	}
	if _, failing := w.Configured(); !strings.Contains(failing, "no-such-repo") {
		t.Errorf("Configured's failure: %q", failing)
	}
}
