package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"odoobot/bot/discord/discordtest"
	"odoobot/bot/slack/slacktest"
	"odoobot/internal/app"
	"odoobot/provision"
)

// homeViews are the home views published for user so far.
func (f *slackFake) homeViews(user string) []slacktest.Published {
	var out []slacktest.Published
	for _, p := range f.PublishedViews() {
		if p.User == user {
			out = append(out, p)
		}
	}
	return out
}

// TestServeSlackHome runs `odoobot serve` against the Slack double: an
// admin opening the app's home tab gets a home view (views.publish, as
// Slack checks it) with the overview; a user off the allowlist gets a
// view saying they have no access and nothing of the instances. Once an
// instance is created from the channel, the admin's home view is
// published again, unasked, with the instance in it. A maintenance
// window shows as a banner, until when and why, in `/odoo overview`
// typed in the channel and in the home view.
func TestServeSlackHome(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	name := uniqueName(t, "home")
	destroyLater(t, a, name)
	inst := a.Config.Layout().NewInstance(name, provision.SSLHTTP)

	f := newSlackFake(t)
	bot := startServe(t, slackServeEnv(env, f, writeSlackAllowlist(t, env)))
	f.waitConnected(t, bot)

	f.Send(t, f.HomeOpened("e2e-home-1", slackAdmin, "D0E2EHOME1"))
	waitSlack(t, f, bot, 30*time.Second, "the admin's home view", func() bool { return len(f.homeViews(slackAdmin)) == 1 })
	first := f.homeViews(slackAdmin)[0]
	if text := first.Text(); !strings.Contains(text, "Odoo instances") || !strings.Contains(text, "your role: admin") || strings.Contains(text, name) {
		t.Errorf("the admin's first home view:\n%s", text)
	}

	f.Send(t, f.HomeOpened("e2e-home-2", slackStranger, "D0E2EHOME2"))
	waitSlack(t, f, bot, 30*time.Second, "the stranger's home view", func() bool { return len(f.homeViews(slackStranger)) == 1 })
	if text := f.homeViews(slackStranger)[0].Text(); !strings.Contains(text, "You have no access to odoobot") || strings.Contains(text, "failing, ") {
		t.Errorf("the stranger's home view:\n%s", text)
	}

	f.slash(t, slackAdmin, "ana", "create "+name+" http")
	final := "✅ created " + inst.Internal
	waitSlack(t, f, bot, 5*time.Minute, "the creation's end", func() bool {
		return strings.Contains(f.transcript(), final) || strings.Contains(f.transcript(), "❌ creating "+inst.Internal)
	})
	if !strings.Contains(f.transcript(), final) {
		t.Fatalf("the creation did not succeed:\n%s", f.transcript())
	}
	waitSlack(t, f, bot, 30*time.Second, "the admin's home view published again with "+name, func() bool {
		views := f.homeViews(slackAdmin)
		return len(views) > 1 && strings.Contains(views[len(views)-1].Text(), name+" ("+inst.Domain+")")
	})
	views := f.homeViews(slackAdmin)
	after := views[len(views)-1].Text()
	if !strings.Contains(after, "🟢 "+name) || !strings.Contains(after, "memory ") || !strings.Contains(after, "MiB") {
		t.Errorf("the home view after the creation:\n%s", after)
	}
	if n := len(f.homeViews(slackStranger)); n < 2 || strings.Contains(f.homeViews(slackStranger)[n-1].Text(), name) {
		t.Errorf("the stranger's view after the creation (%d published) shows the instance or was not refreshed", n)
	}
	t.Logf("the admin's home view after the creation:\n%s", after)

	// A backup is a job: at its end the view is published again, with
	// the age of the last good backup.
	published := len(f.homeViews(slackAdmin))
	f.slash(t, slackAdmin, "ana", "backup "+name)
	waitSlack(t, f, bot, 2*time.Minute, "the home view published again after the backup", func() bool {
		views := f.homeViews(slackAdmin)
		return len(views) > published && strings.Contains(views[len(views)-1].Text(), "last good backup just now")
	})

	n := f.callCount()
	f.slash(t, slackAdmin, "ana", "maintenance "+name+" 2h disk swap")
	waitSlack(t, f, bot, 30*time.Second, "the maintenance answer", func() bool {
		return strings.Contains(f.transcript(), name+": maintenance until")
	})
	f.slash(t, slackAdmin, "ana", "overview")
	banner := "🔧 " + name + " (" + inst.Domain + ") — in maintenance until "
	var overview string
	waitSlack(t, f, bot, 30*time.Second, "the overview in the channel", func() bool {
		for _, c := range f.since(n, "chat.postMessage") {
			if text := c.Form.Get("text"); c.Form.Get("channel") == slackChannel && strings.Contains(text, "failing, ") {
				overview = text
				return true
			}
		}
		for _, c := range f.since(n, "files.completeUploadExternal") {
			var files []struct{ ID string }
			_ = json.Unmarshal([]byte(c.Form.Get("files")), &files)
			for _, x := range files {
				if text := f.File(x.ID); strings.Contains(text, "failing, ") {
					overview = text
					return true
				}
			}
		}
		return false
	})
	if !strings.Contains(overview, banner) || !strings.Contains(overview, "by ana: disk swap") || !strings.Contains(overview, "last good backup just now") {
		t.Errorf("the overview lacks the maintenance banner %q:\n%s", banner, overview)
	}

	// The CLI's overview says the same, from the same records.
	cli := env.command(ctx, odoobotBin(t), "overview")
	out, err := cli.CombinedOutput()
	if err != nil || !strings.Contains(string(out), banner) || !strings.Contains(string(out), "last good backup just now") {
		t.Errorf("odoobot overview: %v\n%s", err, out)
	}

	f.Send(t, f.HomeOpened("e2e-home-3", slackAdmin, "D0E2EHOME1"))
	waitSlack(t, f, bot, 30*time.Second, "the home view on opening again", func() bool {
		views := f.homeViews(slackAdmin)
		return strings.Contains(views[len(views)-1].Text(), banner)
	})
	views = f.homeViews(slackAdmin)
	t.Logf("the admin's home view in maintenance:\n%s", views[len(views)-1].Text())
	blocks, _ := json.MarshalIndent(views[len(views)-1].Blocks(), "", "  ")
	t.Logf("its blocks:\n%s", blocks)

	// The creation form, as the README shows it.
	id := f.slash(t, slackAdmin, "ana", "create")
	v := f.openedView(t, bot, id)
	spec, _ := json.MarshalIndent(v.Spec, "", "  ")
	t.Logf("the creation form:\n%s", spec)
	if _, err := a.Store.Instance(ctx, name); err != nil {
		t.Fatalf("the instance is not recorded: %v", err)
	}
}

// TestServeDiscordOverview: `/odoo overview` through the Discord double
// is answered with the overview, to a viewer (by role) as to an admin.
func TestServeDiscordOverview(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	s := discordtest.New(t, discordtest.Options{AppID: discordApp, Channel: discordChannel})
	bot := startServe(t, discordServeEnv(env, s, writeDiscordAllowlist(t, env)))
	waitDiscord(t, s, bot, time.Minute, "/odoo registered in the guild", func() bool {
		_, ok := callOf(s, func(c discordtest.Call) bool {
			return c.Method == "PUT" && c.Path == "/applications/"+discordApp+"/guilds/"+discordGuild+"/commands"
		})
		return ok
	})
	where := discordtest.Where{Guild: discordGuild, Channel: discordChannel}
	viewer := discordtest.Member{ID: discordViewer, Name: "vic", Roles: []string{discordViewerRole}}
	const token = "e2e-token-overview"
	s.Gateway.DeliverInteraction(s.Slash(where, "713000000000002001", token, viewer, "odoo", "overview"))
	waitDiscord(t, s, bot, 30*time.Second, "the overview's answer", func() bool {
		_, ok := callOf(s, func(c discordtest.Call) bool {
			return forToken(c, token) && strings.Contains(c.Str("content"), "failing, ")
		})
		return ok
	})
}
