// Package discord is the Discord adapter of odoobot: it connects to the
// Discord gateway, registers the /odoo application command (one
// subcommand per verb), turns its interactions into commands.Request and
// answers as a commands.Responder: a deferred response at once, then the
// answer in the original response, private answers as ephemeral
// followups (a public placeholder they leave behind is deleted), long
// output as up to four messages and as a file beyond, one thread per
// long job, and a danger button for confirmations. Options naming an
// instance, a backup or a TLS mode autocomplete: Discord asks as the
// user types, and the choices come from the Handler's Suggest.
//
// Interaction tokens expire after 15 minutes, so everything a job posts
// later (its thread lines, the final edit of its root message, the
// summary) goes through the bot token's channel endpoints instead.
//
// No discordgo type leaves this package.
package discord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"

	"odoobot/commands"
	"odoobot/provision"
)

// Handler runs one chat request; *commands.Dispatcher satisfies it.
type Handler interface {
	Handle(ctx context.Context, req commands.Request, r commands.Responder) (*provision.Task, error)
	// AnswersPrivately reports whether Handle would answer req to its
	// requester alone, before running it: such a command is deferred
	// ephemerally, every other one publicly. A Handler that cannot tell
	// returns false.
	AnswersPrivately(req commands.Request) bool
	// Suggest returns the values id may pick in channel for field (a
	// commands.Field…) of verb, those starting with typed, for an
	// autocomplete; name is the instance already given. It runs nothing
	// and audits nothing; a requester whose role may not run verb gets
	// none. See commands.Dispatcher.Suggest.
	Suggest(ctx context.Context, id commands.Identity, channel string, verb commands.Verb, field, name, typed string) []commands.Choice
}

var _ Handler = (*commands.Dispatcher)(nil)

// DefaultAPIURL is the REST base used when Config.APIURL is empty.
const DefaultAPIURL = "https://discord.com/api/v10/"

// Config configures a Bot. Token, AppID and Handler are required.
type Config struct {
	// Token is the bot token (DISCORD_BOT_TOKEN), with or without its
	// "Bot " prefix. It is sent only in the Authorization header of
	// requests to APIURL (and in the gateway's identify), never logged.
	Token string
	// AppID is the application's ID (DISCORD_APP_ID), a snowflake.
	AppID string
	// GuildID (DISCORD_GUILD_ID), when set, registers /odoo in that guild
	// alone, where it appears at once; when empty the command is global.
	GuildID string
	// APIURL is the REST base (DISCORD_API_URL), default DefaultAPIURL.
	// discordgo builds its URLs from package variables; rather than
	// change them, the session's HTTP client rewrites every request's
	// base to this one (see rebase). Proxies and tests set it.
	APIURL string
	// Handler runs the commands.
	Handler Handler
	// Logger receives the adapter's logs; discarded when nil.
	Logger *slog.Logger
	// UpdateInterval is the least time between two edits of a job
	// thread's step line by its progress; default DefaultUpdateInterval.
	UpdateInterval time.Duration
	// GatewayIdle is the longest the gateway may stay silent before its
	// connection is dropped and resumed on a new one; default
	// DefaultGatewayIdle, above Discord's heartbeat interval (41.25 s),
	// whose ACK is the least the gateway sends.
	GatewayIdle time.Duration
	// HelloWait is the longest wait for the gateway's HELLO once the
	// websocket is open (Discord sends it at once); a connection without
	// one is dropped and the bot connects again. Default
	// DefaultHelloWait; GatewayIdle when that is shorter.
	HelloWait time.Duration
	// IdentifyWait is the least pause between two IDENTIFYs (Discord
	// asks for 1–5 s after an invalid session); a random part up to 4
	// times as much is added. Default DefaultIdentifyWait.
	IdentifyWait time.Duration
	// RetryWait is the first pause before Run connects again after a
	// failed start; it doubles with each failure, up to a minute.
	// Default DefaultRetryWait.
	RetryWait time.Duration
	// SuggestWait is the longest an autocomplete waits for the Handler's
	// suggestions before it answers with none (Discord shows nothing
	// after 3 s). Default DefaultSuggestWait.
	SuggestWait time.Duration
}

// The defaults of Config's gateway settings.
const (
	DefaultGatewayIdle  = time.Minute
	DefaultHelloWait    = 10 * time.Second
	DefaultIdentifyWait = time.Second
	DefaultRetryWait    = time.Second
)

// closeWait is how long a shutdown waits for the clean close of the
// gateway (a close frame with 1000, then discordgo's second for the
// gateway's answer) before it drops the connection.
const closeWait = 3 * time.Second

// DefaultUpdateInterval keeps a step line's progress edits to one a
// second, well within Discord's rate limits.
const DefaultUpdateInterval = time.Second

// Bot is a Discord adapter. Build it with New, start it with Run. Its
// methods are safe for concurrent use.
type Bot struct {
	cfg     Config
	log     *slog.Logger
	s       *discordgo.Session
	gw      *gatewayConns
	scrub   *strings.Replacer
	token   string // without the "Bot " prefix
	running sync.WaitGroup

	fatal chan error // a refusal met once connected: Run returns it

	mu           sync.Mutex
	stopping     bool
	reconnecting bool      // a Disconnect's handler is opening the gateway again
	downSince    time.Time // when the gateway was lost, until it is back
}

var snowflake = regexp.MustCompile(`^[0-9]{17,20}$`)

// New checks cfg and builds a Bot. It makes no network call.
func New(cfg Config) (*Bot, error) {
	token := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(cfg.Token), "Bot "))
	switch {
	case token == "":
		return nil, errors.New("discord: new: the bot token (DISCORD_BOT_TOKEN) is missing")
	case cfg.AppID == "":
		return nil, errors.New("discord: new: the application ID (DISCORD_APP_ID) is missing")
	case !snowflake.MatchString(cfg.AppID):
		return nil, fmt.Errorf("discord: new: DISCORD_APP_ID %q is not an application ID (17–20 digits)", cfg.AppID)
	case cfg.GuildID != "" && !snowflake.MatchString(cfg.GuildID):
		return nil, fmt.Errorf("discord: new: DISCORD_GUILD_ID %q is not a guild ID (17–20 digits)", cfg.GuildID)
	case cfg.Handler == nil:
		return nil, errors.New("discord: new: no Handler")
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	if !strings.HasSuffix(cfg.APIURL, "/") {
		cfg.APIURL += "/"
	}
	u, err := url.Parse(cfg.APIURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
		return nil, fmt.Errorf("discord: new: DISCORD_API_URL %q is not an http(s) base URL", cfg.APIURL)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.UpdateInterval <= 0 {
		cfg.UpdateInterval = DefaultUpdateInterval
	}
	if cfg.GatewayIdle <= 0 {
		cfg.GatewayIdle = DefaultGatewayIdle
	}
	if cfg.HelloWait <= 0 {
		cfg.HelloWait = DefaultHelloWait
	}
	if cfg.IdentifyWait <= 0 {
		cfg.IdentifyWait = DefaultIdentifyWait
	}
	if cfg.RetryWait <= 0 {
		cfg.RetryWait = DefaultRetryWait
	}
	if cfg.SuggestWait <= 0 {
		cfg.SuggestWait = DefaultSuggestWait
	}
	s, err := discordgo.New("Bot " + token)
	if err != nil {
		return nil, fmt.Errorf("discord: new session: %w", err)
	}
	s.Client = &http.Client{
		Timeout: 30 * time.Second,
		Transport: &rebase{from: discordgo.EndpointAPI, to: cfg.APIURL, next: &retrying{
			next: http.DefaultTransport, waits: defaultRetryWaits, log: cfg.Logger,
		}},
	}
	s.Identify.Intents = discordgo.IntentsGuilds // interactions arrive whatever the intents
	// Uncompressed payloads: every frame the gateway sends is then text
	// that gatewayConns can follow (a bot in a few guilds saves little).
	s.Compress = false
	// Run reconnects a dropped gateway itself: discordgo's own loop reads
	// this flag unlocked from its goroutines, so a shutdown could not
	// turn it off safely, and it never gives up.
	s.ShouldReconnectOnError = false
	s.LogLevel = discordgo.LogError
	gw := newGatewayConns(cfg.GatewayIdle, cfg.HelloWait, cfg.IdentifyWait, 5*cfg.IdentifyWait, cfg.Logger.Warn)
	s.Dialer = &websocket.Dialer{
		NetDialContext: gw.dial, NetDialTLSContext: gw.dialTLS,
		HandshakeTimeout: 15 * time.Second, Proxy: http.ProxyFromEnvironment,
	}
	return &Bot{
		cfg:   cfg,
		log:   cfg.Logger,
		s:     s,
		gw:    gw,
		fatal: make(chan error, 1),
		token: token,
		scrub: strings.NewReplacer(token, "[redacted]"),
	}, nil
}

// Run opens the gateway session, registers /odoo (see Register) and
// handles interactions until ctx is cancelled; it then closes the
// session cleanly (a close frame with code 1000, within closeWait),
// waits for the commands in progress to hand over, and returns nil. A
// start that fails for a reason retrying may mend (Discord answering
// 503, a gateway that never says HELLO) is logged and tried again after
// a back-off that doubles from Config.RetryWait up to a minute. A refused
// token or configuration stops Run with an error naming what to check:
// REST's 401, 403 and 404, and the gateway close codes Discord says not
// to reconnect after (4004 authentication failed, 4010 invalid shard,
// 4011 sharding required, 4012 invalid API version, 4013 invalid
// intents, 4014 disallowed intents), at start or later. Once connected,
// a dropped gateway is logged at WARN with the close code, and opened
// again (discordgo resumes the session) with the same back-off, each
// step logged, until ctx is cancelled; its return is logged at WARN
// with how long it was down and whether the session was resumed (else
// the events sent meanwhile are lost).
func (b *Bot) Run(ctx context.Context) error {
	remove := []func(){
		b.s.AddHandler(func(_ *discordgo.Session, ic *discordgo.InteractionCreate) {
			b.mu.Lock()
			if b.stopping {
				b.mu.Unlock()
				return
			}
			b.running.Add(1)
			b.mu.Unlock()
			defer b.running.Done()
			defer b.recovered("interaction")
			b.handleInteraction(ctx, ic)
		}),
		b.s.AddHandler(func(_ *discordgo.Session, r *discordgo.Ready) {
			defer b.recovered("ready")
			if r != nil && r.User != nil {
				b.log.Info("discord: connected", "bot", r.User.Username, "bot_user", r.User.ID, "guilds", len(r.Guilds))
			}
			b.back(false)
		}),
		b.s.AddHandler(func(_ *discordgo.Session, _ *discordgo.Resumed) {
			defer b.recovered("resumed")
			b.log.Info("discord: gateway session resumed")
			b.back(true)
		}),
		b.s.AddHandler(func(_ *discordgo.Session, _ *discordgo.Disconnect) {
			b.mu.Lock()
			if b.stopping || b.reconnecting {
				b.mu.Unlock()
				return
			}
			b.reconnecting = true
			if b.downSince.IsZero() {
				b.downSince = time.Now()
				if lost := b.gw.takeLost(); !lost.IsZero() {
					b.downSince = lost // discordgo reports the loss a second late
				}
			}
			b.running.Add(1)
			b.mu.Unlock()
			defer b.running.Done()
			defer b.recovered("disconnect")
			code := b.gw.takeClose()
			if err := closeRefusal(code); err != nil {
				b.mu.Lock()
				b.reconnecting = false
				b.mu.Unlock()
				b.stop(err)
				return
			}
			if code != 0 {
				b.log.Warn("discord: gateway disconnected; reconnecting", "close_code", code)
			} else {
				b.log.Warn("discord: gateway disconnected (the connection dropped or went silent); reconnecting")
			}
			b.reconnect(ctx)
		}),
	}
	defer func() {
		for _, f := range remove {
			f()
		}
	}()
	if err := b.start(ctx); err != nil {
		return err
	}
	var fatal error
	select {
	case <-ctx.Done():
	case fatal = <-b.fatal:
	}
	b.shutdown()
	b.running.Wait()
	return fatal
}

// shutdown closes the gateway: cleanly, with a close frame of code
// 1000, when a connection is open; an Open in progress (a reconnect),
// which holds the session's lock, is ended by closing its connection,
// and so is a clean close that takes longer than closeWait.
func (b *Bot) shutdown() {
	b.mu.Lock()
	b.stopping = true
	reconnecting := b.reconnecting
	b.mu.Unlock()
	b.gw.beginStop()
	if reconnecting {
		b.gw.closeAll()
	}
	closed := make(chan error, 1)
	go func() { closed <- b.s.CloseWithCode(websocket.CloseNormalClosure) }()
	var err error
	select {
	case err = <-closed:
	case <-time.After(closeWait):
		b.gw.closeAll()
		err = <-closed
	}
	b.gw.closeAll()
	if err != nil {
		b.log.Warn("discord: close gateway", "err", b.clean(err))
	}
}

// stop makes Run return err (the first one given).
func (b *Bot) stop(err error) {
	select {
	case b.fatal <- err:
	default:
	}
}

// back logs, at WARN, that the gateway is back after it was lost (a
// disconnect, a failed start), how long it was down, and whether the
// session was resumed; it does nothing when nothing was lost.
func (b *Bot) back(resumed bool) {
	b.mu.Lock()
	since := b.downSince
	b.downSince = time.Time{}
	b.mu.Unlock()
	if since.IsZero() {
		return
	}
	down := time.Since(since).Round(time.Millisecond).String()
	if resumed {
		b.log.Warn("discord: gateway back; the session was resumed, no event was lost", "down", down, "resumed", true)
	} else {
		b.log.Warn("discord: gateway back with a new session; what was sent while it was down is lost", "down", down, "resumed", false)
	}
}

// start opens the gateway and registers /odoo, trying again with
// back-off until it works, ctx ends (nil), or Discord refuses the token
// or the configuration (the error).
func (b *Bot) start(ctx context.Context) error {
	wait := b.cfg.RetryWait
	for {
		stop := context.AfterFunc(ctx, b.gw.stop) // shutdown ends an Open in progress
		err := b.s.Open()
		stop()
		if errors.Is(err, discordgo.ErrWSAlreadyOpen) {
			err = nil
		}
		if err == nil { // the failures before this Open are over
			b.gw.takeLost()
			b.gw.takeClose()
		}
		if err != nil {
			err = b.openHint(err)
		} else if err = b.Register(ctx); err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
		if refused(err) {
			// Stopping first: the Disconnect event that Close emits must
			// not start a reconnect once Run has returned.
			b.mu.Lock()
			b.stopping = true
			b.mu.Unlock()
			b.gw.stop()
			b.s.Close()
			return err
		}
		b.mu.Lock()
		if b.downSince.IsZero() {
			b.downSince = time.Now()
		}
		b.mu.Unlock()
		b.log.Warn("discord: could not start; trying again", "err", err, "in", wait)
		if !backOff(ctx, &wait) {
			return nil
		}
	}
}

// backOff waits *wait, then doubles it up to a minute; it reports false,
// at once, when ctx ends first.
func backOff(ctx context.Context, wait *time.Duration) bool {
	t := time.NewTimer(*wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	}
	*wait = min(2**wait, time.Minute)
	return true
}

// reconnect opens the dropped gateway again, with start's back-off,
// until it is open or ctx ends.
func (b *Bot) reconnect(ctx context.Context) {
	defer func() {
		b.mu.Lock()
		b.reconnecting = false
		b.mu.Unlock()
	}()
	wait := b.cfg.RetryWait
	for ctx.Err() == nil {
		err := b.s.Open()
		if err == nil || errors.Is(err, discordgo.ErrWSAlreadyOpen) {
			b.gw.takeClose()
			b.gw.takeLost()
			b.log.Info("discord: gateway open again")
			return
		}
		if ctx.Err() != nil {
			return
		}
		if err = b.openHint(err); refused(err) {
			b.stop(err)
			return
		}
		b.log.Warn("discord: could not reconnect; trying again", "err", err, "in", wait)
		if !backOff(ctx, &wait) {
			return
		}
	}
}

// recovered, deferred by every handler discordgo runs (each in its own
// goroutine, where a panic would end the process), logs a panic and lets
// the handler end alone.
func (b *Bot) recovered(handler string) {
	if p := recover(); p != nil {
		b.log.Error("discord: a handler panicked", "handler", handler, "panic", b.scrub.Replace(fmt.Sprint(p)), "stack", string(debug.Stack()))
	}
}

// authHint wraps err, telling which variable to check when Discord
// refused the token or the URL (such an error is a *refusal).
func (b *Bot) authHint(action string, err error) error {
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Response != nil {
		switch re.Response.StatusCode {
		case http.StatusUnauthorized:
			return &refusal{fmt.Sprintf("discord: %s: the bot token was refused (401): check DISCORD_BOT_TOKEN", action)}
		case http.StatusForbidden:
			return &refusal{fmt.Sprintf("discord: %s: forbidden (403): check DISCORD_APP_ID, DISCORD_GUILD_ID and that the bot was invited with the applications.commands scope", action)}
		case http.StatusNotFound:
			return &refusal{fmt.Sprintf("discord: %s: not found (404): check DISCORD_API_URL, DISCORD_APP_ID and DISCORD_GUILD_ID", action)}
		}
	}
	return fmt.Errorf("discord: %s: %s", action, b.clean(err))
}

// openHint is the error of a failed Open: a refusal when the gateway
// closed the connection with a code Discord says not to reconnect after,
// or when REST refused the token or the URL (authHint).
func (b *Bot) openHint(err error) error {
	code := b.gw.takeClose()
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		code = ce.Code
	}
	if r := closeRefusal(code); r != nil {
		return r
	}
	return b.authHint("open gateway", err)
}

// closeRefusal is the refusal a gateway close code means, or nil for a
// code after which Discord says to reconnect (and for 0, no code). The
// codes are those of Discord's "Gateway Close Event Codes" whose
// Reconnect is false.
func closeRefusal(code int) error {
	var why string
	switch code {
	case 4004:
		why = "authentication failed (close code 4004): the bot token was refused: check DISCORD_BOT_TOKEN"
	case 4010:
		why = "invalid shard (close code 4010): odoobot connects as one shard; check that nothing else sets its shard"
	case 4011:
		why = "sharding required (close code 4011): the bot is in too many guilds for one connection, and odoobot does not shard"
	case 4012:
		why = "invalid API version (close code 4012): the gateway no longer accepts the version odoobot's Discord library speaks; check DISCORD_API_URL, or update odoobot"
	case 4013:
		why = "invalid intents (close code 4013): the gateway refused the intents odoobot asks for (GUILDS)"
	case 4014:
		why = "disallowed intents (close code 4014): the application is not allowed the intents odoobot asks for (GUILDS): check its settings in the Discord Developer Portal"
	default:
		return nil
	}
	return &refusal{"discord: gateway: " + why}
}

// refusal is Discord refusing the token or the configuration: retrying
// cannot mend it.
type refusal struct{ msg string }

func (e *refusal) Error() string { return e.msg }

func refused(err error) bool {
	var r *refusal
	return errors.As(err, &r)
}

// Register replaces the application's commands with /odoo
// (ApplicationCommandBulkOverwrite), in Config.GuildID when set, else
// globally. It is idempotent; Run calls it after connecting.
func (b *Bot) Register(ctx context.Context) error {
	_, err := b.s.ApplicationCommandBulkOverwrite(b.cfg.AppID, b.cfg.GuildID,
		[]*discordgo.ApplicationCommand{applicationCommand()}, discordgo.WithContext(ctx))
	if err != nil {
		return b.authHint("register /odoo", err)
	}
	where := "globally"
	if b.cfg.GuildID != "" {
		where = "in guild " + b.cfg.GuildID
	}
	b.log.Info("discord: /odoo registered " + where)
	return nil
}

// confirmPrefix starts the custom_id of a confirmation button; the code
// follows.
const confirmPrefix = "odoobot_confirm:"

var confirmCode = regexp.MustCompile(`^[0-9a-f]{1,64}$`)

// handleInteraction answers one interaction: /odoo, its autocompletes,
// the confirmation buttons and the alerts' buttons; anything else is
// ignored.
func (b *Bot) handleInteraction(ctx context.Context, ic *discordgo.InteractionCreate) {
	if ic == nil || ic.Interaction == nil {
		return
	}
	i := ic.Interaction
	switch i.Type {
	case discordgo.InteractionApplicationCommand:
		data, ok := i.Data.(discordgo.ApplicationCommandInteractionData)
		if !ok || data.Name != commandName {
			return
		}
		b.command(ctx, i, commandText(data))
	case discordgo.InteractionApplicationCommandAutocomplete:
		data, ok := i.Data.(discordgo.ApplicationCommandInteractionData)
		if !ok || data.Name != commandName {
			return
		}
		b.autocomplete(ctx, i, data)
	case discordgo.InteractionMessageComponent:
		data, ok := i.Data.(discordgo.MessageComponentInteractionData)
		switch {
		case !ok:
		case strings.HasPrefix(data.CustomID, confirmPrefix):
			b.confirmClick(ctx, i, strings.TrimPrefix(data.CustomID, confirmPrefix))
		case strings.HasPrefix(data.CustomID, alertPrefix):
			b.alertClick(ctx, i, strings.TrimPrefix(data.CustomID, alertPrefix))
		case strings.HasPrefix(data.CustomID, approvePrefix):
			b.approvalClick(ctx, i, true, strings.TrimPrefix(data.CustomID, approvePrefix))
		case strings.HasPrefix(data.CustomID, denyPrefix):
			b.approvalClick(ctx, i, false, strings.TrimPrefix(data.CustomID, denyPrefix))
		}
	}
}

// command acknowledges /odoo at once with a deferred response, then runs
// the command; the answers replace the "thinking…" placeholder. A
// command whose answer will be private (a refusal, a confirmation
// prompt) is deferred ephemerally, so that nothing of it shows in the
// channel.
func (b *Bot) command(ctx context.Context, i *discordgo.Interaction, text string) {
	req := commands.Request{Identity: identity(i), Channel: i.ChannelID, Text: text}
	private := b.cfg.Handler.AnswersPrivately(req)
	resp := &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredChannelMessageWithSource}
	if private {
		resp.Data = &discordgo.InteractionResponseData{Flags: discordgo.MessageFlagsEphemeral}
	}
	if err := b.s.InteractionRespond(i, resp, discordgo.WithContext(ctx)); err != nil {
		b.log.Error("discord: acknowledge command", "interaction", i.ID, "err", b.clean(err, i.Token))
		return
	}
	b.log.Debug("discord: command", "interaction", i.ID, "user", req.Identity.UserID, "channel", req.Channel, "private", private)
	r := b.newResponder(i, true)
	r.private = private
	failed := true // until Handle returns: a panic settles the placeholder as failed
	defer func() { r.settle(ctx, failed) }()
	_, err := b.cfg.Handler.Handle(ctx, req, r)
	if err != nil {
		b.log.Error("discord: could not deliver an answer", "user", req.Identity.UserID, "channel", req.Channel, "err", b.clean(err, i.Token))
	}
	failed = err != nil
}

// confirmClick runs "confirm CODE" as the user who clicked a
// confirmation button. The click is acknowledged with a deferred update;
// when the confirmation is accepted, the button is removed from the
// prompt, so that it is clicked once. A refused click (someone else's,
// expired, used) leaves the prompt as it is and is answered privately.
func (b *Bot) confirmClick(ctx context.Context, i *discordgo.Interaction, code string) {
	err := b.s.InteractionRespond(i, &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseDeferredMessageUpdate,
	}, discordgo.WithContext(ctx))
	if err != nil {
		b.log.Error("discord: acknowledge click", "interaction", i.ID, "err", b.clean(err, i.Token))
		return
	}
	r := b.newResponder(i, false)
	if !confirmCode.MatchString(code) {
		if err := r.Private(ctx, "this button is not valid: run the command again"); err != nil {
			b.log.Error("discord: confirmation answer", "err", b.clean(err, i.Token))
		}
		return
	}
	req := commands.Request{Identity: identity(i), Channel: i.ChannelID, Text: "confirm " + code}
	if !b.cfg.Handler.AnswersPrivately(req) {
		prompt := ""
		if i.Message != nil {
			prompt = i.Message.Content
		}
		content := strings.TrimSpace(prompt + "\n✔ confirmation sent")
		none := []discordgo.MessageComponent{}
		if _, err := b.s.InteractionResponseEdit(i, &discordgo.WebhookEdit{Content: &content, Components: &none, AllowedMentions: noMentions()}, discordgo.WithContext(ctx)); err != nil {
			b.log.Warn("discord: remove confirmation button", "err", b.clean(err, i.Token))
		}
	}
	if _, err := b.cfg.Handler.Handle(ctx, req, r); err != nil {
		b.log.Error("discord: could not deliver an answer", "user", req.Identity.UserID, "channel", req.Channel, "err", b.clean(err, i.Token))
	}
}

// identity is who sent an interaction: the member in a guild (with its
// roles as Groups), the user in a direct message.
func identity(i *discordgo.Interaction) commands.Identity {
	id := commands.Identity{Platform: commands.PlatformDiscord}
	u, nick := i.User, ""
	if i.Member != nil {
		if i.Member.User != nil {
			u = i.Member.User
		}
		nick = i.Member.Nick
		id.Groups = slices.Clone(i.Member.Roles)
	}
	if u != nil {
		id.UserID = u.ID
		for _, n := range []string{nick, u.GlobalName, u.Username} {
			if n != "" {
				id.UserName = n
				break
			}
		}
	}
	return id
}

// clean is err's text without the bot token and the given interaction
// tokens (which appear in webhook URLs), for a log.
func (b *Bot) clean(err error, tokens ...string) string {
	s := b.scrub.Replace(err.Error())
	for _, t := range tokens {
		if t != "" {
			s = strings.ReplaceAll(s, t, "[interaction-token]")
		}
	}
	return s
}

// noMentions keeps a message from pinging anyone, whatever its text
// (log lines may hold "@everyone").
func noMentions() *discordgo.MessageAllowedMentions {
	return &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}}
}
