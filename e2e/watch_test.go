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

	"odoobot/bot/discord/discordtest"
	"odoobot/bot/slack/slacktest"
	"odoobot/internal/app"
)

// The watcher's test users and alert channel, besides the serve tests'.
const (
	slackOperator = "U0E2EOPER01"
	slackViewer   = "U0E2EVIEW01"
	slackAlerts   = "C0E2EALERT1"
)

// alertClick sends, as Slack does, a block_actions envelope for user's
// click on the alert button carrying value, under the alert message ts.
func (f *slackFake) alertClick(t *testing.T, user, userName, ts, value string) string {
	t.Helper()
	id := "e2e-" + randomHex(t, 6)
	f.Send(t, f.Click(id, slacktest.Button{
		User: user, UserName: userName, Channel: slackAlerts, ChannelName: "alerts", MessageTS: ts,
		ActionID: "odoobot_alert_0", BlockID: "odoobot_alert", Value: value,
	}))
	return id
}

// card is the latest text of the alert card ts: its last chat.update,
// or its post when it was never edited.
func (f *slackFake) card(ts string) string {
	text := ""
	for _, c := range f.Calls() {
		switch {
		case c.Method == "chat.postMessage" && c.TS == ts:
			text = c.Form.Get("text")
		case c.Method == "chat.update" && c.Form.Get("ts") == ts:
			text = c.Form.Get("text")
		}
	}
	return text
}

// edits are the chat.update calls of the message ts.
func (f *slackFake) edits(ts string) []slackCall {
	var out []slackCall
	for _, c := range f.CallsOf("chat.update") {
		if c.Form.Get("ts") == ts {
			out = append(out, c)
		}
	}
	return out
}

// cardButtons are the "Label=value" of the buttons in a message's blocks.
func cardButtons(t *testing.T, blocksJSON string) string {
	t.Helper()
	var blocks []struct {
		Type     string `json:"type"`
		Elements []struct {
			Value string `json:"value"`
			Text  struct {
				Text string `json:"text"`
			} `json:"text"`
		} `json:"elements"`
	}
	if err := json.Unmarshal([]byte(blocksJSON), &blocks); err != nil {
		t.Fatalf("blocks %q: %v", blocksJSON, err)
	}
	var buttons []string
	for _, b := range blocks {
		for _, e := range b.Elements {
			buttons = append(buttons, e.Text.Text+"="+e.Value)
		}
	}
	return strings.Join(buttons, ",")
}

// alertsAbout are the top-level messages in the alert channel that
// contain want.
func (f *slackFake) alertsAbout(want string) []slackCall {
	var out []slackCall
	for _, c := range f.CallsOf("chat.postMessage") {
		if c.Form.Get("channel") == slackAlerts && c.Form.Get("thread_ts") == "" && strings.Contains(c.Form.Get("text"), want) {
			out = append(out, c)
		}
	}
	return out
}

// TestWatchAlertsAndRestartFromTheButton runs `odoobot serve` with a fast
// watcher against the fake Slack. The instance's process is frozen behind
// systemd's back (SIGSTOP: the unit stays active, so Restart= never fires
// and only the health check with the database can tell); the watcher
// posts one alert card with Acknowledge, Restart, Logs and Silence 1 h
// buttons; a viewer's click is refused privately and restarts nothing;
// an operator's click restarts the instance, answers in the card's
// thread, and the card itself is edited, not followed by new messages:
// restarting, then recovered with how long it was down. Both clicks are
// audited as the typed command.
func TestWatchAlertsAndRestartFromTheButton(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	name := uniqueName(t, "watch")
	inst := createReady(t, ctx, a, name)

	allowlist := filepath.Join(env.root, "allowlist")
	grants := "admin slack user " + slackAdmin + "\noperator slack user " + slackOperator + "\nviewer slack user " + slackViewer + "\n"
	if err := os.WriteFile(allowlist, []byte(grants), 0o600); err != nil {
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
	failing := "instance " + name + " is failing"
	waitSlack(t, f, bot, 2*time.Minute, "the alert", func() bool { return len(f.alertsAbout(failing)) > 0 })
	alert := f.alertsAbout(failing)[0]
	if text := alert.Form.Get("text"); !strings.Contains(text, "health check") || !strings.Contains(text, "down since ") {
		t.Errorf("the alert %q does not say the health check failed and since when", text)
	}
	want := "Acknowledge=ack " + name + ",Restart=restart " + name + ",Logs=logs " + name + ",Silence 1 h=maintenance " + name + " 1h alert silenced"
	if got := cardButtons(t, alert.Form.Get("blocks")); got != want {
		t.Fatalf("the alert's buttons are %q, want %q", got, want)
	}
	ts := alert.TS

	// The viewer's click: refused privately, nothing restarted.
	mark := f.callCount()
	f.alertClick(t, slackViewer, "val", ts, "restart "+name)
	waitSlack(t, f, bot, 20*time.Second, "the viewer's refusal", func() bool { return len(f.since(mark, "chat.postEphemeral")) > 0 })
	eph := f.since(mark, "chat.postEphemeral")[0]
	if eph.Form.Get("user") != slackViewer || eph.Form.Get("thread_ts") != ts || !strings.Contains(eph.Form.Get("text"), "need role operator to run restart") {
		t.Errorf("the viewer's answer %v, want a private refusal in the alert's thread", eph.Form)
	}
	for _, c := range f.since(mark, "chat.postMessage") {
		if c.Form.Get("thread_ts") == ts {
			t.Errorf("the viewer's click got a visible answer: %q", c.Form.Get("text"))
		}
	}
	if n := len(f.edits(ts)); n != 0 {
		t.Errorf("the viewer's refused click edited the card %d times", n)
	}

	// The operator's click: restarted, answered in the thread, the card
	// edited to say so, then to say it recovered.
	f.alertClick(t, slackOperator, "olga", ts, "restart "+name)
	restarted := name + " restarted by olga"
	waitSlack(t, f, bot, 3*time.Minute, "the restart's answer in the alert's thread", func() bool {
		return strings.Contains(strings.Join(f.inThread(ts), "\n"), restarted)
	})
	waitSlack(t, f, bot, 20*time.Second, "the card saying it was restarted", func() bool {
		return strings.Contains(f.card(ts), "restarted by olga")
	})
	recovered := "instance " + name + " recovered at "
	waitSlack(t, f, bot, time.Minute, "the card saying it recovered", func() bool { return strings.Contains(f.card(ts), recovered) })
	requireAnswers(t, ctx, inst)
	final := f.edits(ts)
	last := final[len(final)-1]
	if text := last.Form.Get("text"); !strings.Contains(text, "it was down for ") || !strings.Contains(text, "restarted by olga") {
		t.Errorf("the recovered card %q does not say how long it was down and who restarted it", text)
	}
	if got := cardButtons(t, last.Form.Get("blocks")); got != "" {
		t.Errorf("the recovered card still has buttons: %s", got)
	}

	bot.stop(t)
	if n := len(f.alertsAbout(name)); n != 1 {
		t.Errorf("%d messages in the alert channel about %s, want exactly one card:\n%s", n, name, f.transcript())
	}
	entries, err := a.Store.Audit(ctx, 50)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, e := range entries {
		if e.Command == "restart "+name && e.Channel == slackAlerts {
			seen[e.UserID] = e.Decision + " " + e.Outcome
		}
	}
	if !strings.HasPrefix(seen[slackViewer], "denied") || !strings.HasPrefix(seen[slackOperator], "allowed ok") {
		t.Errorf("audit of the clicks: %v, want the viewer's denied and the operator's allowed and ok", seen)
	}
	f.checkTokens(t, bot.out.String())
}

// repeatsAbout are the top-level repeats of the alert about name.
func (f *slackFake) repeatsAbout(name string) []slackCall {
	return f.alertsAbout("🔁 instance " + name + " is still failing and nobody has acknowledged it")
}

// TestWatchAlertCardAcknowledgeSilenceRepeat runs `odoobot serve` with a
// fast watcher, ALERT_REPEAT=4s and a user group to mention, against the
// fake Slack, an instance frozen behind systemd's back. The card
// mentions the group and is repeated, with the mention, while nobody
// acknowledges it; a viewer's Acknowledge is refused privately and
// changes nothing (the repeats go on); an operator's is shown on the
// card and stops the repeats; Silence 1 h opens a one-hour maintenance
// window by the clicker (status shows it) and the card says silenced.
// Every click is audited as the typed command.
func TestWatchAlertCardAcknowledgeSilenceRepeat(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	name := uniqueName(t, "card")
	inst := createReady(t, ctx, a, name)

	allowlist := filepath.Join(env.root, "allowlist")
	grants := "admin slack user " + slackAdmin + "\noperator slack user " + slackOperator + "\nviewer slack user " + slackViewer + "\n"
	if err := os.WriteFile(allowlist, []byte(grants), 0o600); err != nil {
		t.Fatal(err)
	}
	const group, repeat = "S0E2EONCALL", 4 * time.Second
	f := newSlackFake(t)
	environ := append(slackServeEnv(env, f, allowlist),
		"SLACK_ALERT_CHANNEL="+slackAlerts, "WATCH_INTERVAL=1s", "WATCH_FAILURES=2", "WATCH_QUIET=30m",
		"WATCH_DISK_FREE_MB=1", "ALERT_REPEAT="+repeat.String(), "SLACK_ALERT_MENTION="+group)
	bot := startServe(t, environ)
	f.waitConnected(t, bot)

	out, err := exec.CommandContext(ctx, "systemctl", "kill", "--signal=SIGSTOP", inst.Unit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemctl kill --signal=SIGSTOP %s: %v\n%s", inst.Unit, err, out)
	}
	t.Cleanup(func() { exec.Command("systemctl", "kill", "--signal=SIGCONT", inst.Unit).Run() })
	failing := "instance " + name + " is failing"
	waitSlack(t, f, bot, 2*time.Minute, "the alert", func() bool { return len(f.alertsAbout(failing)) > 0 })
	posted := time.Now()
	card := f.alertsAbout(failing)[0]
	ts := card.TS
	mention := "<!subteam^" + group + ">"
	if text := card.Form.Get("text"); !strings.HasSuffix(text, mention) {
		t.Errorf("the card %q does not mention %s", text, mention)
	}

	// Nobody acknowledges: the card is repeated after ALERT_REPEAT, with
	// the mention.
	waitSlack(t, f, bot, 20*time.Second, "a repeat", func() bool { return len(f.repeatsAbout(name)) > 0 })
	if waited := time.Since(posted); waited < repeat-time.Second {
		t.Errorf("the first repeat came %s after the card, want ALERT_REPEAT (%s)", waited.Round(time.Millisecond), repeat)
	}
	if text := f.repeatsAbout(name)[0].Form.Get("text"); !strings.HasSuffix(text, mention) {
		t.Errorf("the repeat %q does not mention %s", text, mention)
	}

	// The viewer's Acknowledge: refused privately, the card unchanged,
	// the repeats go on.
	mark, repeats := f.callCount(), len(f.repeatsAbout(name))
	f.alertClick(t, slackViewer, "val", ts, "ack "+name)
	waitSlack(t, f, bot, 20*time.Second, "the viewer's refusal", func() bool { return len(f.since(mark, "chat.postEphemeral")) > 0 })
	eph := f.since(mark, "chat.postEphemeral")[0]
	if eph.Form.Get("user") != slackViewer || eph.Form.Get("thread_ts") != ts || !strings.Contains(eph.Form.Get("text"), "need role operator to run ack") {
		t.Errorf("the viewer's answer %v, want a private refusal in the card's thread", eph.Form)
	}
	waitSlack(t, f, bot, 20*time.Second, "a repeat after the viewer's click", func() bool { return len(f.repeatsAbout(name)) > repeats })
	if strings.Contains(f.card(ts), "acknowledged") {
		t.Errorf("the viewer's refused click changed the card: %q", f.card(ts))
	}

	// The operator's Acknowledge: the card shows who, and the repeats
	// stop.
	f.alertClick(t, slackOperator, "olga", ts, "ack "+name)
	waitSlack(t, f, bot, 20*time.Second, "the card acknowledged", func() bool {
		return strings.Contains(f.card(ts), "acknowledged by olga")
	})
	if !strings.Contains(strings.Join(f.inThread(ts), "\n"), name+": alert acknowledged by olga") {
		t.Errorf("the acknowledgement was not answered in the card's thread:\n%s", f.transcript())
	}
	last := f.edits(ts)[len(f.edits(ts))-1]
	if got := cardButtons(t, last.Form.Get("blocks")); strings.Contains(got, "Acknowledge") || !strings.Contains(got, "Restart") {
		t.Errorf("the acknowledged card's buttons: %s, want Restart, Logs and Silence without Acknowledge", got)
	}
	repeats = len(f.repeatsAbout(name))
	time.Sleep(3 * repeat)
	if n := len(f.repeatsAbout(name)); n != repeats {
		t.Errorf("%d repeats after the acknowledgement, want none", n-repeats)
	}

	// Silence 1 h: a one-hour maintenance window by the clicker, shown by
	// status, and on the card.
	f.alertClick(t, slackOperator, "olga", ts, "maintenance "+name+" 1h alert silenced")
	waitSlack(t, f, bot, 20*time.Second, "the card silenced", func() bool { return strings.Contains(f.card(ts), "🔕 silenced until ") })
	got, err := a.Store.Instance(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	m := got.Maintenance
	if left := time.Until(m.Until); left < 59*time.Minute || left > time.Hour || m.By != "olga" || m.Reason != "alert silenced" {
		t.Errorf("the maintenance window %+v, want one hour, opened by olga, reason alert silenced", m)
	}
	r, _ := dispatch(t, ctx, a, "status "+name)
	if !strings.Contains(r.text(), "maintenance until") || !strings.Contains(r.text(), "opened by olga") {
		t.Errorf("status does not show the window:\n%s", r.text())
	}

	bot.stop(t)
	if n := len(f.alertsAbout(failing)); n != 1 {
		t.Errorf("%d cards about %s, want one:\n%s", n, name, f.transcript())
	}
	entries, err := a.Store.Audit(ctx, 50)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, e := range entries {
		if e.Channel == slackAlerts && strings.Contains(e.Command, name) && !strings.HasPrefix(e.Command, "status") {
			seen = append(seen, e.UserID+" "+e.Command+" "+e.Decision+" "+e.Outcome)
		}
	}
	text := strings.Join(seen, "\n")
	for _, want := range []string{
		slackViewer + " ack " + name + " denied", slackOperator + " ack " + name + " allowed ok",
		slackOperator + " maintenance " + name + " 1h alert silenced allowed ok",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("audit lacks %q:\n%s", want, text)
		}
	}
	f.checkTokens(t, bot.out.String())
}

// TestWatchAlertCardOnDiscord runs `odoobot serve` with a fast watcher
// against the Discord double, with an on-call role to mention. The
// frozen instance's card is one message in the alert channel that
// mentions the role (the only mention it may ping) and carries the four
// buttons; when the instance is thawed, that same message is edited to
// say it recovered and how long it was down, its buttons removed, and
// nobody pinged again.
func TestWatchAlertCardOnDiscord(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	name := uniqueName(t, "dcard")
	inst := createReady(t, ctx, a, name)

	const alerts, role = "713000000000000004", "713000000000000030"
	s := discordtest.New(t, discordtest.Options{AppID: discordApp, Channel: discordChannel})
	environ := append(discordServeEnv(env, s, writeDiscordAllowlist(t, env)),
		"DISCORD_ALERT_CHANNEL="+alerts, "DISCORD_ALERT_MENTION="+role, "WATCH_INTERVAL=1s", "WATCH_FAILURES=2",
		"WATCH_QUIET=30m", "WATCH_DISK_FREE_MB=1", "ALERT_REPEAT=0")
	bot := startServe(t, environ)

	out, err := exec.CommandContext(ctx, "systemctl", "kill", "--signal=SIGSTOP", inst.Unit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemctl kill --signal=SIGSTOP %s: %v\n%s", inst.Unit, err, out)
	}
	thawed := false
	t.Cleanup(func() {
		if !thawed {
			exec.Command("systemctl", "kill", "--signal=SIGCONT", inst.Unit).Run()
		}
	})
	about := func(c discordtest.Call) bool {
		return c.Method == "POST" && c.Path == "/channels/"+alerts+"/messages" && strings.Contains(c.Str("content"), "instance "+name+" ")
	}
	var card discordtest.Call
	waitDiscord(t, s, bot, 2*time.Minute, "the alert card", func() bool {
		var ok bool
		card, ok = callOf(s, about)
		return ok
	})
	if content := card.Str("content"); !strings.Contains(content, "instance "+name+" is failing") || !strings.HasSuffix(content, "<@&"+role+">") {
		t.Errorf("the card %q, want the failure and the role's mention", content)
	}
	var allowed struct {
		Parse, Roles, Users []string
	}
	got, _ := json.Marshal(card.JSON["allowed_mentions"])
	if err := json.Unmarshal(got, &allowed); err != nil || allowed.Parse == nil || len(allowed.Parse) != 0 || len(allowed.Users) != 0 || strings.Join(allowed.Roles, ",") != role {
		t.Errorf("the card may ping %s, want the role alone", got)
	}
	wantIDs := "odoobot_alert:ack " + name + ",odoobot_alert:restart " + name + ",odoobot_alert:logs " + name + ",odoobot_alert:maintenance " + name + " 1h alert silenced"
	if got := strings.Join(card.CustomIDs(), ","); got != wantIDs {
		t.Errorf("the card's buttons %q, want %q", got, wantIDs)
	}

	out, err = exec.CommandContext(ctx, "systemctl", "kill", "--signal=SIGCONT", inst.Unit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemctl kill --signal=SIGCONT %s: %v\n%s", inst.Unit, err, out)
	}
	thawed = true
	edit := "/channels/" + alerts + "/messages/" + card.Message
	var recovered discordtest.Call
	waitDiscord(t, s, bot, time.Minute, "the card edited to say it recovered", func() bool {
		var ok bool
		recovered, ok = callOf(s, func(c discordtest.Call) bool {
			return c.Method == "PATCH" && c.Path == edit && strings.Contains(c.Str("content"), "recovered at ")
		})
		return ok
	})
	if content := recovered.Str("content"); !strings.Contains(content, "it was down for ") || strings.Contains(content, "<@&") {
		t.Errorf("the recovered card %q, want how long it was down, without the mention", content)
	}
	if ids := recovered.CustomIDs(); len(ids) != 0 {
		t.Errorf("the recovered card still has buttons: %v", ids)
	}
	bot.stop(t)
	var posts int
	for _, c := range s.Calls() {
		if about(c) {
			posts++
		}
	}
	if posts != 1 {
		t.Errorf("%d messages about %s in the alert channel, want one card:\n%s", posts, name, discordTranscript(s))
	}
}
