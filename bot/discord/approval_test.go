package discord

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"odoobot/bot/bottest"
	"odoobot/commands"
	"odoobot/provision"
)

// TestApprovalRequestHasApproveAndDenyButtons: a request for approval is
// posted in the channel (not ephemeral) with Approve and Deny buttons
// carrying its code; a click runs "approve CODE" or "deny CODE" as the
// one who clicked; a button whose code is not valid runs nothing.
func TestApprovalRequestHasApproveAndDenyButtons(t *testing.T) {
	const code = "0123456789abcdef"
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	var mu sync.Mutex
	var got []string
	h := handlerFunc(func(ctx context.Context, req commands.Request, r commands.Responder) (*provision.Task, error) {
		mu.Lock()
		got = append(got, req.Identity.UserID+" "+req.Text)
		mu.Unlock()
		if req.Text == "delete acme" {
			_, err := r.AskApproval(ctx, "🔐 ana asks to delete prod-acme", code)
			return nil, err
		}
		return nil, r.Reply(ctx, "handled "+req.Text)
	})
	b := newBot(t, fd, h, logs)
	b.handleInteraction(context.Background(), slash(t, "623456789012345670", "itok-del", ana, "delete", "name", "acme"))
	calls := fd.snapshot()
	if len(calls) != 2 {
		t.Fatalf("calls:\n%s", describe(calls))
	}
	var body struct {
		Content    string `json:"content"`
		Flags      int    `json:"flags"`
		Components []struct {
			Components []struct {
				Label    string `json:"label"`
				CustomID string `json:"custom_id"`
			} `json:"components"`
		} `json:"components"`
	}
	if err := json.Unmarshal(calls[1].Body, &body); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body.Content, "ana asks to delete prod-acme") || body.Flags&64 != 0 || len(body.Components) != 1 {
		t.Fatalf("the request was posted as %s", calls[1].Body)
	}
	var buttons [][2]string
	for _, c := range body.Components[0].Components {
		buttons = append(buttons, [2]string{c.Label, c.CustomID})
	}
	if d := cmp.Diff(buttons, [][2]string{{"Approve", "odoobot_approve:" + code}, {"Deny", "odoobot_deny:" + code}}); d != "" {
		t.Fatalf("buttons (-got +want):\n%s", d)
	}
	bob := member{ID: "445566778899001199", Name: "bob"}
	b.handleInteraction(context.Background(), click(t, "623456789012345671", "itok-a", bob, buttons[0][1]))
	b.handleInteraction(context.Background(), click(t, "623456789012345672", "itok-d", bob, buttons[1][1]))
	b.handleInteraction(context.Background(), click(t, "623456789012345673", "itok-x", bob, "odoobot_approve:delete acme"))
	mu.Lock()
	defer mu.Unlock()
	want := []string{adminID + " delete acme", bob.ID + " approve " + code, bob.ID + " deny " + code}
	if d := cmp.Diff(got, want); d != "" {
		t.Errorf("requests (-got +want):\n%s", d)
	}
	last := fd.snapshot()
	if c := last[len(last)-1]; !strings.Contains(string(c.Body), "not valid") || dataFlags(c) != 64 {
		t.Errorf("a forged button was answered %s", c.Body)
	}
	checkSecrets(t, fd, logs)
}

// TestApprovalRequestIsSettledWithTheBotToken: AskApproval returns the
// request message's ID, and SettleApproval edits that message through
// the channel with the bot token (the interaction's token expires after
// 15 minutes, a request lasts 30): its text says what became of it, and
// its buttons are gone.
func TestApprovalRequestIsSettledWithTheBotToken(t *testing.T) {
	const code = "0123456789abcdef"
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	var mu sync.Mutex
	var ref string
	h := handlerFunc(func(ctx context.Context, req commands.Request, r commands.Responder) (*provision.Task, error) {
		id, err := r.AskApproval(ctx, "🔐 ana asks to delete prod-acme", code)
		mu.Lock()
		ref = id
		mu.Unlock()
		return nil, err
	})
	b := newBot(t, fd, h, logs)
	b.handleInteraction(context.Background(), slash(t, "623456789012345670", "itok-del", ana, "delete", "name", "acme"))
	mu.Lock()
	id := ref
	mu.Unlock()
	calls := fd.snapshot()
	if id == "" || calls[len(calls)-1].Message != id {
		t.Fatalf("AskApproval returned %q; calls:\n%s", id, describe(calls))
	}
	if err := b.SettleApproval(context.Background(), testChannel, id, "⌛ the request of ana to delete prod-acme expired"); err != nil {
		t.Fatal(err)
	}
	calls = fd.snapshot()
	edit := calls[len(calls)-1]
	if shape(edit, nil) != "PATCH /channels/"+testChannel+"/messages/"+id || !strings.HasPrefix(edit.Auth, "Bot ") {
		t.Fatalf("the request was settled by %s (auth %q), want an edit of its message with the bot token", shape(edit, nil), edit.Auth[:min(4, len(edit.Auth))])
	}
	var body struct {
		Content    string            `json:"content"`
		Components []json.RawMessage `json:"components"`
	}
	if err := json.Unmarshal(edit.Body, &body); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(body.Content, "⌛ the request of ana") || body.Components == nil || len(body.Components) != 0 {
		t.Errorf("the settled request is %s, want its new text and an empty components list", edit.Body)
	}
	checkSecrets(t, fd, logs)
}
