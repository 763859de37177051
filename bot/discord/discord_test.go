package discord

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bwmarrin/discordgo"
	"github.com/google/go-cmp/cmp"

	"odoobot/bot/bottest"
	"odoobot/commands"
	"odoobot/provision"
	"odoobot/provision/tree"
)

func slogJSON(l *bottest.LogBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// checkSecrets fails when the bot token went anywhere but the
// Authorization header ("Bot <token>") of a request, or into a log.
func checkSecrets(t *testing.T, fd *fakeDiscord, logs *bottest.LogBuffer) {
	t.Helper()
	for _, c := range fd.snapshot() {
		if c.Auth != "Bot "+testToken {
			t.Errorf("%s %s: Authorization = %q, want the bot token", c.Method, c.Path, c.Auth)
		}
	}
	if strings.Contains(fd.everything(), testToken) || strings.Contains(fd.everything(), "tokenSECRET") {
		t.Error("the bot token was sent outside the Authorization header")
	}
	if strings.Contains(logs.String(), "tokenSECRET") {
		t.Errorf("the bot token was logged:\n%s", logs.String())
	}
}

// shape is a call as "METHOD path", with IDs named.
func shape(c apiCall, names map[string]string) string {
	p := c.Path
	for id, name := range names {
		p = strings.ReplaceAll(p, id, name)
	}
	return c.Method + " " + p
}

var ana = member{ID: adminID, Name: "ana"}

func TestCreateOpensAThreadAndReportsThroughTheBotToken(t *testing.T) {
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	c := newCreator(t, "database", "files", "unit")
	b := newBot(t, fd, newDispatcher(t, c, nil, nil), logs)

	b.handleInteraction(context.Background(), slash(t, "623456789012345678", "itok-create", ana, "create", "name", "acme", "mode", "http"))
	isSummary := func(c apiCall) bool {
		return c.Method == "POST" && rePost.MatchString(c.Path) && strings.Contains(c.str("content"), "url: http://acme.example.com")
	}
	calls := fd.waitFor(t, "summary in the thread", isSummary)

	if len(calls) < 3 {
		t.Fatalf("calls:\n%s", describe(calls))
	}
	root := fd.original("itok-create")
	var thread string
	for _, c := range calls {
		if m := rePost.FindStringSubmatch(c.Path); m != nil && m[1] != testChannel {
			thread = m[1]
			break
		}
	}
	if thread == "" {
		t.Fatalf("nothing was posted in a thread:\n%s", describe(calls))
	}
	names := map[string]string{root: "{root}", thread: "{thread}", testApp: "{app}", testChannel: "{channel}"}

	// The acknowledgement, the root, the thread; then lines; then the
	// final root edit and the summary.
	var got []string
	var lines []string
	for _, c := range calls {
		s := shape(c, names)
		if s == "POST /channels/{thread}/messages" && !isSummary(c) {
			lines = append(lines, c.str("content"))
			if len(got) == 0 || got[len(got)-1] != "lines" {
				got = append(got, "lines")
			}
			continue
		}
		got = append(got, s)
	}
	want := []string{
		"POST /interactions/623456789012345678/itok-create/callback",
		"PATCH /webhooks/{app}/itok-create/messages/@original",
		"POST /channels/{channel}/messages/{root}/threads",
		"lines",
		"PATCH /channels/{channel}/messages/{root}",
		"POST /channels/{thread}/messages",
	}
	if d := cmp.Diff(got, want); d != "" {
		t.Fatalf("calls (-got +want):\n%s\n%s", d, describe(calls))
	}
	if typ := calls[0].JSON["type"]; typ != float64(5) {
		t.Errorf("callback type = %v, want 5 (deferred channel message)", typ)
	}
	rootText := "creating prod-acme → acme.example.com (http), asked by ana"
	if got := calls[1].str("content"); got != rootText {
		t.Errorf("root = %q, want %q", got, rootText)
	}
	if got := calls[2].str("name"); got != rootText {
		t.Errorf("thread name = %q, want %q", got, rootText)
	}
	for _, step := range []string{"database", "files", "unit"} {
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "✓ "+step) }) {
			t.Errorf("no line says %s is done; lines:\n%s", step, strings.Join(lines, "\n"))
		}
	}
	final := calls[len(calls)-2]
	if got, want := final.str("content"), "✅ created prod-acme → http://acme.example.com, asked by ana"; got != want {
		t.Errorf("final root = %q, want %q", got, want)
	}
	if got := calls[len(calls)-1].str("content"); !strings.Contains(got, "name: acme") {
		t.Errorf("summary = %q", got)
	}
	reqs := c.Requests()
	if len(reqs) != 1 || reqs[0].Name != "acme" || reqs[0].Mode != provision.SSLHTTP || reqs[0].By != "ana" {
		t.Errorf("creator requests = %+v, want one for acme, http, by ana", reqs)
	}
	checkSecrets(t, fd, logs)
}

func TestViewerRoleIsRefusedPrivately(t *testing.T) {
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	c := newCreator(t, "database")
	op := &provision.Operator{Store: fakeInstances{{Name: "acme", Domain: "acme.example.com", State: provision.StateReady}}}
	b := newBot(t, fd, newDispatcher(t, c, op, nil), logs)
	vic := member{ID: "712345678901234567", Name: "vic", Roles: []string{"111111111111111111", viewerRole}}

	b.handleInteraction(context.Background(), slash(t, "623456789012345679", "itok-refused", vic, "create", "name", "acme"))
	calls := fd.snapshot()
	var got []string
	for _, c := range calls {
		got = append(got, shape(c, map[string]string{testApp: "{app}"}))
	}
	want := []string{
		"POST /interactions/623456789012345679/itok-refused/callback",
		"PATCH /webhooks/{app}/itok-refused/messages/@original",
	}
	if d := cmp.Diff(got, want); d != "" {
		t.Fatalf("calls (-got +want):\n%s", d)
	}
	checkNothingPublic(t, calls)
	if got, want := calls[1].str("content"), "you (712345678901234567) need role admin to run create; you have viewer"; got != want {
		t.Errorf("refusal = %q, want %q", got, want)
	}
	if n := len(c.Requests()); n != 0 {
		t.Errorf("the creator was called %d times", n)
	}

	// The same role is enough to list, visibly.
	b.handleInteraction(context.Background(), slash(t, "623456789012345680", "itok-list", vic, "list"))
	calls = fd.snapshot()[2:]
	if len(calls) != 2 || calls[1].Method != "PATCH" || !strings.HasSuffix(calls[1].Path, "/itok-list/messages/@original") {
		t.Fatalf("list calls:\n%s", describe(calls))
	}
	if got := calls[1].str("content"); !strings.Contains(got, "acme.example.com") {
		t.Errorf("list = %q, want the instance", got)
	}
	checkSecrets(t, fd, logs)
}

// checkNothingPublic fails when calls show anything in the channel: a
// public deferral ("thinking…"), or a public message.
func checkNothingPublic(t *testing.T, calls []apiCall) {
	t.Helper()
	for _, c := range calls {
		switch {
		case c.Method == "POST" && reCallback.MatchString(c.Path):
			data, _ := c.JSON["data"].(map[string]any)
			if f, _ := data["flags"].(float64); c.JSON["type"] == float64(5) && f != 64 {
				t.Errorf("deferred publicly: %s", c.Body)
			}
		case c.Method == "POST" && reFollowup.MatchString(c.Path):
			if c.flags() != 64 {
				t.Errorf("public followup: %s", c.Body)
			}
		case c.Method == "POST" && rePost.MatchString(c.Path):
			t.Errorf("posted in a channel: %s", c.Body)
		}
		if strings.Contains(c.str("content"), privateNote) {
			t.Errorf("the private note shows: %s", c.Body)
		}
	}
}

func TestUnknownUserIsRefused(t *testing.T) {
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	audit := &bottest.Audit{}
	b := newBot(t, fd, newDispatcher(t, newCreator(t), nil, audit), logs)
	eve := member{ID: "812345678901234567", Name: "eve", Roles: []string{"211111111111111111"}}

	b.handleInteraction(context.Background(), slash(t, "623456789012345681", "itok-eve", eve, "restart", "name", "acme"))
	calls := fd.snapshot()
	if len(calls) != 2 {
		t.Fatalf("calls:\n%s", describe(calls))
	}
	checkNothingPublic(t, calls)
	f := calls[1]
	if got, want := f.str("content"), "you (812345678901234567) are not on the allowlist"; got != want {
		t.Errorf("refusal = %q, want %q", got, want)
	}
	entries := audit.Entries()
	if len(entries) != 1 || entries[0].UserID != eve.ID || entries[0].Platform != commands.PlatformDiscord ||
		entries[0].Decision != provision.DecisionDenied || entries[0].Command != "restart acme" {
		t.Errorf("audit = %+v", entries)
	}
	checkSecrets(t, fd, logs)
}

func TestLongLogsGoAsAFile(t *testing.T) {
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	layout := provision.Layout{Zone: "example.com", UnitPrefix: "odoo19e", ProdRoot: t.TempDir()}
	inst := layout.NewInstance("acme", provision.SSLHTTP)
	inst.State = provision.StateReady
	path := layout.Paths(inst).Log
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for n := range 300 {
		lines = append(lines, fmt.Sprintf("2025-01-01 12:00:%02d,000 4242 INFO prod-acme odoo.modules.loading: line %d of a long log", n%60, n))
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	op := &provision.Operator{Files: tree.New(layout), Store: fakeInstances{inst}, Layout: layout}
	b := newBot(t, fd, newDispatcher(t, newCreator(t), op, nil), logs)

	b.handleInteraction(context.Background(), slash(t, "623456789012345682", "itok-logs", ana, "logs", "name", "acme", "lines", 200, "share", true))
	calls := fd.snapshot()
	if len(calls) != 2 {
		t.Fatalf("calls:\n%s", describe(calls))
	}
	edit := calls[1]
	if edit.Method != "PATCH" || !reOriginal.MatchString(edit.Path) {
		t.Fatalf("answer = %s %s, want the original response", edit.Method, edit.Path)
	}
	if len(edit.Files) != 1 {
		t.Fatalf("files = %v, want one", edit.Files)
	}
	for name, content := range edit.Files {
		if !strings.HasPrefix(name, "last-200-lines-of-acme") || !strings.HasSuffix(name, ".txt") {
			t.Errorf("file name = %q", name)
		}
		if d := cmp.Diff(strings.Split(content, "\n"), lines[100:]); d != "" {
			t.Errorf("file content (-got +want):\n%s", d)
		}
	}
	if got := edit.str("content"); !strings.HasPrefix(got, "last 200 lines of acme") || len(got) > maxContent {
		t.Errorf("content = %q", got)
	}

	// A few lines fit in a message, as a code block.
	b.handleInteraction(context.Background(), slash(t, "623456789012345683", "itok-logs3", ana, "logs", "name", "acme", "lines", 3, "share", true))
	calls = fd.snapshot()[2:]
	if len(calls) != 2 || len(calls[1].Files) != 0 {
		t.Fatalf("calls:\n%s", describe(calls))
	}
	if got := calls[1].str("content"); !strings.Contains(got, "```\n"+strings.Join(lines[297:], "\n")+"\n```") {
		t.Errorf("content = %q, want the 3 lines in a code block", got)
	}
	checkSecrets(t, fd, logs)
}

// handlerFunc adapts a function to Handler; it cannot tell whether an
// answer will be private, so every command is deferred publicly.
type handlerFunc func(ctx context.Context, req commands.Request, r commands.Responder) (*provision.Task, error)

func (f handlerFunc) Handle(ctx context.Context, req commands.Request, r commands.Responder) (*provision.Task, error) {
	return f(ctx, req, r)
}

func (handlerFunc) AnswersPrivately(commands.Request) bool { return false }

func (handlerFunc) Suggest(context.Context, commands.Identity, string, commands.Verb, string, string, string) []commands.Choice {
	return nil
}

func TestConfirmButtonSendsConfirmAsTheClicker(t *testing.T) {
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	var mu sync.Mutex
	var got []commands.Request
	h := handlerFunc(func(ctx context.Context, req commands.Request, r commands.Responder) (*provision.Task, error) {
		mu.Lock()
		got = append(got, req)
		mu.Unlock()
		if req.Text == "delete acme" {
			return nil, r.Confirm(ctx, "⚠ delete prod-acme: this cannot be undone.", "c0ffee12")
		}
		return nil, r.Reply(ctx, "deleted prod-acme")
	})
	b := newBot(t, fd, h, logs)
	ana := member{ID: adminID, Name: "ana", Roles: []string{viewerRole}}

	b.handleInteraction(context.Background(), slash(t, "623456789012345684", "itok-delete", ana, "delete", "name", "acme"))
	calls := fd.snapshot()
	// This handler cannot tell that the prompt is private: the public
	// placeholder is settled, the prompt follows, the placeholder goes.
	if len(calls) != 4 || calls[3].Method != "DELETE" || !reOriginal.MatchString(calls[3].Path) {
		t.Fatalf("calls:\n%s", describe(calls))
	}
	prompt := calls[2]
	if prompt.Method != "POST" || !reFollowup.MatchString(prompt.Path) || prompt.flags() != 64 {
		t.Fatalf("prompt = %s %s flags %d, want an ephemeral followup", prompt.Method, prompt.Path, prompt.flags())
	}
	var body struct {
		Components []struct {
			Components []struct {
				Type     int    `json:"type"`
				Style    int    `json:"style"`
				CustomID string `json:"custom_id"`
			} `json:"components"`
		} `json:"components"`
	}
	if err := json.Unmarshal(prompt.Body, &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Components) != 1 || len(body.Components[0].Components) != 1 {
		t.Fatalf("components = %s", prompt.Body)
	}
	button := body.Components[0].Components[0]
	if button.Type != 2 || button.Style != 4 || button.CustomID != "odoobot_confirm:c0ffee12" {
		t.Errorf("button = %+v, want a danger button odoobot_confirm:c0ffee12", button)
	}

	b.handleInteraction(context.Background(), click(t, "623456789012345685", "itok-click", ana, button.CustomID))
	calls = fd.snapshot()[4:]
	var shapes []string
	for _, c := range calls {
		shapes = append(shapes, shape(c, map[string]string{testApp: "{app}"}))
	}
	want := []string{
		"POST /interactions/623456789012345685/itok-click/callback",
		"PATCH /webhooks/{app}/itok-click/messages/@original",
		"POST /webhooks/{app}/itok-click",
	}
	if d := cmp.Diff(shapes, want); d != "" {
		t.Fatalf("click calls (-got +want):\n%s", d)
	}
	if typ := calls[0].JSON["type"]; typ != float64(6) {
		t.Errorf("click callback type = %v, want 6 (deferred update)", typ)
	}
	if comps, ok := calls[1].JSON["components"].([]any); !ok || len(comps) != 0 {
		t.Errorf("the prompt still has its button: %s", calls[1].Body)
	}
	if calls[2].flags() != 0 || calls[2].str("content") != "deleted prod-acme" {
		t.Errorf("answer = %s", calls[2].Body)
	}
	wantReqs := []commands.Request{
		{Identity: commands.Identity{Platform: "discord", UserID: adminID, UserName: "ana", Groups: []string{viewerRole}}, Channel: testChannel, Text: "delete acme"},
		{Identity: commands.Identity{Platform: "discord", UserID: adminID, UserName: "ana", Groups: []string{viewerRole}}, Channel: testChannel, Text: "confirm c0ffee12"},
	}
	mu.Lock()
	defer mu.Unlock()
	if d := cmp.Diff(got, wantReqs); d != "" {
		t.Errorf("requests (-got +want):\n%s", d)
	}
	checkSecrets(t, fd, logs)
}

func TestConfirmClickReachesTheDispatcher(t *testing.T) {
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	audit := &bottest.Audit{}
	b := newBot(t, fd, newDispatcher(t, newCreator(t), nil, audit), logs)

	b.handleInteraction(context.Background(), click(t, "623456789012345686", "itok-click2", ana, "odoobot_confirm:abcdef0123456789"))
	calls := fd.snapshot()
	if len(calls) != 2 {
		t.Fatalf("calls (the prompt is left as it is):\n%s", describe(calls))
	}
	if got := calls[1].str("content"); calls[1].flags() != 64 || !strings.Contains(got, "unknown or was already used") {
		t.Errorf("answer = %s", calls[1].Body)
	}
	entries := audit.Entries()
	if len(entries) != 1 || entries[0].UserID != adminID || !strings.HasPrefix(entries[0].Command, "confirm") {
		t.Errorf("audit = %+v, want one confirm by %s", entries, adminID)
	}

	// A forged button is refused without reaching the dispatcher.
	b.handleInteraction(context.Background(), click(t, "623456789012345687", "itok-click3", ana, "odoobot_confirm:../../x"))
	calls = fd.snapshot()[2:]
	if len(calls) != 2 || calls[1].flags() != 64 || !strings.Contains(calls[1].str("content"), "not valid") {
		t.Errorf("forged click:\n%s", describe(calls))
	}
	if n := len(audit.Entries()); n != 1 {
		t.Errorf("audit entries = %d, want still 1", n)
	}
	checkSecrets(t, fd, logs)
}

func TestThreadFallsBackToTheChannel(t *testing.T) {
	fd := newFakeDiscord(t)
	fd.fail(`POST ^/channels/[0-9]+/messages/[0-9]+/threads$`, 403)
	logs := &bottest.LogBuffer{}
	b := newBot(t, fd, handlerFunc(func(ctx context.Context, _ commands.Request, r commands.Responder) (*provision.Task, error) {
		th, err := r.Thread(ctx, "creating prod-acme")
		if err != nil {
			return nil, err
		}
		if err := th.Post(ctx, "12:00:00 ✓ database (1s)"); err != nil {
			return nil, err
		}
		if err := th.Finish(ctx, "✅ created prod-acme", "done"); err != nil {
			return nil, err
		}
		if got := th.Ref(); got["channel"] != testChannel || got["message"] == "" {
			t.Errorf("Ref = %v, want the channel and the root", got)
		}
		return nil, nil
	}), logs)
	b.handleInteraction(context.Background(), slash(t, "623456789012345688", "itok-dm", ana, "create", "name", "acme"))
	calls := fd.snapshot()
	var posts []string
	for _, c := range calls {
		if c.Method == "POST" && c.Path == "/channels/"+testChannel+"/messages" {
			posts = append(posts, c.str("content"))
		}
	}
	if d := cmp.Diff(posts, []string{"12:00:00 ✓ database (1s)", "**summary**\n```\ndone\n```"}); d != "" {
		t.Errorf("channel posts (-got +want):\n%s\n%s", d, describe(calls))
	}
	if !strings.Contains(logs.String(), "could not start a thread") {
		t.Errorf("the failure was not logged:\n%s", logs.String())
	}
	checkSecrets(t, fd, logs)
}

func TestReportInThread(t *testing.T) {
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	b := newBot(t, fd, handlerFunc(nil), logs)
	if err := b.ReportInThread(context.Background(), map[string]string{"channel": "723456789012345678", "message": "1"}, "the bot restarted; job 4 was rolled back"); err != nil {
		t.Fatal(err)
	}
	calls := fd.snapshot()
	if len(calls) != 1 || calls[0].Path != "/channels/723456789012345678/messages" || calls[0].str("content") != "the bot restarted; job 4 was rolled back" {
		t.Errorf("calls:\n%s", describe(calls))
	}
	if err := b.ReportInThread(context.Background(), map[string]string{"ts": "1.2"}, "x"); err == nil {
		t.Error("a reference without a channel was accepted")
	}
	checkSecrets(t, fd, logs)
}

func TestRegister(t *testing.T) {
	for _, guild := range []string{testGuild, ""} {
		fd := newFakeDiscord(t)
		logs := &bottest.LogBuffer{}
		b, err := New(Config{Token: "Bot " + testToken, AppID: testApp, GuildID: guild, APIURL: fd.apiURL(), Handler: handlerFunc(nil), Logger: slogJSON(logs)})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Register(context.Background()); err != nil {
			t.Fatal(err)
		}
		calls := fd.snapshot()
		wantPath := "/applications/" + testApp + "/guilds/" + guild + "/commands"
		if guild == "" {
			wantPath = "/applications/" + testApp + "/commands"
		}
		if len(calls) != 1 || calls[0].Method != "PUT" || calls[0].Path != wantPath {
			t.Fatalf("calls:\n%s", describe(calls))
		}
		var cmds []discordgo.ApplicationCommand
		if err := json.Unmarshal(calls[0].Body, &cmds); err != nil {
			t.Fatal(err)
		}
		if len(cmds) != 1 || cmds[0].Name != "odoo" {
			t.Fatalf("commands = %s", calls[0].Body)
		}
		var subs, wantSubs, autocomplete []string
		if len(cmds[0].Options) > 25 {
			t.Errorf("/odoo has %d subcommands and groups; Discord takes at most 25", len(cmds[0].Options))
		}
		// The subcommands, those of a group (/odoo admin delete) in its
		// place.
		var flat []*discordgo.ApplicationCommandOption
		for _, o := range cmds[0].Options {
			if o.Type == discordgo.ApplicationCommandOptionSubCommandGroup {
				if len(o.Options) > 25 || len(o.Description) == 0 || len(o.Description) > 100 {
					t.Errorf("group %s: %d subcommands, description %q", o.Name, len(o.Options), o.Description)
				}
				flat = append(flat, o.Options...)
				continue
			}
			flat = append(flat, o)
		}
		for _, o := range flat {
			subs = append(subs, o.Name)
			if o.Type != discordgo.ApplicationCommandOptionSubCommand || len(o.Description) == 0 || len(o.Description) > 100 {
				t.Errorf("subcommand %s: type %v, description %q", o.Name, o.Type, o.Description)
			}
			if o.Name == "create" && (o.Options[0].Name != "name" || !o.Options[0].Required) {
				t.Errorf("create options: %+v", o.Options)
			}
			for _, opt := range o.Options {
				key := o.Name + " " + opt.Name
				if opt.Autocomplete {
					autocomplete = append(autocomplete, key)
				}
				if opt.Autocomplete && len(opt.Choices) > 0 {
					t.Errorf("%s has both choices and autocomplete, which Discord refuses", key)
				}
			}
		}
		for _, v := range commands.Verbs() {
			wantSubs = append(wantSubs, string(v))
		}
		slices.Sort(subs)
		slices.Sort(wantSubs)
		slices.Sort(autocomplete)
		if d := cmp.Diff(subs, wantSubs); d != "" {
			t.Errorf("subcommands (-got +want):\n%s", d)
		}
		// Every option naming an existing instance, a backup or a mode
		// autocompletes; a new name (create, clone's copy) does not.
		wantAuto := []string{"create mode", "status name", "info name", "logs name", "restart name", "stop name", "start name", "ack name",
			"maintenance name", "backup name", "backups name", "restore name", "restore backup", "drill name", "delete name",
			"clone source", "upgrade name", "reset-admin name"}
		slices.Sort(wantAuto)
		if d := cmp.Diff(autocomplete, wantAuto); d != "" {
			t.Errorf("autocomplete options (-got +want):\n%s", d)
		}
		checkSecrets(t, fd, logs)
	}
}

func TestRegisterRefusedTokenNamesTheVariable(t *testing.T) {
	fd := newFakeDiscord(t)
	fd.fail(`PUT commands$`, 401)
	logs := &bottest.LogBuffer{}
	err := newBot(t, fd, handlerFunc(nil), logs).Register(context.Background())
	if err == nil || !strings.Contains(err.Error(), "DISCORD_BOT_TOKEN") || strings.Contains(err.Error(), "tokenSECRET") {
		t.Errorf("Register = %v, want a refusal naming DISCORD_BOT_TOKEN", err)
	}
}

func TestRunStopsOnARefusedToken(t *testing.T) {
	fd := newFakeDiscord(t)
	fd.fail(`GET ^/gateway`, 401)
	logs := &bottest.LogBuffer{}
	err := newBot(t, fd, handlerFunc(nil), logs).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "DISCORD_BOT_TOKEN") {
		t.Errorf("Run = %v, want a refusal naming DISCORD_BOT_TOKEN", err)
	}
	if calls := fd.snapshot(); len(calls) != 1 || calls[0].Path != "/gateway" {
		t.Errorf("calls:\n%s", describe(calls))
	}
	checkSecrets(t, fd, logs)
}

func TestTransportRefusesOtherHosts(t *testing.T) {
	fd := newFakeDiscord(t)
	b := newBot(t, fd, handlerFunc(nil), &bottest.LogBuffer{})
	_, err := b.s.Request("GET", "https://cdn.discordapp.com/attachments/1/2/x.txt", nil)
	if err == nil || !strings.Contains(err.Error(), "outside the Discord API") {
		t.Errorf("request to the CDN = %v, want refused", err)
	}
	if n := len(fd.snapshot()); n != 0 {
		t.Errorf("the fake got %d calls", n)
	}
}

func TestNewChecksConfig(t *testing.T) {
	h := handlerFunc(nil)
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no token", Config{AppID: testApp, Handler: h}, "DISCORD_BOT_TOKEN"},
		{"no app", Config{Token: testToken, Handler: h}, "DISCORD_APP_ID"},
		{"app name", Config{Token: testToken, AppID: "odoobot", Handler: h}, "DISCORD_APP_ID"},
		{"guild name", Config{Token: testToken, AppID: testApp, GuildID: "acme", Handler: h}, "DISCORD_GUILD_ID"},
		{"no handler", Config{Token: testToken, AppID: testApp}, "Handler"},
		{"bad url", Config{Token: testToken, AppID: testApp, Handler: h, APIURL: "discord.com/api"}, "DISCORD_API_URL"},
	} {
		_, err := New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "tokenSECRET") {
			t.Errorf("%s: New = %v, want an error naming %s", tc.name, err, tc.want)
		}
	}
	b, err := New(Config{Token: testToken, AppID: testApp, Handler: h})
	if err != nil || b.cfg.APIURL != DefaultAPIURL {
		t.Errorf("New = %v, APIURL %q", err, b.cfg.APIURL)
	}
}

func TestCommandText(t *testing.T) {
	opt := func(name string, v any) *discordgo.ApplicationCommandInteractionDataOption {
		return &discordgo.ApplicationCommandInteractionDataOption{Name: name, Value: v}
	}
	sub := func(name string, opts ...*discordgo.ApplicationCommandInteractionDataOption) discordgo.ApplicationCommandInteractionData {
		return discordgo.ApplicationCommandInteractionData{Name: "odoo", Options: []*discordgo.ApplicationCommandInteractionDataOption{
			{Name: name, Type: discordgo.ApplicationCommandOptionSubCommand, Options: opts},
		}}
	}
	for _, tc := range []struct {
		data discordgo.ApplicationCommandInteractionData
		want string
	}{
		{discordgo.ApplicationCommandInteractionData{Name: "odoo"}, "help"},
		{sub("list"), "list"},
		{sub("create", opt("mode", "letsencrypt"), opt("name", "acme")), "create acme letsencrypt"},
		{sub("create", opt("name", "acme http")), "create acme_http"},
		{sub("logs", opt("lines", float64(200)), opt("name", "acme")), "logs acme 200"},
		{sub("restore", opt("backup", "2025-01-01T00-00"), opt("name", "acme")), "restore acme 2025-01-01T00-00"},
		{sub("confirm", opt("code", "c0ffee")), "confirm c0ffee"},
		{sub("frobnicate", opt("name", "acme")), "frobnicate"},
	} {
		if got := commandText(tc.data); got != tc.want {
			t.Errorf("commandText = %q, want %q", got, tc.want)
		}
	}
}

func TestIdentityInADirectMessage(t *testing.T) {
	ic := decode(t, map[string]any{
		"id": "1", "application_id": testApp, "type": 2, "token": "t", "channel_id": testChannel,
		"user": map[string]any{"id": adminID, "username": "ana", "global_name": "Ana"},
		"data": map[string]any{"name": "odoo", "type": 1},
	})
	want := commands.Identity{Platform: "discord", UserID: adminID, UserName: "Ana"}
	if d := cmp.Diff(identity(ic.Interaction), want); d != "" {
		t.Errorf("identity (-got +want):\n%s", d)
	}
}

func TestSilentHandlerSettlesThePlaceholder(t *testing.T) {
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	b := newBot(t, fd, handlerFunc(func(context.Context, commands.Request, commands.Responder) (*provision.Task, error) {
		return nil, nil
	}), logs)
	b.handleInteraction(context.Background(), slash(t, "623456789012345689", "itok-silent", ana, "help"))
	calls := fd.snapshot()
	if len(calls) != 2 || !reOriginal.MatchString(calls[1].Path) || calls[1].str("content") != doneNote {
		t.Errorf("calls:\n%s", describe(calls))
	}
}
