package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	slackapi "github.com/slack-go/slack"

	"odoobot/commands"
)

// HomeSource feeds the App Home view; *commands.Dispatcher satisfies it.
type HomeSource interface {
	// HomeRole is the user's role for what they see there: RoleNone
	// shows them nothing of the instances.
	HomeRole(id commands.Identity, channel string) commands.Role
	// Overview reads every instance at a glance.
	Overview(ctx context.Context) (commands.Overview, error)
}

var _ HomeSource = (*commands.Dispatcher)(nil)

// The bounds of the App Home view and of its refreshes.
const (
	// MaxHomeBlocks is Slack's bound on the blocks of a home view.
	MaxHomeBlocks = 100
	// HomeInstances is how many instances the view shows, the failing
	// ones first; beyond, a last line says how many more there are and
	// that /odoo overview shows them all.
	HomeInstances = 90
	// MaxHomeUsers bounds the users whose view is published again after
	// each job: those who opened the home tab most recently, within
	// HomeTTL.
	MaxHomeUsers = 200
	HomeTTL      = 24 * time.Hour
	// homeSectionText is Slack's bound on a section's text.
	homeSectionText = 3000
)

// homeOpened is an app_home_opened event: user opened the app's home
// tab, whose direct-message channel is channel.
type homeOpened struct{ user, channel string }

// eventsPayload is the part of an events_api envelope's payload odoobot
// reads.
type eventsPayload struct {
	Event struct {
		Type    string `json:"type"`
		User    string `json:"user"`
		Channel string `json:"channel"`
		Tab     string `json:"tab"`
	} `json:"event"`
}

// parseEvent turns an events_api payload into what runs: an
// app_home_opened on the home tab, with Config.Home set; nil for
// anything else.
func (b *Bot) parseEvent(payload json.RawMessage) any {
	var p eventsPayload
	if err := json.Unmarshal(payload, &p); err != nil {
		b.log.Warn("slack: an event that cannot be parsed was acknowledged, not run", "err", err)
		return nil
	}
	e := p.Event
	if e.Type != "app_home_opened" || e.Tab != "home" || e.User == "" || b.cfg.Home == nil {
		return nil
	}
	return homeOpened{user: e.User, channel: e.Channel}
}

// homeUsers are the users who opened the home tab recently, most recent
// last, at most MaxHomeUsers; and whether a refresh is under way.
type homeUsers struct {
	mu         sync.Mutex
	order      []homeOpened
	at         map[string]time.Time
	refreshing bool
	again      bool
}

// seen records that h was opened at now.
func (u *homeUsers) seen(h homeOpened, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.at == nil {
		u.at = map[string]time.Time{}
	}
	u.order = slices.DeleteFunc(u.order, func(x homeOpened) bool { return x.user == h.user })
	u.order = append(u.order, h)
	u.at[h.user] = now
	for len(u.order) > MaxHomeUsers {
		delete(u.at, u.order[0].user)
		u.order = u.order[1:]
	}
}

// recent are the users who opened their home tab within HomeTTL.
func (u *homeUsers) recent(now time.Time) []homeOpened {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []homeOpened
	for _, h := range u.order {
		if now.Sub(u.at[h.user]) < HomeTTL {
			out = append(out, h)
		}
	}
	return out
}

// openHome publishes the home view of a user who opened it, and
// remembers them for RefreshHome.
func (b *Bot) openHome(ctx context.Context, h homeOpened) {
	b.homes.seen(h, time.Now())
	var ov commands.Overview
	var err error
	id := b.identity(ctx, h.user, "", h.channel)
	role := b.cfg.Home.HomeRole(id, h.channel)
	if role != commands.RoleNone {
		ov, err = b.cfg.Home.Overview(ctx)
	}
	b.publishHome(ctx, h.user, HomeBlocks(ov, role, h.user, err))
}

// RefreshHome publishes again the home view of every user who opened it
// within HomeTTL (at most MaxHomeUsers), from one overview, in the
// background; the app calls it after each job ends. Calls during a
// refresh are folded into one more refresh after it.
func (b *Bot) RefreshHome(ctx context.Context) {
	if b.cfg.Home == nil {
		return
	}
	u := &b.homes
	u.mu.Lock()
	if u.refreshing {
		u.again = true
		u.mu.Unlock()
		return
	}
	u.refreshing = true
	u.mu.Unlock()
	go func() {
		for {
			b.refreshHomes(ctx)
			u.mu.Lock()
			if !u.again {
				u.refreshing = false
				u.mu.Unlock()
				return
			}
			u.again = false
			u.mu.Unlock()
		}
	}()
}

func (b *Bot) refreshHomes(ctx context.Context) {
	users := b.homes.recent(time.Now())
	if len(users) == 0 {
		return
	}
	ov, err := b.cfg.Home.Overview(ctx)
	for _, h := range users {
		id := b.identity(ctx, h.user, "", h.channel)
		role := b.cfg.Home.HomeRole(id, h.channel)
		if role == commands.RoleNone {
			b.publishHome(ctx, h.user, HomeBlocks(commands.Overview{}, role, h.user, nil))
			continue
		}
		b.publishHome(ctx, h.user, HomeBlocks(ov, role, h.user, err))
	}
}

// publishHome publishes blocks as user's home view; a failure is logged.
func (b *Bot) publishHome(ctx context.Context, user string, blocks []slackapi.Block) {
	view := slackapi.HomeTabViewRequest{Type: slackapi.VTHomeTab, Blocks: slackapi.Blocks{BlockSet: blocks}, CallbackID: "odoobot_home"}
	_, err := rateLimited(ctx, b, func() (*slackapi.ViewResponse, error) {
		return b.api.PublishViewContext(ctx, slackapi.PublishViewContextRequest{UserID: user, View: view})
	})
	if err != nil {
		b.log.Error("slack: the home view could not be published", "user", user, "err", b.clean(err.Error()))
	}
}

// HomeBlocks is the home view of user, who holds role, showing ov (or
// err, when it could not be read): a header, the overview's summary and
// the user's role, one section per instance (the failing first, at most
// HomeInstances, then how many more), the commands waiting, and what
// could not be read; never more than MaxHomeBlocks blocks, nor a text
// over Slack's bounds. A user with RoleNone is told they have no access,
// and nothing else.
func HomeBlocks(ov commands.Overview, role commands.Role, user string, err error) []slackapi.Block {
	header := slackapi.NewHeaderBlock(slackapi.NewTextBlockObject(slackapi.PlainTextType, "Odoo instances", false, false))
	if role == commands.RoleNone {
		text := fmt.Sprintf("You have no access to odoobot: you are not on its allowlist. An admin can add your ID, %s (/odoo whoami shows it).", user)
		return []slackapi.Block{header, section(text)}
	}
	if err != nil {
		return []slackapi.Block{header, section("The overview could not be read: " + escapeText(err.Error()) + ". Try /odoo overview, or open this tab again.")}
	}
	blocks := []slackapi.Block{header,
		slackapi.NewContextBlock("", slackapi.NewTextBlockObject(slackapi.MarkdownType, clipRunes(escapeText(ov.Summary())+" · your role: "+role.String(), homeSectionText), false, false)),
		slackapi.NewDividerBlock(),
	}
	rows := slices.Clone(ov.Instances)
	slices.SortStableFunc(rows, func(a, b commands.InstanceOverview) int { return rank(a.Condition) - rank(b.Condition) })
	if len(rows) == 0 {
		blocks = append(blocks, section("No instances yet: /odoo create NAME"))
	}
	shown := min(len(rows), HomeInstances)
	for _, o := range rows[:shown] {
		blocks = append(blocks, section("*"+escapeText(o.Headline(ov.At))+"*\n"+escapeText(o.Details(ov.At))))
	}
	if more := len(rows) - shown; more > 0 {
		blocks = append(blocks, slackapi.NewContextBlock("", slackapi.NewTextBlockObject(slackapi.MarkdownType, fmt.Sprintf("and %d more: /odoo overview shows them all", more), false, false)))
	}
	if len(ov.Pending) > 0 {
		lines := []string{"*Waiting*"}
		for _, p := range ov.Pending {
			lines = append(lines, "• "+escapeText(p.Line()))
		}
		blocks = append(blocks, slackapi.NewDividerBlock(), section(strings.Join(lines, "\n")))
	}
	if len(ov.Problems) > 0 {
		blocks = append(blocks, section("⚠ "+escapeText(strings.Join(ov.Problems, "; "))))
	}
	return blocks
}

// rank orders the conditions, the one needing attention first.
func rank(c commands.Condition) int {
	return slices.Index([]commands.Condition{commands.ConditionFailing, commands.ConditionChanging, commands.ConditionBusy,
		commands.ConditionMaintenance, commands.ConditionStopped, commands.ConditionRunning}, c)
}

// section is a section block of mrkdwn text, cut to Slack's bound.
func section(text string) *slackapi.SectionBlock {
	return slackapi.NewSectionBlock(slackapi.NewTextBlockObject(slackapi.MarkdownType, clipRunes(text, homeSectionText), false, false), nil, nil)
}
