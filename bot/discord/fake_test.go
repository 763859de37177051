package discord

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"odoobot/bot/bottest"
	"odoobot/bot/discord/discordtest"
	"odoobot/commands"
	"odoobot/provision"
)

// Test identifiers: snowflakes as Discord sends them, and a bot token
// shaped like a real one so that a leak is visible.
const (
	testToken   = "MTExMTExMTExMTExMTExMTEx.GaBcDe.tokenSECRETvalueXYZ0123456789abcdefg"
	testApp     = "123456789012345678"
	testGuild   = "223456789012345678"
	testChannel = "323456789012345678"
	adminID     = "112233445566778899"
	viewerRole  = "998877665544332211"
	opRole      = "887766554433221100"
	dmChannel   = "523456789012345678"
)

const allowlistText = `
admin   discord user 112233445566778899
viewer  discord role 998877665544332211
operator discord role 887766554433221100
`

// apiCall is one REST request as the test double saw it.
type apiCall struct{ discordtest.Call }

func (c apiCall) str(key string) string { return c.Str(key) }
func (c apiCall) flags() int            { return c.Flags() }

// fakeDiscord is the Discord test double (discordtest) with the test
// guild's IDs, as the tests of this package use it.
type fakeDiscord struct {
	*discordtest.Server
	gw *discordtest.Gateway
}

func newFakeDiscord(t testing.TB) *fakeDiscord {
	t.Helper()
	s := discordtest.New(t, discordtest.Options{AppID: testApp, Channel: testChannel, DMChannel: dmChannel})
	return &fakeDiscord{Server: s, gw: s.Gateway}
}

func (fd *fakeDiscord) apiURL() string { return fd.APIURL() }

// The REST paths, as discordtest names them.
var (
	reCallback = discordtest.Callback
	reOriginal = discordtest.Original
	reFollowup = discordtest.Followup
	reThread   = discordtest.ThreadStart
	rePost     = discordtest.ChannelPost
	reEdit     = discordtest.ChannelEdit
	reCommands = discordtest.Commands
)

// dropConnection, given to failTimes as the code, closes the connection
// without an answer.
const dropConnection = discordtest.DropConnection

func (fd *fakeDiscord) fail(pattern string, code int)         { fd.Fail(pattern, code) }
func (fd *fakeDiscord) failTimes(pattern string, code, n int) { fd.FailTimes(pattern, code, n) }
func (fd *fakeDiscord) everything() string                    { return fd.Everything() }
func (fd *fakeDiscord) original(token string) string          { return fd.OriginalMessage(token) }

func (fd *fakeDiscord) snapshot() []apiCall { return wrapCalls(fd.Calls()) }

// waitFor waits until some recorded call satisfies ok, and returns the
// calls so far.
func (fd *fakeDiscord) waitFor(t testing.TB, what string, ok func(apiCall) bool) []apiCall {
	t.Helper()
	return wrapCalls(fd.WaitFor(t, what, 5*time.Second, func(c discordtest.Call) bool { return ok(apiCall{c}) }))
}

func wrapCalls(calls []discordtest.Call) []apiCall {
	out := make([]apiCall, len(calls))
	for i, c := range calls {
		out[i] = apiCall{c}
	}
	return out
}

func describe(calls []apiCall) string {
	var b strings.Builder
	for _, c := range calls {
		b.WriteString("  " + c.String() + "\n")
	}
	return b.String()
}

// newCreator is the creation double of this package's tests: one
// worker, steps of 10 ms.
func newCreator(t testing.TB, names ...provision.StepName) *bottest.Creator {
	t.Helper()
	return bottest.NewCreator(t, 1, 10*time.Millisecond, names...)
}

// fakeInstances is a provision.InstanceLookup holding fixed instances.
type fakeInstances []provision.Instance

func (f fakeInstances) Instance(_ context.Context, name string) (provision.Instance, error) {
	for _, i := range f {
		if i.Name == name {
			return i, nil
		}
	}
	return provision.Instance{}, provision.ErrInstanceNotFound
}
func (f fakeInstances) Instances(context.Context) ([]provision.Instance, error) { return f, nil }
func (f fakeInstances) ActiveJob(context.Context, string) (provision.Job, bool, error) {
	return provision.Job{}, false, nil
}

// newDispatcher is the real dispatcher with the test allowlist.
func newDispatcher(t testing.TB, c commands.Creator, op *provision.Operator, audit commands.Auditor) *commands.Dispatcher {
	t.Helper()
	al, err := commands.ParseAllowlist(strings.NewReader(allowlistText), "allowlist")
	if err != nil {
		t.Fatal(err)
	}
	return &commands.Dispatcher{
		Allowlist: al, Auditor: audit, Rules: provision.NameRules{Zone: "example.com"}, Mode: provision.SSLHTTP,
		Creator: c, Operator: op,
		Summary: func(context.Context, string) string { return "name: acme\nurl: http://acme.example.com" },
	}
}

// member is who sends an interaction in a guild.
type member = discordtest.Member

// slash is an /odoo interaction as the gateway delivers it, decoded by
// discordgo. opts are name, value pairs; a value is a string or an int.
func slash(t testing.TB, id, token string, m member, sub string, opts ...any) *discordgo.InteractionCreate {
	t.Helper()
	return decode(t, interactionJSON(id, token, discordtest.InteractionApplicationCommand, m, discordtest.CommandData("423456789012345678", "odoo", grouped(sub), opts...), nil))
}

// grouped is sub as Discord names it: "GROUP SUB" for a subcommand of a
// group (/odoo admin delete), sub itself otherwise.
func grouped(sub string) string {
	for _, sc := range subcommands {
		if string(sc.verb) == sub && sc.group != "" {
			return sc.group + " " + sub
		}
	}
	return sub
}

// typing is an autocomplete interaction (type 4) of /odoo sub, as
// Discord sends it while m types in option focus: opts are the options
// filled so far, name, value pairs (see discordtest.AutocompleteData).
func typing(t testing.TB, id, token string, m member, sub, focus string, opts ...any) *discordgo.InteractionCreate {
	t.Helper()
	return decode(t, interactionJSON(id, token, discordtest.InteractionApplicationCommandAutocomplete, m, discordtest.AutocompleteData("423456789012345678", "odoo", grouped(sub), focus, opts...), nil))
}

// click is a click on a button of an ephemeral message.
func click(t testing.TB, id, token string, m member, customID string) *discordgo.InteractionCreate {
	t.Helper()
	msg := map[string]any{"id": "523456789012345678", "channel_id": testChannel, "content": "⚠ delete prod-acme", "flags": 64}
	return decode(t, interactionJSON(id, token, discordtest.InteractionMessageComponent, m, discordtest.ButtonData(customID), msg))
}

func interactionJSON(id, token string, typ int, m member, data, msg map[string]any) map[string]any {
	return discordtest.Interaction(testApp, discordtest.Where{Guild: testGuild, Channel: testChannel}, id, token, typ, m, data, msg)
}

func decode(t testing.TB, v map[string]any) *discordgo.InteractionCreate {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var ic discordgo.InteractionCreate
	if err := json.Unmarshal(b, &ic); err != nil {
		t.Fatal(err)
	}
	return &ic
}

// newBot is a Bot talking to fd, logging at debug level into logs.
func newBot(t testing.TB, fd *fakeDiscord, h Handler, logs *bottest.LogBuffer) *Bot {
	t.Helper()
	b, err := New(Config{Token: testToken, AppID: testApp, GuildID: testGuild, APIURL: fd.apiURL(), Handler: h,
		Logger: slogJSON(logs)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
