package slack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/bot/bottest"
	"odoobot/bot/slack"
	"odoobot/bot/slack/slacktest"
	"odoobot/commands"
	"odoobot/provision"
)

// instances is a commands.Operator that knows a fixed list of
// instances: what list and the name pickers read. Other verbs are not
// used by these tests.
type instances struct {
	commands.Operator
	names []string
}

func (o *instances) List(context.Context) ([]provision.Instance, error) {
	var out []provision.Instance
	for _, n := range o.names {
		out = append(out, provision.Instance{Name: n, State: provision.StateReady})
	}
	return out, nil
}

func (o *instances) Instance(_ context.Context, name string) (provision.Instance, error) {
	if slices.Contains(o.names, name) {
		return provision.Instance{Name: name, State: provision.StateReady}, nil
	}
	return provision.Instance{}, provision.ErrInstanceNotFound
}

// backups is a commands.DayTwo whose instances have the backups given,
// newest first; a restore records its request.
type backups struct {
	commands.DayTwo
	of   map[string][]string
	slow time.Duration // how long a listing takes (an offsite repository)
}

func (d *backups) BackupPlaces(ctx context.Context, name string) (provision.BackupListing, error) {
	var l provision.BackupListing
	select {
	case <-time.After(d.slow):
	case <-ctx.Done():
		return l, ctx.Err()
	}
	for _, id := range d.of[name] {
		var b provision.ListedBackup
		b.ID, b.Reason, b.Intact, b.Local = id, "manual", true, true
		l.Backups = append(l.Backups, b)
	}
	return l, nil
}

// pickerDispatcher is newDispatcher with instances and backups to pick,
// an audit, and the name rules at hand.
func pickerDispatcher(t testing.TB, c commands.Creator) (*commands.Dispatcher, *bottest.Audit) {
	t.Helper()
	d := newDispatcher(t, c, "")
	d.Operator = &instances{names: []string{"beta", "acme", "acorn"}}
	d.DayTwo = &backups{of: map[string][]string{
		"acme": {"20261207-1400-manual", "20261206-0300-daily"},
		"beta": {"20261201-0300-daily"},
	}}
	audit := &bottest.Audit{}
	d.Auditor = audit
	return d, audit
}

func startPickerBot(t testing.TB, fs *fakeSlack, d *commands.Dispatcher) {
	t.Helper()
	startBot(t, fs, slack.Config{Handler: d, Picker: d, CheckName: d.Rules.Check})
	fs.WaitConnected(t, 5*time.Second)
}

// openedView waits for the n-th modal opened (from 1) and returns it.
func (fs *fakeSlack) openedView(t testing.TB, n int) slacktest.View {
	t.Helper()
	waitFor(t, "a modal opened", func() bool { return len(fs.Views()) >= n })
	return fs.Views()[n-1]
}

func TestCreateAloneOpensTheCreationForm(t *testing.T) {
	fs := newFakeSlack(t)
	creator := newCreator(t, "database")
	d, audit := pickerDispatcher(t, creator)
	startPickerBot(t, fs, d)

	fs.Send(t, fs.Slash("env-form-1", 0, "U0123ABCD", "ana", "C0123", "create"))
	fs.WaitAck(t, "env-form-1", 5*time.Second)
	v := fs.openedView(t, 1)
	if v.TriggerID != "1337.42.env-form-1" {
		t.Errorf("views.open with trigger %q, want the slash command's", v.TriggerID)
	}
	if got := v.CallbackID(); got != "odoobot_create" {
		t.Errorf("callback_id %q", got)
	}
	if got, want := v.PrivateMetadata(), `{"c":"C0123"}`; got != want {
		t.Errorf("private_metadata %q, want %q", got, want)
	}
	if e := v.Element("odoobot_name"); e["type"] != "plain_text_input" {
		t.Errorf("name input: %v", e)
	}
	if diff := cmp.Diff(v.Options("odoobot_mode"), []string{"default", "cloudflare", "letsencrypt", "http"}); diff != "" {
		t.Errorf("modes (-got +want):\n%s", diff)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(fs.CallsOf("chat.postEphemeral")) + len(fs.CallsOf("chat.postMessage")); n != 0 {
		t.Errorf("%d messages besides the form", n)
	}
	if n := len(creator.Requests()); n != 0 {
		t.Errorf("opening the form created %d instances", n)
	}
	if n := len(audit.Entries()); n != 0 {
		t.Errorf("opening a form was audited %d times: only the command it runs is", n)
	}
}

func TestCreateFormIsNotOpenedForARoleThatMayNotCreate(t *testing.T) {
	fs := newFakeSlack(t)
	creator := newCreator(t, "database")
	d, _ := pickerDispatcher(t, creator)
	startPickerBot(t, fs, d)

	fs.Send(t, fs.Slash("env-form-op", 0, "U0888OPER", "otto", "C0123", "create"))
	fs.Send(t, fs.Slash("env-form-out", 0, "U0666EVIL", "mallory", "C0123", "create"))
	waitFor(t, "two refusals", func() bool { return len(fs.CallsOf("chat.postEphemeral")) == 2 })
	time.Sleep(100 * time.Millisecond)
	fs.checkRefusedPrivately(t, "C0123", "", map[string]string{
		"U0888OPER": "create needs an instance NAME\nusage: /odoo create NAME [cloudflare|letsencrypt|http]", // as typed today
		"U0666EVIL": "you (U0666EVIL) are not on the allowlist",
	})
	if n := len(fs.Views()); n != 0 {
		t.Errorf("%d forms opened for roles that may not create", n)
	}
}

func TestCreateFormRefusesABadNameInTheForm(t *testing.T) {
	fs := newFakeSlack(t)
	creator := newCreator(t, "database")
	d, audit := pickerDispatcher(t, creator)
	startPickerBot(t, fs, d)

	fs.Send(t, fs.Slash("env-bad-1", 0, "U0123ABCD", "ana", "C0123", "create"))
	v := fs.openedView(t, 1)
	for i, name := range []string{"Acme_Corp", "www", "acme http", "-acme"} {
		env := "env-bad-sub-" + string(rune('a'+i))
		fs.Send(t, fs.Submit(env, "U0123ABCD", "ana", v, map[string]string{"odoobot_name": name, "odoobot_mode": "http"}))
		ack := fs.WaitAckOf(t, env, 5*time.Second)
		var got struct {
			ResponseAction string            `json:"response_action"`
			Errors         map[string]string `json:"errors"`
		}
		if err := json.Unmarshal(ack.Payload, &got); err != nil {
			t.Fatalf("%q: ack payload %s: %v", name, ack.Payload, err)
		}
		want := "give one word, such as cliente1: lowercase letters, digits and dashes"
		if err := d.Rules.Check(name); err != nil && !strings.Contains(name, " ") {
			want = err.Error()
		}
		if got.ResponseAction != "errors" || got.Errors["odoobot_name"] != want {
			t.Errorf("%q: ack %s, want the errors response with %q under the name", name, ack.Payload, want)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(creator.Requests()); n != 0 {
		t.Errorf("a refused form created %d instances", n)
	}
	if n := len(fs.CallsOf("chat.postMessage")); n != 0 {
		t.Errorf("%d messages posted for refused forms", n)
	}
	if n := len(audit.Entries()); n != 0 {
		t.Errorf("%d audit entries for forms refused before any command ran", n)
	}
}

func TestCreateFormSubmittedCreatesAsTheSubmitterInTheChannel(t *testing.T) {
	fs := newFakeSlack(t)
	creator := newCreator(t, "database")
	d, audit := pickerDispatcher(t, creator)
	startPickerBot(t, fs, d)

	fs.Send(t, fs.Slash("env-ok-1", 0, "U0123ABCD", "ana", "C0777", "create"))
	v := fs.openedView(t, 1)
	fs.Send(t, fs.Submit("env-ok-sub", "U0123ABCD", "ana", v, map[string]string{"odoobot_name": "acme", "odoobot_mode": "http"}))
	if ack := fs.WaitAckOf(t, "env-ok-sub", 5*time.Second); ack.Payload != nil {
		t.Errorf("ack payload %s, want none (the form closes)", ack.Payload)
	}
	// Slack delivers an envelope again when it saw no ack: run once.
	fs.Send(t, fs.Submit("env-ok-sub", "U0123ABCD", "ana", v, map[string]string{"odoobot_name": "acme", "odoobot_mode": "http"}))
	waitFor(t, "the creation", func() bool { return len(creator.Requests()) == 1 })
	req := creator.Requests()[0]
	if req.Name != "acme" || req.Mode != provision.SSLHTTP || req.By != "ana" {
		t.Errorf("created %q mode %q by %q, want acme http by ana", req.Name, req.Mode, req.By)
	}
	waitFor(t, "the thread's root in the command's channel", func() bool { return len(fs.CallsOf("chat.postMessage")) > 0 })
	root := fs.CallsOf("chat.postMessage")[0]
	if root.Form.Get("channel") != "C0777" || !strings.HasPrefix(root.Form.Get("text"), "creating prod-acme → acme.example.com (http), asked by ana") {
		t.Errorf("root %q in %s", root.Form.Get("text"), root.Form.Get("channel"))
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(creator.Requests()); n != 1 {
		t.Errorf("%d creations for one form submitted twice", n)
	}
	entries := audit.Entries()
	if len(entries) != 1 || entries[0].Command != "create acme http" || entries[0].UserID != "U0123ABCD" || entries[0].Channel != "C0777" {
		t.Errorf("audit %+v, want one entry: create acme http by U0123ABCD in C0777", entries)
	}
}

func TestCreateFormWithTheDefaultModeRunsCreateName(t *testing.T) {
	fs := newFakeSlack(t)
	creator := newCreator(t, "database")
	d, audit := pickerDispatcher(t, creator)
	startPickerBot(t, fs, d)

	fs.Send(t, fs.Slash("env-def-1", 0, "U0123ABCD", "ana", "C0123", "create"))
	v := fs.openedView(t, 1)
	fs.Send(t, fs.Submit("env-def-sub", "U0123ABCD", "ana", v, map[string]string{"odoobot_name": "acme", "odoobot_mode": "default"}))
	waitFor(t, "the creation", func() bool { return len(creator.Requests()) == 1 })
	if got := audit.Entries()[0].Command; got != "create acme" {
		t.Errorf("ran %q, want create acme", got)
	}
}

func TestFormWithForgedChannelIsRefused(t *testing.T) {
	fs := newFakeSlack(t)
	creator := newCreator(t, "database")
	d, _ := pickerDispatcher(t, creator)
	startPickerBot(t, fs, d)

	fs.Send(t, fs.Slash("env-forge-1", 0, "U0123ABCD", "ana", "C0123", "create"))
	v := fs.openedView(t, 1)
	for i, meta := range []string{`{"c":"#general"}`, `{"c":"C0123","x":"` + strings.Repeat("a", 600) + `"}`, `not json`} {
		v.Spec["private_metadata"] = meta
		env := "env-forge-sub-" + string(rune('a'+i))
		fs.Send(t, fs.Submit(env, "U0123ABCD", "ana", v, map[string]string{"odoobot_name": "acme"}))
		if ack := fs.WaitAckOf(t, env, 5*time.Second); !strings.Contains(string(ack.Payload), "this form is not valid") {
			t.Errorf("metadata %.40q: ack %s", meta, ack.Payload)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(creator.Requests()); n != 0 {
		t.Errorf("%d creations from forged forms", n)
	}
}

func TestTypedCreateStillCreatesAtOnce(t *testing.T) {
	fs := newFakeSlack(t)
	creator := newCreator(t, "database")
	d, _ := pickerDispatcher(t, creator)
	startPickerBot(t, fs, d)

	fs.Send(t, fs.Slash("env-typed-1", 0, "U0123ABCD", "ana", "C0123", "create acme http"))
	waitFor(t, "the creation", func() bool { return len(creator.Requests()) == 1 })
	if n := len(fs.Views()); n != 0 {
		t.Errorf("%d forms opened for a typed command", n)
	}
}

func TestExpiredTriggerSaysWhatToType(t *testing.T) {
	fs := newFakeSlack(t)
	creator := newCreator(t, "database")
	d, _ := pickerDispatcher(t, creator)
	startPickerBot(t, fs, d)
	fs.Delay("views.open", 3500*time.Millisecond) // the 3 s of the trigger pass

	fs.Send(t, fs.Slash("env-late-1", 0, "U0123ABCD", "ana", "C0123", "create"))
	waitFor(t, "a private answer", func() bool { return len(fs.CallsOf("chat.postEphemeral")) == 1 })
	got := fs.CallsOf("chat.postEphemeral")[0].Form.Get("text")
	if want := "the form could not be opened (expired_trigger_id): type /odoo create NAME [cloudflare|letsencrypt|http] instead"; got != want {
		t.Errorf("answer %q, want %q", got, want)
	}
}

// suggested is the option values of a block_suggestion's ack.
func suggested(t testing.TB, ack slacktest.Ack) []string {
	t.Helper()
	var got struct {
		Options []struct {
			Text  struct{ Text string } `json:"text"`
			Value string                `json:"value"`
		} `json:"options"`
	}
	if err := json.Unmarshal(ack.Payload, &got); err != nil {
		t.Fatalf("ack payload %s: %v", ack.Payload, err)
	}
	out := []string{}
	for _, o := range got.Options {
		out = append(out, o.Value)
	}
	return out
}

func TestRestoreNameOpensAFormOfItsBackups(t *testing.T) {
	fs := newFakeSlack(t)
	creator := newCreator(t, "database")
	d, audit := pickerDispatcher(t, creator)
	startPickerBot(t, fs, d)

	fs.Send(t, fs.Slash("env-rs-1", 0, "U0123ABCD", "ana", "C0123", "restore acme"))
	v := fs.openedView(t, 1)
	if diff := cmp.Diff(v.Options("odoobot_backup"), []string{"20261207-1400-manual", "20261206-0300-daily"}); diff != "" {
		t.Errorf("backups offered (-got +want):\n%s", diff)
	}
	fs.Send(t, fs.Submit("env-rs-sub", "U0123ABCD", "ana", v, map[string]string{"odoobot_backup": "20261206-0300-daily"}))
	waitFor(t, "the confirmation asked", func() bool { return len(fs.CallsOf("chat.postEphemeral")) == 1 })
	if got := audit.Entries()[0].Command; got != "restore acme 20261206-0300-daily" {
		t.Errorf("ran %q", got)
	}
	if txt := fs.CallsOf("chat.postEphemeral")[0].Form.Get("text"); !strings.Contains(txt, "confirm") {
		t.Errorf("answer %q, want the confirmation of the restore", txt)
	}

	// An operator may not restore: the answer of the command typed, no form.
	fs.Send(t, fs.Slash("env-rs-op", 0, "U0888OPER", "otto", "C0123", "restore acme"))
	waitFor(t, "the refusal", func() bool { return len(fs.CallsOf("chat.postEphemeral")) == 2 })
	if got := fs.CallsOf("chat.postEphemeral")[1].Form.Get("text"); got != "restore needs the BACKUP to restore (see /odoo backups \"acme\")\nusage: /odoo restore NAME BACKUP" { // as typed today
		t.Errorf("refusal %q", got)
	}
	if n := len(fs.Views()); n != 1 {
		t.Errorf("%d forms, want only the admin's", n)
	}
}

func TestRestoreFormSuggestsWhatTheRoleMayPick(t *testing.T) {
	fs := newFakeSlack(t)
	creator := newCreator(t, "database")
	d, _ := pickerDispatcher(t, creator)
	startPickerBot(t, fs, d)

	fs.Send(t, fs.Slash("env-sg-1", 0, "U0123ABCD", "ana", "C0123", "restore"))
	v := fs.openedView(t, 1)
	if e := v.Element("odoobot_name"); e["type"] != "external_select" {
		t.Fatalf("instance input %v, want an external_select", e)
	}
	fs.Send(t, fs.Suggestion("env-sg-a", "U0123ABCD", "ana", v, "odoobot_name", "ac", nil))
	if diff := cmp.Diff(suggested(t, fs.WaitAckOf(t, "env-sg-a", 5*time.Second)), []string{"acme", "acorn"}); diff != "" {
		t.Errorf("names for ac (-got +want):\n%s", diff)
	}
	fs.Send(t, fs.Suggestion("env-sg-b", "U0123ABCD", "ana", v, "odoobot_backup", "", map[string]string{"odoobot_name": "beta"}))
	if diff := cmp.Diff(suggested(t, fs.WaitAckOf(t, "env-sg-b", 5*time.Second)), []string{"20261201-0300-daily"}); diff != "" {
		t.Errorf("backups of beta (-got +want):\n%s", diff)
	}
	// The same form's type-ahead from users whose role may not restore.
	for _, u := range []string{"U0888OPER", "U0999VIEW", "U0666EVIL"} {
		env := "env-sg-" + u
		fs.Send(t, fs.Suggestion(env, u, "someone", v, "odoobot_name", "", nil))
		if got := suggested(t, fs.WaitAckOf(t, env, 5*time.Second)); len(got) != 0 {
			t.Errorf("%s was offered %v", u, got)
		}
	}
	fs.Send(t, fs.Submit("env-sg-sub", "U0123ABCD", "ana", v, map[string]string{"odoobot_name": "beta", "odoobot_backup": "20261201-0300-daily"}))
	waitFor(t, "the confirmation asked", func() bool {
		return slices.ContainsFunc(fs.CallsOf("chat.postEphemeral"), func(c slacktest.Call) bool {
			return strings.Contains(c.Form.Get("text"), "beta")
		})
	})
}

func TestRestoreFormOpensInTimeWhenBackupsAreSlowToList(t *testing.T) {
	fs := newFakeSlack(t)
	creator := newCreator(t, "database")
	d, _ := pickerDispatcher(t, creator)
	d.DayTwo.(*backups).slow = 3200 * time.Millisecond
	startPickerBot(t, fs, d)

	fs.Send(t, fs.Slash("env-slow-1", 0, "U0123ABCD", "ana", "C0123", "restore acme"))
	v := fs.openedView(t, 1) // the double refuses a trigger older than 3 s
	if e := v.Element("odoobot_backup"); e["type"] != "external_select" {
		t.Fatalf("backup input %v, want an external_select that loads them", e)
	}
}

// TestCreateFormChecksTheNameAsItIsTyped: the create form's name input
// dispatches each character typed (dispatch_action, on_character_
// entered); each is answered with views.update of that view, with its
// hash, the form rewritten with, under the name, whether the name so far
// is fine, which rule it breaks, or that an instance has it; the name
// input keeps its block_id and action_id (so Slack keeps what was
// typed). A keystroke answered with a stale hash changes nothing
// (hash_conflict), and nothing is created nor audited.
func TestCreateFormChecksTheNameAsItIsTyped(t *testing.T) {
	fs := newFakeSlack(t)
	creator := newCreator(t, "database")
	d, audit := pickerDispatcher(t, creator)
	startPickerBot(t, fs, d)

	fs.Send(t, fs.Slash("env-live-1", 0, "U0123ABCD", "ana", "C0123", "create"))
	v := fs.openedView(t, 1)
	var name map[string]any
	for _, b := range v.Blocks() {
		if b["block_id"] == "odoobot_name" {
			name = b
		}
	}
	cfg, _ := v.Element("odoobot_name")["dispatch_action_config"].(map[string]any)
	if name["dispatch_action"] != true || cfg == nil || fmt.Sprint(cfg["trigger_actions_on"]) != "[on_character_entered]" {
		t.Fatalf("the name input block %v does not dispatch each character", name)
	}

	bad := d.Rules.Check("Acme_Corp").Error()
	for i, c := range []struct{ typed, want string }{
		{"Acme_Corp", "✖ " + bad},
		{"acme", "✖ an instance named acme exists already: pick another name"},
		{"acme 2", "✖ give one word, such as cliente1: lowercase letters, digits and dashes"},
		{"cliente1", "✔ cliente1 is a valid name, not taken"},
	} {
		cur := fs.Views()[0]
		env := fmt.Sprintf("env-live-k%d", i)
		fs.Send(t, fs.Typed(env, "U0123ABCD", "ana", cur, "odoobot_name", c.typed, map[string]string{"odoobot_mode": "default"}))
		waitFor(t, "the form updated for "+c.typed, func() bool { return fs.Views()[0].Updates == i+1 })
		got := fs.Views()[0]
		if check := got.Context("odoobot_name_check"); check != c.want {
			t.Errorf("typed %q: the form says %q under the name, want %q", c.typed, check, c.want)
		}
		if e := got.Element("odoobot_name"); e["action_id"] != "odoobot_name" || got.CallbackID() != "odoobot_create" || got.PrivateMetadata() != `{"c":"C0123"}` {
			t.Errorf("typed %q: the updated form lost its name input or metadata: %v", c.typed, got.Spec)
		}
		if diff := cmp.Diff(got.Options("odoobot_mode"), []string{"default", "cloudflare", "letsencrypt", "http"}); diff != "" {
			t.Errorf("typed %q: modes (-got +want):\n%s", c.typed, diff)
		}
	}

	// A keystroke whose view carries an old hash: refused by Slack, the
	// form stays as the newer answer left it.
	stale := v // as opened: the first hash
	fs.Send(t, fs.Typed("env-live-stale", "U0123ABCD", "ana", stale, "odoobot_name", "www", nil))
	waitFor(t, "the stale update's answer", func() bool {
		for _, c := range fs.Calls() {
			if c.Method == "views.update" && c.Err == "hash_conflict" {
				return true
			}
		}
		return false
	})
	time.Sleep(100 * time.Millisecond)
	if got := fs.Views()[0]; got.Updates != 4 || got.Context("odoobot_name_check") != "✔ cliente1 is a valid name, not taken" {
		t.Errorf("a stale keystroke changed the form: %d updates, %q", got.Updates, got.Context("odoobot_name_check"))
	}
	if n := len(creator.Requests()); n != 0 {
		t.Errorf("typing created %d instances", n)
	}
	if n := len(audit.Entries()); n != 0 {
		t.Errorf("typing was audited %d times", n)
	}
}
