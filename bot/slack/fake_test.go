package slack_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/bot/bottest"
	"odoobot/bot/slack"
	"odoobot/bot/slack/slacktest"
	"odoobot/commands"
	"odoobot/provision"
)

// Test tokens: fake, but shaped like real ones so that a leak is visible.
const (
	botToken = "xoxb-1111111111-2222222222-botTOKENsecretVALUE"
	appToken = "xapp-1-A0123456-3333333333-appTOKENsecretVALUE"
)

// apiCall is one Web API request as the Slack double saw it.
type apiCall = slacktest.Call

// fakeSlack is the Slack double (slacktest) with the helpers the tests
// of this package share.
type fakeSlack struct {
	*slacktest.Server
}

func newFakeSlack(t testing.TB) *fakeSlack {
	t.Helper()
	return &fakeSlack{slacktest.New(t, slacktest.Options{})}
}

// waitFor polls cond until it holds or 5s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkRefusedPrivately checks that the ephemeral messages so far are
// exactly want (user ID → text), each in channel (and in the thread ts,
// when ts is not ""), and that nothing was posted for all to see.
func (fs *fakeSlack) checkRefusedPrivately(t testing.TB, channel, ts string, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, c := range fs.CallsOf("chat.postEphemeral") {
		if c.Form.Get("channel") != channel || (ts != "" && c.Form.Get("thread_ts") != ts) {
			t.Errorf("refusal in %q thread %q, want %s thread %q", c.Form.Get("channel"), c.Form.Get("thread_ts"), channel, ts)
		}
		got[c.Form.Get("user")] = c.Form.Get("text")
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("refusals (-got +want):\n%s", diff)
	}
	if n := len(fs.CallsOf("chat.postMessage")); n != 0 {
		t.Errorf("%d visible messages for refusals", n)
	}
}

// checkAuth fails the test if a Web API call did not carry the right
// token in its Authorization header.
func (fs *fakeSlack) checkAuth(t testing.TB) {
	t.Helper()
	for _, c := range fs.Calls() {
		want := "Bearer " + botToken
		if c.Method == "apps.connections.open" {
			want = "Bearer " + appToken
		}
		if c.Auth != want {
			t.Errorf("%s: Authorization = %q, want the %s token", c.Method, c.Auth, map[bool]string{true: "app", false: "bot"}[c.Method == "apps.connections.open"])
		}
	}
}

// newCreator is the creation double of this package's tests: two
// workers, steps of 40 ms.
func newCreator(t testing.TB, stepNames ...provision.StepName) *bottest.Creator {
	t.Helper()
	return bottest.NewCreator(t, 2, 40*time.Millisecond, stepNames...)
}

const allowlistText = `
admin    slack user U0123ABCD
viewer   slack user U0999VIEW
operator slack user U0888OPER
`

func newDispatcher(t testing.TB, c commands.Creator, summary string) *commands.Dispatcher {
	t.Helper()
	al, err := commands.ParseAllowlist(strings.NewReader(allowlistText), "allowlist")
	if err != nil {
		t.Fatal(err)
	}
	return &commands.Dispatcher{
		Allowlist: al, Rules: provision.NameRules{Zone: "example.com"}, Mode: provision.SSLHTTP,
		Creator: c, Summary: func(context.Context, string) string { return summary },
	}
}

// running is a Bot connected to a fake Slack.
type running struct {
	bot  *slack.Bot
	logs *bottest.LogBuffer
	done chan error
}

// startBot runs a Bot against fs until the test ends; cfg's tokens, API
// URL and logger (at DEBUG) are filled in.
func startBot(t testing.TB, fs *fakeSlack, cfg slack.Config) *running {
	t.Helper()
	return startBotAt(t, fs, cfg, slog.LevelDebug)
}

// startBotAt is startBot with a logger at level: LevelWarn is what
// odoobot serve logs.
func startBotAt(t testing.TB, fs *fakeSlack, cfg slack.Config, level slog.Level) *running {
	t.Helper()
	logs := &bottest.LogBuffer{}
	cfg.BotToken, cfg.AppToken, cfg.APIURL = botToken, appToken, fs.APIURL()
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: level}))
	if cfg.UpdateInterval == 0 {
		cfg.UpdateInterval = 100 * time.Millisecond
	}
	b, err := slack.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rb := &running{bot: b, logs: logs, done: make(chan error, 1)}
	go func() { rb.done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-rb.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return within 5s of cancellation")
		}
	})
	return rb
}
