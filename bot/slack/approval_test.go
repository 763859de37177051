package slack_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"odoobot/bot/slack"
	"odoobot/bot/slack/slacktest"
	"odoobot/commands"
	"odoobot/provision"
)

// approvalHandler asks for approval of "delete acme" and records every
// request it is handed.
type approvalHandler struct {
	mu   sync.Mutex
	reqs []string // "USER CHANNEL TEXT"
}

const testCode = "0123456789abcdef"

func (h *approvalHandler) Handle(ctx context.Context, req commands.Request, r commands.Responder) (*provision.Task, error) {
	h.mu.Lock()
	h.reqs = append(h.reqs, req.Identity.UserID+" "+req.Channel+" "+req.Text)
	h.mu.Unlock()
	if req.Text == "delete acme" {
		_, err := r.AskApproval(ctx, "🔐 ana asks to delete prod-acme", testCode)
		return nil, err
	}
	return nil, r.Reply(ctx, "handled "+req.Text)
}

func (h *approvalHandler) requests() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.reqs...)
}

// TestApprovalRequestHasApproveAndDenyButtons: a request for approval is
// posted in the channel, visible to all, with Approve and Deny buttons
// carrying its code; a click hands "approve CODE" or "deny CODE" to the
// Handler as the one who clicked, in the channel, and the answer goes in
// the request's thread; a click whose value is no code runs nothing.
func TestApprovalRequestHasApproveAndDenyButtons(t *testing.T) {
	fs := newFakeSlack(t)
	h := &approvalHandler{}
	startBot(t, fs, slack.Config{Handler: h})
	fs.WaitConnected(t, 5*time.Second)
	fs.Send(t, fs.Slash("env-del", 0, "U0123ABCD", "ana", "C0123", "delete acme"))
	waitFor(t, "the request", func() bool { return len(fs.CallsOf("chat.postMessage")) == 1 })
	post := fs.CallsOf("chat.postMessage")[0]
	if post.Form.Get("channel") != "C0123" || !strings.Contains(post.Form.Get("text"), "ana asks to delete prod-acme") {
		t.Fatalf("the request was posted as %v", post.Form)
	}
	var blocks []struct {
		Elements []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
			Text     struct {
				Text string `json:"text"`
			} `json:"text"`
		} `json:"elements"`
	}
	if err := json.Unmarshal([]byte(post.Form.Get("blocks")), &blocks); err != nil {
		t.Fatal(err)
	}
	var buttons []string
	for _, b := range blocks {
		for _, e := range b.Elements {
			buttons = append(buttons, e.Text.Text+"="+e.ActionID+":"+e.Value)
		}
	}
	if got, want := strings.Join(buttons, ","), "Approve=odoobot_approve:"+testCode+",Deny=odoobot_deny:"+testCode; got != want {
		t.Fatalf("buttons %q, want %q", got, want)
	}
	click := func(env, user, action, value string) {
		fs.Send(t, fs.Click(env, slacktest.Button{User: user, UserName: "bob", Channel: "C0123", ChannelName: "ops", MessageTS: post.TS,
			ActionID: action, BlockID: "odoobot_approval", Value: value}))
	}
	click("env-a", "U0BBBBBBB", "odoobot_approve", testCode)
	click("env-d", "U0CCCCCCC", "odoobot_deny", testCode)
	click("env-x", "U0BBBBBBB", "odoobot_approve", "delete acme")
	waitFor(t, "two answers and a refusal", func() bool {
		return len(fs.CallsOf("chat.postMessage")) == 3 && len(fs.CallsOf("chat.postEphemeral")) == 1
	})
	got := strings.Join(h.requests(), "\n")
	want := "U0123ABCD C0123 delete acme\nU0BBBBBBB C0123 approve " + testCode + "\nU0CCCCCCC C0123 deny " + testCode
	if got != want {
		t.Errorf("the Handler was handed\n%s\nwant\n%s", got, want)
	}
	for _, c := range fs.CallsOf("chat.postMessage")[1:] {
		if c.Form.Get("thread_ts") != post.TS {
			t.Errorf("the answer %q is not in the request's thread", c.Form.Get("text"))
		}
	}
	if eph := fs.CallsOf("chat.postEphemeral")[0].Form.Get("text"); !strings.HasPrefix(eph, "this button is not valid") {
		t.Errorf("a button without a code was answered %q", eph)
	}
}

// postingHandler asks for approval of "delete acme" through
// AskApproval and keeps the request message's ts.
type postingHandler struct {
	mu sync.Mutex
	ts string
}

func (h *postingHandler) Handle(ctx context.Context, req commands.Request, r commands.Responder) (*provision.Task, error) {
	ts, err := r.AskApproval(ctx, "🔐 ana asks to delete prod-acme", testCode)
	h.mu.Lock()
	h.ts = ts
	h.mu.Unlock()
	return nil, err
}

// TestApprovalRequestIsSettledWithoutButtons: AskApproval returns the
// request message's ts, and SettleApproval edits that message (chat.
// update, the bot token) to say who decided, with no button left.
func TestApprovalRequestIsSettledWithoutButtons(t *testing.T) {
	fs := newFakeSlack(t)
	h := &postingHandler{}
	rb := startBot(t, fs, slack.Config{Handler: h})
	fs.WaitConnected(t, 5*time.Second)
	fs.Send(t, fs.Slash("env-del", 0, "U0123ABCD", "ana", "C0123", "delete acme"))
	waitFor(t, "the request", func() bool { return len(fs.CallsOf("chat.postMessage")) == 1 })
	post := fs.CallsOf("chat.postMessage")[0]
	waitFor(t, "the request's ts", func() bool { h.mu.Lock(); defer h.mu.Unlock(); return h.ts != "" })
	if h.ts != post.TS {
		t.Fatalf("AskApproval returned %q, the message's ts is %q", h.ts, post.TS)
	}
	if err := rb.bot.SettleApproval(context.Background(), "C0123", post.TS, "✔ bob approved at 17:02 UTC the request of ana to delete prod-acme"); err != nil {
		t.Fatal(err)
	}
	ups := fs.CallsOf("chat.update")
	if len(ups) != 1 {
		t.Fatalf("%d chat.update calls, want 1", len(ups))
	}
	up := ups[0].Form
	if up.Get("channel") != "C0123" || up.Get("ts") != post.TS || !strings.HasPrefix(up.Get("text"), "✔ bob approved at 17:02 UTC") {
		t.Errorf("the request was edited as %v", up)
	}
	if blocks := up.Get("blocks"); strings.Contains(blocks, "odoobot_approve") || strings.Contains(blocks, `"actions"`) || !strings.Contains(blocks, "bob approved") {
		t.Errorf("the settled request's blocks %s still have buttons, or lost the text", blocks)
	}
}
