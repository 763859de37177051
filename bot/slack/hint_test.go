package slack_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"odoobot/bot/slack"
)

// TestUndeliverableHintSaysWhatSlackAnswered: when a visible answer
// cannot be posted, the requester's private hint says what Slack
// answered (an HTTP 500 is an error on Slack's side, not a timeout).
func TestUndeliverableHintSaysWhatSlackAnswered(t *testing.T) {
	fs := newFakeSlack(t)
	fs.FailStatus("chat.postMessage", http.StatusInternalServerError, 1)
	startBot(t, fs, slack.Config{Handler: newDispatcher(t, newCreator(t), "")})
	fs.WaitConnected(t, 5*time.Second)
	fs.Send(t, fs.Slash("env-1", 0, "U0123ABCD", "ana", "C0123", "whoami"))
	waitFor(t, "the private hint", func() bool { return len(fs.CallsOf("chat.postEphemeral")) == 1 })
	hint := fs.CallsOf("chat.postEphemeral")[0].Form.Get("text")
	if strings.Contains(hint, "in time") || !strings.Contains(hint, "HTTP 500") {
		t.Errorf("hint = %q, want it to say that Slack answered HTTP 500, not that it did not answer in time", hint)
	}
	if !strings.Contains(hint, "You are ana") {
		t.Errorf("hint = %q, want the answer itself", hint)
	}
}

// TestA429WithoutRetryAfterIsRetried: Slack may answer 429 without a
// Retry-After header; the call is tried again after a default pause,
// and the answer arrives.
func TestA429WithoutRetryAfterIsRetried(t *testing.T) {
	fs := newFakeSlack(t)
	fs.FailStatus("chat.postMessage", http.StatusTooManyRequests, 2)
	startBot(t, fs, slack.Config{Handler: newDispatcher(t, newCreator(t), "")})
	fs.WaitConnected(t, 5*time.Second)
	fs.Send(t, fs.Slash("env-1", 0, "U0123ABCD", "ana", "C0123", "whoami"))
	waitFor(t, "the answer", func() bool { return len(fs.CallsOf("chat.postMessage")) == 1 })
	if n := len(fs.CallsOf("chat.postEphemeral")); n != 0 {
		t.Errorf("%d private hints, want none: the answer was posted after the retries", n)
	}
	var tries []time.Time
	for _, c := range fs.Calls() {
		if c.Method == "chat.postMessage" {
			tries = append(tries, c.At)
		}
	}
	if len(tries) != 3 {
		t.Fatalf("%d chat.postMessage calls, want 3 (two 429s, then the post)", len(tries))
	}
	if d := tries[1].Sub(tries[0]); d < 500*time.Millisecond {
		t.Errorf("retried %s after a 429, want a pause", d)
	}
}
