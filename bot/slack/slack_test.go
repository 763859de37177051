package slack_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/bot/slack"
	"odoobot/commands"
	"odoobot/provision"
	"odoobot/provision/tree"
)

func texts(calls []apiCall) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.Form.Get("text"))
	}
	return out
}

func TestCreatePostsRootThreadStatusAndSummary(t *testing.T) {
	fs := newFakeSlack(t)
	creator := newCreator(t, "database", "files", "service")
	summary := "name: acme\nurl: http://acme.example.com\nhttp port: 2100"
	startBot(t, fs, slack.Config{Handler: newDispatcher(t, creator, summary), UpdateInterval: 60 * time.Millisecond})
	fs.WaitConnected(t, 5*time.Second)

	fs.Send(t, fs.Slash("env-create-1", 0, "U0123ABCD", "ana", "C0123", "create acme http"))
	if lat := fs.WaitAck(t, "env-create-1", 5*time.Second); lat > 100*time.Millisecond {
		t.Errorf("ack latency %s, want well under 100ms", lat)
	}
	waitFor(t, "the root and the status message edited to the final text", func() bool {
		n := 0
		for _, c := range fs.CallsOf("chat.update") {
			if strings.HasPrefix(c.Form.Get("text"), "✅ created prod-acme") {
				n++
			}
		}
		return n == 2
	})
	waitFor(t, "the summary in the thread", func() bool {
		for _, c := range fs.CallsOf("chat.postMessage") {
			if strings.Contains(c.Form.Get("text"), "url: http://acme.example.com") {
				return true
			}
		}
		return false
	})

	posts := fs.CallsOf("chat.postMessage")
	root := posts[0]
	if got, want := root.Form.Get("text"), "creating prod-acme → acme.example.com (http), asked by ana"; got != want {
		t.Errorf("root = %q, want %q", got, want)
	}
	if root.Form.Get("channel") != "C0123" || root.Form.Get("thread_ts") != "" {
		t.Errorf("root posted in %q thread %q, want the channel C0123", root.Form.Get("channel"), root.Form.Get("thread_ts"))
	}
	rootTS := "1700000000.000001"
	var status []apiCall
	var lines []string
	for _, p := range posts[1:] {
		if p.Form.Get("thread_ts") != rootTS {
			t.Errorf("post %q is not in the thread", p.Form.Get("text"))
		}
		if strings.HasPrefix(p.Form.Get("text"), "⏳") {
			status = append(status, p)
			continue
		}
		lines = append(lines, p.Form.Get("text"))
	}
	if len(status) != 1 {
		t.Fatalf("status messages posted: %q, want exactly one", texts(status))
	}
	// Step lines: one ✓ per step, never a "started" line; then the summary.
	var marks []string
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) >= 3 && f[1] == "✓" {
			marks = append(marks, f[2])
		}
		if strings.Contains(l, "started") {
			t.Errorf("a start was posted as a line: %q", l)
		}
	}
	if diff := cmp.Diff(marks, []string{"database", "files", "service"}); diff != "" {
		t.Errorf("step lines (-got +want):\n%s", diff)
	}
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "```") || !strings.Contains(last, "http port: 2100") {
		t.Errorf("last line = %q, want the summary in a code block", last)
	}

	// The status message: edited in place, at most once per interval, the
	// last edit being the final state.
	statusTS := fmt.Sprintf("1700000000.%06d", 2)
	var edits []apiCall
	for _, u := range fs.CallsOf("chat.update") {
		if u.Form.Get("ts") == statusTS {
			edits = append(edits, u)
		}
	}
	if len(edits) == 0 {
		t.Fatal("the status message was never edited")
	}
	if got := edits[len(edits)-1].Form.Get("text"); !strings.HasPrefix(got, "✅ created prod-acme") {
		t.Errorf("final status = %q, want the final state", got)
	}
	// 3 steps × (start, done) = 6 events, the first posted: ≥ 5 changes
	// coalesced into fewer edits.
	if len(edits) > 5 {
		t.Errorf("%d status edits for 6 events: not coalesced", len(edits))
	}
	for i := 1; i < len(edits); i++ {
		if gap := edits[i].At.Sub(edits[i-1].At); gap < 50*time.Millisecond {
			t.Errorf("status edits %d and %d only %s apart, want ≥ the 60ms interval", i-1, i, gap)
		}
	}
	if n := len(fs.CallsOf("chat.postEphemeral")); n != 0 {
		t.Errorf("%d ephemeral messages for an accepted create", n)
	}
	fs.checkAuth(t)
}

func TestDeniedUserGetsOnlyAnEphemeralReply(t *testing.T) {
	fs := newFakeSlack(t)
	creator := newCreator(t, "database")
	startBot(t, fs, slack.Config{Handler: newDispatcher(t, creator, "")})
	fs.WaitConnected(t, 5*time.Second)

	fs.Send(t, fs.Slash("env-deny-1", 0, "U0666EVIL", "mallory", "C0123", "create acme http"))
	fs.Send(t, fs.Slash("env-deny-2", 0, "U0999VIEW", "val", "C0123", "create acme http"))
	fs.WaitAck(t, "env-deny-1", 5*time.Second)
	fs.WaitAck(t, "env-deny-2", 5*time.Second)
	waitFor(t, "two ephemeral refusals", func() bool { return len(fs.CallsOf("chat.postEphemeral")) == 2 })
	time.Sleep(100 * time.Millisecond)

	fs.checkRefusedPrivately(t, "C0123", "", map[string]string{
		"U0666EVIL": "you (U0666EVIL) are not on the allowlist",
		"U0999VIEW": "you (U0999VIEW) need role admin to run create; you have viewer",
	})
	if n := len(creator.Requests()); n != 0 {
		t.Errorf("Creator.Create called %d times for refused users", n)
	}
}

func TestRetriedAndDuplicateEnvelopesRunOnce(t *testing.T) {
	fs := newFakeSlack(t)
	creator := newCreator(t, "database")
	startBot(t, fs, slack.Config{Handler: newDispatcher(t, creator, "")})
	fs.WaitConnected(t, 5*time.Second)

	// A retry of an envelope already received (retry_attempt 1).
	fs.Send(t, fs.Slash("env-retry", 0, "U0123ABCD", "ana", "C0123", "create acme http"))
	fs.Send(t, fs.Slash("env-retry", 1, "U0123ABCD", "ana", "C0123", "create acme http"))
	// The same envelope delivered twice, without the retry marker.
	fs.Send(t, fs.Slash("env-dup", 0, "U0123ABCD", "ana", "C0123", "create beta http"))
	fs.Send(t, fs.Slash("env-dup", 0, "U0123ABCD", "ana", "C0123", "create beta http"))
	for _, id := range []string{"env-retry", "env-retry", "env-dup", "env-dup"} {
		fs.WaitAck(t, id, 5*time.Second) // every delivery is acknowledged
	}
	waitFor(t, "both creations", func() bool { return len(creator.Requests()) >= 2 })
	time.Sleep(200 * time.Millisecond)
	var names []string
	for _, r := range creator.Requests() {
		names = append(names, r.Name)
	}
	if diff := cmp.Diff(names, []string{"acme", "beta"}, sortStrings); diff != "" {
		t.Errorf("creations (-got +want):\n%s", diff)
	}
}

var sortStrings = cmp.Transformer("sort", func(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
})

func TestDisconnectReconnectsAndKeepsWorking(t *testing.T) {
	fs := newFakeSlack(t)
	startBot(t, fs, slack.Config{Handler: newDispatcher(t, newCreator(t), "")})
	fs.WaitConnected(t, 5*time.Second)

	fs.Send(t, map[string]any{"type": "disconnect", "reason": "refresh_requested", "debug_info": map[string]any{"host": "applink-test"}})
	fs.WaitConnected(t, 5*time.Second)
	opens := fs.Opens()
	if opens != 2 {
		t.Errorf("apps.connections.open called %d times, want 2 (a new URL after the disconnect)", opens)
	}
	fs.Send(t, fs.Slash("env-after", 0, "U0123ABCD", "ana", "C0123", "whoami"))
	fs.WaitAck(t, "env-after", 5*time.Second)
	waitFor(t, "the whoami reply", func() bool { return len(fs.CallsOf("chat.postMessage")) == 1 })
	if got := fs.CallsOf("chat.postMessage")[0].Form.Get("text"); got != "You are ana (slack U0123ABCD), role admin in this channel" {
		t.Errorf("reply = %q", got)
	}
}

func TestInvalidAppTokenStopsRun(t *testing.T) {
	fs := newFakeSlack(t)
	fs.FailOpen("invalid_auth")
	b, err := slack.New(slack.Config{BotToken: botToken, AppToken: appToken, APIURL: fs.APIURL(), Handler: newDispatcher(t, newCreator(t), "")})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Run(context.Background()) }()
	select {
	case err := <-done:
		want := "slack: the app token was refused (invalid_auth): check SLACK_APP_TOKEN"
		if err == nil || err.Error() != want {
			t.Errorf("Run = %v, want %q", err, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run kept going with a refused app token")
	}
}

func TestInvalidBotTokenStopsRun(t *testing.T) {
	fs := newFakeSlack(t)
	fs.FailAuth("invalid_auth")
	b, err := slack.New(slack.Config{BotToken: botToken, AppToken: appToken, APIURL: fs.APIURL(), Handler: newDispatcher(t, newCreator(t), "")})
	if err != nil {
		t.Fatal(err)
	}
	err = b.Run(context.Background())
	if want := "slack: the bot token was refused (invalid_auth): check SLACK_BOT_TOKEN"; err == nil || err.Error() != want {
		t.Errorf("Run = %v, want %q", err, want)
	}
	if fs.Opens() != 0 {
		t.Errorf("Socket Mode opened %d times with a refused bot token", fs.Opens())
	}
}

func TestNewRefusesMissingConfig(t *testing.T) {
	h := newDispatcher(t, newCreator(t), "")
	for name, cfg := range map[string]slack.Config{
		"no bot token": {AppToken: appToken, Handler: h},
		"no app token": {BotToken: botToken, Handler: h},
		"bot as app":   {BotToken: botToken, AppToken: botToken, Handler: h},
		"no handler":   {BotToken: botToken, AppToken: appToken},
	} {
		if _, err := slack.New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		} else if strings.Contains(err.Error(), "secretVALUE") {
			t.Errorf("%s: the error shows a token: %v", name, err)
		}
	}
}

// lookup is an Operator store holding one instance.
type lookup struct{ inst provision.Instance }

func (l lookup) Instance(_ context.Context, name string) (provision.Instance, error) {
	if name != l.inst.Name {
		return provision.Instance{}, provision.ErrInstanceNotFound
	}
	return l.inst, nil
}
func (l lookup) Instances(context.Context) ([]provision.Instance, error) {
	return []provision.Instance{l.inst}, nil
}
func (l lookup) ActiveJob(context.Context, string) (provision.Job, bool, error) {
	return provision.Job{}, false, nil
}

func withLogs(t *testing.T, lines int) *commands.Dispatcher {
	t.Helper()
	layout := provision.Layout{Zone: "example.com", UnitPrefix: "odoo19e", ProdRoot: t.TempDir()}
	inst := layout.NewInstance("acme", provision.SSLHTTP)
	p := layout.Paths(inst)
	if err := os.MkdirAll(filepath.Dir(p.Log), 0o755); err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for i := 1; i <= lines; i++ {
		fmt.Fprintf(&sb, "2025-01-01 00:00:%02d,000 42 INFO prod-acme werkzeug: line %d <GET /web HTTP/1.1> 200 & done\n", i%60, i)
	}
	if err := os.WriteFile(p.Log, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	d := newDispatcher(t, newCreator(t), "")
	d.Operator = &provision.Operator{Files: tree.New(layout), Store: lookup{inst}, Layout: layout}
	return d
}

func TestLongLogsAreUploadedAsAFile(t *testing.T) {
	fs := newFakeSlack(t)
	d := withLogs(t, 400)
	startBot(t, fs, slack.Config{Handler: d})
	fs.WaitConnected(t, 5*time.Second)

	fs.Send(t, fs.Slash("env-logs", 0, "U0123ABCD", "ana", "C0123", "logs acme 400 share"))
	fs.WaitAck(t, "env-logs", 5*time.Second)
	waitFor(t, "the upload completed", func() bool { return len(fs.CallsOf("files.completeUploadExternal")) == 1 })

	get := fs.CallsOf("files.getUploadURLExternal")[0]
	done := fs.CallsOf("files.completeUploadExternal")[0]
	if done.Form.Get("channel_id") != "C0123" {
		t.Errorf("file shared in %q, want C0123", done.Form.Get("channel_id"))
	}
	if !strings.Contains(done.Form.Get("files"), "last 400 lines of acme") {
		t.Errorf("file title: %s", done.Form.Get("files"))
	}
	content := fs.File("F00000001")
	lines := strings.Split(content, "\n")
	if len(lines) != 400 || !strings.HasSuffix(lines[0], "line 1 <GET /web HTTP/1.1> 200 & done") || !strings.Contains(lines[399], "line 400 ") {
		t.Errorf("uploaded %d lines, first %q: want all 400, unescaped", len(lines), lines[0])
	}
	if get.Form.Get("length") != fmt.Sprint(len(content)) {
		t.Errorf("announced length %s, uploaded %d bytes", get.Form.Get("length"), len(content))
	}
	if n := len(fs.CallsOf("chat.postMessage")); n != 0 {
		t.Errorf("%d messages besides the file", n)
	}
}

func TestShortLogsAreACodeBlock(t *testing.T) {
	fs := newFakeSlack(t)
	startBot(t, fs, slack.Config{Handler: withLogs(t, 5)})
	fs.WaitConnected(t, 5*time.Second)
	fs.Send(t, fs.Slash("env-logs5", 0, "U0123ABCD", "ana", "C0123", "logs acme 5 share"))
	waitFor(t, "the reply", func() bool { return len(fs.CallsOf("chat.postMessage")) == 1 })
	got := fs.CallsOf("chat.postMessage")[0].Form.Get("text")
	if !strings.HasPrefix(got, "*last 5 lines of acme") || !strings.Contains(got, "```\n2025-01-01") || !strings.Contains(got, "&lt;GET /web HTTP/1.1&gt; 200 &amp; done") {
		t.Errorf("reply = %q, want a title and an escaped code block", got)
	}
	if n := len(fs.CallsOf("files.getUploadURLExternal")); n != 0 {
		t.Errorf("%d uploads for 5 lines", n)
	}
}

func TestNotInChannelJoinsAndRetries(t *testing.T) {
	fs := newFakeSlack(t)
	fs.NotIn("C0NOTIN1")
	rb := startBot(t, fs, slack.Config{Handler: newDispatcher(t, newCreator(t), "")})
	fs.WaitConnected(t, 5*time.Second)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("calls: %+v\nlogs: %s", fs.Calls(), rb.logs.String())
		}
	})

	fs.Send(t, fs.Slash("env-join", 0, "U0123ABCD", "ana", "C0NOTIN1", "whoami"))
	waitFor(t, "the reply", func() bool { return len(fs.CallsOf("chat.postMessage")) == 1 })
	var seq []string
	for _, c := range fs.Calls() {
		if c.Method != "auth.test" && c.Method != "apps.connections.open" && c.Method != "usergroups.list" {
			seq = append(seq, c.Method+" "+c.Form.Get("channel"))
		}
	}
	want := []string{"chat.postMessage C0NOTIN1", "conversations.join C0NOTIN1", "chat.postMessage C0NOTIN1"}
	if diff := cmp.Diff(seq, want); diff != "" {
		t.Errorf("calls (-got +want):\n%s", diff)
	}
}

func TestUnreachableChannelFallsBackToResponseURL(t *testing.T) {
	fs := newFakeSlack(t)
	fs.FailEphemeral("G0PRIVATE", "channel_not_found")
	startBot(t, fs, slack.Config{Handler: newDispatcher(t, newCreator(t), "")})
	fs.WaitConnected(t, 5*time.Second)

	fs.Send(t, fs.Slash("env-priv", 0, "U0123ABCD", "ana", "G0PRIVATE", "whoami"))
	waitFor(t, "a response_url answer", func() bool {
		return len(fs.Responses()) == 1
	})
	got := fs.Responses()[0]
	text, _ := got["text"].(string)
	if got["response_type"] != "ephemeral" || !strings.Contains(text, "invite me with /invite @odoobot") || !strings.Contains(text, "role admin") {
		t.Errorf("response_url got %v, want an ephemeral invite hint with the answer", got)
	}
	if n := len(fs.CallsOf("conversations.join")); n != 0 {
		t.Errorf("tried to join a private channel %d times", n)
	}
}

func TestRateLimitIsWaitedOut(t *testing.T) {
	fs := newFakeSlack(t)
	fs.RateLimit("chat.postMessage", 1)
	startBot(t, fs, slack.Config{Handler: newDispatcher(t, newCreator(t), "")})
	fs.WaitConnected(t, 5*time.Second)

	fs.Send(t, fs.Slash("env-rl", 0, "U0123ABCD", "ana", "C0123", "whoami"))
	waitFor(t, "the reply after the rate limit", func() bool { return len(fs.CallsOf("chat.postMessage")) == 1 })
	var at []time.Time
	for _, c := range fs.Calls() {
		if c.Method == "chat.postMessage" {
			at = append(at, c.At)
		}
	}
	if len(at) != 2 {
		t.Fatalf("%d postMessage attempts, want 2 (429 then ok)", len(at))
	}
	if gap := at[1].Sub(at[0]); gap < 950*time.Millisecond {
		t.Errorf("retried after %s, want Retry-After's 1s", gap)
	}
}

func TestSecretsStayOut(t *testing.T) {
	fs := newFakeSlack(t)
	key := "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----"
	creator := newCreator(t, "database")
	rb := startBot(t, fs, slack.Config{Handler: newDispatcher(t, creator, "cert:\n"+key+"\nurl: http://acme.example.com")})
	fs.WaitConnected(t, 5*time.Second)

	fs.Send(t, fs.Slash("env-s1", 0, "U0123ABCD", "ana", "C0123", "create "+botToken))
	fs.Send(t, fs.Slash("env-s2", 0, "U0123ABCD", "ana", "C0123", "create acme http password=hunter2"))
	fs.Send(t, fs.Slash("env-s3", 0, "U0123ABCD", "ana", "C0123", "create acme http"))
	waitFor(t, "the summary", func() bool {
		for _, c := range fs.CallsOf("chat.postMessage") {
			if strings.Contains(c.Form.Get("text"), "url: http://acme.example.com") {
				return true
			}
		}
		return false
	})
	waitFor(t, "two usage errors", func() bool { return len(fs.CallsOf("chat.postEphemeral")) == 2 })

	all := fs.Everything()
	redacted := false
	for _, c := range fs.CallsOf("chat.postMessage") {
		redacted = redacted || strings.Contains(c.Form.Get("text"), "cert:\n[private key redacted]\nurl:")
	}
	for _, secret := range []string{botToken, appToken, "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"} {
		if strings.Contains(all, secret) {
			t.Errorf("the fake Slack received %.20s… outside the Authorization header", secret)
		}
		if strings.Contains(rb.logs.String(), secret) {
			t.Errorf("the logs contain %.20s…", secret)
		}
	}
	if strings.Contains(rb.logs.String(), "hunter2") {
		t.Error("the logs contain the command text's password")
	}
	if !redacted {
		t.Error("the summary's private key was not replaced by a redaction mark")
	}
	fs.checkAuth(t)
}

func TestReportInThread(t *testing.T) {
	fs := newFakeSlack(t)
	rb := startBot(t, fs, slack.Config{Handler: newDispatcher(t, newCreator(t), "")})
	fs.WaitConnected(t, 5*time.Second)
	ctx := context.Background()
	if err := rb.bot.ReportInThread(ctx, map[string]string{"channel": "C0123", "ts": "1699999999.000001"}, "the bot restarted: creating prod-acme was interrupted and rolled back"); err != nil {
		t.Fatal(err)
	}
	got := fs.CallsOf("chat.postMessage")
	if len(got) != 1 || got[0].Form.Get("thread_ts") != "1699999999.000001" || got[0].Form.Get("channel") != "C0123" {
		t.Errorf("posted %+v, want one reply in the thread", got)
	}
	if err := rb.bot.ReportInThread(ctx, map[string]string{"channel": "123456789012345678"}, "x"); err == nil {
		t.Error("a reference without ts was accepted")
	}
}

func TestThreadRefAndLongSummaryAsFile(t *testing.T) {
	fs := newFakeSlack(t)
	creator := newCreator(t, "database")
	long := strings.Repeat("0123456789 summary line\n", 300)
	var mu sync.Mutex
	var refs []map[string]string
	h := handlerFunc(func(ctx context.Context, req commands.Request, r commands.Responder) (*provision.Task, error) {
		th, err := r.Thread(ctx, "creating prod-acme")
		if err != nil {
			return nil, err
		}
		mu.Lock()
		refs = append(refs, th.Ref())
		mu.Unlock()
		_ = th.Post(ctx, provision.FormatEvent(provision.Event{At: time.Now(), Step: "database", Kind: provision.EventStart}))
		return nil, th.Finish(ctx, "✅ created prod-acme", long)
	})
	_ = creator
	startBot(t, fs, slack.Config{Handler: h})
	fs.WaitConnected(t, 5*time.Second)
	fs.Send(t, fs.Slash("env-th", 0, "U0123ABCD", "ana", "C0123", "create acme"))
	waitFor(t, "the summary file", func() bool { return len(fs.CallsOf("files.completeUploadExternal")) == 1 })
	c := fs.CallsOf("files.completeUploadExternal")[0]
	if c.Form.Get("thread_ts") != "1700000000.000001" || c.Form.Get("channel_id") != "C0123" {
		t.Errorf("summary file shared in %q thread %q, want the job's thread", c.Form.Get("channel_id"), c.Form.Get("thread_ts"))
	}
	content := fs.File("F00000001")
	if content != long {
		t.Errorf("uploaded %d bytes, want the %d-byte summary whole", len(content), len(long))
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(refs, []map[string]string{{"channel": "C0123", "ts": "1700000000.000001"}}); diff != "" {
		t.Errorf("Ref (-got +want):\n%s", diff)
	}
}

type handlerFunc func(ctx context.Context, req commands.Request, r commands.Responder) (*provision.Task, error)

func (f handlerFunc) Handle(ctx context.Context, req commands.Request, r commands.Responder) (*provision.Task, error) {
	return f(ctx, req, r)
}

func TestAlertPostsInTheChannel(t *testing.T) {
	fs := newFakeSlack(t)
	rb := startBot(t, fs, slack.Config{Handler: newDispatcher(t, newCreator(t), "")})
	fs.WaitConnected(t, 5*time.Second)
	if err := rb.bot.Alert(context.Background(), "C0ALERTS", "certificate renewal failed for acme"); err != nil {
		t.Fatal(err)
	}
	got := fs.CallsOf("chat.postMessage")
	if len(got) != 1 || got[0].Form.Get("channel") != "C0ALERTS" || got[0].Form.Get("thread_ts") != "" || !strings.Contains(got[0].Form.Get("text"), "renewal failed") {
		t.Errorf("posted %+v, want one top-level message in C0ALERTS", got)
	}
}

// TestSlackDownAtStartIsRetried: Slack answering 503 to auth.test and to
// apps.connections.open when the bot starts does not stop Run: it logs,
// waits and connects, then answers commands.
func TestSlackDownAtStartIsRetried(t *testing.T) {
	fs := newFakeSlack(t)
	fs.Down("auth.test", 2)
	fs.Down("apps.connections.open", 1)
	rb := startBot(t, fs, slack.Config{Handler: newDispatcher(t, newCreator(t), ""), RetryWait: 20 * time.Millisecond})
	fs.WaitConnected(t, 5*time.Second)
	fs.Send(t, fs.Slash("env-after-503", 0, "U0123ABCD", "ana", "C0123", "whoami"))
	waitFor(t, "the whoami reply", func() bool { return len(fs.CallsOf("chat.postMessage")) == 1 })
	select {
	case err := <-rb.done:
		t.Fatalf("Run returned %v", err)
	default:
	}
	if n := strings.Count(rb.logs.String(), "slack: disconnected; reconnecting"); n < 2 {
		t.Errorf("%d retries logged, want at least 2:\n%s", n, rb.logs.String())
	}
}

// TestAttachUploadsThePNGIntoTheChannel: a graph is uploaded whole, as
// bytes (not text), into the command's channel, with its text
// alternative as title and alt text.
func TestAttachUploadsThePNGIntoTheChannel(t *testing.T) {
	fs := newFakeSlack(t)
	png := "\x89PNG\r\n\x1a\n" + strings.Repeat("\x00\xff", 5000)
	startBot(t, fs, slack.Config{Handler: handlerFunc(func(ctx context.Context, _ commands.Request, r commands.Responder) (*provision.Task, error) {
		return nil, r.Attach(ctx, "acme-24h.png", []byte(png), "acme: the last 24 hours")
	})})
	fs.WaitConnected(t, 5*time.Second)
	fs.Send(t, fs.Slash("env-graph", 0, "U0123ABCD", "ana", "C0123", "status acme"))
	fs.WaitAck(t, "env-graph", 5*time.Second)
	waitFor(t, "the upload completed", func() bool { return len(fs.CallsOf("files.completeUploadExternal")) == 1 })
	get := fs.CallsOf("files.getUploadURLExternal")[0]
	done := fs.CallsOf("files.completeUploadExternal")[0]
	if done.Form.Get("channel_id") != "C0123" || !strings.Contains(done.Form.Get("files"), "acme: the last 24 hours") {
		t.Errorf("completed in %q with files %s, want C0123 and the title", done.Form.Get("channel_id"), done.Form.Get("files"))
	}
	if get.Form.Get("filename") != "acme-24h.png" || get.Form.Get("alt_txt") != "acme: the last 24 hours" || get.Form.Get("length") != strconv.Itoa(len(png)) {
		t.Errorf("upload asked for %v, want acme-24h.png, its alt text and %d bytes", get.Form, len(png))
	}
	if got := fs.File("F00000001"); got != png {
		t.Errorf("uploaded %d bytes, want the %d of the PNG unchanged", len(got), len(png))
	}
}
