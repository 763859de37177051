package discord

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"odoobot/bot/bottest"
	"odoobot/commands"
	"odoobot/provision"
)

// standing is what the channel still shows of the interaction with
// token once calls are done: the original response (when it was deferred
// publicly, edited, and not deleted) and the public followups.
func standing(calls []apiCall, token string) []string {
	publicDefer, original := false, ""
	var followups []string
	for _, c := range calls {
		switch {
		case c.Method == "POST" && reCallback.MatchString(c.Path) && strings.Contains(c.Path, "/"+token+"/"):
			publicDefer = !c.Ephemeral()
		case reOriginal.MatchString(c.Path) && reOriginal.FindStringSubmatch(c.Path)[1] == token:
			switch c.Method {
			case "PATCH":
				original = c.str("content")
			case "DELETE":
				original, publicDefer = "", false
			}
		case c.Method == "POST" && reFollowup.MatchString(c.Path) && reFollowup.FindStringSubmatch(c.Path)[1] == token && !c.Ephemeral():
			followups = append(followups, c.str("content"))
		}
	}
	var out []string
	if publicDefer && original != "" {
		out = append(out, original)
	}
	return append(out, followups...)
}

// TestAFailingAllowedCommandLeavesNoPublicTrace: a command the user may
// run is deferred publicly; when its answer turns out private (it
// failed), the failure reaches the requester alone, and the public
// placeholder is removed rather than left saying "answered privately".
func TestAFailingAllowedCommandLeavesNoPublicTrace(t *testing.T) {
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	op := &provision.Operator{Store: fakeInstances{{Name: "acme", Domain: "acme.example.com", State: provision.StateReady}}}
	b := newBot(t, fd, newDispatcher(t, newCreator(t), op, nil), logs)
	vic := member{ID: "712345678901234567", Name: "vic", Roles: []string{viewerRole}}

	b.handleInteraction(context.Background(), slash(t, "623456789012345690", "itok-nosuch", vic, "status", "name", "nosuch"))
	calls := fd.snapshot()
	if cb := calls[0]; cb.Ephemeral() {
		t.Fatalf("the allowed command was deferred ephemerally; the test needs a public deferral:\n%s", describe(calls))
	}
	var answer string
	for _, c := range calls {
		if c.Method == "POST" && reFollowup.MatchString(c.Path) && c.Ephemeral() {
			answer = c.str("content")
		}
	}
	if !strings.Contains(answer, "nosuch") {
		t.Errorf("the failure did not reach the requester privately (ephemeral followup = %q):\n%s", answer, describe(calls))
	}
	if left := standing(calls, "itok-nosuch"); len(left) != 0 {
		t.Errorf("the channel still shows %q:\n%s", left, describe(calls))
	}
	checkSecrets(t, fd, logs)
}

// TestAdminHelpArrivesAsMessages: the admin's help, longer than one
// Discord message, arrives as messages each within the 2000-character
// limit, in order, with nothing attached and nothing lost.
func TestAdminHelpArrivesAsMessages(t *testing.T) {
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	b := newBot(t, fd, newDispatcher(t, newCreator(t), nil, nil), logs)
	help := commands.HelpText(commands.RoleAdmin)
	if utf8.RuneCountInString(help) <= maxInline {
		t.Fatalf("the admin help (%d characters) fits one message; the test needs a longer one", utf8.RuneCountInString(help))
	}

	b.handleInteraction(context.Background(), slash(t, "623456789012345691", "itok-help", ana, "help"))
	calls := fd.snapshot()
	var parts []string
	for _, c := range calls {
		if len(c.Files) != 0 {
			t.Errorf("help came with a file: %s", c)
		}
		if (c.Method == "PATCH" && reOriginal.MatchString(c.Path)) || (c.Method == "POST" && reFollowup.MatchString(c.Path)) {
			content := c.str("content")
			if n := utf8.RuneCountInString(content); n > maxContent {
				t.Errorf("a message of %d characters, over Discord's %d", n, maxContent)
			}
			parts = append(parts, content)
		}
	}
	if len(parts) < 2 {
		t.Fatalf("help in %d messages, want it split in several:\n%s", len(parts), describe(calls))
	}
	var got strings.Builder
	for _, p := range parts {
		p = strings.TrimSuffix(strings.TrimPrefix(p, "```\n"), "\n```")
		got.WriteString(p + "\n")
	}
	if strings.TrimSpace(got.String()) != strings.TrimSpace(help) {
		t.Errorf("the parts do not give back the help:\n%s\nwant:\n%s", got.String(), help)
	}
	if left := standing(calls, "itok-help"); len(left) != len(parts) {
		t.Errorf("%d of %d parts are in the channel", len(left), len(parts))
	}
}

// TestVeryLongOutputIsStillAttached: text beyond a few messages goes as
// a file, whole.
func TestVeryLongOutputIsStillAttached(t *testing.T) {
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	text := strings.Repeat("a line of some long output, for the test\n", 400)
	b := newBot(t, fd, handlerFunc(func(ctx context.Context, _ commands.Request, r commands.Responder) (*provision.Task, error) {
		return nil, r.Long(ctx, "output", text)
	}), logs)
	b.handleInteraction(context.Background(), slash(t, "623456789012345692", "itok-huge", ana, "help"))
	calls := fd.snapshot()
	if len(calls) != 2 || len(calls[1].Files) != 1 {
		t.Fatalf("calls:\n%s", describe(calls))
	}
	for _, f := range calls[1].Files {
		if f != text {
			t.Errorf("the file holds %d bytes, want %d", len(f), len(text))
		}
	}
}

// TestAPrivateFileIsAnEphemeralAttachment: an export (audit's CSV)
// reaches the requester alone, as the attachment of an ephemeral
// followup, whole.
func TestAPrivateFileIsAnEphemeralAttachment(t *testing.T) {
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	csv := "at,platform\n" + strings.Repeat("2026-12-07T03:04:05Z,discord\n", 300)
	b := newBot(t, fd, handlerFunc(func(ctx context.Context, _ commands.Request, r commands.Responder) (*provision.Task, error) {
		return nil, r.PrivateFile(ctx, "odoobot-audit.csv", csv)
	}), logs)
	b.handleInteraction(context.Background(), slash(t, "623456789012345693", "itok-file", ana, "help"))
	var sent []apiCall
	for _, c := range fd.snapshot() {
		if len(c.Files) > 0 {
			sent = append(sent, c)
		}
	}
	if len(sent) != 1 || !sent[0].Ephemeral() {
		t.Fatalf("calls carrying a file:\n%s", describe(sent))
	}
	for _, f := range sent[0].Files {
		if f != csv {
			t.Errorf("the file holds %d bytes, want %d", len(f), len(csv))
		}
	}
}

// TestAttachIsAPublicImage: a graph is a PNG attachment of a public
// followup, whole, with its text alternative as the message.
func TestAttachIsAPublicImage(t *testing.T) {
	fd := newFakeDiscord(t)
	png := "\x89PNG\r\n\x1a\n" + strings.Repeat("\x00\xff", 5000)
	b := newBot(t, fd, handlerFunc(func(ctx context.Context, _ commands.Request, r commands.Responder) (*provision.Task, error) {
		if err := r.Reply(ctx, "acme  running"); err != nil {
			return nil, err
		}
		return nil, r.Attach(ctx, "acme-24h.png", []byte(png), "acme: the last 24 hours")
	}), &bottest.LogBuffer{})
	b.handleInteraction(context.Background(), slash(t, "623456789012345694", "itok-graph", ana, "help"))
	var sent []apiCall
	for _, c := range fd.snapshot() {
		if len(c.Files) > 0 {
			sent = append(sent, c)
		}
	}
	if len(sent) != 1 || sent[0].Ephemeral() || sent[0].Files["acme-24h.png"] != png || !strings.Contains(sent[0].Str("content"), "acme: the last 24 hours") {
		t.Fatalf("calls carrying a file, want one public acme-24h.png with its text:\n%s", describe(sent))
	}
}
