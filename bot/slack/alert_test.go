package slack_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/bot/slack"
	"odoobot/bot/slack/slacktest"
	"odoobot/commands"
	"odoobot/provision"
)

// alertClick is a block_actions envelope for user's click on the alert
// button at index i (value: the command it carries) of the alert message
// ts in channel C0ALERT, exactly as Slack sends it.
func (fs *fakeSlack) alertClick(envelope, user, name, ts string, i int, value string) map[string]any {
	return fs.Click(envelope, slacktest.Button{
		User: user, UserName: name, Channel: "C0ALERT", ChannelName: "alerts", MessageTS: ts,
		ActionID: "odoobot_alert_" + string(rune('0'+i)), BlockID: "odoobot_alert", Value: value,
	})
}

// alertButtons are the buttons of the actions block in blocks (JSON).
func alertButtons(t *testing.T, blocks string) []button {
	t.Helper()
	var bs []struct {
		Type     string   `json:"type"`
		Elements []button `json:"elements"`
	}
	if err := json.Unmarshal([]byte(blocks), &bs); err != nil {
		t.Fatalf("blocks %q: %v", blocks, err)
	}
	for _, b := range bs {
		if b.Type == "actions" {
			return b.Elements
		}
	}
	t.Fatalf("no actions block in %s", blocks)
	return nil
}

// operatorHandler stands for the dispatcher after its role check:
// restart is answered in the channel, logs privately; every request is
// recorded.
type operatorHandler struct {
	mu   sync.Mutex
	reqs []commands.Request
}

func (h *operatorHandler) Handle(ctx context.Context, req commands.Request, r commands.Responder) (*provision.Task, error) {
	h.mu.Lock()
	h.reqs = append(h.reqs, req)
	h.mu.Unlock()
	if strings.HasPrefix(req.Text, "logs ") {
		return nil, r.PrivateLong(ctx, "last 2 lines of acme (odoo.log)", "line 1\nline 2")
	}
	return nil, r.Reply(ctx, "acme restarted by "+req.Identity.UserName)
}

func (h *operatorHandler) requests() []commands.Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]commands.Request(nil), h.reqs...)
}

func TestAlertHasButtonsAndAClickRunsItsCommandInTheThread(t *testing.T) {
	fs := newFakeSlack(t)
	h := &operatorHandler{}
	rb := startBot(t, fs, slack.Config{Handler: h})
	fs.WaitConnected(t, 5*time.Second)

	alert := commands.Alert{Text: "🚨 instance acme is failing: health check: port 2100 did not answer", Actions: commands.InstanceActions("acme")}
	if ts, err := rb.bot.PostAlert(context.Background(), "C0ALERT", alert); err != nil || ts != "1700000000.000001" {
		t.Fatalf("PostAlert: %q, %v, want the message's ts", ts, err)
	}
	posts := fs.CallsOf("chat.postMessage")
	if len(posts) != 1 || posts[0].Form.Get("channel") != "C0ALERT" || posts[0].Form.Get("thread_ts") != "" {
		t.Fatalf("alert posts %+v, want one at the top of C0ALERT", posts)
	}
	if got := posts[0].Form.Get("text"); got != alert.Text {
		t.Errorf("notification text %q, want %q", got, alert.Text)
	}
	btns := alertButtons(t, posts[0].Form.Get("blocks"))
	var got [][2]string
	for _, b := range btns {
		got = append(got, [2]string{b.Text.Text, b.Value})
	}
	want := [][2]string{{"Acknowledge", "ack acme"}, {"Restart", "restart acme"}, {"Logs", "logs acme"}, {"Silence 1 h", "maintenance acme 1h alert silenced"}}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Fatalf("buttons (-got +want):\n%s", diff)
	}
	const ts = "1700000000.000001" // the fake's first ts: the alert's

	fs.Send(t, fs.alertClick("env-r", "U0888OPER", "olga", ts, 1, btns[1].Value))
	waitFor(t, "the restart's answer", func() bool { return len(fs.CallsOf("chat.postMessage")) == 2 })
	fs.Send(t, fs.alertClick("env-l", "U0888OPER", "olga", ts, 2, btns[2].Value))
	waitFor(t, "the logs", func() bool { return len(fs.CallsOf("chat.postEphemeral")) == 1 })

	wantReqs := []commands.Request{
		{Identity: commands.Identity{Platform: "slack", UserID: "U0888OPER", UserName: "olga"}, Channel: "C0ALERT", Text: "restart acme"},
		{Identity: commands.Identity{Platform: "slack", UserID: "U0888OPER", UserName: "olga"}, Channel: "C0ALERT", Text: "logs acme"},
	}
	if diff := cmp.Diff(h.requests(), wantReqs); diff != "" {
		t.Errorf("requests (-got +want):\n%s", diff)
	}
	answer := fs.CallsOf("chat.postMessage")[1]
	if answer.Form.Get("thread_ts") != ts || answer.Form.Get("channel") != "C0ALERT" || answer.Form.Get("text") != "acme restarted by olga" {
		t.Errorf("restart answer %v, want it in the alert's thread", answer.Form)
	}
	logs := fs.CallsOf("chat.postEphemeral")[0]
	if logs.Form.Get("user") != "U0888OPER" || logs.Form.Get("thread_ts") != ts || !strings.Contains(logs.Form.Get("text"), "line 2") {
		t.Errorf("logs %v, want them to the clicker alone, in the alert's thread", logs.Form)
	}
}

func TestAlertClickIsRoleCheckedLikeTheTypedCommand(t *testing.T) {
	fs := newFakeSlack(t)
	startBot(t, fs, slack.Config{Handler: newDispatcher(t, newCreator(t), "")})
	fs.WaitConnected(t, 5*time.Second)
	const ts = "1700000000.000042"

	fs.Send(t, fs.alertClick("env-v", "U0999VIEW", "val", ts, 0, "restart acme"))
	fs.Send(t, fs.alertClick("env-x", "U0666EVIL", "mallory", ts, 1, "logs acme"))
	waitFor(t, "two private refusals", func() bool { return len(fs.CallsOf("chat.postEphemeral")) == 2 })
	fs.checkRefusedPrivately(t, "C0ALERT", ts, map[string]string{
		"U0999VIEW": "you (U0999VIEW) need role operator to run restart; you have viewer",
		"U0666EVIL": "you (U0666EVIL) are not on the allowlist",
	})
}

func TestAlertButtonRunsNothingButAnAlertCommand(t *testing.T) {
	fs := newFakeSlack(t)
	h := &operatorHandler{}
	startBot(t, fs, slack.Config{Handler: h})
	fs.WaitConnected(t, 5*time.Second)

	fs.Send(t, fs.alertClick("env-d", "U0123ABCD", "ana", "1700000000.000001", 0, "delete acme"))
	waitFor(t, "the refusal", func() bool { return len(fs.CallsOf("chat.postEphemeral")) == 1 })
	if got := fs.CallsOf("chat.postEphemeral")[0].Form.Get("text"); got != "this button is not valid: type the command instead" {
		t.Errorf("answer %q", got)
	}
	if n := len(h.requests()); n != 0 {
		t.Errorf("the handler ran %d times for a forged button", n)
	}
}

// An alert card is posted once, its user group mentioned after its
// escaped text, then edited in place (chat.update of the same ts): the
// new text, the buttons gone once it recovered, no mention again.
func TestAlertCardIsEditedInPlaceAndMentionsItsGroupOnce(t *testing.T) {
	fs := newFakeSlack(t)
	rb := startBot(t, fs, slack.Config{Handler: &operatorHandler{}})
	fs.WaitConnected(t, 5*time.Second)
	ctx := context.Background()
	ts, err := rb.bot.PostAlert(ctx, "C0ALERT", commands.Alert{Text: "🚨 instance acme is failing: <!channel> & co", Actions: commands.InstanceActions("acme"), Mention: "S0ONCALL1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := rb.bot.UpdateAlert(ctx, "C0ALERT", ts, commands.Alert{Text: "✅ instance acme recovered", Mention: "S0ONCALL1"}); err != nil {
		t.Fatal(err)
	}
	posts, updates := fs.CallsOf("chat.postMessage"), fs.CallsOf("chat.update")
	if len(posts) != 1 || len(updates) != 1 {
		t.Fatalf("%d posts and %d updates, want one of each", len(posts), len(updates))
	}
	if got, want := posts[0].Form.Get("text"), "🚨 instance acme is failing: &lt;!channel&gt; &amp; co <!subteam^S0ONCALL1>"; got != want {
		t.Errorf("card text %q, want %q (the text inert, the group mentioned)", got, want)
	}
	u := updates[0].Form
	if u.Get("ts") != ts || u.Get("channel") != "C0ALERT" || u.Get("text") != "✅ instance acme recovered" {
		t.Errorf("update %v, want the same message, the new text, no mention", u)
	}
	if strings.Contains(u.Get("blocks"), "actions") {
		t.Errorf("the recovered card still has buttons: %s", u.Get("blocks"))
	}
}
