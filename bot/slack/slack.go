// Package slack is the Slack adapter of odoobot: it connects with Socket
// Mode (no public HTTP endpoint; the connection is its own, see
// serveSocket, and slack-go serves the Web API), turns `/odoo …` slash commands into
// commands.Request, and answers through the Web API as a
// commands.Responder: visible replies, ephemeral refusals, files for long
// output, one thread per long job with a throttled status message, and
// ephemeral danger buttons for confirmations, whose clicks come back as
// "confirm CODE" from the user who clicked. With a Picker, `/odoo create`
// alone and `/odoo restore [NAME]` open a form (a modal) whose choices
// are the requester's role's; a form submitted runs the command it
// stands for as its submitter (see form, checkSubmission).
//
// The Slack app needs the bot scopes commands, chat:write, channels:join
// (to join a public channel on first use; private ones need /invite),
// files:write and usergroups:read (for "group S…" grants; see
// Config.GroupsTTL), and an app-level token with connections:write.
//
// No slack-go type leaves this package.
package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	slackapi "github.com/slack-go/slack"

	"odoobot/commands"
	"odoobot/provision"
)

// Handler runs one chat request; *commands.Dispatcher satisfies it.
type Handler interface {
	Handle(ctx context.Context, req commands.Request, r commands.Responder) (*provision.Task, error)
}

var _ Handler = (*commands.Dispatcher)(nil)

// Config configures a Bot. BotToken, AppToken and Handler are required.
type Config struct {
	// BotToken (xoxb-…) calls the Web API; AppToken (xapp-…) opens the
	// Socket Mode connection. Neither is ever logged or posted.
	BotToken, AppToken string
	// APIURL is the Web API base (SLACK_API_URL), with a trailing slash;
	// default https://slack.com/api/. GovSlack, proxies and tests set it.
	APIURL string
	// Handler runs the commands.
	Handler Handler
	// Logger receives the adapter's logs; discarded when nil.
	Logger *slog.Logger
	// UpdateInterval is the least time between two chat.update edits of a
	// thread's status message; default 1s. Edits in between coalesce: the
	// latest text wins.
	UpdateInterval time.Duration
	// GroupsMatter, when set, says whether a user's groups could change
	// their role in a channel (commands.Dispatcher.GroupsMatter): when it
	// says no, their groups are not looked up and their request never
	// waits for usergroups.list. Nil looks every user's groups up.
	GroupsMatter func(id commands.Identity, channel string) bool
	// GroupsTTL is how long the Slack user-group memberships (filling
	// commands.Identity.Groups, for the allowlist's "group S…" grants)
	// are used after the usergroups.list call that fetched them; default
	// DefaultGroupsTTL. From half of it on they are refreshed in the
	// background. A negative value turns group lookups off: only
	// user grants apply. Lookups need the bot scope usergroups:read.
	GroupsTTL time.Duration
	// HTTPClient sends the Web API and response_url requests; a client
	// with a 30 s timeout when nil.
	HTTPClient *http.Client
	// Picker, when set, lets `/odoo create` with no argument and
	// `/odoo restore [NAME]` open a form (a Slack modal) whose choices
	// are the ones the requester's role may pick; nil runs them as typed.
	// *commands.Dispatcher satisfies it. The app then needs
	// Interactivity on, with "Select Menus" (for the instance type-ahead)
	// served by Socket Mode.
	Picker Picker
	// CheckName applies the name rules to the name typed in the creation
	// form (provision.NameRules.Check): a name it refuses is refused in
	// the form, with its message. Nil leaves the check to the Handler,
	// after the form has closed.
	CheckName func(name string) error
	// RetryWait is the first pause before Run connects again after a
	// failure, a dropped connection or a disabled link (link_disabled);
	// default DefaultRetryWait. It doubles with each failure in a row, up
	// to a minute. A `disconnect` Slack asks for is followed at once.
	RetryWait time.Duration
	// Home, when set, serves the App Home tab: opening it publishes the
	// overview, as the user's role allows (see HomeBlocks), and
	// RefreshHome publishes it again. The app then needs the Home Tab on
	// and the event app_home_opened subscribed (Event Subscriptions,
	// delivered by Socket Mode).
	Home HomeSource
}

// DefaultRetryWait is Config.RetryWait's default.
const DefaultRetryWait = time.Second

// Bot is a running Slack adapter. Build it with New, start it with Run.
// Its methods are safe for concurrent use.
type Bot struct {
	cfg   Config
	log   *slog.Logger
	api   *slackapi.Client
	plain *http.Client // response_url: never carries a token
	seen  *envelopes
	scrub *strings.Replacer

	userGroups *groupCache // nil when GroupsTTL < 0

	mu          sync.Mutex
	name        string    // the bot's user name, from auth.test, for hints
	connections int       // Socket Mode connections made (hello) since New
	helloAt     time.Time // of the last hello
	lostAt      time.Time // when the last connection was lost or the first attempt failed; zero once connected
	handlers    sync.WaitGroup
	sem         chan struct{}
	suggesting  chan struct{} // block_suggestion answers under way
	homes       homeUsers     // who opened the home tab (home.go)
}

// The defaults of Config.
const (
	DefaultAPIURL         = "https://slack.com/api/"
	DefaultUpdateInterval = time.Second
)

const (
	// maxHandlers bounds the commands handled at once; more wait their
	// turn (after their ack).
	maxHandlers = 16
	// maxHeld and heldFor bound how long acknowledged envelopes wait
	// while a burst is being acknowledged.
	maxHeld = 256
	heldFor = 50 * time.Millisecond
)

// New checks cfg and builds a Bot. It makes no network call.
func New(cfg Config) (*Bot, error) {
	switch {
	case cfg.BotToken == "":
		return nil, errors.New("slack: new: the bot token (SLACK_BOT_TOKEN, xoxb-…) is missing")
	case cfg.AppToken == "":
		return nil, errors.New("slack: new: the app token (SLACK_APP_TOKEN, xapp-…) is missing")
	case !strings.HasPrefix(cfg.AppToken, "xapp-"):
		return nil, errors.New("slack: new: SLACK_APP_TOKEN is not an app-level token (xapp-…): Socket Mode needs one with connections:write")
	case cfg.Handler == nil:
		return nil, errors.New("slack: new: no Handler")
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	if !strings.HasSuffix(cfg.APIURL, "/") {
		cfg.APIURL += "/"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.UpdateInterval <= 0 {
		cfg.UpdateInterval = DefaultUpdateInterval
	}
	if cfg.GroupsTTL == 0 {
		cfg.GroupsTTL = DefaultGroupsTTL
	}
	if cfg.RetryWait <= 0 {
		cfg.RetryWait = DefaultRetryWait
	}
	base := cfg.HTTPClient
	if base == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = maxHandlers // one kept-alive connection per handler
		base = &http.Client{Timeout: 30 * time.Second, Transport: tr}
	}
	authed := *base
	authed.Transport = &tokenInHeader{next: transportOf(base)}
	b := &Bot{
		cfg:   cfg,
		log:   cfg.Logger,
		plain: base,
		seen:  newEnvelopes(4096, 15*time.Minute),
		scrub: strings.NewReplacer(cfg.BotToken, "[redacted]", cfg.AppToken, "[redacted]"),
		name:  "odoobot",
		sem:   make(chan struct{}, maxHandlers),

		suggesting: make(chan struct{}, maxSuggesting),
	}
	if cfg.GroupsTTL > 0 {
		b.userGroups = &groupCache{ttl: cfg.GroupsTTL}
	}
	b.api = slackapi.New(cfg.BotToken,
		slackapi.OptionAPIURL(cfg.APIURL),
		slackapi.OptionAppLevelToken(cfg.AppToken),
		slackapi.OptionHTTPClient(&authed),
	)
	return b, nil
}

// authErrors are the Slack errors that mean a token is wrong, not that
// the network failed: retrying cannot help.
var authErrors = map[string]bool{"invalid_auth": true, "not_authed": true, "account_inactive": true, "token_revoked": true, "token_expired": true}

// Run checks the bot token (auth.test), connects with Socket Mode and
// serves until ctx is cancelled (it then returns nil, after the commands
// in progress have been handed over). Slack's `disconnect` requests and
// dropped connections reconnect by themselves; any other failure (Slack
// answering 503 at start-up, a connection that cannot be opened) is
// logged and tried again after a back-off that doubles from
// Config.RetryWait up to a minute, for as long as ctx lasts. Only a
// refused token or a wrong URL, which retrying cannot mend, stops Run
// with an error naming the variable to check.
func (b *Bot) Run(ctx context.Context) error {
	wait := b.cfg.RetryWait
	for {
		start := time.Now()
		err := b.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var fatal *fatalError
		if errors.As(err, &fatal) {
			return fatal.err
		}
		if time.Since(start) > maxRetryWait {
			wait = b.cfg.RetryWait // it had been up: start the back-off over
		}
		b.mu.Lock()
		if b.lostAt.IsZero() {
			b.lostAt = time.Now()
		}
		b.mu.Unlock()
		b.log.Warn("slack: disconnected; reconnecting", "err", b.clean(err.Error()), "in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		wait = min(2*wait, maxRetryWait)
	}
}

// maxRetryWait bounds the back-off between two connections.
const maxRetryWait = time.Minute

// fatalError is a failure that retrying cannot mend: Run returns err.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }

// session is one run of Run: auth.test, then Socket Mode until it ends.
func (b *Bot) session(ctx context.Context) error {
	auth, err := rateLimited(ctx, b, func() (*slackapi.AuthTestResponse, error) { return b.api.AuthTestContext(ctx) })
	if err != nil {
		if code := slackCode(err); authErrors[code] {
			return &fatalError{fmt.Errorf("slack: the bot token was refused (%s): check SLACK_BOT_TOKEN", code)}
		}
		return fmt.Errorf("slack: auth.test: %w", err)
	}
	b.mu.Lock()
	if auth.User != "" {
		b.name = auth.User
	}
	b.mu.Unlock()
	b.log.Info("slack: connecting", "bot", auth.User, "bot_user", auth.UserID, "team", auth.Team)

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan incoming, maxHeld)
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		b.loop(rctx, events)
	}()
	err = b.serveSocket(rctx, events)
	cancel()
	<-loopDone
	b.handlers.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// loop starts the handling of the envelopes read (acknowledged
// already), once each. "Once" is decided by what was actually seen: the
// envelope_id, and a slash command's trigger_id, never retry_attempt
// (after a reconnect, or when the first delivery never arrived, the
// retry is the only delivery). While more envelopes wait, the work is
// held back (up to maxHeld envelopes or heldFor) so that a burst is
// acknowledged before any command starts competing for the CPU.
func (b *Bot) loop(ctx context.Context, events <-chan incoming) {
	var held []incoming
	var since time.Time
	start := func() {
		for _, evt := range held {
			b.handlers.Go(func() {
				b.sem <- struct{}{}
				defer func() { <-b.sem }()
				b.dispatch(ctx, evt)
			})
		}
		clear(held)
		held = held[:0]
	}
	defer start()
	for {
		if len(held) > 0 && (len(events) == 0 || len(held) >= maxHeld || time.Since(since) > heldFor) {
			start()
		}
		var evt incoming
		select {
		case <-ctx.Done():
			return
		case evt = <-events:
		}
		if evt.data == nil {
			continue
		}
		if !b.firstSeen(evt) {
			b.log.Warn("slack: duplicate envelope acknowledged, not run again", "envelope", evt.id, "attempt", evt.attempt, "reason", evt.reason)
			continue
		}
		if len(held) == 0 {
			since = time.Now()
		}
		held = append(held, evt)
	}
}

// firstSeen records the envelope of evt, and a slash command's
// trigger_id, and reports whether neither was seen before.
func (b *Bot) firstSeen(evt incoming) bool {
	now := time.Now()
	fresh := b.seen.add("envelope:"+evt.id, now) || evt.id == ""
	if sc, ok := evt.data.(slackapi.SlashCommand); ok && sc.TriggerID != "" {
		fresh = b.seen.add("trigger:"+sc.TriggerID, now) && fresh
	}
	if sub, ok := evt.data.(submission); ok && sub.viewID != "" {
		fresh = b.seen.add("view:"+sub.viewID, now) && fresh
	}
	return fresh
}

// dispatch handles one acknowledged envelope. A panic in its handling
// is logged and ends that envelope alone, never the process.
func (b *Bot) dispatch(ctx context.Context, evt incoming) {
	defer func() {
		if p := recover(); p != nil {
			b.log.Error("slack: a command's handling panicked", "envelope", evt.id, "panic", b.clean(fmt.Sprint(p)), "stack", string(debug.Stack()))
		}
	}()
	switch data := evt.data.(type) {
	case slackapi.SlashCommand:
		b.log.Debug("slack: slash command", "envelope", evt.id, "user", data.UserID, "channel", data.ChannelID)
		b.slash(ctx, data)
	case slackapi.InteractionCallback:
		b.interaction(ctx, data)
	case submission:
		b.log.Debug("slack: form submitted", "envelope", evt.id, "user", data.user, "channel", data.channel)
		b.submit(ctx, data)
	case homeOpened:
		b.openHome(ctx, data)
	}
}

// slash turns a slash command into a commands.Request and runs it, or
// opens the form that stands for it (see form).
func (b *Bot) slash(ctx context.Context, cmd slackapi.SlashCommand) {
	req := commands.Request{
		Identity: b.identity(ctx, cmd.UserID, cmd.UserName, cmd.ChannelID),
		Channel:  cmd.ChannelID,
		Text:     cmd.Text,
	}
	r := &responder{b: b, channel: cmd.ChannelID, user: cmd.UserID, responseURL: cmd.ResponseURL}
	if b.form(ctx, cmd, req.Identity, r) {
		return
	}
	if _, err := b.cfg.Handler.Handle(ctx, req, r); err != nil {
		b.log.Error("slack: could not deliver an answer", "user", cmd.UserID, "channel", cmd.ChannelID, "err", b.clean(err.Error()))
	}
}

// identity is the Slack user as the allowlist sees them: with their user
// groups, or marked as having groups that could not be looked up.
func (b *Bot) identity(ctx context.Context, userID, userName, channel string) commands.Identity {
	groups, known := b.groups(ctx, userID, channel)
	return commands.Identity{Platform: commands.PlatformSlack, UserID: userID, UserName: userName, Groups: groups, GroupsUnknown: !known}
}

// clean removes the tokens from text bound for a log or a channel.
func (b *Bot) clean(text string) string { return b.scrub.Replace(text) }

func (b *Bot) botName() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.name
}

// slackCode is Slack's error code ("not_in_channel") in err, or "".
func slackCode(err error) string {
	var se slackapi.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return ""
}

// envelopes is a bounded, time-limited set of envelope IDs already seen.
type envelopes struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	at    map[string]time.Time
	order []string
}

func newEnvelopes(max int, ttl time.Duration) *envelopes {
	return &envelopes{max: max, ttl: ttl, at: map[string]time.Time{}}
}

// add records id and reports whether it was new. An empty id is always new.
func (e *envelopes) add(id string, now time.Time) bool {
	if id == "" {
		return true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for len(e.order) > 0 {
		oldest := e.order[0]
		if len(e.order) < e.max && now.Sub(e.at[oldest]) < e.ttl {
			break
		}
		delete(e.at, oldest)
		e.order = e.order[1:]
	}
	if _, ok := e.at[id]; ok {
		return false
	}
	e.at[id] = now
	e.order = append(e.order, id)
	return true
}
