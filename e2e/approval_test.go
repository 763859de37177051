package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"odoobot/bot/slack/slacktest"
	"odoobot/internal/app"
)

// The second admin of the approval test.
const slackAdmin2 = "U0E2EADMIN2"

// approvalClick sends, as Slack does, a block_actions envelope for
// user's click on the Approve (or Deny) button of the request message ts.
func (f *slackFake) approvalClick(t *testing.T, user, userName, ts, action, code string) {
	t.Helper()
	f.Send(t, f.Click("e2e-"+randomHex(t, 6), slacktest.Button{
		User: user, UserName: userName, Channel: slackChannel, ChannelName: "ops", MessageTS: ts,
		ActionID: action, BlockID: "odoobot_approval", Value: code,
	}))
}

// TestServeSlackDeleteNeedsASecondAdmin runs `odoobot serve` with
// APPROVAL_REQUIRED=true against the fake Slack, on a stand-in instance:
// admin A's delete is posted in the channel with Approve and Deny
// buttons and runs nothing; A's own click on Approve is refused
// privately and the instance stays; an operator's click is refused;
// admin B's click deletes it. Each click is audited with who clicked.
func TestServeSlackDeleteNeedsASecondAdmin(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	name := uniqueName(t, "approve")
	inst := createReady(t, ctx, a, name)

	allowlist := filepath.Join(env.root, "allowlist")
	grants := "admin slack user " + slackAdmin + "\nadmin slack user " + slackAdmin2 + "\noperator slack user " + slackOperator + "\n"
	if err := os.WriteFile(allowlist, []byte(grants), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newSlackFake(t)
	bot := startServe(t, append(slackServeEnv(env, f, allowlist), "APPROVAL_REQUIRED=true", "WATCH_INTERVAL=0"))
	f.waitConnected(t, bot)

	f.slash(t, slackAdmin, "ana", "delete "+name)
	asks := "ana asks to delete " + inst.Internal
	waitSlack(t, f, bot, 30*time.Second, "the request for approval", func() bool { _, ok := f.rootMessage(asks); return ok })
	req, _ := f.rootMessage(asks)
	var blocks []struct {
		Elements []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"elements"`
	}
	if err := json.Unmarshal([]byte(req.Form.Get("blocks")), &blocks); err != nil {
		t.Fatalf("the request's blocks %q: %v", req.Form.Get("blocks"), err)
	}
	code := ""
	var actions []string
	for _, b := range blocks {
		for _, e := range b.Elements {
			actions = append(actions, e.ActionID)
			code = e.Value
		}
	}
	if strings.Join(actions, ",") != "odoobot_approve,odoobot_deny" || code == "" {
		t.Fatalf("the request's buttons are %q (code %q), want Approve and Deny", actions, code)
	}
	for _, c := range f.CallsOf("chat.postEphemeral") {
		if strings.Contains(c.Form.Get("text"), "Only you can confirm") {
			t.Errorf("the requester was asked to confirm alone: %q", c.Form.Get("text"))
		}
	}

	// A's own approval: refused privately, nothing deleted.
	mark := f.callCount()
	f.approvalClick(t, slackAdmin, "ana", req.TS, "odoobot_approve", code)
	waitSlack(t, f, bot, 20*time.Second, "the refusal of A's own approval", func() bool { return len(f.since(mark, "chat.postEphemeral")) > 0 })
	if eph := f.since(mark, "chat.postEphemeral")[0]; eph.Form.Get("user") != slackAdmin || !strings.Contains(eph.Form.Get("text"), "a second admin must approve it, not you") {
		t.Errorf("A's own approval was answered %v", eph.Form)
	}
	// An operator's: refused by role.
	mark = f.callCount()
	f.approvalClick(t, slackOperator, "olga", req.TS, "odoobot_approve", code)
	waitSlack(t, f, bot, 20*time.Second, "the refusal of the operator's approval", func() bool { return len(f.since(mark, "chat.postEphemeral")) > 0 })
	if eph := f.since(mark, "chat.postEphemeral")[0]; !strings.Contains(eph.Form.Get("text"), "need role admin to run approve") {
		t.Errorf("the operator's approval was answered %v", eph.Form)
	}
	if got, err := a.Store.Instance(ctx, name); err != nil || got.State != inst.State {
		t.Fatalf("after refused approvals the instance is %+v, %v; want it untouched", got, err)
	}
	requireAnswers(t, ctx, inst)

	// B's approval: the delete runs.
	f.approvalClick(t, slackAdmin2, "bob", req.TS, "odoobot_approve", code)
	waitSlack(t, f, bot, 3*time.Minute, "the delete's end", func() bool {
		for _, c := range f.CallsOf("chat.update") {
			if strings.Contains(c.Form.Get("text"), "deleted "+inst.Internal) {
				return true
			}
		}
		return false
	})
	if !strings.Contains(strings.Join(f.inThread(req.TS), "\n"), "bob approved the request of ana to delete "+inst.Internal) {
		t.Errorf("the approval was not announced in the request's thread:\n%s", f.transcript())
	}
	bot.stop(t)
	requireGone(t, ctx, a, name)

	entries, err := a.Store.Audit(ctx, 50)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, e := range entries {
		if e.Command == "approve "+code || e.Command == "delete "+name {
			seen[e.UserID+" "+strings.Fields(e.Command)[0]] = e.Decision + " " + e.Outcome
		}
	}
	want := map[string]string{
		slackAdmin + " delete":     "allowed awaiting approval by a second admin",
		slackAdmin + " approve":    "allowed refused: the requester cannot approve their own request",
		slackOperator + " approve": "denied refused:",
		slackAdmin2 + " approve":   "allowed approved: delete " + inst.Internal,
	}
	for k, w := range want {
		if !strings.HasPrefix(seen[k], w) {
			t.Errorf("audit of %s: %q, want it to start with %q", k, seen[k], w)
		}
	}
	f.checkTokens(t, bot.out.String())
}
