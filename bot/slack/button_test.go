package slack_test

import (
	"strings"
	"testing"
	"time"

	"odoobot/bot/slack"
	"odoobot/bot/slack/slacktest"
)

// TestAnOversizedButtonValueIsRefusedAsAButton: odoobot's buttons carry a
// short code or command; a click whose value is 10 kB (forged, or from
// another app's message) is refused as an invalid button, runs nothing,
// and is not read as a command that is too long.
func TestAnOversizedButtonValueIsRefusedAsAButton(t *testing.T) {
	fs := newFakeSlack(t)
	creator := newCreator(t)
	rb := startBot(t, fs, slack.Config{Handler: newDispatcher(t, creator, "")})
	fs.WaitConnected(t, 5*time.Second)
	big := strings.Repeat("c0ffee", 10240/6)
	fs.Send(t, fs.click("env-confirm", "U0123ABCD", "ana", big))
	fs.Send(t, fs.Click("env-alert", slacktest.Button{
		User: "U0123ABCD", UserName: "ana", Channel: "C0123", ChannelName: "ops", MessageTS: "1700000000.000009",
		ActionID: "odoobot_alert_0", BlockID: "odoobot_alert", Value: "restart " + big,
	}))
	waitFor(t, "two answers", func() bool { return len(fs.CallsOf("chat.postEphemeral")) == 2 })
	for _, c := range fs.CallsOf("chat.postEphemeral") {
		if got := c.Form.Get("text"); !strings.HasPrefix(got, "this button is not valid") {
			t.Errorf("answer = %q, want the button refused as invalid", got)
		}
	}
	if strings.Contains(rb.logs.String(), big[:200]) {
		t.Error("the oversized value reached the log")
	}
	if n := len(creator.Requests()); n != 0 {
		t.Errorf("%d creations", n)
	}
}
