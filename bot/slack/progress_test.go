package slack_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"odoobot/bot/bottest"
	"odoobot/bot/slack"
	"odoobot/commands"
	"odoobot/provision"
)

// TestProgressEditsTheStatusMessage: 50 progress reports of a step make
// a few chat.update calls of the one status message, and no message of
// their own; the step's end then shows as its done line.
func TestProgressEditsTheStatusMessage(t *testing.T) {
	fs := newFakeSlack(t)
	creator := bottest.NewProgressCreator(t, 50, 4*time.Millisecond)
	startBot(t, fs, slack.Config{Handler: newDispatcher(t, creator, "url: http://acme.example.com"), UpdateInterval: 60 * time.Millisecond})
	fs.WaitConnected(t, 5*time.Second)

	fs.Send(t, fs.Slash("env-progress-1", 0, "U0123ABCD", "ana", "C0123", "create acme http"))
	waitFor(t, "the root and the status message edited to the final text", func() bool {
		n := 0
		for _, c := range fs.CallsOf("chat.update") {
			if strings.HasPrefix(c.Form.Get("text"), "✅ created prod-acme") {
				n++
			}
		}
		return n == 2
	})

	for _, p := range fs.CallsOf("chat.postMessage") {
		if text := p.Form.Get("text"); strings.Contains(text, "installing modules") {
			t.Errorf("progress posted as a message: %q", text)
		}
	}
	var progress []apiCall
	for _, u := range fs.CallsOf("chat.update") {
		if strings.Contains(u.Form.Get("text"), "installing modules") {
			progress = append(progress, u)
		}
	}
	if len(progress) == 0 {
		t.Fatal("no progress was shown")
	}
	if len(progress) > 6 {
		t.Errorf("%d chat.update calls for 50 progress reports over ~200ms at one per 60ms: not coalesced", len(progress))
	}
	ts := progress[0].Form.Get("ts")
	for _, u := range progress {
		if u.Form.Get("ts") != ts {
			t.Errorf("progress edited messages %s and %s, want one", ts, u.Form.Get("ts"))
		}
	}
	// After the last progress edit, the same message shows what came
	// next, and the step's done line is in the thread.
	last := progress[len(progress)-1]
	var after []string
	for _, u := range fs.CallsOf("chat.update") {
		if u.Form.Get("ts") == ts && u.At.After(last.At) {
			after = append(after, u.Form.Get("text"))
		}
	}
	if len(after) == 0 || strings.Contains(after[len(after)-1], "installing modules") {
		t.Errorf("the status message was left on progress: edits after it %q", after)
	}
	done := false
	for _, p := range fs.CallsOf("chat.postMessage") {
		if strings.Contains(p.Form.Get("text"), "✓ release") {
			done = true
		}
	}
	if !done {
		t.Error("no done line for release in the thread")
	}
	fs.checkAuth(t)
}

// TestARootThatCannotBeEditedGetsItsEndInTheThread: when Slack fails the
// root's final chat.update twice, the final state is posted in the job's
// thread, so that the job does not read "creating…" with nothing saying
// how it ended.
func TestARootThatCannotBeEditedGetsItsEndInTheThread(t *testing.T) {
	fs := newFakeSlack(t)
	h := handlerFunc(func(ctx context.Context, req commands.Request, r commands.Responder) (*provision.Task, error) {
		th, err := r.Thread(ctx, "creating prod-acme")
		if err != nil {
			return nil, err
		}
		return nil, th.Finish(ctx, "✅ created prod-acme", "url: http://acme.example.com")
	})
	startBot(t, fs, slack.Config{Handler: h})
	fs.WaitConnected(t, 5*time.Second)
	fs.Down("chat.update", 2)
	fs.Send(t, fs.Slash("env-rootfail", 0, "U0123ABCD", "ana", "C0123", "create acme"))
	waitFor(t, "the summary", func() bool {
		for _, c := range fs.CallsOf("chat.postMessage") {
			if strings.Contains(c.Form.Get("text"), "url: http://acme.example.com") {
				return true
			}
		}
		return false
	})
	var final []string
	for _, c := range fs.CallsOf("chat.postMessage") {
		if c.Form.Get("thread_ts") == "1700000000.000001" && c.Form.Get("text") == "✅ created prod-acme" {
			final = append(final, c.Form.Get("text"))
		}
	}
	if len(final) != 1 {
		t.Errorf("the final state was posted in the thread %d times, want once: %q", len(final), texts(fs.CallsOf("chat.postMessage")))
	}
	n := 0
	for _, c := range fs.Calls() {
		if c.Method == "chat.update" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d chat.update calls, want the root's edit and one retry", n)
	}
}
