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

// button is the confirmation button found in a message's blocks.
type button struct {
	ActionID string `json:"action_id"`
	Value    string `json:"value"`
	Style    string `json:"style"`
	Text     struct {
		Text string `json:"text"`
	} `json:"text"`
	Confirm struct {
		Style string `json:"style"`
		Text  struct {
			Text string `json:"text"`
		} `json:"text"`
	} `json:"confirm"`
}

// confirmButton finds the one button of an actions block in blocks (JSON).
func confirmButton(t *testing.T, blocks string) button {
	t.Helper()
	var bs []struct {
		Type     string   `json:"type"`
		Elements []button `json:"elements"`
	}
	if err := json.Unmarshal([]byte(blocks), &bs); err != nil {
		t.Fatalf("blocks %q: %v", blocks, err)
	}
	for _, b := range bs {
		if b.Type == "actions" && len(b.Elements) == 1 {
			return b.Elements[0]
		}
	}
	t.Fatalf("no button in %s", blocks)
	return button{}
}

// click is a block_actions envelope for a click by user on the
// confirmation button holding value, exactly as Slack sends it.
func (fs *fakeSlack) click(envelope, user, name, value string) map[string]any {
	return fs.Click(envelope, slacktest.Button{
		User: user, UserName: name, Channel: "C0123", ChannelName: "ops", MessageTS: "1700000000.000009", Ephemeral: true,
		ActionID: "odoobot_confirm", BlockID: "odoobot_confirm", Value: value,
	})
}

// confirmingHandler stands for the dispatcher: "delete acme" asks for a
// confirmation with the code c0ffee; "confirm …" is recorded and answered
// in the channel.
type confirmingHandler struct {
	mu        sync.Mutex
	confirmed []commands.Request
}

func (h *confirmingHandler) Handle(ctx context.Context, req commands.Request, r commands.Responder) (*provision.Task, error) {
	switch {
	case req.Text == "delete acme":
		return nil, r.Confirm(ctx, "Delete prod-acme? This cannot be undone.", "c0ffee")
	case strings.HasPrefix(req.Text, "confirm "):
		h.mu.Lock()
		h.confirmed = append(h.confirmed, req)
		h.mu.Unlock()
		return nil, r.Reply(ctx, "confirmed by "+req.Identity.UserID)
	}
	return nil, r.Private(ctx, "unexpected "+req.Text)
}

func (h *confirmingHandler) requests() []commands.Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]commands.Request(nil), h.confirmed...)
}

func TestConfirmButtonSendsConfirmAsTheClicker(t *testing.T) {
	fs := newFakeSlack(t)
	h := &confirmingHandler{}
	startBot(t, fs, slack.Config{Handler: h})
	fs.WaitConnected(t, 5*time.Second)

	fs.Send(t, fs.Slash("env-del", 0, "U0123ABCD", "ana", "C0123", "delete acme"))
	waitFor(t, "the confirmation", func() bool { return len(fs.CallsOf("chat.postEphemeral")) == 1 })
	eph := fs.CallsOf("chat.postEphemeral")[0]
	if eph.Form.Get("user") != "U0123ABCD" || eph.Form.Get("channel") != "C0123" {
		t.Errorf("confirmation shown to %q in %q, want the requester U0123ABCD in C0123", eph.Form.Get("user"), eph.Form.Get("channel"))
	}
	if got := eph.Form.Get("text"); !strings.Contains(got, "Delete prod-acme?") || !strings.Contains(got, "/odoo confirm c0ffee") {
		t.Errorf("notification text %q, want the prompt and how to confirm by hand", got)
	}
	btn := confirmButton(t, eph.Form.Get("blocks"))
	if btn.ActionID != "odoobot_confirm" || btn.Value != "c0ffee" || btn.Style != "danger" {
		t.Errorf("button %+v, want action odoobot_confirm, value c0ffee, style danger", btn)
	}
	if btn.Confirm.Style != "danger" || !strings.Contains(btn.Confirm.Text.Text, "Delete prod-acme?") {
		t.Errorf("confirm dialog %+v, want a danger dialog repeating the prompt", btn.Confirm)
	}
	if n := len(fs.CallsOf("chat.postMessage")); n != 0 {
		t.Errorf("%d visible messages for a confirmation request", n)
	}

	// Someone else clicks (a forged payload: the message is ephemeral),
	// then the requester: both reach the handler as who clicked.
	fs.Send(t, fs.click("env-c1", "U0999VIEW", "val", btn.Value))
	waitFor(t, "the first click", func() bool { return len(h.requests()) == 1 })
	fs.Send(t, fs.click("env-c2", "U0123ABCD", "ana", btn.Value))
	waitFor(t, "the second click", func() bool { return len(h.requests()) == 2 })
	want := []commands.Request{
		{Identity: commands.Identity{Platform: "slack", UserID: "U0999VIEW", UserName: "val"}, Channel: "C0123", Text: "confirm c0ffee"},
		{Identity: commands.Identity{Platform: "slack", UserID: "U0123ABCD", UserName: "ana"}, Channel: "C0123", Text: "confirm c0ffee"},
	}
	if diff := cmp.Diff(h.requests(), want); diff != "" {
		t.Errorf("confirm requests (-got +want):\n%s", diff)
	}
	waitFor(t, "the answers in the channel", func() bool { return len(fs.CallsOf("chat.postMessage")) == 2 })
	if diff := cmp.Diff(texts(fs.CallsOf("chat.postMessage")), []string{"confirmed by U0999VIEW", "confirmed by U0123ABCD"}); diff != "" {
		t.Errorf("answers (-got +want):\n%s", diff)
	}
}

func TestConfirmFallsBackToResponseURL(t *testing.T) {
	fs := newFakeSlack(t)
	fs.FailEphemeral("G0PRIV", "channel_not_found")
	startBot(t, fs, slack.Config{Handler: &confirmingHandler{}})
	fs.WaitConnected(t, 5*time.Second)

	fs.Send(t, fs.Slash("env-del", 0, "U0123ABCD", "ana", "G0PRIV", "delete acme"))
	waitFor(t, "the response_url answer", func() bool {
		return len(fs.Responses()) == 1
	})
	resp := fs.Responses()[0]
	if resp["response_type"] != "ephemeral" {
		t.Errorf("response_type = %v, want ephemeral", resp["response_type"])
	}
	blocks, err := json.Marshal(resp["blocks"])
	if err != nil {
		t.Fatal(err)
	}
	if btn := confirmButton(t, string(blocks)); btn.Value != "c0ffee" || btn.Confirm.Style != "danger" {
		t.Errorf("button %+v, want value c0ffee behind a danger dialog", btn)
	}
}

func TestConfirmClickReachesTheDispatcher(t *testing.T) {
	fs := newFakeSlack(t)
	startBot(t, fs, slack.Config{Handler: newDispatcher(t, newCreator(t), "")})
	fs.WaitConnected(t, 5*time.Second)

	// No pending action has this code: the dispatcher refuses privately.
	fs.Send(t, fs.click("env-c1", "U0123ABCD", "ana", "deadbeef"))
	// Someone not on the allowlist: refused before any code is looked at.
	fs.Send(t, fs.click("env-c2", "U0666EVIL", "mallory", "deadbeef"))
	waitFor(t, "two private refusals", func() bool { return len(fs.CallsOf("chat.postEphemeral")) == 2 })
	fs.checkRefusedPrivately(t, "C0123", "", map[string]string{
		"U0123ABCD": "that confirmation is unknown or was already used: run the command again",
		"U0666EVIL": "you (U0666EVIL) are not on the allowlist",
	})
}

func TestButtonWithoutCodeIsRefused(t *testing.T) {
	fs := newFakeSlack(t)
	h := &confirmingHandler{}
	startBot(t, fs, slack.Config{Handler: h})
	fs.WaitConnected(t, 5*time.Second)

	fs.Send(t, fs.click("env-c1", "U0123ABCD", "ana", ""))
	waitFor(t, "the refusal", func() bool { return len(fs.CallsOf("chat.postEphemeral")) == 1 })
	if got := fs.CallsOf("chat.postEphemeral")[0].Form.Get("text"); got != "this button is not valid: run the command again" {
		t.Errorf("answer %q", got)
	}
	if n := len(h.requests()); n != 0 {
		t.Errorf("the handler ran %d times for a button without a code", n)
	}
}
