package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"odoobot/bot/slack/slacktest"
	"odoobot/internal/app"
	"odoobot/provision"
)

// ackOf waits for the ack of the envelope id and decodes its payload
// into v; it fails the test when the ack carries none.
func (f *slackFake) ackOf(t *testing.T, id string, v any) {
	t.Helper()
	ack := f.WaitAckOf(t, id, 10*time.Second)
	if err := json.Unmarshal(ack.Payload, v); err != nil {
		t.Fatalf("the ack of %s carries %q: %v", id, ack.Payload, err)
	}
}

// openedView waits for the modal opened with the trigger of the
// envelope id.
func (f *slackFake) openedView(t *testing.T, bot *servedBot, id string) slacktest.View {
	t.Helper()
	var v slacktest.View
	waitSlack(t, f, bot, 10*time.Second, "the form opened for "+id, func() bool {
		for _, x := range f.Views() {
			if x.TriggerID == "1337.42."+id {
				v = x
				return true
			}
		}
		return false
	})
	return v
}

// optionValues are the values in a block_suggestion's answer.
type optionValues struct {
	Options []struct {
		Value string `json:"value"`
	} `json:"options"`
}

func (o optionValues) values() []string {
	out := []string{}
	for _, x := range o.Options {
		out = append(out, x.Value)
	}
	return out
}

// TestServeSlackForms runs `odoobot serve` against the Slack double and
// fills its forms as a user would: `/odoo create` alone opens the
// creation form within the 3 s of its trigger; a name breaking the name
// rules is refused in the form with the rule's message and creates
// nothing; a good one creates the instance as the user who submitted it,
// with its progress in a thread of the channel the command came from,
// audited as the command typed. Then `/odoo restore NAME` offers that
// instance's backups, and the instance type-ahead of `/odoo restore`
// offers it to the admin and nothing to a user off the allowlist.
func TestServeSlackForms(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	name := uniqueName(t, "slackform")
	destroyLater(t, a, name)
	inst := a.Config.Layout().NewInstance(name, provision.SSLHTTP)

	f := newSlackFake(t)
	bot := startServe(t, slackServeEnv(env, f, writeSlackAllowlist(t, env)))
	f.waitConnected(t, bot)

	// A stranger typing /odoo create gets the answer of today, no form.
	id := f.slash(t, slackStranger, "mallory", "create")
	waitSlack(t, f, bot, 10*time.Second, "the stranger's refusal", func() bool { return len(f.CallsOf("chat.postEphemeral")) > 0 })

	id = f.slash(t, slackAdmin, "ana", "create")
	v := f.openedView(t, bot, id)
	if v.CallbackID() != "odoobot_create" {
		t.Fatalf("the form opened is %q", v.CallbackID())
	}
	if n := len(f.Views()); n != 1 {
		t.Errorf("%d forms opened, want the admin's only", n)
	}

	bad := "Bad_" + name
	sub := "e2e-sub-bad"
	f.Send(t, f.Submit(sub, slackAdmin, "ana", v, map[string]string{"odoobot_name": bad, "odoobot_mode": "http"}))
	var refused struct {
		ResponseAction string            `json:"response_action"`
		Errors         map[string]string `json:"errors"`
	}
	f.ackOf(t, sub, &refused)
	rules := provision.NameRules{Zone: a.Config.Zone()}
	want := rules.Check(bad)
	if want == nil || refused.ResponseAction != "errors" || refused.Errors["odoobot_name"] != want.Error() {
		t.Errorf("the bad name's answer is %+v, want the errors response with %v under the name", refused, want)
	}
	time.Sleep(500 * time.Millisecond)
	if n := len(f.CallsOf("chat.postMessage")); n != 0 {
		t.Errorf("a refused form posted %d messages:\n%s", n, f.transcript())
	}

	sub = "e2e-sub-good"
	f.Send(t, f.Submit(sub, slackAdmin, "ana", v, map[string]string{"odoobot_name": name, "odoobot_mode": "http"}))
	if ack := f.WaitAckOf(t, sub, 10*time.Second); ack.Payload != nil {
		t.Errorf("the good form's ack carries %s, want nothing (the form closes)", ack.Payload)
	}
	var root slackCall
	waitSlack(t, f, bot, 30*time.Second, "the root message of the creation", func() bool {
		var ok bool
		root, ok = f.rootMessage(inst.Internal)
		return ok
	})
	if got := root.Form.Get("text"); !strings.Contains(got, "creating "+inst.Internal) || !strings.Contains(got, "asked by ana") {
		t.Errorf("the root message is %q", got)
	}
	final := "✅ created " + inst.Internal
	waitSlack(t, f, bot, 4*time.Minute, "the root message edited to "+final, func() bool {
		for _, c := range f.CallsOf("chat.update") {
			if c.Form.Get("ts") == root.TS && strings.HasPrefix(c.Form.Get("text"), final) {
				return true
			}
		}
		return strings.Contains(f.transcript(), "❌ creating "+inst.Internal)
	})
	if !strings.Contains(f.transcript(), final) {
		t.Fatalf("the creation did not succeed:\n%s", f.transcript())
	}
	stored, err := a.Store.Instance(ctx, name)
	if err != nil || stored.State != provision.StateReady {
		t.Fatalf("the store after the form: %+v, %v", stored, err)
	}
	if _, err := a.Store.Instance(ctx, bad); err == nil {
		t.Errorf("the refused name %s is in the store", bad)
	}
	entries, err := a.Store.Audit(ctx, 50)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(entries, func(e provision.AuditEntry) bool {
		return e.Command == "create "+name+" http" && e.UserID == slackAdmin && e.Channel == slackChannel && e.Platform == "slack"
	}) {
		t.Errorf("no audit entry of create %s http by %s in %s: %+v", name, slackAdmin, slackChannel, entries)
	}
	for _, e := range entries {
		if strings.Contains(e.Command, bad) {
			t.Errorf("the refused form was audited as a command: %+v", e)
		}
	}

	t.Run("restore offers the instance's backups", func(t *testing.T) {
		f.slash(t, slackAdmin, "ana", "backup "+name)
		var backupID string
		waitSlack(t, f, bot, 3*time.Minute, "the backup", func() bool {
			for _, c := range f.CallsOf("chat.update") {
				text := c.Form.Get("text")
				if rest, ok := strings.CutPrefix(text, "✅ backed up "+inst.Internal+": "); ok {
					backupID, _, _ = strings.Cut(rest, " ")
					return true
				}
			}
			return strings.Contains(f.transcript(), "❌ backup of "+inst.Internal)
		})
		if backupID == "" {
			t.Fatalf("the backup failed:\n%s", f.transcript())
		}
		id := f.slash(t, slackAdmin, "ana", "restore "+name)
		rv := f.openedView(t, bot, id)
		if got := rv.Options("odoobot_backup"); !slices.Contains(got, backupID) {
			t.Errorf("the restore form offers %v, want %s among them", got, backupID)
		}

		id = f.slash(t, slackAdmin, "ana", "restore")
		pick := f.openedView(t, bot, id)
		prefix := name[:len(name)-2]
		sg := "e2e-sg-admin"
		f.Send(t, f.Suggestion(sg, slackAdmin, "ana", pick, "odoobot_name", prefix, nil))
		var got optionValues
		f.ackOf(t, sg, &got)
		if !slices.Contains(got.values(), name) {
			t.Errorf("the admin typing %q is offered %v, want %s among them", prefix, got.values(), name)
		}
		sg = "e2e-sg-stranger"
		f.Send(t, f.Suggestion(sg, slackStranger, "mallory", pick, "odoobot_name", "", nil))
		got = optionValues{}
		f.ackOf(t, sg, &got)
		if len(got.Options) != 0 {
			t.Errorf("a user off the allowlist is offered %v", got.values())
		}
		sg = "e2e-sg-backup"
		f.Send(t, f.Suggestion(sg, slackAdmin, "ana", pick, "odoobot_backup", "", map[string]string{"odoobot_name": name}))
		got = optionValues{}
		f.ackOf(t, sg, &got)
		if !slices.Contains(got.values(), backupID) {
			t.Errorf("the backups offered once %s is picked are %v, want %s among them", name, got.values(), backupID)
		}
	})

	t.Logf("messages:\n%s", f.transcript())
	bot.stop(t)
	f.checkTokens(t, bot.out.String())
}

// TestServeSlackCreateFormChecksTheNameAsTyped runs `odoobot serve`
// against the Slack double: in the creation form, each character typed
// in the name (dispatch_action) is answered with views.update of the
// form, with its hash, saying under the name whether it is fine, which
// rule it breaks, or that an instance has it already; nothing is
// created.
func TestServeSlackCreateFormChecksTheNameAsTyped(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	taken := uniqueName(t, "typedname")
	createReady(t, ctx, a, taken)

	f := newSlackFake(t)
	bot := startServe(t, slackServeEnv(env, f, writeSlackAllowlist(t, env)))
	f.waitConnected(t, bot)
	id := f.slash(t, slackAdmin, "ana", "create")
	v := f.openedView(t, bot, id)
	rules := provision.NameRules{Zone: a.Config.Zone()}
	free := taken + "x"
	for i, c := range []struct{ typed, want string }{
		{"Bad_" + taken, "✖ " + rules.Check("Bad_"+taken).Error()},
		{taken, "✖ an instance named " + taken + " exists already: pick another name"},
		{free, "✔ " + free + " is a valid name, not taken"},
	} {
		cur := slices.IndexFunc(f.Views(), func(x slacktest.View) bool { return x.ID == v.ID })
		f.Send(t, f.Typed("e2e-typed-"+randomHex(t, 4), slackAdmin, "ana", f.Views()[cur], "odoobot_name", c.typed, nil))
		waitSlack(t, f, bot, 10*time.Second, "the form updated for "+c.typed, func() bool { return f.Views()[cur].Updates == i+1 })
		if got := f.Views()[cur].Context("odoobot_name_check"); got != c.want {
			t.Errorf("typed %q: the form says %q, want %q", c.typed, got, c.want)
		}
	}
	bot.stop(t)
	if _, err := a.Store.Instance(ctx, free); err == nil {
		t.Errorf("typing a name created %s", free)
	}
	f.checkTokens(t, bot.out.String())
}
