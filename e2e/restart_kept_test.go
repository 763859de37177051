package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"odoobot/internal/app"
)

// TestServeSlackApprovalSurvivesARestart runs `odoobot serve` with
// APPROVAL_REQUIRED=true against the fake Slack: admin A's delete waits
// for approval; serve is stopped and started again (the same state
// database, the same Slack); admin B's click on the request's Approve
// button then deletes the instance, and the request's message is edited
// to say B approved it, its buttons gone.
func TestServeSlackApprovalSurvivesARestart(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	name := uniqueName(t, "keptok")
	inst := createReady(t, ctx, a, name)

	allowlist := filepath.Join(env.root, "allowlist")
	grants := "admin slack user " + slackAdmin + "\nadmin slack user " + slackAdmin2 + "\n"
	if err := os.WriteFile(allowlist, []byte(grants), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newSlackFake(t)
	environ := append(slackServeEnv(env, f, allowlist), "APPROVAL_REQUIRED=true", "WATCH_INTERVAL=0")
	bot := startServe(t, environ)
	f.waitConnected(t, bot)

	f.slash(t, slackAdmin, "ana", "delete "+name)
	asks := "ana asks to delete " + inst.Internal
	waitSlack(t, f, bot, 30*time.Second, "the request for approval", func() bool { _, ok := f.rootMessage(asks); return ok })
	req, _ := f.rootMessage(asks)
	code := ""
	var blocks []struct {
		Elements []struct {
			Value string `json:"value"`
		} `json:"elements"`
	}
	if err := json.Unmarshal([]byte(req.Form.Get("blocks")), &blocks); err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		for _, e := range b.Elements {
			code = e.Value
		}
	}
	if code == "" {
		t.Fatalf("the request has no button with its code: %s", req.Form.Get("blocks"))
	}

	bot.stop(t)
	bot = startServe(t, environ)
	f.waitConnected(t, bot)

	f.approvalClick(t, slackAdmin2, "bob", req.TS, "odoobot_approve", code)
	waitSlack(t, f, bot, 3*time.Minute, "the delete's end", func() bool {
		for _, c := range f.CallsOf("chat.update") {
			if strings.Contains(c.Form.Get("text"), "deleted "+inst.Internal) {
				return true
			}
		}
		return false
	})
	edits := f.edits(req.TS)
	if len(edits) == 0 {
		t.Fatalf("the request's message was never edited:\n%s", f.transcript())
	}
	last := edits[len(edits)-1]
	if text := last.Form.Get("text"); !strings.Contains(text, "bob approved at ") || !strings.Contains(text, "the request of ana to delete "+inst.Internal) {
		t.Errorf("the request's message says %q, want who approved it", text)
	}
	if got := cardButtons(t, last.Form.Get("blocks")); got != "" {
		t.Errorf("the approved request still has buttons: %s", got)
	}
	bot.stop(t)
	requireGone(t, ctx, a, name)
	entries, err := a.Store.Audit(ctx, 50)
	if err != nil {
		t.Fatal(err)
	}
	approved := ""
	for _, e := range entries {
		if e.Command == "approve "+code && e.UserID == slackAdmin2 {
			approved = e.Decision + " " + e.Outcome
		}
	}
	if !strings.HasPrefix(approved, "allowed approved: delete "+inst.Internal) {
		t.Errorf("the approval after the restart is audited %q", approved)
	}
	f.checkTokens(t, bot.out.String())
}

// TestWatchCardSurvivesARestart runs `odoobot serve` with a fast watcher
// against the fake Slack, an instance frozen behind systemd's back: its
// card is posted; serve is stopped, the instance thawed, serve started
// again; the instance's recovery edits that same card (no second card
// is posted about it).
func TestWatchCardSurvivesARestart(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	name := uniqueName(t, "keptcard")
	inst := createReady(t, ctx, a, name)

	allowlist := filepath.Join(env.root, "allowlist")
	if err := os.WriteFile(allowlist, []byte("operator slack user "+slackOperator+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newSlackFake(t)
	environ := append(slackServeEnv(env, f, allowlist),
		"SLACK_ALERT_CHANNEL="+slackAlerts, "WATCH_INTERVAL=1s", "WATCH_FAILURES=2", "WATCH_QUIET=30m",
		"WATCH_DISK_FREE_MB=1", "ALERT_REPEAT=0")
	bot := startServe(t, environ)
	f.waitConnected(t, bot)

	out, err := exec.CommandContext(ctx, "systemctl", "kill", "--signal=SIGSTOP", inst.Unit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemctl kill --signal=SIGSTOP %s: %v\n%s", inst.Unit, err, out)
	}
	t.Cleanup(func() { exec.Command("systemctl", "kill", "--signal=SIGCONT", inst.Unit).Run() })
	failing := "instance " + name + " is failing"
	waitSlack(t, f, bot, 2*time.Minute, "the alert", func() bool { return len(f.alertsAbout(failing)) > 0 })
	ts := f.alertsAbout(failing)[0].TS

	bot.stop(t)
	if out, err := exec.CommandContext(ctx, "systemctl", "kill", "--signal=SIGCONT", inst.Unit).CombinedOutput(); err != nil {
		t.Fatalf("systemctl kill --signal=SIGCONT %s: %v\n%s", inst.Unit, err, out)
	}
	requireAnswers(t, ctx, inst)
	bot = startServe(t, environ)
	f.waitConnected(t, bot)

	recovered := "instance " + name + " recovered at "
	waitSlack(t, f, bot, time.Minute, "the card saying it recovered", func() bool { return strings.Contains(f.card(ts), recovered) })
	bot.stop(t)
	if text := f.card(ts); !strings.Contains(text, "it was down for ") {
		t.Errorf("the recovered card %q does not say how long it was down", text)
	}
	if n := len(f.alertsAbout(name)); n != 1 {
		t.Errorf("%d messages in the alert channel about %s, want exactly one card:\n%s", n, name, f.transcript())
	}
	f.checkTokens(t, bot.out.String())
}
