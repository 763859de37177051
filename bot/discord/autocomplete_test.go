package discord

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/bot/bottest"
	"odoobot/bot/discord/discordtest"
	"odoobot/commands"
	"odoobot/provision"
)

// backupsOf is a commands.DayTwo that lists fixed backups per instance
// and records which instances it was asked about; it runs no job.
type backupsOf struct {
	mu     sync.Mutex
	byName map[string][]string // instance → backup IDs, newest first
	asked  []string
}

func (f *backupsOf) BackupPlaces(_ context.Context, name string) (provision.BackupListing, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, name)
	var l provision.BackupListing
	for _, id := range f.byName[name] {
		l.Backups = append(l.Backups, provision.ListedBackup{BackupInfo: provision.BackupInfo{Manifest: provision.Manifest{ID: id, Instance: name, Reason: "manual"}}})
	}
	return l, nil
}

func (f *backupsOf) Backup(context.Context, provision.JobRequest) (*provision.Task, error) {
	return nil, fmt.Errorf("no backup in this test")
}
func (f *backupsOf) Restore(context.Context, provision.JobRequest) (*provision.Task, error) {
	return nil, fmt.Errorf("no restore in this test")
}
func (f *backupsOf) Delete(context.Context, provision.JobRequest) (*provision.Task, error) {
	return nil, fmt.Errorf("no delete in this test")
}

// noClones is a commands.Cloner that makes no copy.
type noClones struct{}

func (noClones) Clone(context.Context, provision.CloneRequest) (*provision.Task, error) {
	return nil, fmt.Errorf("no clone in this test")
}

// suggestFixture is the real dispatcher over 40 instances acme00…acme39
// and beta (failed), with backups of acme01 and acme02, behind a Bot
// talking to the Discord double.
type suggestFixture struct {
	fd    *fakeDiscord
	b     *Bot
	dt    *backupsOf
	audit *bottest.Audit
	logs  *bottest.LogBuffer
	n     int
}

func newSuggestFixture(t *testing.T) *suggestFixture {
	t.Helper()
	var list fakeInstances
	for i := range 40 {
		list = append(list, provision.Instance{Name: fmt.Sprintf("acme%02d", i), State: provision.StateReady})
	}
	list = append(list, provision.Instance{Name: "beta", State: provision.StateFailed})
	f := &suggestFixture{fd: newFakeDiscord(t), audit: &bottest.Audit{}, logs: &bottest.LogBuffer{}, dt: &backupsOf{byName: map[string][]string{
		"acme01": {"20261207T101500Z", "20261206T020000Z", "20261205T020000Z"},
		"acme02": {"20261201T020000Z"},
	}}}
	d := newDispatcher(t, newCreator(t), &provision.Operator{Store: list}, f.audit)
	d.DayTwo, d.Cloner = f.dt, noClones{}
	f.b = newBot(t, f.fd, d, f.logs)
	return f
}

// ask has m type in option focus of /odoo sub (the other options as
// opts) and returns the autocomplete result the bot sent back.
func (f *suggestFixture) ask(t *testing.T, m member, sub, focus string, opts ...any) []discordtest.Choice {
	t.Helper()
	f.n++
	token := fmt.Sprintf("itok-auto-%d", f.n)
	f.b.handleInteraction(context.Background(), typing(t, fmt.Sprintf("62345678901234%04d", f.n), token, m, sub, focus, opts...))
	var answers []apiCall
	for _, c := range f.fd.snapshot() {
		if c.Method == "POST" && strings.Contains(c.Path, "/"+token+"/callback") {
			answers = append(answers, c)
		}
	}
	if len(answers) != 1 {
		t.Fatalf("%s %s typed %v: %d callbacks, want one autocomplete result; calls:\n%s", sub, focus, opts, len(answers), describe(f.fd.snapshot()))
	}
	if answers[0].CallbackType() != discordtest.CallbackAutocompleteResult {
		t.Fatalf("%s %s: callback of type %d, want 8 (APPLICATION_COMMAND_AUTOCOMPLETE_RESULT): %s", sub, focus, answers[0].CallbackType(), answers[0])
	}
	if data, _ := answers[0].JSON["data"].(map[string]any); data["choices"] == nil {
		t.Fatalf("%s %s: the result has no choices list: %s", sub, focus, answers[0])
	}
	return answers[0].Choices()
}

func values(cs []discordtest.Choice) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, fmt.Sprint(c.Value))
	}
	return out
}

var (
	vic      = member{ID: "712345678901234567", Name: "vic", Roles: []string{viewerRole}}
	stranger = member{ID: "812345678901234567", Name: "eve"}
)

// The names offered are those that start with what was typed, in
// order, at most 25, each labelled with its state; a viewer is offered
// names for the verbs a viewer may run and none for an admin verb; a
// stranger none; nothing is audited.
func TestAutocompleteOffersNamesFilteredByWhatWasTyped(t *testing.T) {
	f := newSuggestFixture(t)

	got := f.ask(t, vic, "status", "name", "name", "be")
	if d := cmp.Diff(got, []discordtest.Choice{{Name: "beta (failed)", Value: "beta"}}); d != "" {
		t.Errorf("a viewer typing be in status (-got +want):\n%s", d)
	}
	got = f.ask(t, vic, "backups", "name", "name", "ACME1")
	if d := cmp.Diff(values(got), []string{"acme10", "acme11", "acme12", "acme13", "acme14", "acme15", "acme16", "acme17", "acme18", "acme19"}); d != "" {
		t.Errorf("a viewer typing ACME1 in backups (-got +want):\n%s", d)
	}
	got = f.ask(t, ana, "restart", "name", "name", "")
	if len(got) != 25 || got[0].Value != "acme00" || got[24].Value != "acme24" {
		t.Errorf("an admin typing nothing among 41 instances: %d offered (%v), want the first 25 by name", len(got), values(got))
	}
	if got = f.ask(t, ana, "clone", "source", "source", "acme3"); len(got) != 10 || got[0].Value != "acme30" {
		t.Errorf("clone's source typed acme3: %v", values(got))
	}
	if got = f.ask(t, ana, "status", "name", "name", "zz"); len(got) != 0 {
		t.Errorf("typed zz: offered %v", values(got))
	}

	for _, verb := range []string{"delete", "restart", "restore"} {
		if got := f.ask(t, vic, verb, "name", "name", "a"); len(got) != 0 {
			t.Errorf("a viewer is offered names for %s, an admin verb: %v", verb, values(got))
		}
	}
	if got := f.ask(t, stranger, "status", "name", "name", ""); len(got) != 0 {
		t.Errorf("a stranger is offered names: %v", values(got))
	}
	if n := len(f.audit.Entries()); n != 0 {
		t.Errorf("suggestions were audited: %+v", f.audit.Entries())
	}
	checkSecrets(t, f.fd, f.logs)
}

// restore's backup offers the backups of the instance already given,
// newest first, filtered by what was typed; none before a name is given,
// and none to a viewer.
func TestAutocompleteOffersTheBackupsOfTheChosenInstance(t *testing.T) {
	f := newSuggestFixture(t)
	got := f.ask(t, ana, "restore", "backup", "name", "acme01", "backup", "")
	if d := cmp.Diff(values(got), []string{"20261207T101500Z", "20261206T020000Z", "20261205T020000Z"}); d != "" {
		t.Errorf("acme01's backups (-got +want):\n%s", d)
	}
	if len(got) > 0 && got[0].Name != "20261207T101500Z (manual)" {
		t.Errorf("a backup is labelled %q, want its id and reason", got[0].Name)
	}
	if got = f.ask(t, ana, "restore", "backup", "name", "acme02", "backup", "2026120"); len(got) != 1 || got[0].Value != "20261201T020000Z" {
		t.Errorf("acme02's backups typed 2026120: %v", values(got))
	}
	if got = f.ask(t, ana, "restore", "backup", "name", "acme01", "backup", "20261206"); len(got) != 1 || got[0].Value != "20261206T020000Z" {
		t.Errorf("acme01's backups typed 20261206: %v", values(got))
	}
	if got = f.ask(t, ana, "restore", "backup", "backup", ""); len(got) != 0 {
		t.Errorf("backups offered before a name was given: %v", values(got))
	}
	if got = f.ask(t, vic, "restore", "backup", "name", "acme01", "backup", ""); len(got) != 0 {
		t.Errorf("a viewer is offered backups: %v", values(got))
	}
	f.dt.mu.Lock()
	asked := f.dt.asked
	f.dt.mu.Unlock()
	if d := cmp.Diff(asked, []string{"acme01", "acme02", "acme01"}); d != "" {
		t.Errorf("backups were listed for (-got +want):\n%s", d)
	}
}

// create's mode offers the TLS modes, filtered; its new name, a
// command's other options and an unknown subcommand offer nothing, and
// are still answered (with an empty list).
func TestAutocompleteModesAndOtherOptions(t *testing.T) {
	f := newSuggestFixture(t)
	if got := f.ask(t, ana, "create", "mode", "name", "shop", "mode", "l"); len(got) != 1 || got[0] != (discordtest.Choice{Name: "letsencrypt", Value: "letsencrypt"}) {
		t.Errorf("create's mode typed l: %+v", got)
	}
	if got := f.ask(t, ana, "create", "mode", "name", "shop", "mode", ""); len(got) != 3 {
		t.Errorf("create's modes: %+v", got)
	}
	if got := f.ask(t, vic, "create", "mode", "mode", ""); len(got) != 0 {
		t.Errorf("a viewer is offered create's modes: %+v", got)
	}
	if got := f.ask(t, ana, "create", "name", "name", "acme"); len(got) != 0 {
		t.Errorf("create's new name offered %v", values(got))
	}
	if got := f.ask(t, ana, "logs", "lines", "name", "acme01", "lines", 5); len(got) != 0 {
		t.Errorf("logs' lines offered %v", values(got))
	}
	if got := f.ask(t, ana, "nonsense", "name", "name", "acme"); len(got) != 0 {
		t.Errorf("an unknown subcommand offered %v", values(got))
	}
}

// slowSuggest is a Handler whose suggestions take delay.
type slowSuggest struct {
	handlerFunc
	delay time.Duration
}

func (s slowSuggest) Suggest(ctx context.Context, _ commands.Identity, _ string, _ commands.Verb, _, _, _ string) []commands.Choice {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
	}
	return []commands.Choice{{Label: "late", Value: "late"}}
}

// Suggestions that take too long are not waited for: the result, empty,
// is sent within SuggestWait, inside Discord's 3 s.
func TestAutocompleteDoesNotWaitForSlowSuggestions(t *testing.T) {
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	b, err := New(Config{Token: testToken, AppID: testApp, GuildID: testGuild, APIURL: fd.apiURL(),
		Handler: slowSuggest{delay: 10 * time.Second}, Logger: slogJSON(logs), SuggestWait: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	b.handleInteraction(context.Background(), typing(t, "623456789012349001", "itok-slow", ana, "status", "name", "name", "a"))
	took := time.Since(start)
	calls := fd.snapshot()
	if len(calls) != 1 || calls[0].CallbackType() != discordtest.CallbackAutocompleteResult || len(calls[0].Choices()) != 0 {
		t.Fatalf("calls:\n%s", describe(calls))
	}
	if took > time.Second {
		t.Errorf("the result took %s, want about the 200ms SuggestWait", took)
	}
	if !strings.Contains(logs.String(), "suggestions came too late") {
		t.Errorf("the late suggestions were not logged:\n%s", logs.String())
	}
}

// Through the double's gateway, as Discord delivers it: an admin typing
// in restore's name gets the matching names in a result that arrives
// well within 3 s.
func TestAutocompleteThroughTheGateway(t *testing.T) {
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	op := &provision.Operator{Store: fakeInstances{{Name: "acme", State: provision.StateReady}, {Name: "shop", State: provision.StateFailed}}}
	d := newDispatcher(t, newCreator(t), op, nil)
	d.DayTwo = &backupsOf{}
	stop, _ := runGatewayBot(t, fd, logs, Config{Handler: d})
	waitUntil(t, "READY", func() bool { return strings.Contains(logs.String(), "discord: connected") })
	sent := time.Now()
	fd.gw.DeliverInteraction(fd.Autocomplete(discordtest.Where{Guild: testGuild}, "623456789012349002", "itok-gw-auto", ana, "odoo", "restore", "name", "name", "s"))
	calls := fd.waitFor(t, "the autocomplete result", func(c apiCall) bool { return strings.Contains(c.Path, "/itok-gw-auto/callback") })
	for _, c := range calls {
		if !strings.Contains(c.Path, "/itok-gw-auto/callback") {
			continue
		}
		if d := cmp.Diff(c.Choices(), []discordtest.Choice{{Name: "shop (failed)", Value: "shop"}}); d != "" {
			t.Errorf("choices (-got +want):\n%s", d)
		}
		if took := c.At.Sub(sent); took > time.Second {
			t.Errorf("the result came %s after the interaction; Discord drops it after 3 s", took)
		}
	}
	stop()
	checkSecrets(t, fd, logs)
}

// mode is free text now that it autocompletes (Discord no longer holds
// it to fixed choices): a mode that is none of them is refused with the
// typed command's sentence, and nothing is created.
func TestAFreelyTypedModeIsRefusedClearly(t *testing.T) {
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	c := newCreator(t)
	b := newBot(t, fd, newDispatcher(t, c, nil, nil), logs)
	b.handleInteraction(context.Background(), slash(t, "623456789012349003", "itok-mode", ana, "create", "name", "shop", "mode", "bogus"))
	var said []string
	for _, call := range fd.snapshot() {
		if s := call.str("content"); s != "" {
			said = append(said, s)
		}
	}
	if len(said) == 0 || !strings.Contains(strings.Join(said, "\n"), `unknown SSL mode "bogus": use cloudflare, letsencrypt or http`) {
		t.Errorf("create with mode bogus answered %q", said)
	}
	if n := len(c.Requests()); n != 0 {
		t.Errorf("%d creations", n)
	}
}
