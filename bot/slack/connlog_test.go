package slack_test

import (
	"strings"
	"testing"
	"time"

	"odoobot/bot/slack"
)

// drop closes the current Socket Mode connection without a word, as a
// network failure does.
func (fs *fakeSlack) drop() { fs.Drop() }

// TestDisconnectsAndDuplicatesAreLogged: the log tells every
// disconnect, with the reason Slack gave in its `disconnect` envelope,
// every connection that dropped, with its cause, every reconnection, and
// every duplicate delivery that was acknowledged and not run again.
func TestDisconnectsAndDuplicatesAreLogged(t *testing.T) {
	fs := newFakeSlack(t)
	rb := startBot(t, fs, slack.Config{Handler: newDispatcher(t, newCreator(t), "")})
	fs.WaitConnected(t, 5*time.Second)

	fs.Send(t, map[string]any{"type": "disconnect", "reason": "refresh_requested", "debug_info": map[string]any{"host": "applink-7"}})
	fs.WaitConnected(t, 5*time.Second)
	waitFor(t, "the disconnect and its reason logged", func() bool {
		logs := rb.logs.String()
		return strings.Contains(logs, `"msg":"slack: Slack asked to disconnect; reconnecting","reason":"refresh_requested","host":"applink-7"`) &&
			strings.Contains(logs, `"msg":"slack: reconnected","connection":1`)
	})

	fs.drop()
	fs.WaitConnected(t, 5*time.Second)
	waitFor(t, "the dropped connection and the reconnection logged", func() bool {
		logs := rb.logs.String()
		return strings.Contains(logs, `"msg":"slack: socket mode connection ended; reconnecting"`) &&
			strings.Contains(logs, `"msg":"slack: reconnected","connection":2`)
	})

	fs.Send(t, fs.Slash("env-twice", 0, "U0123ABCD", "ana", "C0123", "whoami"))
	fs.Send(t, fs.Slash("env-twice", 1, "U0123ABCD", "ana", "C0123", "whoami"))
	fs.WaitAck(t, "env-twice", 5*time.Second)
	fs.WaitAck(t, "env-twice", 5*time.Second)
	waitFor(t, "the duplicate logged", func() bool {
		return strings.Contains(rb.logs.String(), `"msg":"slack: duplicate envelope acknowledged, not run again","envelope":"env-twice","attempt":1`)
	})
	if strings.Contains(rb.logs.String(), "1337.42") || strings.Contains(rb.logs.String(), "hooks.slack") {
		t.Errorf("the payloads of the envelopes reached the log:\n%s", rb.logs.String())
	}
}
