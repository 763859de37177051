package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"odoobot/bot/discord/discordtest"
	"odoobot/internal/app"
	"odoobot/provision"
)

// The TestServeDiscord test runs the odoobot binary's `serve` against the Discord
// test double (bot/discord/discordtest): its gateway dispatches the
// interactions as Discord does, and what the bot sends is read back
// from the REST calls it made.

// A fake bot token, shaped like a real one so that a leak is visible.
const discordBotToken = "MTMxMzEzMTMxMzEzMTMxMzEz.GeEeEe.e2eDISCORDsecretVALUE0123456789ab"

// The fake guild: an admin on the allowlist by user ID, a viewer by
// role, and the channel both type in.
const (
	discordApp        = "713000000000000001"
	discordGuild      = "713000000000000002"
	discordChannel    = "713000000000000003"
	discordAdmin      = "713000000000000010"
	discordViewer     = "713000000000000011"
	discordViewerRole = "713000000000000020"
)

// discordServeEnv is the environment of `odoobot serve` against s: the
// test's own, its overrides, the Discord settings and the allowlist, and
// no Slack.
func discordServeEnv(env *createEnv, s *discordtest.Server, allowlist string) []string {
	out := os.Environ()
	for k, v := range env.overrides {
		out = append(out, k+"="+v)
	}
	return append(out,
		"DISCORD_BOT_TOKEN="+discordBotToken, "DISCORD_APP_ID="+discordApp, "DISCORD_GUILD_ID="+discordGuild,
		"DISCORD_API_URL="+s.APIURL(), "ALLOWLIST_FILE="+allowlist,
		"SLACK_BOT_TOKEN=", "SLACK_APP_TOKEN=", "SLACK_ALERT_CHANNEL=", "DISCORD_ALERT_CHANNEL=", "ODOOBOT_FAIL_AT=",
	)
}

// writeDiscordAllowlist grants admin to discordAdmin and viewer to
// discordViewerRole, in a file under the test's directory.
func writeDiscordAllowlist(t *testing.T, env *createEnv) string {
	t.Helper()
	path := filepath.Join(env.root, "allowlist")
	text := "# role  platform  kind  id\nadmin   discord   user  " + discordAdmin + "\nviewer  discord   role  " + discordViewerRole + "\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// discordTranscript is every message call the bot made, one a line, for
// failure messages.
func discordTranscript(s *discordtest.Server) string {
	var b strings.Builder
	for _, c := range s.Calls() {
		if c.Method == "GET" || discordtest.Commands.MatchString(c.Path) {
			continue
		}
		content := passwordLine.ReplaceAllString(c.Str("content"), "${1}[not shown]")
		fmt.Fprintf(&b, "%s %s ephemeral=%v type=%d: %q %v\n", c.Method, redactToken(c.Path), c.Ephemeral(), c.CallbackType(), content, c.CustomIDs())
	}
	return b.String()
}

// passwordLine is the password's line of the admin password message,
// kept out of the test's output.
var passwordLine = regexp.MustCompile(`(password:\s+)\S+`)

var interactionToken = regexp.MustCompile(`/(interactions/[0-9]+|webhooks/[0-9]+)/([^/]+)`)

// redactToken keeps interaction tokens (test strings here) short in a
// transcript.
func redactToken(path string) string {
	return interactionToken.ReplaceAllString(path, "/$1/<$2>")
}

// waitDiscord polls cond until it holds, or fails the test with what the
// double saw and odoobot printed; a serve that exits ends the wait.
func waitDiscord(t *testing.T, s *discordtest.Server, bot *servedBot, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !waitFor(timeout, func() bool {
		if done, _ := bot.wait(0); done {
			return true
		}
		return cond()
	}) || !cond() {
		t.Fatalf("timed out after %v waiting for %s (serve exited: %v)\nmessages:\n%s\nodoobot output:\n%s", timeout, what, bot.done, discordTranscript(s), bot.out.String())
	}
}

// callOf is the first call that satisfies ok, and whether there is one.
func callOf(s *discordtest.Server, ok func(discordtest.Call) bool) (discordtest.Call, bool) {
	for _, c := range s.Calls() {
		if ok(c) {
			return c, true
		}
	}
	return discordtest.Call{}, false
}

// forToken reports whether c is a call through the interaction token
// token: its callback, an edit of its original response or a followup.
func forToken(c discordtest.Call, token string) bool {
	for _, re := range []*regexp.Regexp{discordtest.Callback, discordtest.Original, discordtest.Followup} {
		if m := re.FindStringSubmatch(c.Path); m != nil && m[1] == token {
			return true
		}
	}
	return false
}

// TestServeDiscord runs `odoobot serve` against the Discord test double,
// with no Slack: an admin's `/odoo create NAME http` is deferred in the
// channel, its steps go to a thread started on the answer, whose edit
// ends saying the instance is ready, with the summary in the thread; the
// admin password reaches the requester only in an ephemeral followup; a
// viewer's create is refused in an ephemeral answer and leaves no
// public trace; the requester's click on the confirmation button of
// delete removes the instance. The token never leaves the Authorization
// header.
func TestServeDiscord(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	name := uniqueName(t, "discord")
	destroyLater(t, a, name)
	refusedName := uniqueName(t, "discordno")
	destroyLater(t, a, refusedName)
	inst := a.Config.Layout().NewInstance(name, provision.SSLHTTP)
	domain := name + "." + a.Config.Zone()

	s := discordtest.New(t, discordtest.Options{AppID: discordApp, Channel: discordChannel})
	bot := startServe(t, discordServeEnv(env, s, writeDiscordAllowlist(t, env)))
	waitDiscord(t, s, bot, time.Minute, "/odoo registered in the guild", func() bool {
		_, ok := callOf(s, func(c discordtest.Call) bool {
			return c.Method == "PUT" && c.Path == "/applications/"+discordApp+"/guilds/"+discordGuild+"/commands"
		})
		return ok
	})
	if len(s.Gateway.Identifies()) == 0 {
		t.Fatalf("odoobot registered /odoo without identifying on the gateway\noutput:\n%s", bot.out.String())
	}
	where := discordtest.Where{Guild: discordGuild, Channel: discordChannel}
	admin := discordtest.Member{ID: discordAdmin, Name: "ana"}
	viewer := discordtest.Member{ID: discordViewer, Name: "vic", Roles: []string{discordViewerRole}}

	// The admin's create.
	const createToken = "e2e-token-create"
	s.Gateway.DeliverInteraction(s.Slash(where, "713000000000001001", createToken, admin, "odoo", "create", "name", name, "mode", "http"))
	var ack discordtest.Call
	waitDiscord(t, s, bot, 30*time.Second, "the create's acknowledgement", func() bool {
		var ok bool
		ack, ok = callOf(s, func(c discordtest.Call) bool { return c.Method == "POST" && forToken(c, createToken) })
		return ok
	})
	if ack.CallbackType() != 5 || ack.Ephemeral() {
		t.Errorf("the create was acknowledged with type %d, ephemeral %v; want a public deferred message (5)", ack.CallbackType(), ack.Ephemeral())
	}
	var rootCall discordtest.Call
	waitDiscord(t, s, bot, 30*time.Second, "the answer naming the creation", func() bool {
		var ok bool
		rootCall, ok = callOf(s, func(c discordtest.Call) bool {
			return c.Method == "PATCH" && discordtest.Original.MatchString(c.Path) && forToken(c, createToken) && strings.Contains(c.Str("content"), inst.Internal)
		})
		return ok
	})
	for _, w := range []string{"creating " + inst.Internal, domain, "http", "asked by ana"} {
		if !strings.Contains(rootCall.Str("content"), w) {
			t.Errorf("the answer %q lacks %q", rootCall.Str("content"), w)
		}
	}
	root := rootCall.Message
	var threadCall discordtest.Call
	waitDiscord(t, s, bot, 30*time.Second, "a thread started on the answer", func() bool {
		var ok bool
		threadCall, ok = callOf(s, func(c discordtest.Call) bool {
			m := discordtest.ThreadStart.FindStringSubmatch(c.Path)
			return c.Method == "POST" && m != nil && m[1] == discordChannel && m[2] == root
		})
		return ok
	})
	thread := threadCall.Channel

	final := "✅ created " + inst.Internal
	var finalText string
	waitDiscord(t, s, bot, 5*time.Minute, "the answer edited to "+final, func() bool {
		for _, c := range s.Calls() {
			m := discordtest.ChannelEdit.FindStringSubmatch(c.Path)
			if c.Method == "PATCH" && m != nil && m[1] == discordChannel && m[2] == root {
				finalText = c.Str("content")
				return true
			}
		}
		return false
	})
	if !strings.HasPrefix(finalText, final) || !strings.Contains(finalText, "http://"+domain) {
		t.Fatalf("the answer ended as %q, want %q… http://%s\nmessages:\n%s\ncreation log:\n%s",
			finalText, final, domain, discordTranscript(s), readFile(a.Config.Layout().Paths(inst).CreateLog))
	}
	inThread := func() string {
		var b strings.Builder
		for _, c := range s.Calls() {
			post := discordtest.ChannelPost.FindStringSubmatch(c.Path)
			edit := discordtest.ChannelEdit.FindStringSubmatch(c.Path)
			if post != nil && post[1] == thread || edit != nil && edit[1] == thread {
				b.WriteString(c.Str("content") + "\n")
			}
		}
		return b.String()
	}
	waitDiscord(t, s, bot, 30*time.Second, "the summary in the thread", func() bool {
		return strings.Contains(inThread(), "Odoo instance "+inst.Internal)
	})
	lines := inThread()
	for _, w := range []string{"http://" + domain, "SSL mode:"} {
		if !strings.Contains(lines, w) {
			t.Errorf("the thread's summary lacks %q:\n%s", w, lines)
		}
	}
	for _, step := range provision.StepNames(provision.SSLHTTP, provision.PlanOptions{}) {
		if !strings.Contains(lines, "✓ "+string(step)) {
			t.Errorf("the thread lacks the line of step %s:\n%s", step, lines)
		}
	}

	// The admin password: one ephemeral followup to the requester, and
	// nowhere else.
	var secret discordtest.Call
	waitDiscord(t, s, bot, 30*time.Second, "the admin password in an ephemeral followup", func() bool {
		var ok bool
		secret, ok = callOf(s, func(c discordtest.Call) bool {
			return c.Method == "POST" && discordtest.Followup.MatchString(c.Path) && forToken(c, createToken) && strings.Contains(c.Str("content"), "password:")
		})
		return ok
	})
	if !secret.Ephemeral() {
		t.Errorf("the admin password went in a followup everyone sees (flags %d)", secret.Flags())
	}
	password := passwordLine.FindStringSubmatch(secret.Str("content"))
	if password == nil || len(password[0])-len(password[1]) < 12 {
		t.Fatalf("the password message holds no password: %q", passwordLine.ReplaceAllString(secret.Str("content"), "${1}[not shown]"))
	}
	pw := strings.TrimPrefix(password[0], password[1])
	for _, c := range s.Calls() {
		if c.Message != secret.Message && strings.Contains(string(c.Body), pw) {
			t.Errorf("the admin password was sent in %s %s (ephemeral %v)", c.Method, redactToken(c.Path), c.Ephemeral())
		}
	}
	stored, err := a.Store.Instance(ctx, name)
	if err != nil {
		t.Fatalf("the store after the creation: %v", err)
	}
	if stored.State != provision.StateReady || stored.Domain != domain {
		t.Errorf("the store has %s as %s at %s, want ready at %s", name, stored.State, stored.Domain, domain)
	}
	requireAnswers(t, ctx, stored)

	// A viewer's create: refused in an ephemeral answer.
	const refusedToken = "e2e-token-viewer"
	s.Gateway.DeliverInteraction(s.Slash(where, "713000000000001002", refusedToken, viewer, "odoo", "create", "name", refusedName, "mode", "http"))
	var refusal discordtest.Call
	waitDiscord(t, s, bot, 30*time.Second, "the viewer's refusal", func() bool {
		var ok bool
		refusal, ok = callOf(s, func(c discordtest.Call) bool { return c.Method == "PATCH" && forToken(c, refusedToken) })
		return ok
	})
	if want := "need role admin to run create; you have viewer"; !strings.Contains(refusal.Str("content"), want) {
		t.Errorf("the refusal says %q, want %q", refusal.Str("content"), want)
	}

	// The delete, confirmed by the requester's click.
	const deleteToken, clickToken = "e2e-token-delete", "e2e-token-confirm"
	s.Gateway.DeliverInteraction(s.Slash(where, "713000000000001003", deleteToken, admin, "odoo", "admin delete", "name", name))
	var prompt discordtest.Call
	waitDiscord(t, s, bot, 30*time.Second, "the delete's confirmation button", func() bool {
		var ok bool
		prompt, ok = callOf(s, func(c discordtest.Call) bool {
			return c.Method == "PATCH" && forToken(c, deleteToken) && len(c.CustomIDs()) > 0
		})
		return ok
	})
	if cb, _ := callOf(s, func(c discordtest.Call) bool { return c.Method == "POST" && forToken(c, deleteToken) }); !cb.Ephemeral() {
		t.Errorf("the delete was acknowledged publicly; its prompt is for the requester alone")
	}
	if !strings.Contains(prompt.Str("content"), "delete "+inst.Internal) {
		t.Errorf("the prompt %q does not name the delete of %s", prompt.Str("content"), inst.Internal)
	}
	s.Gateway.DeliverInteraction(s.Click(where, "713000000000001004", clickToken, admin, prompt.CustomIDs()[0], map[string]any{
		"id": prompt.Message, "channel_id": discordChannel, "content": prompt.Str("content"), "flags": discordtest.MessageFlagEphemeral,
	}))
	var deleted string
	waitDiscord(t, s, bot, 3*time.Minute, "the delete's answer edited to its end", func() bool {
		for _, c := range s.Calls() {
			if c.Method == "PATCH" && discordtest.ChannelEdit.MatchString(c.Path) && strings.Contains(c.Str("content"), "deleted "+inst.Internal) {
				deleted = c.Str("content")
				return true
			}
			if c.Method == "PATCH" && strings.Contains(c.Str("content"), "❌ deleting "+inst.Internal) {
				deleted = c.Str("content")
				return true
			}
		}
		return false
	})
	if !strings.HasPrefix(deleted, "🗑 deleted "+inst.Internal) {
		t.Errorf("the delete ended as %q\nmessages:\n%s", deleted, discordTranscript(s))
	}
	if cb, ok := callOf(s, func(c discordtest.Call) bool { return c.Method == "POST" && forToken(c, clickToken) }); !ok || cb.CallbackType() != 6 {
		t.Errorf("the click was acknowledged with type %d, want a deferred update (6)", cb.CallbackType())
	}
	edit, _ := callOf(s, func(c discordtest.Call) bool { return c.Method == "PATCH" && forToken(c, clickToken) })
	if components, ok := edit.JSON["components"].([]any); !ok || len(components) != 0 || !strings.Contains(edit.Str("content"), "confirmation sent") {
		t.Errorf("after the click the prompt became %q with components %v; want the button removed and the confirmation said", edit.Str("content"), edit.JSON["components"])
	}
	requireGone(t, ctx, a, name)

	// The viewer's refusal left no public trace, and made nothing.
	for _, c := range s.Calls() {
		if forToken(c, refusedToken) && (c.Method == "POST" || c.Method == "PATCH") && !c.Ephemeral() && !discordtest.Original.MatchString(c.Path) {
			t.Errorf("the viewer's refused create was answered publicly: %s %s", c.Method, redactToken(c.Path))
		}
		if !forToken(c, refusedToken) && strings.Contains(string(c.Body), refusedName) {
			t.Errorf("the viewer's refused create shows in %s %s: %q", c.Method, redactToken(c.Path), c.Str("content"))
		}
	}
	if cb, _ := callOf(s, func(c discordtest.Call) bool { return c.Method == "POST" && forToken(c, refusedToken) }); !cb.Ephemeral() {
		t.Errorf("the viewer's create was deferred publicly: its \"thinking…\" showed in the channel")
	}
	if _, err := a.Store.Instance(ctx, refusedName); !errors.Is(err, provision.ErrInstanceNotFound) {
		t.Errorf("the viewer's refused create left %s in the store (%v)", refusedName, err)
	}

	t.Logf("messages:\n%s", discordTranscript(s))
	bot.stop(t)
	output := bot.out.String()
	if strings.Contains(s.Everything(), discordBotToken) || strings.Contains(output, discordBotToken) {
		t.Error("the bot token left the Authorization header (in a request, or in odoobot's output)")
	}
	if strings.Contains(output, pw) {
		t.Error("the admin password shows in odoobot's output")
	}
	for _, c := range s.Calls() {
		if c.Auth != "Bot "+discordBotToken {
			t.Errorf("%s %s: the Authorization header is not the bot token", c.Method, redactToken(c.Path))
		}
	}
}
