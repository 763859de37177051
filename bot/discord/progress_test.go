package discord

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/bot/bottest"
	"odoobot/commands"
	"odoobot/provision"
)

// TestProgressEditsTheStepLine: 50 progress reports of a step make a few
// edits of the step's one message in the thread and no message of their
// own; the step's end replaces the progress in that message.
func TestProgressEditsTheStepLine(t *testing.T) {
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	b, err := New(Config{Token: testToken, AppID: testApp, GuildID: testGuild, APIURL: fd.apiURL(),
		Handler: newDispatcher(t, bottest.NewProgressCreator(t, 50, 4*time.Millisecond), nil, nil), Logger: slogJSON(logs),
		UpdateInterval: 60 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	b.handleInteraction(context.Background(), slash(t, "623456789012345678", "itok-progress", ana, "create", "name", "acme", "mode", "http"))
	calls := fd.waitFor(t, "summary in the thread", func(c apiCall) bool {
		return c.Method == "POST" && rePost.MatchString(c.Path) && strings.Contains(c.str("content"), "url: http://acme.example.com")
	})

	var start apiCall
	var posts []string
	for _, c := range calls {
		if c.Method == "POST" && rePost.MatchString(c.Path) {
			posts = append(posts, c.str("content"))
			if strings.Contains(c.str("content"), "release started") {
				start = c
			}
		}
	}
	if start.Path == "" {
		t.Fatalf("no start line for release; posts %q", posts)
	}
	for _, p := range posts {
		if strings.Contains(p, "installing modules") || strings.Contains(p, "✓ release") {
			t.Errorf("posted %q: progress and the end of a step with progress edit its line", p)
		}
	}
	thread := rePost.FindStringSubmatch(start.Path)[1]
	// The fake numbers messages in order: the start line's ID is the one
	// its post was answered with, the only message of the thread edited.
	var edits []apiCall
	for _, c := range calls {
		if m := reEdit.FindStringSubmatch(c.Path); c.Method == "PATCH" && m != nil && m[1] == thread {
			edits = append(edits, c)
		}
	}
	if len(edits) < 2 {
		t.Fatalf("edits of the step line: %s", describe(edits))
	}
	if len(edits) > 7 {
		t.Errorf("%d edits for 50 progress reports over ~200ms at one per 60ms: not coalesced\n%s", len(edits), describe(edits))
	}
	id := reEdit.FindStringSubmatch(edits[0].Path)[2]
	for _, e := range edits {
		if reEdit.FindStringSubmatch(e.Path)[2] != id {
			t.Errorf("edits of messages %s and %s, want one", id, e.Path)
		}
	}
	for _, e := range edits[:len(edits)-1] {
		if !strings.Contains(e.str("content"), "installing modules") {
			t.Errorf("edit %q is not progress", e.str("content"))
		}
	}
	if got := edits[len(edits)-1].str("content"); !strings.Contains(got, "✓ release (") {
		t.Errorf("final text of the step line = %q, want the done line", got)
	}
	checkSecrets(t, fd, logs)
}

// TestTroubleOnTheCallbackIsRetried: a 503, a 500 and a dropped
// connection on an interaction's callback are each retried, and the
// command is answered.
func TestTroubleOnTheCallbackIsRetried(t *testing.T) {
	for _, code := range []int{503, 500, dropConnection} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			fd := newFakeDiscord(t)
			logs := &bottest.LogBuffer{}
			op := &provision.Operator{Store: fakeInstances{{Name: "acme", Domain: "acme.example.com", State: provision.StateReady}}}
			b := newBot(t, fd, newDispatcher(t, newCreator(t), op, nil), logs)
			fd.failTimes(`POST ^/interactions/.*/callback$`, code, 1)
			b.handleInteraction(context.Background(), slash(t, "623456789012345699", "itok-retry", ana, "list"))
			calls := fd.snapshot()
			var shapes []string
			for _, c := range calls {
				shapes = append(shapes, shape(c, map[string]string{testApp: "{app}"}))
			}
			want := []string{
				"POST /interactions/623456789012345699/itok-retry/callback",
				"POST /interactions/623456789012345699/itok-retry/callback",
				"PATCH /webhooks/{app}/itok-retry/messages/@original",
			}
			if d := cmp.Diff(shapes, want); d != "" {
				t.Fatalf("calls (-got +want):\n%s", d)
			}
			if !strings.Contains(calls[2].str("content"), "acme.example.com") {
				t.Errorf("answer = %s", calls[2].Body)
			}
			if !strings.Contains(logs.String(), "retrying") || strings.Contains(logs.String(), "itok-retry") {
				t.Errorf("the retry is not logged, or its token is:\n%s", logs.String())
			}
		})
	}
}

// TestAFailedRootEditIsRetried: the final edit of a job's root message
// is tried again when Discord answers 503.
func TestAFailedRootEditIsRetried(t *testing.T) {
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	b := newBot(t, fd, newDispatcher(t, newCreator(t, "database"), nil, nil), logs)
	fd.failTimes(`PATCH ^/channels/[0-9]+/messages/[0-9]+$`, 503, 2)
	b.handleInteraction(context.Background(), slash(t, "623456789012345698", "itok-rootedit", ana, "create", "name", "acme", "mode", "http"))
	fd.waitFor(t, "the root edited to the final text", func(c apiCall) bool {
		return c.Method == "PATCH" && reEdit.MatchString(c.Path) && strings.HasPrefix(c.str("content"), "✅ created prod-acme")
	})
}

// TestARootThatCannotBeEditedGetsItsEndInTheThread: when Discord refuses
// the root's final edit twice (403: the bot lost the permission), the
// final state is posted in the job's thread, so that the job does not
// read "creating…" with nothing saying how it ended.
func TestARootThatCannotBeEditedGetsItsEndInTheThread(t *testing.T) {
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	b := newBot(t, fd, newDispatcher(t, newCreator(t, "database"), nil, nil), logs)
	fd.failTimes(`PATCH ^/channels/`+testChannel+`/messages/[0-9]+$`, 403, 2)
	b.handleInteraction(context.Background(), slash(t, "623456789012345697", "itok-rootfail", ana, "create", "name", "acme", "mode", "http"))
	calls := fd.waitFor(t, "the final state posted in the thread", func(c apiCall) bool {
		m := rePost.FindStringSubmatch(c.Path)
		return c.Method == "POST" && m != nil && m[1] != testChannel && strings.HasPrefix(c.str("content"), "✅ created prod-acme")
	})
	var failed int
	for _, c := range calls {
		if m := reEdit.FindStringSubmatch(c.Path); c.Method == "PATCH" && m != nil && m[1] == testChannel {
			failed++
		}
	}
	if failed != 2 {
		t.Errorf("%d edits of the root, want the edit and one retry", failed)
	}
}

// TestALineDoesNotWaitForAThrottledEdit: while a step's progress edit
// waits for the update interval, a line given after it is posted at
// once: the wait holds that one edit back, not the thread.
func TestALineDoesNotWaitForAThrottledEdit(t *testing.T) {
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	const interval = time.Second
	var lineGiven time.Time
	h := handlerFunc(func(ctx context.Context, _ commands.Request, r commands.Responder) (*provision.Task, error) {
		th, err := r.Thread(ctx, "creating prod-acme")
		if err != nil {
			return nil, err
		}
		th.StepLine(ctx, "release", provision.EventStart, "06:00:00 … release started")
		th.StepLine(ctx, "release", provision.EventProgress, "06:00:00 … release: installing modules 1/3")
		time.Sleep(100 * time.Millisecond) // the first edit is made
		th.StepLine(ctx, "release", provision.EventProgress, "06:00:00 … release: installing modules 2/3")
		lineGiven = time.Now()
		th.Post(ctx, "06:00:00 · a note")
		return nil, nil
	})
	b, err := New(Config{Token: testToken, AppID: testApp, GuildID: testGuild, APIURL: fd.apiURL(),
		Handler: h, Logger: slogJSON(logs), UpdateInterval: interval})
	if err != nil {
		t.Fatal(err)
	}
	b.handleInteraction(context.Background(), slash(t, "623456789012345696", "itok-nowait", ana, "create", "name", "acme"))
	fd.waitFor(t, "the note", func(c apiCall) bool {
		return c.Method == "POST" && rePost.MatchString(c.Path) && strings.Contains(c.str("content"), "a note")
	})
	if waited := time.Since(lineGiven); waited > interval/2 {
		t.Errorf("the line was posted %s after it was given, behind the throttled edit; want at once", waited.Round(time.Millisecond))
	}
}
