package discord

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"odoobot/bot/thread"
	"odoobot/commands"
)

const (
	// maxInline is the longest text sent as one message (Discord allows
	// 2000 characters); longer text is split at line ends into up to
	// maxParts messages, and goes as a text file beyond that, never cut.
	maxInline = 1900
	// maxParts is the most messages one answer is split into (about
	// 7,600 characters): a few messages read well on a phone, a file
	// reads better past that.
	maxParts = 4
	// maxContent is Discord's limit on a message's content.
	maxContent = 2000
	// maxThreadName is Discord's limit on a thread's name.
	maxThreadName = 100
	// archiveAfter is a job thread's auto-archive duration, in minutes.
	archiveAfter = 1440
	// privateNote replaces the public "thinking…" placeholder when the
	// first answer is private: an ephemeral followup can only follow a
	// settled original response (the first followup after a deferred
	// response would take its place, and its visibility). Once the
	// private answer is out, the placeholder is deleted; the note stays
	// only when that deletion fails.
	privateNote = "🔒 answered privately: only you can see the answer"
	// publicNote replaces the ephemeral placeholder of a command expected
	// to be answered privately that was answered in the channel instead.
	publicNote = "✔ answered in the channel"
	// doneNote and failedNote settle a placeholder that no answer
	// replaced.
	doneNote   = "✔ done"
	failedNote = "⚠ the answer could not be delivered; the bot's log says why"
)

// outgoing is one message to send.
type outgoing struct {
	content    string
	files      []*discordgo.File
	components []discordgo.MessageComponent
	ephemeral  bool
}

// responder answers one interaction. The first visible answer to a
// command replaces the deferred response (the "thinking…" message);
// later answers are followups. Private answers are ephemeral followups.
// Everything sent through the interaction token happens while the
// command runs, well within the token's 15 minutes; a job's thread uses
// the bot token.
type responder struct {
	b *Bot
	i *discordgo.Interaction

	mu      sync.Mutex // answers go out one at a time, in order
	pending bool       // the original response is still the deferred placeholder
	private bool       // the placeholder was deferred ephemerally
}

var (
	_ commands.Responder = (*responder)(nil)
	_ commands.Thread    = (*jobThread)(nil)
)

func (b *Bot) newResponder(i *discordgo.Interaction, pending bool) *responder {
	return &responder{b: b, i: i, pending: pending}
}

// send delivers m and returns the message it became.
func (r *responder) send(ctx context.Context, m outgoing) (*discordgo.Message, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	opt := discordgo.WithContext(ctx)
	removeNote := false
	if r.pending {
		if m.ephemeral == r.private {
			components := m.components
			if components == nil {
				components = []discordgo.MessageComponent{}
			}
			msg, err := r.b.s.InteractionResponseEdit(r.i, &discordgo.WebhookEdit{
				Content: &m.content, Files: m.files, Components: &components, AllowedMentions: noMentions(),
			}, opt)
			if err != nil {
				return nil, r.b.wrap("edit the response", err, r.i.Token)
			}
			r.pending = false
			return msg, nil
		}
		note := privateNote
		if r.private {
			note = publicNote
		}
		if _, err := r.b.s.InteractionResponseEdit(r.i, &discordgo.WebhookEdit{Content: &note, AllowedMentions: noMentions()}, opt); err != nil {
			return nil, r.b.wrap("edit the response", err, r.i.Token)
		}
		r.pending = false
		// The public placeholder is removed once the private answer is
		// out: nothing of a private answer stays in the channel.
		removeNote = !r.private
	}
	params := &discordgo.WebhookParams{
		Content: m.content, Files: m.files, Components: m.components, AllowedMentions: noMentions(),
	}
	if params.Components == nil {
		params.Components = []discordgo.MessageComponent{}
	}
	if m.ephemeral {
		params.Flags = discordgo.MessageFlagsEphemeral
	}
	msg, err := r.b.s.FollowupMessageCreate(r.i, true, params, opt)
	if err != nil {
		return nil, r.b.wrap("send a followup", err, r.i.Token)
	}
	if removeNote {
		r.removeOriginal(ctx)
	}
	return msg, nil
}

// removeOriginal deletes the original response; a failure is logged,
// and leaves privateNote in the channel.
func (r *responder) removeOriginal(ctx context.Context) {
	if err := r.b.s.InteractionResponseDelete(r.i, discordgo.WithContext(ctx)); err != nil {
		r.b.log.Warn("discord: remove the public placeholder of a private answer", "interaction", r.i.ID, "err", r.b.clean(err, r.i.Token))
	}
}

// settle replaces a placeholder that no answer replaced, so that it does
// not say "thinking…" forever; failed says the handler could not deliver
// its answer.
func (r *responder) settle(ctx context.Context, failed bool) {
	r.mu.Lock()
	pending := r.pending
	r.mu.Unlock()
	if !pending {
		return
	}
	note := doneNote
	if failed {
		note = failedNote
	}
	if _, err := r.send(ctx, outgoing{content: note}); err != nil {
		r.b.log.Warn("discord: settle the response", "err", err)
	}
}

// sendAll sends ms in order, ephemeral or not, and stops at the first
// failure.
func (r *responder) sendAll(ctx context.Context, ms []outgoing, ephemeral bool) error {
	for _, m := range ms {
		m.ephemeral = ephemeral
		if _, err := r.send(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// Reply answers visibly where the command was typed; text longer than a
// message is split into several (see maxParts), or goes as a file.
func (r *responder) Reply(ctx context.Context, text string) error {
	return r.sendAll(ctx, plainMessages("reply", text), false)
}

// Private answers the requester alone, with ephemeral followups, split
// as Reply splits.
func (r *responder) Private(ctx context.Context, text string) error {
	return r.sendAll(ctx, plainMessages("answer", text), true)
}

// Failure shows a failure found while running a command as Private
// does: chat has no exit status to tell it from a refusal.
func (r *responder) Failure(ctx context.Context, text string) error {
	return r.Private(ctx, text)
}

// PrivateFile gives the requester alone the file name as an attachment
// of an ephemeral followup.
func (r *responder) PrivateFile(ctx context.Context, name, content string) error {
	m := outgoing{content: clip(name + " (attached)"),
		files: []*discordgo.File{{Name: name, ContentType: "text/plain; charset=utf-8", Reader: strings.NewReader(content)}}}
	return r.sendAll(ctx, []outgoing{m}, true)
}

// Attach answers visibly with the PNG png attached as name, alt as the
// message's text.
func (r *responder) Attach(ctx context.Context, name string, png []byte, alt string) error {
	m := outgoing{content: clip(alt),
		files: []*discordgo.File{{Name: name, ContentType: "image/png", Reader: bytes.NewReader(png)}}}
	return r.sendAll(ctx, []outgoing{m}, false)
}

// PrivateLong answers the requester alone with a code block in
// ephemeral followups, split as Long splits.
func (r *responder) PrivateLong(ctx context.Context, title, text string) error {
	return r.sendAll(ctx, longMessages(title, text), true)
}

// Secret shows text (a password) to the requester alone, as an
// ephemeral followup, and nowhere else: when that fails (the interaction
// token lasts 15 minutes) the error says so and the text is dropped,
// never sent as a direct message or any message that lasts. The text is
// never logged.
func (r *responder) Secret(ctx context.Context, text string) error {
	if err := r.sendAll(ctx, plainMessages("secret", text), true); err != nil {
		return fmt.Errorf("discord: the secret could not be shown to its requester: %w", err)
	}
	return nil
}

// Long answers visibly with a code block; one longer than a message is
// split at line ends into up to maxParts blocks, each a message, and
// beyond that the text goes as a file titled title.
func (r *responder) Long(ctx context.Context, title, text string) error {
	return r.sendAll(ctx, longMessages(title, text), false)
}

// Thread shows root as the answer and starts a thread on it, through the
// bot token; the job's lines, root edit and summary go there later. When
// Discord cannot start a thread (a direct message), the lines go to the
// channel itself.
func (r *responder) Thread(ctx context.Context, root string) (commands.Thread, error) {
	msg, err := r.send(ctx, outgoing{content: clip(root)})
	if err != nil {
		return nil, fmt.Errorf("discord: open thread: %w", err)
	}
	channel := msg.ChannelID
	if channel == "" {
		channel = r.i.ChannelID
	}
	target := channel
	ch, err := r.b.s.MessageThreadStartComplex(channel, msg.ID, &discordgo.ThreadStart{
		Name: threadName(root), AutoArchiveDuration: archiveAfter,
	}, discordgo.WithContext(ctx))
	if err != nil {
		r.b.log.Warn("discord: could not start a thread; progress goes to the channel", "channel", channel, "message", msg.ID, "err", r.b.clean(err))
	} else {
		target = ch.ID
	}
	return r.b.newThread(channel, msg.ID, target), nil
}

// Confirm shows the requester alone the prompt and a danger button whose
// click sends "confirm CODE" as the clicker.
func (r *responder) Confirm(ctx context.Context, prompt, code string) error {
	_, err := r.send(ctx, outgoing{
		content: clip(prompt + "\nOnly you can see and press this button."),
		components: []discordgo.MessageComponent{discordgo.ActionsRow{Components: []discordgo.MessageComponent{
			discordgo.Button{Label: "Confirm", Style: discordgo.DangerButton, CustomID: confirmPrefix + code},
		}}},
		ephemeral: true,
	})
	return err
}

// plainMessages is text as a message, as up to maxParts messages split
// at line ends when it is too long for one, or as a file beyond that.
func plainMessages(title, text string) []outgoing {
	if utf8.RuneCountInString(text) <= maxInline {
		return []outgoing{{content: text}}
	}
	parts := split(text, maxInline)
	if len(parts) > maxParts {
		return []outgoing{attached(title, text)}
	}
	ms := make([]outgoing, len(parts))
	for i, p := range parts {
		ms[i] = outgoing{content: p}
	}
	return ms
}

// longMessages is text as a code block titled title, as up to maxParts
// blocks split at line ends when it is too long for one message (the
// title on the first), or as a file beyond that.
func longMessages(title, text string) []outgoing {
	body := strings.ReplaceAll(text, "```", "`\u200b``")
	head := ""
	if title != "" {
		head = "**" + title + "**\n"
	}
	block := func(head, body string) outgoing { return outgoing{content: head + "```\n" + body + "\n```"} }
	if whole := block(head, body); utf8.RuneCountInString(whole.content) <= maxInline {
		return []outgoing{whole}
	}
	parts := split(body, maxInline-utf8.RuneCountInString(head+"```\n\n```"))
	if len(parts) > maxParts {
		return []outgoing{attached(title, text)}
	}
	ms := make([]outgoing, len(parts))
	for i, p := range parts {
		ms[i] = block(head, p)
		head = ""
	}
	return ms
}

// split cuts text into parts of at most limit characters, at line ends
// (the line end between two parts is dropped); a line longer than limit
// is cut within.
func split(text string, limit int) []string {
	var parts []string
	var cur []rune
	for i, line := range strings.Split(text, "\n") {
		l := []rune(line)
		if i > 0 {
			if len(cur)+1+len(l) <= limit {
				cur = append(cur, '\n')
				cur = append(cur, l...)
				continue
			}
			parts = append(parts, string(cur))
			cur = nil
		}
		for len(l) > limit {
			parts = append(parts, string(l[:limit]))
			l = l[limit:]
		}
		cur = l
	}
	return append(parts, string(cur))
}

func attached(title, text string) outgoing {
	if title == "" {
		title = "output"
	}
	return outgoing{
		content: clip(title + " (attached)"),
		files:   []*discordgo.File{{Name: fileName(title), ContentType: "text/plain; charset=utf-8", Reader: strings.NewReader(text)}},
	}
}

// clip cuts text to what a message may hold.
func clip(text string) string {
	if utf8.RuneCountInString(text) <= maxContent {
		return text
	}
	return string([]rune(text)[:maxContent-1]) + "…"
}

// threadName is root's first line, cut to a thread name's length.
func threadName(root string) string {
	name, _, _ := strings.Cut(strings.TrimSpace(root), "\n")
	if utf8.RuneCountInString(name) > maxThreadName {
		name = string([]rune(name)[:maxThreadName-1]) + "…"
	}
	if name == "" {
		name = "odoobot job"
	}
	return name
}

// fileName turns a title into a file name: "last 50 lines of acme" →
// "last-50-lines-of-acme.txt".
func fileName(title string) string {
	var sb strings.Builder
	dash := false
	for _, c := range strings.ToLower(title) {
		switch {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_':
			sb.WriteRune(c)
			dash = false
		case !dash && sb.Len() > 0:
			sb.WriteByte('-')
			dash = true
		}
		if sb.Len() >= 60 {
			break
		}
	}
	name := strings.Trim(sb.String(), "-")
	if name == "" {
		name = "output"
	}
	return name + ".txt"
}

// jobThread is a job's thread in Discord: the channel thread started on
// the root message (or the channel itself when none could be started),
// where each step has a message of its own, through the shared thread.
// Everything goes through the bot token's channel endpoints, which do
// not expire.
type jobThread struct {
	*thread.Thread
	root   string // the root message's ID
	target string // the thread's ID, or the channel when there is no thread
}

var _ thread.Platform = (*inThread)(nil)

func (b *Bot) newThread(channel, root, target string) *jobThread {
	return &jobThread{
		Thread: thread.New(thread.Config{
			Platform: &inThread{b: b, channel: channel, root: root, target: target},
			Root:     root, Layout: thread.StepMessages, Interval: b.cfg.UpdateInterval,
			Log: b.log, Attrs: []any{"thread", target},
		}),
		root: root, target: target,
	}
}

// Ref is {"channel": the thread (or the channel when there is none),
// "message": the root message}, for ReportInThread.
func (t *jobThread) Ref() map[string]string {
	return map[string]string{"channel": t.target, "message": t.root}
}

// inThread is what Discord gives a job's thread: messages posted in the
// thread (target), edits of them and of the root message (in channel),
// each cut to what a message may hold, and the summary as a titled code
// block or a file.
type inThread struct {
	b       *Bot
	channel string // where the root message is
	root    string // the root message's ID
	target  string // the thread's ID, or channel
}

// Post posts text in the thread and returns the message's ID.
func (p *inThread) Post(ctx context.Context, text string) (string, error) {
	msg, err := p.b.channelPost(ctx, p.target, outgoing{content: clip(text)})
	if err != nil {
		return "", err
	}
	return msg.ID, nil
}

// Edit replaces the content of message id: the root, in its channel, or
// a message of the thread.
func (p *inThread) Edit(ctx context.Context, id, text string) error {
	if id == p.root {
		return p.b.channelEdit(ctx, p.channel, id, clip(text))
	}
	return p.b.channelEdit(ctx, p.target, id, clip(text))
}

// Summary posts text in the thread as a code block titled "summary", or
// a file when it is long.
func (p *inThread) Summary(ctx context.Context, text string) error {
	return p.b.channelSendAll(ctx, p.target, longMessages("summary", text))
}

// ReportInThread posts text, through the bot token, in the thread named
// by the Ref of a thread this adapter opened: how a job interrupted by a
// restart is reported. Text too long for a message goes as a file.
func (b *Bot) ReportInThread(ctx context.Context, ref map[string]string, text string) error {
	channel := ref["channel"]
	if channel == "" {
		return fmt.Errorf("discord: report in thread: the reference %v names no Discord channel", ref)
	}
	return b.channelSendAll(ctx, channel, plainMessages("report", text))
}

// channelSendAll posts ms in order in a channel or thread with the bot
// token, and stops at the first failure.
func (b *Bot) channelSendAll(ctx context.Context, channel string, ms []outgoing) error {
	for _, m := range ms {
		if err := b.channelSend(ctx, channel, m); err != nil {
			return err
		}
	}
	return nil
}

// channelSend posts m in a channel or thread with the bot token.
func (b *Bot) channelSend(ctx context.Context, channel string, m outgoing) error {
	_, err := b.channelPost(ctx, channel, m)
	return err
}

// channelPost posts m in a channel or thread with the bot token and
// returns the message it became.
func (b *Bot) channelPost(ctx context.Context, channel string, m outgoing) (*discordgo.Message, error) {
	msg, err := b.s.ChannelMessageSendComplex(channel, &discordgo.MessageSend{
		Content: m.content, Files: m.files, Components: m.components, AllowedMentions: noMentions(),
	}, discordgo.WithContext(ctx))
	if err != nil {
		return nil, b.wrap("post in "+channel, err)
	}
	return msg, nil
}

// channelEdit replaces the content of message id in channel, with the bot
// token.
func (b *Bot) channelEdit(ctx context.Context, channel, id, content string) error {
	_, err := b.s.ChannelMessageEditComplex(&discordgo.MessageEdit{
		ID: id, Channel: channel, Content: &content, AllowedMentions: noMentions(),
	}, discordgo.WithContext(ctx))
	if err != nil {
		return b.wrap("edit in "+channel, err)
	}
	return nil
}

// apiError is a failed Discord call. Its message names the action and
// holds no token; Unwrap gives the underlying error.
type apiError struct {
	msg string
	err error
}

func (e *apiError) Error() string { return e.msg }
func (e *apiError) Unwrap() error { return e.err }

// wrap is err as an apiError for action, cleaned of the bot token and
// of the given interaction tokens.
func (b *Bot) wrap(action string, err error, tokens ...string) error {
	return &apiError{msg: "discord: " + action + ": " + b.clean(err, tokens...), err: err}
}

// Alert posts text in channel with the bot token: what no command asked
// for, such as a failed certificate renewal or scheduled backup.
func (b *Bot) Alert(ctx context.Context, channel, text string) error {
	if channel == "" {
		return fmt.Errorf("discord: alert: no channel")
	}
	return b.channelSendAll(ctx, channel, plainMessages("alert", text))
}
