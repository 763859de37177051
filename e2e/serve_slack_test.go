package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"odoobot/bot/slack/slacktest"
	"odoobot/internal/app"
	"odoobot/provision"
)

// The TestServeSlack* tests run the odoobot binary's `serve` against a
// fake Slack started by the test: an httptest server answering the Web
// API calls the adapter makes and speaking Socket Mode on a WebSocket.
// Commands are pushed as slash_commands envelopes; what the bot posts is
// read back from the recorded Web API calls.

// Fake tokens, shaped like real ones so that a leak is visible.
const (
	serveBotToken = "xoxb-test-4444444444-5555555555-e2eBOTsecretVALUE"
	serveAppToken = "xapp-test-1-A0E2E0001-6666666666-e2eAPPsecretVALUE"
)

// The fake workspace: an admin on the allowlist, a stranger who is not,
// and the channel both type in.
const (
	slackAdmin    = "U0E2EADMIN1"
	slackStranger = "U0E2ESTRANGE"
	slackChannel  = "C0E2EOPS01"
)

// slackCall is one Web API request as the fake saw it.
type slackCall = slacktest.Call

// slackFake is the Slack double (slacktest) playing the e2e workspace,
// with the helpers these tests share.
type slackFake struct {
	*slacktest.Server
}

func newSlackFake(t *testing.T) *slackFake {
	t.Helper()
	return &slackFake{slacktest.New(t, slacktest.Options{BotUserID: "U0E2EBOT01", TeamID: "T0E2E0001", Team: "e2e", AppID: "A0E2E0001"})}
}

// waitConnected waits for the bot's next Socket Mode connection.
func (f *slackFake) waitConnected(t *testing.T, bot *servedBot) {
	t.Helper()
	select {
	case <-f.Connected():
	case bot.err = <-bot.exited:
		bot.done = true
		t.Fatalf("odoobot serve exited (%v) before connecting to Socket Mode:\n%s", bot.err, bot.out.String())
	case <-time.After(time.Minute):
		t.Fatalf("odoobot serve did not connect to Socket Mode within a minute:\n%s", bot.out.String())
	}
}

// slash sends a slash_commands envelope in the ops channel, exactly as
// Slack does, and returns its envelope ID.
func (f *slackFake) slash(t *testing.T, user, userName, text string) string {
	t.Helper()
	id := "e2e-" + randomHex(t, 6)
	f.Send(t, f.Slash(id, 0, user, userName, slackChannel, text))
	return id
}

// waitAck waits for the ack of envelope id and returns its latency.
func (f *slackFake) waitAck(t *testing.T, id string) time.Duration {
	t.Helper()
	return f.WaitAck(t, id, 10*time.Second)
}

// callCount is how many Web API calls the fake has seen.
func (f *slackFake) callCount() int { return len(f.Calls()) }

// since returns the calls of method made after the first n calls.
func (f *slackFake) since(n int, method string) []slackCall {
	calls := f.Calls()
	var out []slackCall
	for _, c := range calls[min(n, len(calls)):] {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// transcript is the text of every message call, for failure messages.
func (f *slackFake) transcript() string {
	var b strings.Builder
	for _, c := range f.Calls() {
		if strings.HasPrefix(c.Method, "chat.") {
			fmt.Fprintf(&b, "%s channel=%s thread_ts=%s ts=%s: %s\n", c.Method, c.Form.Get("channel"), c.Form.Get("thread_ts"), c.Form.Get("ts"), c.Form.Get("text"))
		}
	}
	return b.String()
}

// rootMessage is the first top-level chat.postMessage in the channel
// whose text contains want, and whether there is one yet.
func (f *slackFake) rootMessage(want string) (slackCall, bool) {
	for _, c := range f.CallsOf("chat.postMessage") {
		if c.Form.Get("channel") == slackChannel && c.Form.Get("thread_ts") == "" && strings.Contains(c.Form.Get("text"), want) {
			return c, true
		}
	}
	return slackCall{}, false
}

// inThread returns the texts posted in the thread of ts.
func (f *slackFake) inThread(ts string) []string {
	var out []string
	for _, c := range f.CallsOf("chat.postMessage") {
		if c.Form.Get("thread_ts") == ts {
			out = append(out, c.Form.Get("text"))
		}
	}
	return out
}

// checkTokens fails the test when a token shows anywhere but in an
// Authorization header, or when a call carried the wrong token.
func (f *slackFake) checkTokens(t *testing.T, output string) {
	t.Helper()
	all := f.Everything()
	for _, tok := range []string{serveBotToken, serveAppToken} {
		if strings.Contains(all, tok) {
			t.Errorf("a token reached the fake Slack outside an Authorization header")
		}
		if strings.Contains(output, tok) {
			t.Errorf("a token shows in odoobot's output:\n%s", output)
		}
	}
	for _, c := range f.CallsOf("apps.connections.open") {
		if c.Auth != "Bearer "+serveAppToken {
			t.Errorf("apps.connections.open: Authorization is not the app token")
		}
	}
	for _, m := range []string{"auth.test", "chat.postMessage", "chat.update", "chat.postEphemeral"} {
		for _, c := range f.CallsOf(m) {
			if c.Auth != "Bearer "+serveBotToken {
				t.Errorf("%s: Authorization is not the bot token", m)
			}
		}
	}
}

// lockedBuffer is a goroutine-safe output sink.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// servedBot is a running `odoobot serve`.
type servedBot struct {
	cmd    *exec.Cmd
	out    *lockedBuffer
	exited chan error // receives Wait's result once
	err    error
	done   bool
}

// slackServeEnv is the environment of `odoobot serve` against f: the
// test's own, its overrides, the Slack tokens and the allowlist.
func slackServeEnv(env *createEnv, f *slackFake, allowlist string) []string {
	out := os.Environ()
	for k, v := range env.overrides {
		out = append(out, k+"="+v)
	}
	return append(out,
		"SLACK_BOT_TOKEN="+serveBotToken, "SLACK_APP_TOKEN="+serveAppToken,
		"SLACK_API_URL="+f.APIURL(), "ALLOWLIST_FILE="+allowlist,
		"SLACK_ALERT_CHANNEL=", "DISCORD_BOT_TOKEN=", "ODOOBOT_FAIL_AT=",
	)
}

// startServe runs `$ODOOBOT_BIN --env-file /dev/null serve` with environ;
// it is stopped when the test ends if it still runs.
func startServe(t *testing.T, environ []string) *servedBot {
	t.Helper()
	bin := odoobotBin(t)
	s := &servedBot{out: &lockedBuffer{}, exited: make(chan error, 1)}
	s.cmd = exec.Command(bin, "--env-file", "/dev/null", "serve")
	s.cmd.Env = environ
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start odoobot serve: %v", err)
	}
	go func() { s.exited <- s.cmd.Wait() }()
	t.Cleanup(func() { s.stop(t) })
	return s
}

// wait reports whether the process exited within timeout, and how.
func (s *servedBot) wait(timeout time.Duration) (bool, error) {
	if s.done {
		return true, s.err
	}
	select {
	case s.err = <-s.exited:
		s.done = true
		return true, s.err
	case <-time.After(timeout):
		return false, nil
	}
}

// stop sends SIGTERM and requires a clean exit within 30 s (SIGKILL then).
func (s *servedBot) stop(t *testing.T) {
	t.Helper()
	if s.done {
		return
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM odoobot serve: %v", err)
	}
	ok, err := s.wait(30 * time.Second)
	if !ok {
		s.cmd.Process.Kill()
		s.wait(10 * time.Second)
		t.Errorf("odoobot serve did not stop within 30s of SIGTERM:\n%s", s.out.String())
		return
	}
	if err != nil {
		t.Errorf("odoobot serve ended with %v after SIGTERM:\n%s", err, s.out.String())
	}
}

// kill sends SIGKILL and waits for the process to go.
func (s *servedBot) kill(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL odoobot serve: %v", err)
	}
	if ok, _ := s.wait(30 * time.Second); !ok {
		t.Fatal("odoobot serve survived SIGKILL for 30s")
	}
}

// writeSlackAllowlist grants admin to slackAdmin and nothing to anyone
// else, in a file under the test's directory.
func writeSlackAllowlist(t *testing.T, env *createEnv) string {
	t.Helper()
	path := filepath.Join(env.root, "allowlist")
	text := "# role  platform  kind  id\nadmin   slack     user  " + slackAdmin + "\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitSlack polls cond every 20 ms until it holds, or fails the test
// with what the fake saw and odoobot printed.
func waitSlack(t *testing.T, f *slackFake, bot *servedBot, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !waitFor(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s\nmessages:\n%s\nodoobot output:\n%s", timeout, what, f.transcript(), bot.out.String())
	}
}

// TestServeSlackCreate runs `odoobot serve` against a fake Slack: an
// admin's `/odoo create` is acknowledged at once, its progress goes to a
// thread under a root message that ends edited to the outcome, with the
// instance's summary in the thread, and the instance is served; a user
// not on the allowlist is answered privately only; the tokens never
// leave an Authorization header.
func TestServeSlackCreate(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	name := uniqueName(t, "slack")
	destroyLater(t, a, name)
	inst := a.Config.Layout().NewInstance(name, provision.SSLHTTP)
	domain := name + "." + a.Config.Zone()

	f := newSlackFake(t)
	bot := startServe(t, slackServeEnv(env, f, writeSlackAllowlist(t, env)))
	f.waitConnected(t, bot)

	id := f.slash(t, slackAdmin, "ana", "create "+name+" http")
	lat := f.waitAck(t, id)
	t.Logf("the create envelope was acknowledged in %v", lat)
	if lat >= time.Second {
		t.Errorf("the create envelope was acknowledged after %v, want under 1s (Slack gives up at 3s)", lat)
	}
	var rootCall slackCall
	waitSlack(t, f, bot, 30*time.Second, "the root message of the creation", func() bool {
		var ok bool
		rootCall, ok = f.rootMessage(inst.Internal)
		return ok
	})
	root, rootText := rootCall.TS, rootCall.Form.Get("text")
	for _, w := range []string{"creating " + inst.Internal, domain, "http"} {
		if !strings.Contains(rootText, w) {
			t.Errorf("the root message %q lacks %q", rootText, w)
		}
	}

	final := "✅ created " + inst.Internal
	var finalText string
	waitSlack(t, f, bot, 4*time.Minute, "the root message edited to "+final, func() bool {
		for _, c := range f.CallsOf("chat.update") {
			if c.Form.Get("ts") == root && strings.HasPrefix(c.Form.Get("text"), final) {
				finalText = c.Form.Get("text")
				return true
			}
		}
		return strings.Contains(f.transcript(), "❌ creating "+inst.Internal)
	})
	if !strings.Contains(finalText, "http://"+domain) {
		t.Fatalf("the root message ended as %q, want %q… http://%s\nmessages:\n%s\ncreation log:\n%s",
			finalText, final, domain, f.transcript(), readFile(a.Config.Layout().Paths(inst).CreateLog))
	}
	var summary string
	waitSlack(t, f, bot, 30*time.Second, "the summary in the thread", func() bool {
		for _, text := range f.inThread(root) {
			if strings.Contains(text, "Odoo instance "+inst.Internal) {
				summary = text
				return true
			}
		}
		return false
	})
	for _, w := range []string{domain, "http://" + domain, "SSL mode:"} {
		if !strings.Contains(summary, w) {
			t.Errorf("the summary lacks %q:\n%s", w, summary)
		}
	}
	thread := strings.Join(f.inThread(root), "\n")
	for _, step := range provision.StepNames(provision.SSLHTTP, provision.PlanOptions{}) {
		if !strings.Contains(thread, "✓ "+string(step)) {
			t.Errorf("the thread lacks the line of step %s:\n%s", step, thread)
		}
	}
	for _, c := range f.CallsOf("chat.postMessage") {
		if ch := c.Form.Get("channel"); ch != slackChannel {
			t.Errorf("a message went to channel %q, want %s", ch, slackChannel)
		}
	}

	stored, err := a.Store.Instance(ctx, name)
	if err != nil {
		t.Fatalf("the store after the creation: %v", err)
	}
	if stored.State != provision.StateReady || stored.Domain != domain {
		t.Errorf("the store has %s as %s at %s, want ready at %s", name, stored.State, stored.Domain, domain)
	}
	requireAnswers(t, ctx, stored)
	t.Logf("messages:\n%s", f.transcript())

	t.Run("stranger refused privately", func(t *testing.T) {
		mark := f.callCount()
		id := f.slash(t, slackStranger, "mallory", "list")
		if lat := f.waitAck(t, id); lat >= time.Second {
			t.Errorf("the list envelope was acknowledged after %v, want under 1s", lat)
		}
		waitSlack(t, f, bot, 10*time.Second, "the refusal", func() bool { return len(f.since(mark, "chat.postEphemeral")) > 0 })
		time.Sleep(500 * time.Millisecond) // anything posted besides would have come by now
		eph := f.since(mark, "chat.postEphemeral")
		if len(eph) != 1 || eph[0].Form.Get("user") != slackStranger || eph[0].Form.Get("channel") != slackChannel {
			t.Errorf("refusal: %d ephemeral messages %+v, want one to %s in %s", len(eph), eph, slackStranger, slackChannel)
		}
		if posts := f.since(mark, "chat.postMessage"); len(posts) != 0 {
			t.Errorf("a user not on the allowlist got a visible answer: %+v", posts)
		}
		if strings.Contains(eph[0].Form.Get("text"), name) {
			t.Errorf("the refusal shows the instance list: %q", eph[0].Form.Get("text"))
		}
	})

	bot.stop(t)
	f.checkTokens(t, bot.out.String())
}

// TestServeSlackReportsInterruptedJob kills `odoobot serve` in the middle
// of a creation asked from Slack; the next `serve` rolls the creation
// back and says so in the creation's thread.
func TestServeSlackReportsInterruptedJob(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	name := uniqueName(t, "slackcrash")
	destroyLater(t, a, name)
	layout := a.Config.Layout()
	inst := layout.NewInstance(name, provision.SSLHTTP)
	p := layout.Paths(inst)

	f := newSlackFake(t)
	environ := slackServeEnv(env, f, writeSlackAllowlist(t, env))
	first := startServe(t, environ)
	f.waitConnected(t, first)
	f.slash(t, slackAdmin, "ana", "create "+name+" http")
	var root string
	waitSlack(t, f, first, 30*time.Second, "the root message of the creation", func() bool {
		c, ok := f.rootMessage(inst.Internal)
		root = c.TS
		return ok
	})
	// Kill while the service step runs (it takes over half a second: the
	// unit is started and watched): the database, the files and the unit
	// exist, nginx does not serve the instance yet.
	mark := string(provision.StepService) + " started"
	waitSlack(t, f, first, 3*time.Minute, "the creation log to show "+mark, func() bool {
		return strings.Contains(readFile(p.CreateLog), mark)
	})
	first.kill(t)
	t.Logf("odoobot serve killed; creation log at the kill:\n%s", readFile(p.CreateLog))
	open, ok, err := a.Store.ActiveJob(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Fatalf("no open job for %s after the kill: the kill came too late\ncreation log:\n%s", name, readFile(p.CreateLog))
	}
	if open.ChatRef["ts"] != root {
		t.Errorf("the open job's chat reference is %v, want ts %s", open.ChatRef, root)
	}

	mark2 := f.callCount()
	second := startServe(t, environ)
	var report string
	waitSlack(t, f, second, 2*time.Minute, "the report of the interrupted job in its thread", func() bool {
		for _, c := range f.since(mark2, "chat.postMessage") {
			if c.Form.Get("thread_ts") == root && strings.Contains(c.Form.Get("text"), "interrupted") {
				if ch := c.Form.Get("channel"); ch != slackChannel {
					t.Errorf("the report went to channel %q, want %s", ch, slackChannel)
				}
				report = c.Form.Get("text")
				return true
			}
		}
		return false
	})
	for _, w := range []string{fmt.Sprintf("job %d", open.ID), name, "interrupted when odoobot stopped"} {
		if !strings.Contains(report, w) {
			t.Errorf("the report %q lacks %q", report, w)
		}
	}
	f.waitConnected(t, second)

	requireGone(t, ctx, a, name)
	jobs, err := a.Store.OpenJobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		t.Errorf("job %d (%s %s) is still open: %s", j.ID, j.Kind, j.Instance, j.State)
	}
	rec, err := a.Store.Job(ctx, open.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != provision.JobInterrupted {
		t.Errorf("job %d after the restart is %s, want interrupted", open.ID, rec.State)
	}

	t.Logf("messages:\n%s", f.transcript())
	second.stop(t)
	f.checkTokens(t, first.out.String()+second.out.String())
}
