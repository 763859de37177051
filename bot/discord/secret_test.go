package discord

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/bwmarrin/discordgo"

	"odoobot/bot/bottest"
	"odoobot/commands"
	"odoobot/provision"
	"odoobot/provision/tree"
)

const adminPassword = "Pw-9f3K-only-for-ana"

// checkPasswordOnlyIn fails unless the password went out exactly once,
// in a call that where accepts, and never into the log or the audit; it
// returns that call.
func checkPasswordOnlyIn(t *testing.T, fd *fakeDiscord, logs *bottest.LogBuffer, audit *bottest.Audit, where func(apiCall) bool) apiCall {
	return checkPasswordOnlyInN(t, fd, logs, audit, 1, where)
}

// checkPasswordOnlyInN is checkPasswordOnlyIn for n attempts (a refused
// one, then its fallback), returning the last.
func checkPasswordOnlyInN(t *testing.T, fd *fakeDiscord, logs *bottest.LogBuffer, audit *bottest.Audit, n int, where func(apiCall) bool) apiCall {
	t.Helper()
	var found []apiCall
	for _, c := range fd.snapshot() {
		if strings.Contains(string(c.Body), adminPassword) || strings.Contains(fmt.Sprint(c.Files), adminPassword) {
			found = append(found, c)
		}
	}
	ok := len(found) == n
	for _, c := range found {
		ok = ok && where(c)
	}
	if !ok {
		t.Fatalf("the password went out in:\n%s", describe(found))
	}
	if got := strings.Count(fd.everything(), adminPassword); got != n {
		t.Errorf("the fake received the password %d times, want %d", got, n)
	}
	if strings.Contains(logs.String(), adminPassword) {
		t.Errorf("the password is in the log:\n%s", logs)
	}
	if audit != nil && strings.Contains(fmt.Sprintf("%+v", audit.Entries()), adminPassword) {
		t.Errorf("the password is in the audit: %+v", audit.Entries())
	}
	return found[n-1]
}

func ephemeralFollowup(c apiCall) bool {
	return c.Method == "POST" && reFollowup.MatchString(c.Path) && c.flags() == 64
}

// TestCreateShowsTheAdminPasswordInAnEphemeralFollowup: once the job has
// succeeded, well after the interaction was answered, the password goes
// to the requester alone as an ephemeral followup, with the login and
// the URL; never in the thread, the root's edit, the audit or the log.
func TestCreateShowsTheAdminPasswordInAnEphemeralFollowup(t *testing.T) {
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	audit := &bottest.Audit{}
	c := newCreator(t, "database", "service")
	c.Password = adminPassword
	b := newBot(t, fd, newDispatcher(t, c, nil, audit), logs)
	b.handleInteraction(context.Background(), slash(t, "623456789012345690", "itok-pw", ana, "create", "name", "acme", "mode", "http"))
	fd.waitFor(t, "the password", func(c apiCall) bool { return strings.Contains(string(c.Body), adminPassword) })
	got := checkPasswordOnlyIn(t, fd, logs, audit, ephemeralFollowup)
	for _, want := range []string{"login:    admin", "http://acme.example.com", "shown once", "reset-admin acme"} {
		if !strings.Contains(got.str("content"), want) {
			t.Errorf("password message %q lacks %q", got.str("content"), want)
		}
	}
	checkSecrets(t, fd, logs)
}

// TestSecretIsNeverSentAsADirectMessage: when the interaction token no
// longer works, the password is dropped: no direct message is opened,
// nothing but the refused ephemeral followup ever carried it, and the
// error says it could not be shown.
func TestSecretIsNeverSentAsADirectMessage(t *testing.T) {
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	b := newBot(t, fd, handlerFunc(nil), logs)
	ic := slash(t, "623456789012345691", "itok-expired", ana, "help")
	fd.fail("POST "+regexp.QuoteMeta("/webhooks/"+testApp+"/itok-expired")+"$", 401)
	r := b.newResponder(ic.Interaction, false)
	err := r.Secret(context.Background(), "password: "+adminPassword)
	if err == nil || !strings.Contains(err.Error(), "could not be shown") {
		t.Errorf("Secret with a dead token: %v, want an error saying it could not be shown", err)
	}
	checkPasswordOnlyIn(t, fd, logs, nil, ephemeralFollowup)
	checkNoDirectMessage(t, fd)
	checkSecrets(t, fd, logs)
}

// checkNoDirectMessage fails when a direct message was opened or posted.
func checkNoDirectMessage(t *testing.T, fd *fakeDiscord) {
	t.Helper()
	for _, c := range fd.snapshot() {
		if c.Path == "/users/@me/channels" || strings.HasPrefix(c.Path, "/channels/"+dmChannel+"/") {
			t.Errorf("a direct message was opened or posted: %s %s %s", c.Method, c.Path, c.Body)
		}
	}
}

// TestCreatePasswordNotShownIsSaidInTheThread: when the ephemeral
// followup carrying a new instance's admin password fails, the password
// goes nowhere else (no direct message, no thread line, no lasting
// message) and the thread tells the requester it could not be shown and
// that reset-admin sets a new one.
func TestCreatePasswordNotShownIsSaidInTheThread(t *testing.T) {
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	audit := &bottest.Audit{}
	c := newCreator(t, "database", "service")
	c.Password = adminPassword
	b := newBot(t, fd, newDispatcher(t, c, nil, audit), logs)
	fd.fail("POST "+regexp.QuoteMeta("/webhooks/"+testApp+"/itok-pw-lost")+"$", 401)
	b.handleInteraction(context.Background(), slash(t, "623456789012345697", "itok-pw-lost", ana, "create", "name", "acme", "mode", "http"))
	notice := fd.waitFor(t, "the notice in the thread", func(c apiCall) bool {
		return rePost.MatchString(c.Path) && strings.Contains(c.str("content"), "could not be shown")
	})
	var said apiCall
	for _, c := range notice {
		if rePost.MatchString(c.Path) && strings.Contains(c.str("content"), "could not be shown") {
			said = c
		}
	}
	if strings.HasPrefix(said.Path, "/channels/"+testChannel+"/") {
		t.Errorf("the notice went to the channel, not the job's thread: %s", said.Path)
	}
	for _, want := range []string{"ana", "prod-acme", "reset-admin acme", "kept nowhere"} {
		if !strings.Contains(said.str("content"), want) {
			t.Errorf("the notice %q lacks %q", said.str("content"), want)
		}
	}
	// The password: only in the refused ephemeral followup.
	checkPasswordOnlyIn(t, fd, logs, audit, ephemeralFollowup)
	checkNoDirectMessage(t, fd)
	checkSecrets(t, fd, logs)
}

// TestResetAdminOnDiscord: an operator is refused; the admin confirms
// with the button and gets the new password in an ephemeral followup.
func TestResetAdminOnDiscord(t *testing.T) {
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	audit := &bottest.Audit{}
	layout := provision.Layout{Zone: "example.com"}
	op := &provision.Operator{Files: tree.New(layout), Store: fakeInstances{layout.NewInstance("acme", provision.SSLHTTP)}, Layout: layout}
	d := newDispatcher(t, newCreator(t), op, audit)
	res := &bottest.Resetter{Password: adminPassword}
	d.Admins = res
	b := newBot(t, fd, d, logs)

	otto := member{ID: "912345678901234567", Name: "otto", Roles: []string{opRole}}
	b.handleInteraction(context.Background(), slash(t, "623456789012345692", "itok-ra-op", otto, "reset-admin", "name", "acme"))
	calls := fd.snapshot()
	checkNothingPublic(t, calls)
	if last := calls[len(calls)-1]; !strings.Contains(last.str("content"), "need role admin") {
		t.Fatalf("operator answer:\n%s", describe(calls))
	}

	b.handleInteraction(context.Background(), slash(t, "623456789012345693", "itok-ra", ana, "reset-admin", "name", "acme"))
	all := fd.snapshot()
	calls = all[len(calls):]
	checkNothingPublic(t, calls)
	prompt := calls[len(calls)-1]
	m := regexp.MustCompile(`odoobot_confirm:[0-9a-f]+`).FindString(string(prompt.Body))
	if !reOriginal.MatchString(prompt.Path) || m == "" || res.Calls() != 0 {
		t.Fatalf("no ephemeral confirmation before the reset (resets %d):\n%s", res.Calls(), describe(calls))
	}

	// Someone else's click is refused privately and leaves the prompt,
	// button and all.
	n := len(all)
	b.handleInteraction(context.Background(), click(t, "623456789012345695", "itok-ra-otto", otto, m))
	calls = fd.snapshot()[n:]
	for _, c := range calls {
		if reOriginal.MatchString(c.Path) {
			t.Errorf("a refused click edited the prompt: %s %s", c.Method, c.Body)
		}
	}
	if last := calls[len(calls)-1]; !ephemeralFollowup(last) || !strings.Contains(last.str("content"), "only the one who asked") {
		t.Errorf("refused click:\n%s", describe(calls))
	}
	if res.Calls() != 0 {
		t.Fatal("someone else's click reset the password")
	}

	b.handleInteraction(context.Background(), click(t, "623456789012345694", "itok-ra-click", ana, m))
	if res.Calls() != 1 {
		t.Fatalf("%d resets after the click", res.Calls())
	}
	got := checkPasswordOnlyIn(t, fd, logs, audit, ephemeralFollowup)
	if !strings.Contains(got.Path, "itok-ra-click") || !strings.Contains(got.str("content"), "http://acme.example.com") {
		t.Errorf("password message %s %q", got.Path, got.str("content"))
	}
	checkSecrets(t, fd, logs)
}

// TestNullOptionsDoNotCrash: an interaction whose options hold a null
// (or whose subcommand is null) is read as if the option were absent.
func TestNullOptionsDoNotCrash(t *testing.T) {
	for _, options := range []string{`[null]`, `[{"name": "status", "type": 1, "options": [null, {"name": "name", "type": 3, "value": null}]}]`} {
		var ic discordgo.InteractionCreate
		raw := `{"id": "1", "application_id": "` + testApp + `", "type": 2, "token": "t", "channel_id": "` + testChannel + `",
			"user": {"id": "` + adminID + `", "username": "ana"}, "data": {"name": "odoo", "type": 1, "options": ` + options + `}}`
		if err := json.Unmarshal([]byte(raw), &ic); err != nil {
			t.Fatal(err)
		}
		data := ic.Interaction.Data.(discordgo.ApplicationCommandInteractionData)
		if got := commandText(data); got != "help" && got != "status" {
			t.Errorf("commandText(%s) = %q", options, got)
		}
	}
}

// TestAPanickingHandlerIsRecovered: a panic while handling an
// interaction is logged, and the placeholder says the answer was lost.
func TestAPanickingHandlerIsRecovered(t *testing.T) {
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	b := newBot(t, fd, handlerFunc(func(context.Context, commands.Request, commands.Responder) (*provision.Task, error) {
		panic("boom")
	}), logs)
	func() {
		defer b.recovered("interaction")
		b.handleInteraction(context.Background(), slash(t, "623456789012345695", "itok-panic", ana, "list"))
	}()
	if !strings.Contains(logs.String(), "panicked") {
		t.Errorf("the panic was not logged:\n%s", logs)
	}
	calls := fd.snapshot()
	if last := calls[len(calls)-1]; last.str("content") != failedNote {
		t.Errorf("placeholder not settled:\n%s", describe(calls))
	}
}
