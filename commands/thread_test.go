package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"odoobot/provision"
)

// stepThread is a threadResponder whose thread shows each step as a line
// of its own (StepLine is recorded, not posted).
type stepThread struct {
	threadResponder
	steps []string // "kind step: line"
}

func (r *stepThread) Thread(_ context.Context, root string) (Thread, error) { return r, nil }

func (r *stepThread) StepLine(_ context.Context, step string, kind provision.EventKind, line string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.steps = append(r.steps, string(kind)+" "+step+": "+line)
	return nil
}

// noThread is a responder whose thread cannot be opened (a channel the
// bot cannot post in).
type noThread struct{ threadResponder }

func (r *noThread) Thread(context.Context, string) (Thread, error) {
	return nil, errors.New("not_in_channel")
}

// progressCreator runs a creation of one step, "release", that reports
// its progress n times. Events before the thread opens are sent by
// Create itself when early is set; the rest, and the end, come after
// Create returns, once go is closed.
type progressCreator struct {
	n     int
	state provision.JobState
	early bool
	gate  chan struct{}
	done  chan struct{}
}

func (c *progressCreator) Create(_ context.Context, req provision.CreateRequest) (*provision.Task, error) {
	job := provision.Job{ID: 9, Kind: provision.JobCreate, Instance: req.Name, State: c.state}
	if job.State != provision.JobSucceeded {
		job.Error = "step release failed: boom"
	}
	emit := func(kind provision.EventKind, msg string) {
		for _, s := range req.Subscribe {
			s(provision.Event{Step: "release", Kind: kind, Message: msg})
		}
	}
	run := func(from int) {
		for i := from; i <= c.n; i++ {
			emit(provision.EventProgress, fmt.Sprintf("installing modules %d/%d", i, c.n))
		}
		if c.state == provision.JobSucceeded {
			emit(provision.EventDone, "")
		} else {
			emit(provision.EventFailed, "boom")
		}
		req.Finished(job)
		close(c.done)
	}
	emit(provision.EventStart, "")
	from := 1
	if c.early {
		for ; from <= c.n/2; from++ {
			emit(provision.EventProgress, fmt.Sprintf("installing modules %d/%d", from, c.n))
		}
	}
	go func() {
		<-c.gate
		run(from)
	}()
	return &provision.Task{Job: job}, nil
}

var ana = Identity{Platform: "slack", UserID: "U0ADMIN01", UserName: "ana"}

// TestProgressGoesToTheStepLine: a step's start, its progress and its
// end all go through StepLine, in order, the progress held before the
// thread opened collapsed into its latest report; nothing of the step is
// posted.
func TestProgressGoesToTheStepLine(t *testing.T) {
	d, _, _ := newTestDispatcher(t)
	c := &progressCreator{n: 50, state: provision.JobSucceeded, early: true, gate: make(chan struct{}), done: make(chan struct{})}
	d.Creator = c
	d.Summary = func(context.Context, string) string { return "summary" }
	r := &stepThread{}
	if _, err := d.Handle(context.Background(), Request{Identity: ana, Channel: "C1", Text: "create acme http"}, r); err != nil {
		t.Fatal(err)
	}
	close(c.gate)
	<-c.done
	if len(r.posts) != 0 {
		t.Errorf("posts = %q, want none: every line is about the step", r.posts)
	}
	// start, the held progress collapsed to 25/50, 26/50 … 50/50, done.
	if got, want := len(r.steps), 1+1+25+1; got != want {
		t.Fatalf("%d step lines, want %d:\n%s", got, want, strings.Join(r.steps, "\n"))
	}
	for i, want := range map[int]string{
		0:                "start release: ",
		1:                "progress release: ",
		2:                "progress release: ",
		len(r.steps) - 1: "done release: ",
	} {
		if !strings.HasPrefix(r.steps[i], want) {
			t.Errorf("step line %d = %q, want it to start %q", i, r.steps[i], want)
		}
	}
	if !strings.HasSuffix(r.steps[1], "installing modules 25/50") || !strings.HasSuffix(r.steps[2], "installing modules 26/50") {
		t.Errorf("held progress not collapsed to its latest: %q, %q", r.steps[1], r.steps[2])
	}
	if len(r.finishes) != 1 || !strings.HasPrefix(r.finishes[0], "✅ created prod-acme") {
		t.Errorf("finishes = %q", r.finishes)
	}
}

// TestAPlainThreadShowsNoProgress: a Thread that cannot edit a line
// (its StepLine is PostStepLine) gets the step's start and end, and none
// of its progress.
func TestAPlainThreadShowsNoProgress(t *testing.T) {
	d, _, _ := newTestDispatcher(t)
	c := &progressCreator{n: 50, state: provision.JobSucceeded, early: true, gate: make(chan struct{}), done: make(chan struct{})}
	d.Creator = c
	d.Summary = func(context.Context, string) string { return "summary" }
	r := &threadResponder{}
	if _, err := d.Handle(context.Background(), Request{Identity: ana, Channel: "C1", Text: "create acme http"}, r); err != nil {
		t.Fatal(err)
	}
	close(c.gate)
	<-c.done
	if len(r.posts) != 2 || !strings.Contains(r.posts[0], "release started") || !strings.Contains(r.posts[1], "✓ release") {
		t.Errorf("posts = %q, want the start and the end of release", r.posts)
	}
}

// TestTheEndOfAJobWithoutAThreadIsToldPrivately: when the thread cannot
// be opened (the bot cannot post in the channel), the requester hears
// privately how the job ended, success or failure, and the password
// still goes to them alone.
func TestTheEndOfAJobWithoutAThreadIsToldPrivately(t *testing.T) {
	for _, state := range []provision.JobState{provision.JobSucceeded, provision.JobRolledBack} {
		t.Run(string(state), func(t *testing.T) {
			d, _, _ := newTestDispatcher(t)
			c := &progressCreator{n: 3, state: state, gate: make(chan struct{}), done: make(chan struct{})}
			d.Creator = c
			d.Summary = func(context.Context, string) string { return "url: http://acme.example.com" }
			r := &noThread{}
			if _, err := d.Handle(context.Background(), Request{Identity: ana, Channel: "C1", Text: "create acme http"}, r); err == nil {
				t.Error("Handle: no error for a thread that could not be opened")
			}
			if len(r.privates) != 0 {
				t.Fatalf("told before the end: %q", r.privates)
			}
			close(c.gate)
			<-c.done
			want := "✅ created prod-acme → http://acme.example.com, asked by ana\nurl: http://acme.example.com"
			if state != provision.JobSucceeded {
				want = "❌ creating prod-acme failed and was rolled back, asked by ana\nstep release failed: boom"
			}
			if len(r.privates) != 1 || r.privates[0] != want {
				t.Errorf("privates = %q, want [%q]", r.privates, want)
			}
		})
	}
}

// TestTheEndOfADayTwoJobWithoutAThreadIsToldPrivately: the same for a
// backup, whose job may end before the thread fails to open.
func TestTheEndOfADayTwoJobWithoutAThreadIsToldPrivately(t *testing.T) {
	d, _, _ := newTestDispatcher(t)
	d.DayTwo = &fakeDayTwo{state: provision.JobRolledBack}
	r := &noThread{}
	d.Handle(context.Background(), Request{Identity: ana, Channel: "C1", Text: "backup acme"}, r)
	if len(r.privates) != 1 || !strings.HasPrefix(r.privates[0], "❌ backup of prod-acme failed") {
		t.Errorf("privates = %q, want the failure", r.privates)
	}
}

// TestAnswersPrivately: what is refused, asks for a confirmation or
// shows logs unshared is known to be private before it runs.
func TestAnswersPrivately(t *testing.T) {
	d, _, audit := newTestDispatcher(t)
	d.DayTwo = &fakeDayTwo{state: provision.JobSucceeded}
	d.Operator = &provision.Operator{Store: lookupStore{[]provision.Instance{{Name: "acme"}}}}
	viewer := Identity{Platform: "slack", UserID: "U0VIEW001", UserName: "vic"}
	stranger := Identity{Platform: "slack", UserID: "U0STRANGER"}
	for _, c := range []struct {
		id      Identity
		text    string
		private bool
	}{
		{stranger, "list", true},
		{stranger, "whoami", false},
		{viewer, "create acme", true},
		{viewer, "list", false},
		{ana, "frobnicate", true},
		{ana, "create acme http", false},
		{ana, "create acme gopher", true},
		{ana, "create Acme", true},
		{ana, "status www", true},
		{ana, "status acme", false},
		{ana, "logs acme", true},
		{ana, "logs acme 20 share", false},
		{ana, "delete acme", true},
		{ana, "reset-admin acme", true},
		{ana, "confirm 0123abcd", true},
		{ana, "help", false},
		{ana, "capacity", true}, // not available here: said privately
	} {
		if got := d.AnswersPrivately(Request{Identity: c.id, Channel: "C1", Text: c.text}); got != c.private {
			t.Errorf("%s %q: AnswersPrivately = %v, want %v", c.id.UserID, c.text, got, c.private)
		}
	}
	// A pending confirmation: its requester's is not refused, anyone
	// else's is; asking changes nothing.
	r := &threadResponder{}
	d.Handle(context.Background(), Request{Identity: ana, Channel: "C1", Text: "delete acme"}, r)
	confirm := Request{Identity: ana, Channel: "C1", Text: "confirm " + r.codes[0]}
	if d.AnswersPrivately(confirm) {
		t.Error("the requester's own confirmation is said to be refused")
	}
	other := confirm
	other.Channel = "C2"
	if !d.AnswersPrivately(other) {
		t.Error("a confirmation from another channel is not said to be refused")
	}
	if n := len(audit.entries); n != 1 {
		t.Errorf("%d audit entries, want only the delete's: AnswersPrivately records nothing", n)
	}
	c := &threadResponder{}
	d.Handle(context.Background(), confirm, c)
	if len(c.finishes) != 1 {
		t.Errorf("the confirmation did not run after AnswersPrivately: %q", c.privates)
	}
}
