package e2e

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"odoobot/internal/app"
	"odoobot/provision/cloudflare/cftest"
)

// The tests of DNS ownership run the real odoobot binary against the
// Cloudflare double: a record is odoobot's because its state says it made
// it, and the sweep deletes only what that state says is gone.

const dnsServerID = "e2e-own"

// dnsEnv is a test's configuration with the Cloudflare double managing
// DNS, as this server (ODOOBOT_SERVER_ID dnsServerID, PUBLIC_IP
// 127.0.0.1).
func dnsEnv(t *testing.T) (*createEnv, *cftest.Server, string) {
	t.Helper()
	needSandbox(t)
	env := newCreateEnv(t)
	zone := os.Getenv("CF_ZONE_NAME")
	cf := cftest.New(zone, "e2e-token")
	t.Setenv("CF_API_BASE_URL", cf.Start())
	t.Cleanup(cf.Close)
	t.Setenv("CF_API_TOKEN", "e2e-token")
	t.Setenv("PUBLIC_IP", "127.0.0.1")
	t.Setenv("ODOOBOT_SERVER_ID", dnsServerID)
	return env, cf, zone
}

// changes lists the requests after the first n that change records.
func changes(cf *cftest.Server, n int) []string {
	var out []string
	for _, r := range cf.Requests()[n:] {
		if r.Method != http.MethodGet {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

func forgedMark(label string) string {
	return "managed-by: odoobot server=" + dnsServerID + " instance=" + label
}

// A changing verb, and serve, run with a mistyped STATE_DB_NAME (a new,
// empty state database beside a live instance) delete no DNS record and
// say why the sweep stopped.
func TestDNSWrongStateDBDeletesNothing(t *testing.T) {
	bin := odoobotBin(t)
	env, cf, _ := dnsEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	live := createReady(t, ctx, a, uniqueName(t, "live"))
	before := cf.Records()
	if !slices.ContainsFunc(before, func(r cftest.Record) bool { return r.Name == live.Domain }) {
		t.Fatalf("no record of %s after its creation: %+v", live.Domain, before)
	}
	typo := env.stateDB + "_typo"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, a.Config.AdminDSN()); err == nil {
			conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{typo}.Sanitize()+" WITH (FORCE)")
			conn.Close(ctx)
		}
	})
	n := cf.RequestCount()
	for _, args := range [][]string{{"delete", live.Name, "--yes"}, {"restart", live.Name}, {"serve"}} {
		cmd := env.command(ctx, bin, args...)
		cmd.Env = append(cmd.Env, "STATE_DB_NAME="+typo)
		out, _ := cmd.CombinedOutput()
		t.Logf("odoobot %s with STATE_DB_NAME=%s:\n%s", strings.Join(args, " "), typo, out)
		for _, want := range []string{"DNS sweep stopped, no record deleted", typo, "STATE_DB_NAME", live.Internal} {
			if !strings.Contains(string(out), want) {
				t.Errorf("odoobot %s with a mistyped STATE_DB_NAME does not say %q", args[0], want)
			}
		}
	}
	if got := changes(cf, n); len(got) != 0 {
		t.Errorf("with a mistyped STATE_DB_NAME odoobot sent %v", got)
	}
	if diff := cmp.Diff(cf.Records(), before); diff != "" {
		t.Errorf("records changed (-got +want):\n%s", diff)
	}
	requireAnswers(t, ctx, live)
}

// Records someone else made carrying this server's mark for kappa (A and
// TXT) are refused by `create kappa`, which says so, and left untouched
// by it and by the sweep of serve.
func TestDNSForgedMarkIsRefused(t *testing.T) {
	bin := odoobotBin(t)
	env, cf, zone := dnsEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	name := uniqueName(t, "kappa")
	destroyLater(t, a, name)
	domain := name + "." + zone
	cf.AddRecord(cftest.Record{Type: "A", Name: domain, Content: "192.0.2.66", Proxied: true, Comment: forgedMark(name)})
	cf.AddRecord(cftest.Record{Type: "TXT", Name: "_acme-challenge." + domain, Content: `"forged"`, TTL: 120, Comment: forgedMark(name)})
	before := cf.Records()
	n := cf.RequestCount()

	out, err := env.command(ctx, bin, "create", name, "http").CombinedOutput()
	t.Logf("odoobot create %s:\n%s", name, out)
	if err == nil {
		t.Errorf("create over a forged mark exited 0")
	}
	for _, want := range []string{"carrying this server's mark", "not made by it"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("create does not say %q", want)
		}
	}
	serve, _ := env.command(ctx, bin, "serve").CombinedOutput()
	t.Logf("odoobot serve:\n%s", serve)
	if got := changes(cf, n); len(got) != 0 {
		t.Errorf("odoobot changed records it did not make: %v", got)
	}
	if diff := cmp.Diff(cf.Records(), before); diff != "" {
		t.Errorf("records changed (-got +want):\n%s", diff)
	}
}

// A serve starting with a slow record listing serves chat at once (the
// sweep runs in the background), a CLI create meanwhile keeps its record,
// and the sweep still does its job: the record of a create whose answer
// was lost, applied by Cloudflare after the creation was rolled back, is
// deleted.
func TestDNSSweepRacesCreateAndRemovesLateOrphan(t *testing.T) {
	bin := odoobotBin(t)
	env, cf, zone := dnsEnv(t)
	// Short API bounds, as an operator may set them, keep the test quick:
	// an attempt gives up after 2 s, an operation after 8 s.
	for k, v := range map[string]string{"CF_REQUEST_TIMEOUT": "2s", "CF_API_TIMEOUT": "8s"} {
		env.overrides[k] = v
		t.Setenv(k, v)
	}
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()

	// A creation whose POST is answered after the operation's 8 s bound
	// and the look-ups after it: it fails and is rolled back, and the
	// record appears later.
	lost := uniqueName(t, "lost")
	destroyLater(t, a, lost)
	lostDomain := lost + "." + zone
	cf.HoldNext(http.MethodPost, 20*time.Second)
	out, err := env.command(ctx, bin, "create", lost, "http").CombinedOutput()
	t.Logf("odoobot create %s (its answer lost):\n%s", lost, out)
	if err == nil {
		t.Fatalf("create %s succeeded though its record was not confirmed", lost)
	}
	if !waitFor(time.Minute, func() bool {
		return slices.ContainsFunc(cf.Records(), func(r cftest.Record) bool { return r.Name == lostDomain })
	}) {
		t.Fatalf("the late create of %s was never applied: %+v", lostDomain, cf.Records())
	}

	// serve starts; its sweep's listing is slow.
	cf.HoldNextList(30 * time.Second)
	serve := env.command(ctx, bin, "serve")
	stdin, err := serve.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := serve.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var serveErr strings.Builder
	serve.Stderr = &serveErr
	start := time.Now()
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	var terminalAt time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			if terminalAt == 0 && strings.Contains(sc.Text(), "odoobot terminal") {
				terminalAt = time.Since(start)
			}
			mu.Unlock()
		}
		io.Copy(io.Discard, stdout)
	}()
	if !waitFor(10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return terminalAt > 0 }) {
		t.Errorf("serve did not serve chat within 10 s of its start while its sweep's listing was held for 30 s")
	}
	io.WriteString(stdin, "list\n")

	// A CLI create meanwhile.
	fresh := uniqueName(t, "fresh")
	destroyLater(t, a, fresh)
	freshDomain := fresh + "." + zone
	out, err = env.command(ctx, bin, "create", fresh, "http").CombinedOutput()
	t.Logf("odoobot create %s during serve's sweep:\n%s", fresh, out)
	if err != nil {
		t.Fatalf("create %s: %v", fresh, err)
	}
	stdin.Close()
	<-done
	if err := serve.Wait(); err != nil {
		t.Errorf("serve: %v", err)
	}
	mu.Lock()
	t.Logf("serve (chat served after %s):\n%s\n%s", terminalAt, strings.Join(lines, "\n"), serveErr.String())
	mu.Unlock()

	var names []string
	for _, r := range cf.Records() {
		names = append(names, r.Name)
	}
	if !slices.Contains(names, freshDomain) {
		t.Errorf("the record of %s, created during serve's sweep, is gone: records %v", freshDomain, names)
	}
	if slices.Contains(names, lostDomain) {
		t.Errorf("the late record of the rolled-back %s is still there: records %v", lostDomain, names)
	}
	inst, err := a.Store.Instance(ctx, fresh)
	if err != nil || inst.State != "ready" {
		t.Errorf("instance %s: %+v, %v; want ready", fresh, inst, err)
	}
	requireAnswers(t, ctx, inst)
}
