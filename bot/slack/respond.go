package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	slackapi "github.com/slack-go/slack"

	"odoobot/bot/thread"
	"odoobot/commands"
)

const (
	// maxInline is the longest text posted as a message (or a code
	// block); anything longer is uploaded as a file, never cut.
	maxInline = 3500
	// maxHint is the longest answer copied into a private hint.
	maxHint = 2500
	// maxRateRetries bounds the waits on Slack rate limits per call.
	maxRateRetries = 3
	// maxRateWait bounds one wait on a rate limit.
	maxRateWait = time.Minute
)

// responder answers one slash command (or button click) in its channel.
type responder struct {
	b           *Bot
	channel     string
	user        string
	responseURL string // the slash command's, for when nothing else can reach the user
	// threadTS, when set, is the message whose thread the answers go to
	// (an alert whose button was clicked); "" answers in the channel.
	threadTS string
}

var _ commands.Responder = (*responder)(nil)

// Reply posts text in the channel with chat.postMessage, joining a public
// channel the bot is not in. Text longer than a message is uploaded as a
// file. When the bot cannot post there, the user is told privately.
func (r *responder) Reply(ctx context.Context, text string) error {
	if len(text) > maxInline {
		return r.Long(ctx, "reply", text)
	}
	if _, err := r.b.post(ctx, r.channel, r.threadTS, text); err != nil {
		r.undeliverable(ctx, err, text)
		return fmt.Errorf("slack: reply: %w", err)
	}
	return nil
}

// Private answers the user alone with chat.postEphemeral, or through the
// slash command's response_url when the bot cannot see the channel.
func (r *responder) Private(ctx context.Context, text string) error {
	err := r.b.ephemeralIn(ctx, r.channel, r.threadTS, r.user, text)
	if err == nil {
		return nil
	}
	if r.responseURL == "" {
		return fmt.Errorf("slack: private answer: %w", err)
	}
	if uerr := r.b.respond(ctx, r.responseURL, text); uerr != nil {
		return fmt.Errorf("slack: private answer: %w", errors.Join(err, uerr))
	}
	return nil
}

// Failure shows a failure found while running a command as Private
// does: chat has no exit status to tell it from a refusal.
func (r *responder) Failure(ctx context.Context, text string) error {
	return r.Private(ctx, text)
}

// Secret shows text (a password) to the user alone, as Private does:
// chat.postEphemeral in the channel, else the response_url (valid 30
// minutes). Neither the text nor any part of it is logged.
func (r *responder) Secret(ctx context.Context, text string) error {
	if err := r.Private(ctx, text); err != nil {
		return errors.New("slack: the secret could not be shown to its requester: " + r.b.clean(err.Error()))
	}
	return nil
}

// PrivateLong shows text to the user alone, as a code block in an
// ephemeral message. An ephemeral message carries no file, so text
// longer than a message keeps its last lines and says how many were left
// out and how to see them all.
func (r *responder) PrivateLong(ctx context.Context, title, text string) error {
	msg := codeBlock(tail(text, maxInline))
	if title != "" {
		msg = "*" + title + "*\n" + msg
	}
	if len(text) > maxInline {
		msg += "\n(the start was left out: add `share` to post them all as a file in the channel)"
	}
	return r.Private(ctx, msg)
}

// PrivateFile gives the requester alone the file name: Slack has no
// ephemeral file, so it goes to the direct message between the bot and
// the requester (conversations.open), and a private note in the channel
// says where it is.
func (r *responder) PrivateFile(ctx context.Context, name, content string) error {
	dm, err := rateLimited(ctx, r.b, func() (string, error) {
		ch, _, _, err := r.b.api.OpenConversationContext(ctx, &slackapi.OpenConversationParameters{Users: []string{r.user}})
		if err != nil || ch == nil {
			return "", err
		}
		return ch.ID, nil
	})
	if err == nil && dm == "" {
		err = errors.New("no channel in the answer")
	}
	if err != nil {
		return fmt.Errorf("slack: open a direct message for %s: %w", name, err)
	}
	_, err = rateLimited(ctx, r.b, func() (*slackapi.FileSummary, error) {
		return r.b.api.UploadFileContext(ctx, slackapi.UploadFileParameters{
			Content: content, FileSize: len(content), Filename: name, Title: name, Channel: dm,
		})
	})
	if err != nil {
		return fmt.Errorf("slack: send %s: %w", name, err)
	}
	return r.Private(ctx, name+" is in your direct messages with the bot")
}

// Attach uploads png as the file name into the command's channel (in
// the thread when the command came from one), alt as its title and
// text alternative, joining a public channel the bot is not in.
func (r *responder) Attach(ctx context.Context, name string, png []byte, alt string) error {
	err := r.b.inChannel(ctx, r.channel, func() error {
		_, err := rateLimited(ctx, r.b, func() (*slackapi.FileSummary, error) {
			return r.b.api.UploadFileContext(ctx, slackapi.UploadFileParameters{
				Content: string(png), FileSize: len(png), Filename: name, // a new reader at each try
				Title: alt, AltTxt: alt, Channel: r.channel, ThreadTimestamp: r.threadTS,
			})
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("slack: attach %s: %w", name, err)
	}
	return nil
}

// tail cuts text to about its last n bytes, on a line boundary when one
// is near, and says how many lines were left out.
func tail(text string, n int) string {
	if len(text) <= n {
		return text
	}
	cut := len(text) - n
	if i := strings.IndexByte(text[cut:], '\n'); i >= 0 && i < n/2 {
		cut += i + 1
	}
	for cut < len(text) && !utf8.RuneStart(text[cut]) {
		cut++
	}
	return fmt.Sprintf("… (%d lines left out)\n", strings.Count(text[:cut], "\n")) + text[cut:]
}

// Long posts text as a code block when it is short, else uploads it as a
// text file titled title in the channel.
func (r *responder) Long(ctx context.Context, title, text string) error {
	if err := r.b.long(ctx, r.channel, r.threadTS, title, text); err != nil {
		r.undeliverable(ctx, err, text)
		return fmt.Errorf("slack: long answer: %w", err)
	}
	return nil
}

// Thread posts root in the channel and returns the thread under it.
func (r *responder) Thread(ctx context.Context, root string) (commands.Thread, error) {
	ts, err := r.b.post(ctx, r.channel, "", root)
	if err != nil {
		r.undeliverable(ctx, err, "the job goes on, but its progress cannot be shown here:\n"+root)
		return nil, fmt.Errorf("slack: open thread: %w", err)
	}
	return r.b.newThread(r.channel, ts), nil
}

// undeliverable tells the user, privately, that a visible answer could
// not be posted and why, with the answer itself (clipped, and saying so):
// by ephemeral message, else by the response_url. It never fails
// silently: when nothing reaches the user, it logs an error.
func (r *responder) undeliverable(ctx context.Context, cause error, text string) {
	code := slackCode(cause)
	var hint string
	switch {
	case notInChannel(code):
		hint = fmt.Sprintf("I can't post in this channel (%s): invite me with /invite @%s and try again.", code, r.b.botName())
	default:
		hint = fmt.Sprintf("I could not post the answer in this channel (%s).", whyUndelivered(cause))
	}
	if text != "" {
		hint += "\nHere it is, for you only:\n" + clip(text, maxHint)
	}
	perr := r.b.ephemeral(ctx, r.channel, r.user, hint)
	if perr == nil {
		return
	}
	if r.responseURL != "" {
		uerr := r.b.respond(ctx, r.responseURL, hint)
		if uerr == nil {
			return
		}
		perr = errors.Join(perr, uerr)
	}
	r.b.log.Error("slack: could not tell the user that an answer was lost", "user", r.user, "channel", r.channel, "cause", r.b.clean(cause.Error()), "err", r.b.clean(perr.Error()))
}

// whyUndelivered says, in words, why a call to Slack failed: the error
// code Slack gave, the HTTP status it answered, or that it did not
// answer (in time, or at all).
func whyUndelivered(err error) string {
	if code := slackCode(err); code != "" {
		return code
	}
	var rl *slackapi.RateLimitedError
	if errors.As(err, &rl) {
		return "Slack is limiting the bot's messages (HTTP 429); try again in a minute"
	}
	var sc slackapi.StatusCodeError
	if errors.As(err, &sc) {
		switch {
		case sc.Code == http.StatusTooManyRequests:
			return "Slack is limiting the bot's messages (HTTP 429); try again in a minute"
		case sc.Code >= 500:
			return fmt.Sprintf("Slack answered HTTP %d, an error on Slack's side; try again in a minute", sc.Code)
		}
		return fmt.Sprintf("Slack answered HTTP %d", sc.Code)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "Slack did not answer in time"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "Slack did not answer in time"
	}
	return "Slack could not be reached"
}

// clip cuts text to about n bytes on a rune boundary and says so.
func clip(text string, n int) string {
	if len(text) <= n {
		return text
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut] + fmt.Sprintf("\n… (%d more bytes not shown here)", len(text)-cut)
}

// notInChannel reports whether a Slack error code means that the bot is
// not a member of (or cannot see) the channel.
func notInChannel(code string) bool {
	return code == "not_in_channel" || code == "channel_not_found"
}

// privateKey matches PEM private key blocks, which are never posted.
var privateKey = regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----`)

// outgoing is text as it may leave the process: without the bot's own
// tokens and without PEM private keys.
func (b *Bot) outgoing(text string) string {
	return privateKey.ReplaceAllString(b.clean(text), "[private key redacted]")
}

// codeBlock fences text so that Slack shows it verbatim.
func codeBlock(text string) string {
	return "```\n" + strings.ReplaceAll(text, "```", "`\u200b`\u200b`") + "\n```"
}

// rateLimited calls fn, waiting out Slack rate limits a bounded number
// of times (maxRateRetries): the Retry-After Slack gave, at least a
// second and at most maxRateWait; a 429 without Retry-After waits
// defaultRateWait, doubled at each attempt (1 s, 2 s, 4 s).
func rateLimited[T any](ctx context.Context, b *Bot, fn func() (T, error)) (T, error) {
	for attempt := 0; ; attempt++ {
		v, err := fn()
		wait, limited := rateWait(err, attempt)
		if !limited || attempt >= maxRateRetries {
			return v, err
		}
		b.log.Warn("slack: rate limited; waiting", "retry_after", wait, "attempt", attempt+1)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return v, errors.Join(err, ctx.Err())
		}
	}
}

// defaultRateWait is the first wait after a 429 that names none.
const defaultRateWait = time.Second

// rateWait is how long to wait before the attempt after attempt (from
// 0) when err is a rate limit, and whether it is one.
func rateWait(err error, attempt int) (time.Duration, bool) {
	var rl *slackapi.RateLimitedError
	if errors.As(err, &rl) {
		return min(max(rl.RetryAfter, time.Second), maxRateWait), true
	}
	var sc slackapi.StatusCodeError
	if errors.As(err, &sc) && sc.Code == http.StatusTooManyRequests {
		return min(defaultRateWait<<attempt, maxRateWait), true
	}
	return 0, false
}

// inChannel runs fn; when Slack says the bot is not in the channel and
// the channel is public, it joins it (conversations.join) once and runs
// fn again.
func (b *Bot) inChannel(ctx context.Context, channel string, fn func() error) error {
	err := fn()
	if !notInChannel(slackCode(err)) || !strings.HasPrefix(channel, "C") {
		return err
	}
	_, jerr := rateLimited(ctx, b, func() (*slackapi.Channel, error) {
		ch, _, _, err := b.api.JoinConversationContext(ctx, channel)
		return ch, err
	})
	if jerr != nil {
		b.log.Warn("slack: could not join channel", "channel", channel, "err", b.clean(jerr.Error()))
		return errors.Join(err, fmt.Errorf("slack: conversations.join %s: %w", channel, jerr))
	}
	b.log.Info("slack: joined channel", "channel", channel)
	return fn()
}

// post posts text in channel (in the thread of threadTS when set) and
// returns the message's ts.
func (b *Bot) post(ctx context.Context, channel, threadTS, text string) (string, error) {
	opts := []slackapi.MsgOption{slackapi.MsgOptionText(b.outgoing(text), true), slackapi.MsgOptionDisableLinkUnfurl()}
	if threadTS != "" {
		opts = append(opts, slackapi.MsgOptionTS(threadTS))
	}
	var ts string
	err := b.inChannel(ctx, channel, func() error {
		var err error
		ts, err = rateLimited(ctx, b, func() (string, error) {
			_, ts, err := b.api.PostMessageContext(ctx, channel, opts...)
			return ts, err
		})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("slack: chat.postMessage: %w", err)
	}
	return ts, nil
}

// update replaces the text of the message ts.
func (b *Bot) update(ctx context.Context, channel, ts, text string) error {
	_, err := rateLimited(ctx, b, func() (string, error) {
		_, _, _, err := b.api.UpdateMessageContext(ctx, channel, ts, slackapi.MsgOptionText(b.outgoing(text), true))
		return "", err
	})
	if err != nil {
		return fmt.Errorf("slack: chat.update: %w", err)
	}
	return nil
}

// ephemeral shows text (and blocks) to user alone in channel.
func (b *Bot) ephemeral(ctx context.Context, channel, user, text string, blocks ...slackapi.Block) error {
	return b.ephemeralIn(ctx, channel, "", user, text, blocks...)
}

// ephemeralIn is ephemeral in the thread of threadTS when it is set.
func (b *Bot) ephemeralIn(ctx context.Context, channel, threadTS, user, text string, blocks ...slackapi.Block) error {
	opts := []slackapi.MsgOption{slackapi.MsgOptionText(b.outgoing(text), true)}
	if threadTS != "" {
		opts = append(opts, slackapi.MsgOptionTS(threadTS))
	}
	if len(blocks) > 0 {
		opts = append(opts, slackapi.MsgOptionBlocks(blocks...))
	}
	_, err := rateLimited(ctx, b, func() (string, error) {
		return b.api.PostEphemeralContext(ctx, channel, user, opts...)
	})
	if err != nil {
		return fmt.Errorf("slack: chat.postEphemeral: %w", err)
	}
	return nil
}

// long posts text as a code block under a bold title when it fits in a
// message, else uploads it as a text file (in the thread of threadTS when
// set).
func (b *Bot) long(ctx context.Context, channel, threadTS, title, text string) error {
	if len(text) <= maxInline {
		msg := codeBlock(text)
		if title != "" {
			msg = "*" + title + "*\n" + msg
		}
		_, err := b.post(ctx, channel, threadTS, msg)
		return err
	}
	content := b.outgoing(text)
	err := b.inChannel(ctx, channel, func() error {
		_, err := rateLimited(ctx, b, func() (*slackapi.FileSummary, error) {
			return b.api.UploadFileContext(ctx, slackapi.UploadFileParameters{
				Content: content, FileSize: len(content), Filename: fileName(title),
				Title: title, Channel: channel, ThreadTimestamp: threadTS, SnippetType: "text",
			})
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("slack: upload %q: %w", title, err)
	}
	return nil
}

// fileName turns a title into a file name: "last 50 lines of acme" →
// "last-50-lines-of-acme.txt".
func fileName(title string) string {
	var sb strings.Builder
	dash := false
	for _, c := range strings.ToLower(title) {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_'
		switch {
		case ok:
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
	name := strings.Trim(sb.String(), "-.")
	if name == "" {
		name = "output"
	}
	return name + ".txt"
}

// respond answers through a slash command's (or a click's) response_url,
// ephemerally, with blocks when given. The request carries no token.
func (b *Bot) respond(ctx context.Context, responseURL, text string, blocks ...slackapi.Block) error {
	msg := map[string]any{"response_type": "ephemeral", "text": b.outgoing(text)}
	if len(blocks) > 0 {
		msg["blocks"] = blocks
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("slack: response_url: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, responseURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("slack: response_url: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.plain.Do(req)
	if err != nil {
		return fmt.Errorf("slack: response_url: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("slack: response_url: %s", resp.Status)
	}
	return nil
}

// ReportInThread posts text in an existing thread, named by the Ref of a
// thread this adapter opened ({"channel": …, "ts": …}): how a job
// interrupted by a crash is reported after a restart. Text too long for
// a message is uploaded as a file in the thread.
func (b *Bot) ReportInThread(ctx context.Context, ref map[string]string, text string) error {
	channel, ts := ref["channel"], ref["ts"]
	if channel == "" || ts == "" {
		return fmt.Errorf("slack: report in thread: the reference %v names no Slack thread", ref)
	}
	if len(text) > maxInline {
		return b.long(ctx, channel, ts, "report", text)
	}
	_, err := b.post(ctx, channel, ts, text)
	return err
}

// jobThread is a job's thread in Slack: the root message's replies
// (thread_ts), with one status message, through the shared thread.
type jobThread struct {
	*thread.Thread
	channel string
	ts      string
}

var (
	_ commands.Thread = (*jobThread)(nil)
	_ thread.Platform = (*inThread)(nil)
)

func (b *Bot) newThread(channel, ts string) *jobThread {
	return &jobThread{
		Thread: thread.New(thread.Config{
			Platform: &inThread{b: b, channel: channel, ts: ts},
			Root:     ts, Layout: thread.StatusMessage, Interval: b.cfg.UpdateInterval,
			Log: b.log, Attrs: []any{"channel", channel, "thread", ts},
		}),
		channel: channel, ts: ts,
	}
}

// Ref is {"channel": C…, "ts": the root message's ts}, for ReportInThread.
func (t *jobThread) Ref() map[string]string {
	return map[string]string{"channel": t.channel, "ts": t.ts}
}

// inThread is what Slack gives a job's thread: replies under the root
// ts of channel, chat.update of its messages, and summaries as a code
// block or a file. Its errors hold no token.
type inThread struct {
	b       *Bot
	channel string
	ts      string
}

// Post posts text in the thread and returns its ts.
func (p *inThread) Post(ctx context.Context, text string) (string, error) {
	ts, err := p.b.post(ctx, p.channel, p.ts, text)
	return ts, p.b.cleanErr(err)
}

// Edit replaces the text of the message ts of the channel.
func (p *inThread) Edit(ctx context.Context, ts, text string) error {
	return p.b.cleanErr(p.b.update(ctx, p.channel, ts, text))
}

// Summary posts text in the thread as a code block, or a file when long.
func (p *inThread) Summary(ctx context.Context, text string) error {
	return p.b.cleanErr(p.b.long(ctx, p.channel, p.ts, "", text))
}

// cleanError is an error whose text was cleaned of the bot's tokens;
// Unwrap gives the original.
type cleanError struct {
	msg string
	err error
}

func (e *cleanError) Error() string { return e.msg }
func (e *cleanError) Unwrap() error { return e.err }

// cleanErr is err with its text cleaned of the bot's tokens (nil for nil).
func (b *Bot) cleanErr(err error) error {
	if err == nil {
		return nil
	}
	return &cleanError{msg: b.clean(err.Error()), err: err}
}

// Alert posts text at the top of channel: what no command asked for,
// such as a failed certificate renewal or scheduled backup.
func (b *Bot) Alert(ctx context.Context, channel, text string) error {
	if channel == "" {
		return fmt.Errorf("slack: alert: no channel")
	}
	if len(text) > maxInline {
		return b.long(ctx, channel, "", "alert", text)
	}
	_, err := b.post(ctx, channel, "", text)
	return err
}
