package e2e

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"odoobot/internal/app"
	"odoobot/provision"
	"odoobot/provision/probe"
)

// TestCloneStaging: clone makes a staging copy of a live instance while
// it keeps serving: the copy has the source's data, its own identity,
// domain, user and role, is neutralized, tells robots not to index it,
// and list marks it; the source's process was never restarted. A clone
// that fails is rolled back whole, the source untouched.
func TestCloneStaging(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	env.withBackupDir(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	src := createReady(t, ctx, a, uniqueName(t, "prod"))
	db := connectDB(t, ctx, a, src.Internal)
	if _, err := db.Exec(ctx, "INSERT INTO ir_config_parameter (key, value) VALUES ('e2e.customer', 'ACME SA')"); err != nil {
		t.Fatal(err)
	}
	db.Close(ctx)
	dst := uniqueName(t, "stg")
	destroyLater(t, a, dst)
	clone := requireClone(t, ctx, a, src, dst, "clone "+src.Name+" "+dst)
	if got := configParam(t, ctx, a, clone.Internal, "e2e.customer"); got != "ACME SA" {
		t.Errorf("the clone's data: e2e.customer = %q, want the source's", got)
	}
	requireAnswers(t, ctx, clone) // the stand-in says which database it serves
	requireTenantsApart(t, ctx, a, clone, src)

	t.Run("a failed clone leaves nothing", func(t *testing.T) {
		failing, closeApp := env.newApp(t, app.Options{FailAt: provision.StepNeutralize})
		defer closeApp()
		name := uniqueName(t, "stg-fail")
		destroyLater(t, a, name)
		r, _ := dispatch(t, ctx, failing, "clone "+src.Name+" "+name)
		if f := finishes(waitFinished(t, r)); !strings.Contains(f, "failed and was rolled back") {
			t.Fatalf("the failed clone:\n%s", r.text())
		}
		requireGone(t, ctx, failing, name)
		requireAnswers(t, ctx, src)
	})
}

// requireClone runs text (a clone of src to dst) through the dispatcher
// while checking, every 100 ms, that src answers; then checks the copy as
// an operator would and returns it.
func requireClone(t *testing.T, ctx context.Context, a *app.App, src provision.Instance, dst, text string) provision.Instance {
	t.Helper()
	before, err := a.Services.Status(ctx, src.Unit)
	if err != nil {
		t.Fatal(err)
	}
	var probes, failures atomic.Int32
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			probes.Add(1)
			if !probe.Healthy(ctx, src.Ports.HTTP) {
				failures.Add(1)
			}
		}
	}()
	start := time.Now()
	r, _ := dispatch(t, ctx, a, text)
	f := finishes(waitFinished(t, r))
	close(stop)
	<-done
	t.Logf("clone %s → %s took %s; the source answered %d of %d health checks meanwhile", src.Name, dst, time.Since(start).Round(time.Millisecond), probes.Load()-failures.Load(), probes.Load())
	if !strings.Contains(f, "is a staging copy of "+src.Name) {
		t.Fatalf("clone did not succeed:\n%s", r.text())
	}
	t.Logf("the clone's thread:\n%s", r.text())
	if failures.Load() != 0 {
		t.Errorf("the source failed %d of %d health checks during the clone", failures.Load(), probes.Load())
	}
	after, err := a.Services.Status(ctx, src.Unit)
	if err != nil || after.MainPID != before.MainPID || !after.Running() {
		t.Errorf("the source's service: PID %d before, %+v after (%v): it must keep running untouched", before.MainPID, after, err)
	}
	clone, err := a.Store.Instance(ctx, dst)
	if err != nil || clone.State != provision.StateReady || clone.StagingOf != src.Name {
		t.Fatalf("the clone in the store: %+v, %v", clone, err)
	}
	if configParam(t, ctx, a, clone.Internal, "database.uuid") == configParam(t, ctx, a, src.Internal, "database.uuid") {
		t.Errorf("the clone kept the source's database.uuid")
	}
	if got, want := configParam(t, ctx, a, clone.Internal, "web.base.url"), "http://"+clone.Domain; got != want {
		t.Errorf("the clone's web.base.url = %q, want %q", got, want)
	}
	if got := configParam(t, ctx, a, clone.Internal, "database.is_neutralized"); !strings.EqualFold(got, "true") {
		t.Errorf("the clone's database.is_neutralized = %q, want True", got)
	}
	var srcNeutralized int
	c := connectDB(t, ctx, a, src.Internal)
	if err := c.QueryRow(ctx, "SELECT count(*) FROM ir_config_parameter WHERE key = 'database.is_neutralized'").Scan(&srcNeutralized); err != nil || srcNeutralized != 0 {
		t.Errorf("the source was neutralized too (%d, %v)", srcNeutralized, err)
	}
	if resp, _, err := get(ctx, clone.Domain, "/web/login"); err != nil || resp.StatusCode != 200 {
		t.Errorf("GET /web/login of the clone %s through nginx: %v, %v", clone.Domain, resp, err)
	}
	resp, body, err := get(ctx, clone.Domain, "/robots.txt")
	if err != nil || !strings.Contains(body, "Disallow: /") || !strings.Contains(resp.Header.Get("X-Robots-Tag"), "noindex") {
		t.Errorf("the clone's robots.txt: %v\n%s", err, body)
	}
	if resp, _, err := get(ctx, src.Domain, "/robots.txt"); err == nil && resp.Header.Get("X-Robots-Tag") != "" {
		t.Errorf("the source tells robots not to index it")
	}
	lr, _ := dispatch(t, ctx, a, "list")
	if !strings.Contains(lr.text(), "staging of "+src.Name) {
		t.Errorf("list does not mark the clone:\n%s", lr.text())
	}
	return clone
}
