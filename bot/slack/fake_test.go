package slack_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

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

// memJobs is an in-memory provision.JobStore.
type memJobs struct {
	mu     sync.Mutex
	events []provision.Event
	states map[int64]provision.JobState
}

func (m *memJobs) StartJob(context.Context, int64) error { return nil }
func (m *memJobs) AppendEvent(_ context.Context, e provision.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, e)
	return nil
}
func (m *memJobs) FinishJob(_ context.Context, id int64, s provision.JobState, _ string, _ []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.states == nil {
		m.states = map[int64]provision.JobState{}
	}
	m.states[id] = s
	return nil
}

// fakeCreator queues a creation of fake steps on a real provision.Runner.
// With a password, a succeeded creation reveals it, as provision does.
type fakeCreator struct {
	runner   *provision.Runner
	steps    []provision.Step
	password string
	mu       sync.Mutex
	reqs     []provision.CreateRequest
}

func (c *fakeCreator) Create(_ context.Context, req provision.CreateRequest) (*provision.Task, error) {
	c.mu.Lock()
	c.reqs = append(c.reqs, req)
	id := int64(len(c.reqs))
	c.mu.Unlock()
	finished := req.Finished
	if c.password != "" && req.RevealAdmin != nil {
		finished = func(j provision.Job) {
			if j.State == provision.JobSucceeded {
				req.RevealAdmin(context.Background(), c.password)
			}
			req.Finished(j)
		}
	}
	t := &provision.Task{
		Job:   provision.Job{ID: id, Kind: provision.JobCreate, Instance: req.Name, State: provision.JobQueued, RequestedBy: req.By},
		Steps: c.steps, Subscribe: req.Subscribe, Finished: finished,
	}
	return t, c.runner.Submit(t)
}

func (c *fakeCreator) calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.reqs)
}

func newCreator(t testing.TB, stepNames ...provision.StepName) *fakeCreator {
	t.Helper()
	r := provision.NewRunner(provision.RunnerConfig{Store: &memJobs{}, Workers: 2})
	t.Cleanup(r.Close)
	c := &fakeCreator{runner: r}
	for _, n := range stepNames {
		c.steps = append(c.steps, provision.Step{
			Name:  n,
			Apply: func(context.Context) error { time.Sleep(40 * time.Millisecond); return nil },
			Undo:  func(context.Context) error { return nil },
		})
	}
	return c
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

// logBuffer is a goroutine-safe log sink.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// running is a Bot connected to a fake Slack.
type running struct {
	bot  *slack.Bot
	logs *logBuffer
	done chan error
}

// startBot runs a Bot against fs until the test ends; cfg's tokens, API
// URL and logger are filled in.
func startBot(t testing.TB, fs *fakeSlack, cfg slack.Config) *running {
	t.Helper()
	logs := &logBuffer{}
	cfg.BotToken, cfg.AppToken, cfg.APIURL = botToken, appToken, fs.APIURL()
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
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
