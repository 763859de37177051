// Package bottest holds the test doubles the chat front ends' tests
// share (bot/slack and bot/discord): what stands behind the dispatcher
// (a creation on a real provision.Runner, an audit, an admin password
// reset) and a log sink. The chat platforms' own doubles are
// bot/slack/slacktest and bot/discord/discordtest.
package bottest

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"odoobot/provision"
)

// Jobs is a provision.JobStore that keeps nothing: enough for a real
// provision.Runner to run the doubles' tasks without a database.
type Jobs struct{}

var _ provision.JobStore = Jobs{}

// StartJob accepts every job.
func (Jobs) StartJob(context.Context, int64) error { return nil }

// AppendEvent accepts every event.
func (Jobs) AppendEvent(context.Context, provision.Event) error { return nil }

// FinishJob accepts every end.
func (Jobs) FinishJob(context.Context, int64, provision.JobState, string, []string) error {
	return nil
}

// NewRunner is a real provision.Runner over Jobs that runs workers jobs
// at once; it is closed when the test ends.
func NewRunner(t testing.TB, workers int) *provision.Runner {
	t.Helper()
	r := provision.NewRunner(provision.RunnerConfig{Store: Jobs{}, Workers: workers})
	t.Cleanup(r.Close)
	return r
}

// Creator queues a creation of quick steps on a real provision.Runner
// and keeps the requests it was given. With a Password, a succeeded
// creation reveals it to the requester, as provision does.
type Creator struct {
	Password string // set before the first Create

	runner *provision.Runner
	steps  []provision.Step
	mu     sync.Mutex
	reqs   []provision.CreateRequest
}

// NewCreator is a Creator whose runner runs workers jobs at once and
// whose creation has one step per name, each taking step and undone
// without error.
func NewCreator(t testing.TB, workers int, step time.Duration, names ...provision.StepName) *Creator {
	t.Helper()
	c := &Creator{runner: NewRunner(t, workers)}
	for _, n := range names {
		c.steps = append(c.steps, provision.Step{
			Name:  n,
			Apply: func(context.Context) error { time.Sleep(step); return nil },
			Undo:  func(context.Context) error { return nil },
		})
	}
	return c
}

// Create queues the creation req asks for; its job's ID is the number of
// requests so far.
func (c *Creator) Create(_ context.Context, req provision.CreateRequest) (*provision.Task, error) {
	c.mu.Lock()
	c.reqs = append(c.reqs, req)
	id := int64(len(c.reqs))
	c.mu.Unlock()
	finished := req.Finished
	if c.Password != "" && req.RevealAdmin != nil {
		finished = func(j provision.Job) {
			if j.State == provision.JobSucceeded {
				req.RevealAdmin(context.Background(), c.Password)
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

// Requests are the creation requests so far, in order.
func (c *Creator) Requests() []provision.CreateRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]provision.CreateRequest(nil), c.reqs...)
}

// ProgressCreator runs a creation whose "release" step reports its
// progress n times, pause apart, between two quick steps ("reserve" and
// "files").
type ProgressCreator struct {
	runner *provision.Runner
	n      int
	pause  time.Duration
	mu     sync.Mutex
	jobs   int64
}

// NewProgressCreator is a ProgressCreator on a runner of one worker.
func NewProgressCreator(t testing.TB, n int, pause time.Duration) *ProgressCreator {
	t.Helper()
	return &ProgressCreator{runner: NewRunner(t, 1), n: n, pause: pause}
}

// Create queues the creation req asks for.
func (c *ProgressCreator) Create(_ context.Context, req provision.CreateRequest) (*provision.Task, error) {
	c.mu.Lock()
	c.jobs++
	id := c.jobs
	c.mu.Unlock()
	quick := func(context.Context) error { time.Sleep(10 * time.Millisecond); return nil }
	t := &provision.Task{
		Job:       provision.Job{ID: id, Kind: provision.JobCreate, Instance: req.Name, State: provision.JobQueued, RequestedBy: req.By},
		Subscribe: req.Subscribe, Finished: req.Finished,
	}
	t.Steps = []provision.Step{
		{Name: "reserve", Apply: quick},
		{Name: "release", Apply: func(context.Context) error {
			for i := 1; i <= c.n; i++ {
				t.Progress("release", fmt.Sprintf("installing modules %d/%d", i, c.n))
				time.Sleep(c.pause)
			}
			return nil
		}},
		{Name: "files", Apply: quick},
	}
	return t, c.runner.Submit(t)
}

// Audit keeps the audit rows (the dispatcher's Auditor).
type Audit struct {
	mu      sync.Mutex
	entries []provision.AuditEntry
}

// RecordAudit keeps e.
func (a *Audit) RecordAudit(_ context.Context, e provision.AuditEntry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries = append(a.entries, e)
	return nil
}

// OpenAudit keeps e; its ID is its index.
func (a *Audit) OpenAudit(_ context.Context, e provision.AuditEntry) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries = append(a.entries, e)
	return int64(len(a.entries) - 1), nil
}

// CloseAudit records the outcome and duration of the entry id.
func (a *Audit) CloseAudit(_ context.Context, id int64, outcome string, d time.Duration) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries[id].Outcome, a.entries[id].Duration = outcome, d
	return nil
}

// Entries are the rows so far, in order.
func (a *Audit) Entries() []provision.AuditEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]provision.AuditEntry(nil), a.entries...)
}

// String is every row, one a line: where a test looks for a secret.
func (a *Audit) String() string {
	var b strings.Builder
	for _, e := range a.Entries() {
		fmt.Fprintf(&b, "%+v\n", e)
	}
	return b.String()
}

// Resetter resets an instance's admin password to Password (the
// dispatcher's AdminPasswords) and counts the resets.
type Resetter struct {
	Password string

	mu    sync.Mutex
	names []string
}

// ResetAdminPassword records name and returns Password.
func (r *Resetter) ResetAdminPassword(_ context.Context, name string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.names = append(r.names, name)
	return r.Password, nil
}

// Calls is the number of resets so far.
func (r *Resetter) Calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.names)
}

// LogBuffer is a log sink that goroutines may write to at once.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
