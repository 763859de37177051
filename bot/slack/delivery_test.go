package slack_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"odoobot/bot/slack"
	"odoobot/commands"
	"odoobot/provision"
)

// TestARetryThatIsTheOnlyDeliveryRuns: an envelope whose first delivery
// never reached the bot arrives with retry_attempt 1; it is the only
// delivery, and runs. A second delivery of the same slash command under
// a new envelope (same trigger_id) does not run again.
func TestARetryThatIsTheOnlyDeliveryRuns(t *testing.T) {
	fs := newFakeSlack(t)
	creator := newCreator(t, "database")
	startBot(t, fs, slack.Config{Handler: newDispatcher(t, creator, "")})
	fs.WaitConnected(t, 5*time.Second)

	fs.Send(t, fs.Slash("env-only-retry", 1, "U0123ABCD", "ana", "C0123", "create acme http"))
	fs.WaitAck(t, "env-only-retry", 5*time.Second)
	waitFor(t, "the creation", func() bool { return len(creator.Requests()) == 1 })

	again := fs.Slash("env-other", 2, "U0123ABCD", "ana", "C0123", "create acme http")
	again["payload"].(map[string]any)["trigger_id"] = "1337.42.env-only-retry"
	fs.Send(t, again)
	fs.WaitAck(t, "env-other", 5*time.Second)
	time.Sleep(200 * time.Millisecond)
	if n := len(creator.Requests()); n != 1 {
		t.Errorf("%d creations, want 1", n)
	}
}

// TestMalformedAndUnknownEnvelopesAreAcknowledged: Slack retries what is
// not acknowledged; an envelope the bot cannot parse, or of a type it
// does not know, is acknowledged and runs nothing.
func TestMalformedAndUnknownEnvelopesAreAcknowledged(t *testing.T) {
	fs := newFakeSlack(t)
	creator := newCreator(t)
	startBot(t, fs, slack.Config{Handler: newDispatcher(t, creator, "")})
	fs.WaitConnected(t, 5*time.Second)
	fs.Send(t, map[string]any{"envelope_id": "env-bad", "type": "slash_commands", "payload": "not an object"})
	fs.WaitAck(t, "env-bad", 5*time.Second)
	fs.Send(t, map[string]any{"envelope_id": "env-unknown", "type": "workflow_frobnication", "payload": map[string]any{}})
	fs.WaitAck(t, "env-unknown", 5*time.Second)
	// The bot still works.
	fs.Send(t, fs.Slash("env-after", 0, "U0999VIEW", "vic", "C0123", "whoami"))
	waitFor(t, "the answer after them", func() bool { return len(fs.CallsOf("chat.postMessage")) == 1 })
	if len(creator.Requests()) != 0 {
		t.Errorf("%d creations", len(creator.Requests()))
	}
}

// TestAPanickingHandlerDoesNotStopTheBot: a panic in one command's
// handling is logged; the next command is handled.
func TestAPanickingHandlerDoesNotStopTheBot(t *testing.T) {
	fs := newFakeSlack(t)
	var n atomic.Int32
	h := handlerFunc(func(ctx context.Context, req commands.Request, r commands.Responder) (*provision.Task, error) {
		if n.Add(1) == 1 {
			var m map[string]int
			m["boom"]++ // a nil map write: a runtime panic
		}
		return nil, r.Reply(ctx, "fine")
	})
	rb := startBot(t, fs, slack.Config{Handler: h})
	fs.WaitConnected(t, 5*time.Second)
	fs.Send(t, fs.Slash("env-panic", 0, "U0123ABCD", "ana", "C0123", "list"))
	fs.WaitAck(t, "env-panic", 5*time.Second)
	waitFor(t, "the panic logged", func() bool { return strings.Contains(rb.logs.String(), "panicked") })
	fs.Send(t, fs.Slash("env-next", 0, "U0123ABCD", "ana", "C0123", "list"))
	waitFor(t, "the next answer", func() bool { return len(fs.CallsOf("chat.postMessage")) == 1 })
}
