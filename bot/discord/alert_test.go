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

func TestAlertHasButtonsThatRunTheirCommandAsTheClicker(t *testing.T) {
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	var mu sync.Mutex
	var got []commands.Request
	h := handlerFunc(func(ctx context.Context, req commands.Request, r commands.Responder) (*provision.Task, error) {
		mu.Lock()
		got = append(got, req)
		mu.Unlock()
		return nil, r.Reply(ctx, "acme restarted by olga")
	})
	b := newBot(t, fd, h, logs)

	alert := commands.Alert{Text: "🚨 instance acme is failing: its unit is failed", Actions: commands.InstanceActions("acme")}
	if _, err := b.PostAlert(context.Background(), testChannel, alert); err != nil {
		t.Fatal(err)
	}
	calls := fd.snapshot()
	if len(calls) != 1 || shape(calls[0], nil) != "POST /channels/"+testChannel+"/messages" {
		t.Fatalf("alert calls:\n%s", describe(calls))
	}
	var body struct {
		Content    string `json:"content"`
		Components []struct {
			Components []struct {
				Label    string `json:"label"`
				CustomID string `json:"custom_id"`
			} `json:"components"`
		} `json:"components"`
	}
	if err := json.Unmarshal(calls[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Content != alert.Text || len(body.Components) != 1 {
		t.Fatalf("alert message %s", calls[0].Body)
	}
	var buttons [][2]string
	for _, c := range body.Components[0].Components {
		buttons = append(buttons, [2]string{c.Label, c.CustomID})
	}
	want := [][2]string{
		{"Acknowledge", "odoobot_alert:ack acme"}, {"Restart", "odoobot_alert:restart acme"},
		{"Logs", "odoobot_alert:logs acme"}, {"Silence 1 h", "odoobot_alert:maintenance acme 1h alert silenced"},
	}
	if d := cmp.Diff(buttons, want); d != "" {
		t.Fatalf("buttons (-got +want):\n%s", d)
	}

	olga := member{ID: "445566778899001122", Name: "olga", Roles: []string{opRole}}
	b.handleInteraction(context.Background(), click(t, "623456789012345690", "itok-alert", olga, buttons[1][1]))
	calls = fd.snapshot()[1:]
	var shapes []string
	for _, c := range calls {
		shapes = append(shapes, shape(c, map[string]string{testApp: "{app}"}))
	}
	want = nil
	wantShapes := []string{
		"POST /interactions/623456789012345690/itok-alert/callback",
		"PATCH /webhooks/{app}/itok-alert/messages/@original",
	}
	if d := cmp.Diff(shapes, wantShapes); d != "" {
		t.Fatalf("click calls (-got +want):\n%s", d)
	}
	if typ := calls[0].JSON["type"]; typ != float64(5) || dataFlags(calls[0]) != 0 {
		t.Errorf("click callback type %v flags %d, want 5 (a public deferred answer, as a typed restart)", typ, calls[0].flags())
	}
	if calls[1].str("content") != "acme restarted by olga" {
		t.Errorf("answer = %s", calls[1].Body)
	}
	mu.Lock()
	defer mu.Unlock()
	wantReqs := []commands.Request{{Identity: commands.Identity{Platform: "discord", UserID: olga.ID, UserName: "olga", Groups: []string{opRole}}, Channel: testChannel, Text: "restart acme"}}
	if d := cmp.Diff(got, wantReqs); d != "" {
		t.Errorf("requests (-got +want):\n%s", d)
	}
	checkSecrets(t, fd, logs)
}

func TestAlertClickIsRoleCheckedAndAudited(t *testing.T) {
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	audit := &bottest.Audit{}
	b := newBot(t, fd, newDispatcher(t, newCreator(t), nil, audit), logs)
	val := member{ID: "556677889900112233", Name: "val", Roles: []string{viewerRole}}

	b.handleInteraction(context.Background(), click(t, "623456789012345691", "itok-view", val, "odoobot_alert:restart acme"))
	calls := fd.snapshot()
	if len(calls) != 2 {
		t.Fatalf("calls:\n%s", describe(calls))
	}
	if dataFlags(calls[0]) != 64 {
		t.Errorf("the viewer's click was deferred publicly: %s", calls[0].Body)
	}
	if got := calls[1].str("content"); !strings.Contains(got, "need role operator to run restart; you have viewer") {
		t.Errorf("refusal = %s", calls[1].Body)
	}
	entries := audit.Entries()
	if len(entries) != 1 || entries[0].UserID != val.ID || entries[0].Command != "restart acme" || entries[0].Decision != provision.DecisionDenied {
		t.Errorf("audit = %+v, want the viewer's restart, denied", entries)
	}

	// A forged button runs nothing and is not even audited as a command.
	b.handleInteraction(context.Background(), click(t, "623456789012345692", "itok-forged", ana, "odoobot_alert:delete acme"))
	calls = fd.snapshot()[2:]
	if len(calls) != 1 || calls[0].JSON["type"] != float64(4) || !strings.Contains(string(calls[0].Body), "not valid") || dataFlags(calls[0]) != 64 {
		t.Errorf("forged click:\n%s", describe(calls))
	}
	if n := len(audit.Entries()); n != 1 {
		t.Errorf("audit entries = %d, want still 1", n)
	}
	checkSecrets(t, fd, logs)
}

// dataFlags are the flags of an interaction callback's data (64:
// ephemeral).
func dataFlags(c apiCall) int {
	d, _ := c.JSON["data"].(map[string]any)
	f, _ := d["flags"].(float64)
	return int(f)
}

// An alert card is posted once with its role mention (that role alone
// may be pinged), then edited in place: the same message, its buttons
// replaced (none once the instance recovered), nobody pinged again.
func TestAlertCardIsEditedInPlaceAndPingsItsRoleOnce(t *testing.T) {
	fd := newFakeDiscord(t)
	b := newBot(t, fd, handlerFunc(func(context.Context, commands.Request, commands.Responder) (*provision.Task, error) { return nil, nil }), &bottest.LogBuffer{})
	const role = "778899001122334455"
	ctx := context.Background()
	id, err := b.PostAlert(ctx, testChannel, commands.Alert{Text: "🚨 instance acme is failing", Actions: commands.InstanceActions("acme"), Mention: role})
	if err != nil || id == "" {
		t.Fatalf("PostAlert: %q, %v", id, err)
	}
	if err := b.UpdateAlert(ctx, testChannel, id, commands.Alert{Text: "✅ instance acme recovered", Mention: role}); err != nil {
		t.Fatal(err)
	}
	calls := fd.snapshot()
	if len(calls) != 2 || shape(calls[1], nil) != "PATCH /channels/"+testChannel+"/messages/"+id {
		t.Fatalf("calls, want a post then an edit of the same message:\n%s", describe(calls))
	}
	post, edit := calls[0], calls[1]
	if got := post.str("content"); got != "🚨 instance acme is failing <@&"+role+">" {
		t.Errorf("card content %q, want the text and the role's mention", got)
	}
	var posted, edited struct {
		AllowedMentions struct {
			Parse []string `json:"parse"`
			Roles []string `json:"roles"`
		} `json:"allowed_mentions"`
		Components []json.RawMessage `json:"components"`
	}
	if err := json.Unmarshal(post.Body, &posted); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(edit.Body, &edited); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(posted.AllowedMentions.Roles, []string{role}); d != "" || len(posted.AllowedMentions.Parse) != 0 {
		t.Errorf("the card may ping %s, want the role alone", post.Body)
	}
	if edit.str("content") != "✅ instance acme recovered" || len(edited.AllowedMentions.Roles) != 0 || edited.Components == nil || len(edited.Components) != 0 {
		t.Errorf("the edit %s, want the new text, no mention, no ping, and its buttons removed (components: [])", edit.Body)
	}
}
