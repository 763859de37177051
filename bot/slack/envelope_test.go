package slack_test

import (
	"encoding/json"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"odoobot/bot/slack"
)

// TestAnOversizedEnvelopeIsDroppedUnread: an 8 MB Socket Mode envelope
// (over the 1 MiB bound) is read off the connection and dropped without
// being kept or decoded: the bot allocates a small part of it, logs the
// drop at WARN, runs nothing, and keeps answering on the same
// connection.
func TestAnOversizedEnvelopeIsDroppedUnread(t *testing.T) {
	fs := newFakeSlack(t)
	creator := newCreator(t)
	rb := startBot(t, fs, slack.Config{Handler: newDispatcher(t, creator, "")})
	fs.WaitConnected(t, 5*time.Second)

	huge, err := json.Marshal(fs.Slash("env-huge", 0, "U0123ABCD", "ana", "C0123", "create acme http "+strings.Repeat("x", 8<<20)))
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fs.SendRaw(t, huge)
	waitFor(t, "the drop logged", func() bool {
		return strings.Contains(rb.logs.String(), "slack: an envelope over the size bound was dropped unread")
	})
	runtime.ReadMemStats(&after)
	got := after.TotalAlloc - before.TotalAlloc
	t.Logf("reading and dropping the %d-byte envelope allocated %d bytes", len(huge), got)
	if got > 4<<20 {
		t.Errorf("reading the %d-byte envelope allocated %d bytes, want under 4 MiB", len(huge), got)
	}
	if !logLine(rb.logs.String(), "WARN", "slack: an envelope over the size bound was dropped unread", map[string]any{"bytes": float64(len(huge))}) {
		t.Errorf("the drop is not logged at WARN with its size:\n%s", rb.logs.String())
	}

	fs.Send(t, fs.Slash("env-after", 0, "U0123ABCD", "ana", "C0123", "whoami"))
	waitFor(t, "the next answer", func() bool { return len(fs.CallsOf("chat.postMessage")) == 1 })
	if n := fs.Opens(); n != 1 {
		t.Errorf("apps.connections.open called %d times, want 1: the connection is kept", n)
	}
	if n := len(creator.Requests()); n != 0 {
		t.Errorf("%d creations from the dropped envelope", n)
	}
}

// TestSlackGosSocketModeClientIsNotLinked: the Socket Mode connection is
// the adapter's own; slack-go's client, whose debug mode decodes and
// re-encodes every frame and whose envelopes have no size bound, is not
// part of the binary at all.
func TestSlackGosSocketModeClientIsNotLinked(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "github.com/slack-go/slack/socketmode" {
			t.Errorf("odoobot/bot/slack depends on %s", dep)
		}
	}
}
