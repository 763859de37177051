package thread_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/bot/thread"
	"odoobot/provision"
)

// call is one thing the fake platform was asked to do.
type call struct {
	Op   string // post, edit, summary
	ID   string // the message posted or edited
	Text string
	At   time.Time
}

func (c call) String() string { return c.Op + " " + c.ID + " " + c.Text }

// platform is a chat platform in memory: messages numbered m1, m2, … in
// the order they are posted (the root is "root"); editFails makes the
// next edits of a message fail.
type platform struct {
	mu        sync.Mutex
	n         int
	calls     []call
	text      map[string]string // what each message shows
	editFails map[string]int
	postFails int
}

func newPlatform() *platform {
	return &platform{text: map[string]string{"root": "creating prod-acme"}, editFails: map[string]int{}}
}

func (p *platform) Post(_ context.Context, text string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.postFails > 0 {
		p.postFails--
		return "", errors.New("post: unavailable")
	}
	p.n++
	id := fmt.Sprintf("m%d", p.n)
	p.text[id] = text
	p.calls = append(p.calls, call{"post", id, text, time.Now()})
	return id, nil
}

func (p *platform) Edit(_ context.Context, id, text string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.editFails[id] > 0 {
		p.editFails[id]--
		p.calls = append(p.calls, call{"edit failed", id, text, time.Now()})
		return errors.New("edit: service unavailable")
	}
	if _, ok := p.text[id]; !ok {
		return fmt.Errorf("edit: no message %s", id)
	}
	p.text[id] = text
	p.calls = append(p.calls, call{"edit", id, text, time.Now()})
	return nil
}

func (p *platform) Summary(_ context.Context, text string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, call{"summary", "", text, time.Now()})
	return nil
}

func (p *platform) snapshot() []call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]call(nil), p.calls...)
}

// shows is what message id shows now.
func (p *platform) shows(id string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.text[id]
}

func strs(calls []call) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.String())
	}
	return out
}

func line(step string, k provision.EventKind, msg string) string {
	return provision.FormatEvent(provision.Event{At: time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC), Step: step, Kind: k, Message: msg, Duration: time.Second})
}

func newThread(p *platform, layout thread.Layout, interval time.Duration) *thread.Thread {
	return thread.New(thread.Config{Platform: p, Root: "root", Layout: layout, Interval: interval})
}

// TestLinesKeepTheirOrder: lines given faster than the platform takes
// them reach it in the order given, and Finish comes after them all.
func TestLinesKeepTheirOrder(t *testing.T) {
	for _, layout := range []thread.Layout{thread.StepMessages, thread.StatusMessage} {
		t.Run(fmt.Sprint(layout), func(t *testing.T) {
			p := newPlatform()
			th := newThread(p, layout, 0)
			ctx := context.Background()
			var want []string
			for i := range 100 {
				text := fmt.Sprintf("line %d", i)
				want = append(want, text)
				if err := th.Post(ctx, text); err != nil {
					t.Fatal(err)
				}
			}
			if err := th.Finish(ctx, "✅ created prod-acme", "url: http://acme.example.com"); err != nil {
				t.Fatal(err)
			}
			var got []string
			var rootAt, summaryAt int
			for i, c := range p.snapshot() {
				switch {
				case c.Op == "post" && strings.HasPrefix(c.Text, "line "):
					got = append(got, c.Text)
				case c.Op == "edit" && c.ID == "root":
					rootAt = i
				case c.Op == "summary":
					summaryAt = i
				}
			}
			if d := cmp.Diff(got, want); d != "" {
				t.Errorf("lines (-got +want):\n%s", d)
			}
			if rootAt < 100 || summaryAt < rootAt {
				t.Errorf("the root edit (call %d) and the summary (call %d) do not come after the 100 lines, in that order", rootAt, summaryAt)
			}
			if got := p.shows("root"); got != "✅ created prod-acme" {
				t.Errorf("root shows %q", got)
			}
			if err := th.Post(ctx, "late"); err == nil {
				t.Error("Post after Finish was accepted")
			}
			if err := th.Finish(ctx, "again", ""); err == nil {
				t.Error("a second Finish was accepted")
			}
		})
	}
}

// TestStepMessages: a step's start is its message; a burst of progress
// edits it a few times, no faster than the interval; its end replaces
// the progress. A step without progress has its end posted. The root is
// edited to the final state, then the summary follows.
func TestStepMessages(t *testing.T) {
	p := newPlatform()
	const interval = 40 * time.Millisecond
	th := newThread(p, thread.StepMessages, interval)
	ctx := context.Background()
	th.StepLine(ctx, "release", provision.EventStart, line("release", provision.EventStart, ""))
	for i := 1; i <= 50; i++ {
		th.StepLine(ctx, "release", provision.EventProgress, line("release", provision.EventProgress, fmt.Sprintf("installing modules %d/50", i)))
		time.Sleep(3 * time.Millisecond)
	}
	th.StepLine(ctx, "release", provision.EventDone, line("release", provision.EventDone, ""))
	th.StepLine(ctx, "files", provision.EventStart, line("files", provision.EventStart, ""))
	th.StepLine(ctx, "files", provision.EventDone, line("files", provision.EventDone, ""))
	if err := th.Finish(ctx, "✅ created prod-acme", "url: http://acme.example.com"); err != nil {
		t.Fatal(err)
	}
	calls := p.snapshot()
	var edits []call
	for _, c := range calls {
		if c.Op == "edit" && c.ID == "m1" {
			edits = append(edits, c)
		}
		if c.Op == "post" && strings.Contains(c.Text, "installing modules") {
			t.Errorf("progress posted as a message: %s", c)
		}
	}
	if len(edits) < 2 || len(edits) > 7 {
		t.Errorf("%d edits of the step's message for 50 reports over ~150ms at one per 40ms:\n%s", len(edits), strings.Join(strs(edits), "\n"))
	}
	for i := 1; i < len(edits); i++ {
		if gap := edits[i].At.Sub(edits[i-1].At); gap < interval-5*time.Millisecond {
			t.Errorf("edits %d and %d only %s apart, want ≥ %s", i-1, i, gap, interval)
		}
	}
	if got, want := p.shows("m1"), line("release", provision.EventDone, ""); got != want {
		t.Errorf("the step's message shows %q, want its end %q", got, want)
	}
	var rest []string
	for _, c := range calls {
		if c.ID != "m1" {
			rest = append(rest, c.String())
		}
	}
	want := []string{
		"post m2 " + line("files", provision.EventStart, ""),
		"post m3 " + line("files", provision.EventDone, ""),
		"edit root ✅ created prod-acme",
		"summary  url: http://acme.example.com",
	}
	if d := cmp.Diff(rest, want); d != "" {
		t.Errorf("the other calls (-got +want):\n%s", d)
	}
}

// TestStatusMessage: one status message shows the latest line, posted
// with the first and edited in place no faster than the interval; a
// step's start shows only there, its end is also a line of its own;
// progress edits it; the final state ends up in the root and the status.
func TestStatusMessage(t *testing.T) {
	p := newPlatform()
	const interval = 40 * time.Millisecond
	th := newThread(p, thread.StatusMessage, interval)
	ctx := context.Background()
	start, done := line("release", provision.EventStart, ""), line("release", provision.EventDone, "")
	th.StepLine(ctx, "release", provision.EventStart, start)
	for i := 1; i <= 30; i++ {
		th.StepLine(ctx, "release", provision.EventProgress, line("release", provision.EventProgress, fmt.Sprintf("installing modules %d/30", i)))
		time.Sleep(3 * time.Millisecond)
	}
	th.StepLine(ctx, "release", provision.EventDone, done)
	th.Post(ctx, line("database", provision.EventUndo, ""))
	if err := th.Finish(ctx, "❌ creating prod-acme failed", "the database could not be created"); err != nil {
		t.Fatal(err)
	}
	calls := p.snapshot()
	var posts, statusEdits []call
	for _, c := range calls {
		switch {
		case c.Op == "post":
			posts = append(posts, c)
		case c.Op == "edit" && c.ID == "m1":
			statusEdits = append(statusEdits, c)
		}
	}
	wantPosts := []string{"post m1 ⏳ " + start, "post m2 " + done}
	if d := cmp.Diff(strs(posts), wantPosts); d != "" {
		t.Errorf("posts (-got +want):\n%s", d)
	}
	if len(statusEdits) < 2 || len(statusEdits) > 8 {
		t.Errorf("%d status edits for 30 reports over ~100ms at one per 40ms:\n%s", len(statusEdits), strings.Join(strs(statusEdits), "\n"))
	}
	for i := 1; i < len(statusEdits); i++ {
		if gap := statusEdits[i].At.Sub(statusEdits[i-1].At); gap < interval-5*time.Millisecond {
			t.Errorf("status edits %d and %d only %s apart, want ≥ %s", i-1, i, gap, interval)
		}
	}
	if got := p.shows("m1"); got != "❌ creating prod-acme failed" {
		t.Errorf("status shows %q, want the final state", got)
	}
	if got := p.shows("root"); got != "❌ creating prod-acme failed" {
		t.Errorf("root shows %q, want the final state", got)
	}
	last := calls[len(calls)-1]
	if last.Op != "edit" || last.ID != "m1" {
		t.Errorf("last call %s, want the status message's final edit", last)
	}
}

// TestProgressOfAnotherStepIsDropped: progress of a step that is not the
// one running, or that ended, shows nowhere.
func TestProgressOfAnotherStepIsDropped(t *testing.T) {
	p := newPlatform()
	th := newThread(p, thread.StepMessages, 0)
	ctx := context.Background()
	th.StepLine(ctx, "release", provision.EventStart, "release started")
	th.StepLine(ctx, "files", provision.EventProgress, "files 1/2")
	th.StepLine(ctx, "release", provision.EventDone, "release done")
	th.StepLine(ctx, "release", provision.EventProgress, "release 9/9")
	if err := th.Finish(ctx, "✅ done", ""); err != nil {
		t.Fatal(err)
	}
	want := []string{"post m1 release started", "post m2 release done", "edit root ✅ done"}
	if d := cmp.Diff(strs(p.snapshot()), want); d != "" {
		t.Errorf("calls (-got +want):\n%s", d)
	}
}

// TestAFailedRootEditIsRetriedThenPosted: the root's final edit is tried
// once more when it fails; when that fails too, the final state is
// posted in the thread, so that the job never reads "creating…" with
// nothing saying how it ended.
func TestAFailedRootEditIsRetriedThenPosted(t *testing.T) {
	ctx := context.Background()
	t.Run("once", func(t *testing.T) {
		p := newPlatform()
		p.editFails["root"] = 1
		th := newThread(p, thread.StepMessages, 10*time.Millisecond)
		if err := th.Finish(ctx, "✅ created prod-acme", "url: http://acme.example.com"); err != nil {
			t.Fatal(err)
		}
		want := []string{
			"edit failed root ✅ created prod-acme",
			"edit root ✅ created prod-acme",
			"summary  url: http://acme.example.com",
		}
		if d := cmp.Diff(strs(p.snapshot()), want); d != "" {
			t.Errorf("calls (-got +want):\n%s", d)
		}
	})
	t.Run("twice", func(t *testing.T) {
		p := newPlatform()
		p.editFails["root"] = 2
		th := newThread(p, thread.StatusMessage, 10*time.Millisecond)
		th.Post(ctx, "line")
		if err := th.Finish(ctx, "✅ created prod-acme", "url: http://acme.example.com"); err != nil {
			t.Fatalf("Finish: %v, want nil: the final state was shown", err)
		}
		want := []string{
			"post m1 line",
			"post m2 ⏳ line",
			"edit failed root ✅ created prod-acme",
			"edit failed root ✅ created prod-acme",
			"post m3 ✅ created prod-acme",
			"summary  url: http://acme.example.com",
			"edit m2 ✅ created prod-acme",
		}
		if d := cmp.Diff(strs(p.snapshot()), want); d != "" {
			t.Errorf("calls (-got +want):\n%s", d)
		}
	})
	t.Run("nothing gets through", func(t *testing.T) {
		p := newPlatform()
		p.editFails["root"] = 2
		p.postFails = 4
		th := newThread(p, thread.StepMessages, 0)
		if err := th.Finish(ctx, "✅ created prod-acme", ""); err == nil {
			t.Error("Finish reported success though the final state was shown nowhere")
		}
	})
}

// TestAFailedEndEditIsPosted: when the edit that should replace a step's
// progress with its end fails, the end is posted instead: it is never
// dropped.
func TestAFailedEndEditIsPosted(t *testing.T) {
	p := newPlatform()
	th := newThread(p, thread.StepMessages, 0)
	ctx := context.Background()
	th.StepLine(ctx, "release", provision.EventStart, "release started")
	th.StepLine(ctx, "release", provision.EventProgress, "release 1/2")
	deadline := time.Now().Add(2 * time.Second)
	for p.shows("m1") != "release 1/2" {
		if time.Now().After(deadline) {
			t.Fatal("the progress was never shown")
		}
		time.Sleep(time.Millisecond)
	}
	p.mu.Lock()
	p.editFails["m1"] = 1
	p.mu.Unlock()
	th.StepLine(ctx, "release", provision.EventDone, "release done")
	if err := th.Finish(ctx, "✅ done", ""); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"post m1 release started",
		"edit m1 release 1/2",
		"edit failed m1 release done",
		"post m2 release done",
		"edit root ✅ done",
	}
	if d := cmp.Diff(strs(p.snapshot()), want); d != "" {
		t.Errorf("calls (-got +want):\n%s", d)
	}
}

// TestTheFinalStateOutlastsAShortOutage: a platform that refuses edits
// and posts for a few attempts in a row (an outage of some seconds at
// the job's end) still ends with the final state shown in the thread.
func TestTheFinalStateOutlastsAShortOutage(t *testing.T) {
	p := newPlatform()
	p.editFails["root"] = 2
	p.postFails = 3
	th := newThread(p, thread.StepMessages, time.Millisecond)
	if err := th.Finish(context.Background(), "✅ created prod-acme", ""); err != nil {
		t.Fatalf("Finish: %v, want the final state shown", err)
	}
	want := []string{
		"edit failed root ✅ created prod-acme",
		"edit failed root ✅ created prod-acme",
		"post m1 ✅ created prod-acme",
	}
	if d := cmp.Diff(strs(p.snapshot()), want); d != "" {
		t.Errorf("calls (-got +want):\n%s", d)
	}
}
