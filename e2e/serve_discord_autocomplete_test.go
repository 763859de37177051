package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"odoobot/bot/discord/discordtest"
	"odoobot/internal/app"
)

// TestServeDiscordAutocomplete runs `odoobot serve` against the Discord
// test double with one real instance and one real backup of it. The
// registered /odoo (accepted by the double, which refuses what Discord
// refuses) marks the options naming an instance, a backup or a mode as
// autocomplete. As users type, each autocomplete interaction (type 4) is
// answered with an APPLICATION_COMMAND_AUTOCOMPLETE_RESULT (type 8)
// within Discord's 3 s: the admin typing the start of the name in
// restore is offered the instance, typing elsewhere nothing, the
// backup's field of restore offers the instance's backup, create's mode
// the modes typed; a viewer is offered the name for status but nothing
// for restore, an admin verb, and a stranger nothing at all. No
// suggestion is audited, and the command typed with the picked values
// (a viewer's backups NAME) is answered as before.
func TestServeDiscordAutocomplete(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	name := uniqueName(t, "pick")
	createReady(t, ctx, a, name)
	backup := backupNow(t, ctx, a, name)

	s := discordtest.New(t, discordtest.Options{AppID: discordApp, Channel: discordChannel})
	bot := startServe(t, discordServeEnv(env, s, writeDiscordAllowlist(t, env)))
	registered := func(c discordtest.Call) bool {
		return c.Method == "PUT" && c.Path == "/applications/"+discordApp+"/guilds/"+discordGuild+"/commands"
	}
	waitDiscord(t, s, bot, time.Minute, "/odoo registered in the guild", func() bool { _, ok := callOf(s, registered); return ok })
	reg, _ := callOf(s, registered)
	if reg.Status != 200 {
		t.Fatalf("the double refused /odoo as Discord would (%d): %s", reg.Status, reg.Body)
	}
	if auto := autocompleteOptions(t, reg.Body); !auto["restore name"] || !auto["restore backup"] || !auto["create mode"] || auto["create name"] {
		t.Errorf("registered autocomplete options: %v; want restore's name and backup and create's mode, not create's new name", auto)
	}

	where := discordtest.Where{Guild: discordGuild, Channel: discordChannel}
	admin := discordtest.Member{ID: discordAdmin, Name: "ana"}
	viewer := discordtest.Member{ID: discordViewer, Name: "vic", Roles: []string{discordViewerRole}}
	stranger := discordtest.Member{ID: "713000000000000099", Name: "eve"}
	n := 0
	var slowest time.Duration
	ask := func(m discordtest.Member, sub, focus string, opts ...any) []string {
		t.Helper()
		n++
		token := fmt.Sprintf("e2e-token-auto-%d", n)
		sent := time.Now()
		s.Gateway.DeliverInteraction(s.Autocomplete(where, fmt.Sprintf("7130000000000020%02d", n), token, m, "odoo", sub, focus, opts...))
		var cb discordtest.Call
		waitDiscord(t, s, bot, 10*time.Second, "the autocomplete result of "+sub+" "+focus, func() bool {
			var ok bool
			cb, ok = callOf(s, func(c discordtest.Call) bool { return c.Method == "POST" && forToken(c, token) })
			return ok
		})
		if cb.CallbackType() != discordtest.CallbackAutocompleteResult {
			t.Errorf("%s %s: callback type %d, want 8 (APPLICATION_COMMAND_AUTOCOMPLETE_RESULT)", sub, focus, cb.CallbackType())
		}
		took := cb.At.Sub(sent)
		if took > 3*time.Second {
			t.Errorf("%s %s: the result came %s after the interaction; Discord drops it after 3 s", sub, focus, took)
		}
		slowest = max(slowest, took)
		out := []string{}
		for _, c := range cb.Choices() {
			out = append(out, fmt.Sprint(c.Value))
		}
		return out
	}
	same := func(what string, got []string, want ...string) {
		t.Helper()
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: offered %q, want %q", what, got, want)
		}
	}

	same("the admin typing "+name[:3]+" in restore", ask(admin, "restore", "name", "name", name[:3]), name)
	same("the admin typing "+strings.ToUpper(name[:6])+" in delete", ask(admin, "admin delete", "name", "name", strings.ToUpper(name[:6])), name)
	same("the admin typing zz in status", ask(admin, "status", "name", "name", "zz"))
	same("restore's backup of "+name, ask(admin, "restore", "backup", "name", name, "backup", ""), backup.ID)
	same("restore's backup typed 1999", ask(admin, "restore", "backup", "name", name, "backup", "1999"))
	same("create's mode typed h", ask(admin, "create", "mode", "name", "shop", "mode", "h"), "http")
	same("a viewer typing in status", ask(viewer, "status", "name", "name", ""), name)
	same("a viewer typing in restore", ask(viewer, "restore", "name", "name", ""))
	same("a viewer typing restore's backup", ask(viewer, "restore", "backup", "name", name, "backup", ""))
	same("a stranger typing in status", ask(stranger, "status", "name", "name", ""))

	t.Logf("%d autocompletes, the slowest result %s after its interaction", n, slowest)

	// The command typed with the values picked is answered as before.
	const backupsToken = "e2e-token-backups"
	s.Gateway.DeliverInteraction(s.Slash(where, "713000000000002101", backupsToken, viewer, "odoo", "backups", "name", name))
	waitDiscord(t, s, bot, 30*time.Second, "the answer to backups "+name+" naming its backup", func() bool {
		for _, c := range s.Calls() {
			if forToken(c, backupsToken) && strings.Contains(c.Str("content"), backup.ID) {
				return true
			}
		}
		return false
	})

	entries, err := a.Store.Audit(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var fromDiscord []string
	for _, e := range entries {
		if e.Platform == "discord" {
			fromDiscord = append(fromDiscord, e.Command)
		}
	}
	if len(fromDiscord) != 1 || !strings.HasPrefix(fromDiscord[0], "backups") {
		t.Errorf("audited from Discord: %q; want the typed backups alone, no suggestion", fromDiscord)
	}
	t.Logf("messages:\n%s", discordTranscript(s))
	bot.stop(t)
	if strings.Contains(s.Everything(), discordBotToken) || strings.Contains(bot.out.String(), discordBotToken) {
		t.Error("the bot token left the Authorization header (in a request, or in odoobot's output)")
	}
}

// autocompleteOptions are the options of the registered /odoo that
// autocomplete, as "SUBCOMMAND OPTION".
func autocompleteOptions(t *testing.T, body []byte) map[string]bool {
	t.Helper()
	type option struct {
		Name         string   `json:"name"`
		Autocomplete bool     `json:"autocomplete"`
		Options      []option `json:"options"`
	}
	var cmds []option
	if err := json.Unmarshal(body, &cmds); err != nil || len(cmds) != 1 {
		t.Fatalf("the registered commands: %v: %s", err, body)
	}
	out := map[string]bool{}
	for _, sub := range cmds[0].Options {
		for _, o := range sub.Options {
			if o.Autocomplete {
				out[sub.Name+" "+o.Name] = true
			}
		}
	}
	return out
}
