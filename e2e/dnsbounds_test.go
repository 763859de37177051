package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"odoobot/internal/app"
	"odoobot/provision"
	"odoobot/provision/cloudflare/cftest"
)

// The TestDNSBounds* tests run the real odoobot binary against the
// Cloudflare double made slow, silent or strict: every call is bounded,
// a 429's wait shows in the thread, and a name whose DNS mark would not
// fit is refused before anything is built.

// dnsDouble starts the Cloudflare double and points the test's
// configuration (the environment the binary inherits) at it.
func dnsDouble(t *testing.T) *cftest.Server {
	t.Helper()
	cf := cftest.New(os.Getenv("CF_ZONE_NAME"), "e2e-bounds-token")
	t.Setenv("CF_API_BASE_URL", cf.Start())
	t.Cleanup(cf.Close)
	t.Setenv("CF_API_TOKEN", "e2e-bounds-token")
	t.Setenv("PUBLIC_IP", "127.0.0.1")
	return cf
}

// runBinary runs the real binary with args and returns its output, how
// long it took, and its error.
func runBinary(t *testing.T, ctx context.Context, env *createEnv, args ...string) (string, time.Duration, error) {
	t.Helper()
	cmd := env.command(ctx, odoobotBin(t), args...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	t.Logf("odoobot %s: %v after %v\n%s", strings.Join(args, " "), err, d.Round(100*time.Millisecond), out)
	return string(out), d, err
}

// runOK runs the real binary with args and returns its output, failing
// the test when it fails.
func runOK(t *testing.T, ctx context.Context, env *createEnv, args ...string) string {
	t.Helper()
	out, _, err := runBinary(t, ctx, env, args...)
	if err != nil {
		t.Fatalf("odoobot %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// serveBriefly runs `odoobot serve` with the terminal adapter and the
// extra environment given, writes input to it, and ends it (its standard
// input closed) once until holds of what it printed or wait has passed;
// it returns what it printed. A serve that fails fails the test.
func serveBriefly(t *testing.T, ctx context.Context, env *createEnv, extra []string, input string, wait time.Duration, until func(out string) bool) string {
	t.Helper()
	serve := env.command(ctx, odoobotBin(t), "serve")
	serve.Env = append(serve.Env, extra...)
	stdin, err := serve.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	serve.Stdout, serve.Stderr = &out, &out
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(stdin, input)
	waitFor(wait, func() bool { return until(out.String()) })
	stdin.Close()
	if err := serve.Wait(); err != nil {
		t.Errorf("odoobot serve: %v\n%s", err, out.String())
	}
	return out.String()
}

// requireNothingBuilt checks that no trace of name is on the host or in
// the state.
func requireNothingBuilt(t *testing.T, ctx context.Context, a *app.App, name string) {
	t.Helper()
	if inst, err := a.Store.Instance(ctx, name); err == nil {
		t.Errorf("instance %s is in the state (%s), want nothing built", name, inst.State)
	}
	layout := a.Config.Layout()
	p := layout.Paths(layout.NewInstance(name, provision.SSLHTTP))
	for _, path := range []string{p.Dir, p.SiteAvail, p.SiteEnabled, p.Unit} {
		if _, err := os.Stat(path); err == nil {
			t.Errorf("%s exists, want nothing built", path)
		}
	}
	if databaseExists(t, ctx, a, provision.InternalName(name)) {
		t.Errorf("database %s exists, want nothing built", provision.InternalName(name))
	}
}

// With every Cloudflare request hanging, a creation is refused within
// the check's bound (CF_REQUEST_TIMEOUT), before anything is built, and
// says that Cloudflare did not answer: it does not sit silent for
// minutes before its thread opens.
func TestDNSBoundsHungAPIRefusesCreationPromptly(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	cf := dnsDouble(t)
	t.Setenv("CF_REQUEST_TIMEOUT", "2s")
	t.Setenv("CF_API_TIMEOUT", "4s")
	a, _ := env.newApp(t, app.Options{})
	cf.HangAll()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	name := uniqueName(t, "hung")
	destroyLater(t, a, name)

	out, took, err := runBinary(t, ctx, env, "create", name, "http")
	if ctx.Err() != nil {
		t.Fatalf("create against a hung Cloudflare still ran after %v", took)
	}
	// The start's sweep (each request bounded by CF_API_TIMEOUT) and the
	// check (CF_REQUEST_TIMEOUT) together, with room for the host.
	if took > 20*time.Second {
		t.Errorf("create against a hung Cloudflare took %v, want under 20 s (4 s + 2 s bounds)", took)
	}
	if err == nil {
		t.Errorf("create against a hung Cloudflare exited 0")
	}
	if !strings.Contains(out, "Cloudflare did not answer within 2s") {
		t.Errorf("the output does not say Cloudflare did not answer within 2s:\n%s", out)
	}
	if cf.Hung() == 0 {
		t.Errorf("no request reached the hung Cloudflare")
	}
	requireNothingBuilt(t, ctx, a, name)

	// serve answers chat at once while every Cloudflare call hangs: its
	// sweep runs in the background, each request within its bound.
	serve := env.command(ctx, odoobotBin(t), "serve")
	stdin, err := serve.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out2 syncBuffer
	serve.Stdout, serve.Stderr = &out2, &out2
	start := time.Now()
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(stdin, "list\n")
	answered := waitFor(10*time.Second, func() bool { return strings.Contains(out2.String(), "no instances yet") })
	answeredIn := time.Since(start)
	stdin.Close()
	if err := serve.Wait(); err != nil {
		t.Errorf("serve against a hung Cloudflare: %v", err)
	}
	t.Logf("serve against a hung Cloudflare, list answered after %v:\n%s", answeredIn.Round(10*time.Millisecond), out2.String())
	if !answered {
		t.Errorf("serve did not answer list within 10 s while Cloudflare hung")
	}
}

// syncBuffer is a bytes.Buffer safe for a process's output and a
// test's reads at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// With the record calls hanging after the check passed, the DNS step
// fails within CF_API_TIMEOUT, the creation is rolled back, and the
// thread says Cloudflare did not answer within that time.
func TestDNSBoundsHungRecordCallsRollBack(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	cf := dnsDouble(t)
	t.Setenv("CF_REQUEST_TIMEOUT", "1s")
	t.Setenv("CF_API_TIMEOUT", "4s")
	a, _ := env.newApp(t, app.Options{})
	// The check lists records with per_page=5; the DNS step looks its
	// name up (name.exact) and creates (POST): those hang.
	cf.Hang(func(r cftest.Request) bool {
		return strings.Contains(r.Path, "dns_records") && (r.Query.Has("name.exact") || r.Method == http.MethodPost)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	name := uniqueName(t, "hungdns")
	destroyLater(t, a, name)

	out, took, _ := runBinary(t, ctx, env, "create", name, "http")
	if took > 90*time.Second {
		t.Errorf("create with hung record calls took %v, want the DNS step and its undo each within 4 s", took)
	}
	for _, want := range []string{"dns", "Cloudflare did not answer within 4s", "rolled back"} {
		if !strings.Contains(out, want) {
			t.Errorf("the output does not say %q:\n%s", want, out)
		}
	}
	if cf.Hung() == 0 {
		t.Errorf("no record call reached the hung Cloudflare")
	}
	requireGone(t, ctx, a, name)
}

// A 429 storm on the DNS step's requests: each Retry-After is honoured
// and shown in the thread ("Cloudflare asked to wait 3s …"), and the
// creation then succeeds.
func TestDNSBounds429StormShownInThread(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	cf := dnsDouble(t)
	a, _ := env.newApp(t, app.Options{})
	cf.FailNextWhere(func(r cftest.Request) bool { return r.Query.Has("name.exact") }, http.StatusTooManyRequests, 3, "3")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	name := uniqueName(t, "storm")
	destroyLater(t, a, name)

	out, took, err := runBinary(t, ctx, env, "create", name, "http")
	if err != nil {
		t.Fatalf("create through a 429 storm: %v", err)
	}
	if took < 9*time.Second {
		t.Errorf("create took %v, want the three 3 s waits Cloudflare asked for", took)
	}
	if !strings.Contains(out, "Cloudflare asked to wait 3s (HTTP 429") {
		t.Errorf("the thread does not show the wait Cloudflare asked for:\n%s", out)
	}
	layout := a.Config.Layout()
	logPath := layout.Paths(layout.NewInstance(name, provision.SSLHTTP)).CreateLog
	if log := readFile(logPath); strings.Count(log, "Cloudflare asked to wait 3s") != 3 {
		t.Errorf("the creation log shows %d of the 3 waits:\n%s", strings.Count(log, "Cloudflare asked to wait 3s"), log)
	}
	if inst, err := a.Store.Instance(ctx, name); err != nil || inst.State != provision.StateReady {
		t.Errorf("instance %s after the storm: %+v, %v; want ready", name, inst, err)
	}
}

// A name whose mark on its DNS record would pass Cloudflare's 100
// characters is refused by plan and by create, saying which limit and
// what to do, with nothing built and nothing sent to Cloudflare's
// records.
func TestDNSBoundsMarkTooLongRefusedAtPlanAndCreate(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	cf := dnsDouble(t)
	serverID := "server-" + strings.Repeat("x", 33) // 40 characters: names of at most 23 fit
	t.Setenv("ODOOBOT_SERVER_ID", serverID)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := uniqueName(t, "longmark") + strings.Repeat("m", 10)
	if len(name) <= 23 {
		t.Fatalf("name %q is too short for this test", name)
	}
	destroyLater(t, a, name)

	for _, verb := range []string{"plan", "create"} {
		out, _, err := runBinary(t, ctx, env, verb, name, "http")
		var exit *exec.ExitError
		if verb == "plan" && !errAs(err, &exit) {
			t.Errorf("plan of a name whose mark does not fit: %v, want a non-zero exit", err)
		}
		for _, want := range []string{"mark on its DNS record", "at most 100", "Free plan", "at most 23 characters", "ODOOBOT_SERVER_ID"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s's refusal does not say %q:\n%s", verb, want, out)
			}
		}
	}
	requireNothingBuilt(t, ctx, a, name)
	for _, r := range cf.Requests() {
		if r.Method != http.MethodGet {
			t.Errorf("a write reached Cloudflare: %s %s", r.Method, r.Path)
		}
	}
}

func errAs(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}
