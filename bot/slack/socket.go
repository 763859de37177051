package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	slackapi "github.com/slack-go/slack"
)

const (
	// maxEnvelope bounds one Socket Mode envelope. The largest Slack
	// sends odoobot is a block_actions click, which carries the whole
	// message clicked: at most 50 blocks of at most 3,000 characters,
	// about 150 kB once escaped; a slash command's text is at most 4,000
	// characters. 1 MiB leaves room for Slack's growth and keeps one
	// envelope's buffer small; a larger one is read off the connection
	// and dropped, never kept or decoded.
	maxEnvelope = 1 << 20
	// pingTimeout is how long a connection may go without a frame or a
	// ping from Slack before it is taken for dead and replaced (Slack
	// pings every few seconds).
	pingTimeout = time.Minute
	// writeTimeout bounds one write on the connection (an ack, a pong).
	writeTimeout = 10 * time.Second
	// reasonLinkDisabled is the reason of the `disconnect` Slack sends
	// when the app's Socket Mode was turned off.
	reasonLinkDisabled = "link_disabled"
)

// incoming is one envelope read off the connection, acknowledged already:
// a slash command or an interaction to run, or nothing (data nil) for an
// envelope that runs nothing.
type incoming struct {
	id      string
	attempt int
	reason  string // Slack's retry_reason
	data    any    // slackapi.SlashCommand, slackapi.InteractionCallback, submission or nil
}

// frame is a Socket Mode frame: an envelope, hello or disconnect.
type frame struct {
	Type         string          `json:"type"`
	EnvelopeID   string          `json:"envelope_id"`
	Payload      json.RawMessage `json:"payload"`
	RetryAttempt int             `json:"retry_attempt"`
	RetryReason  string          `json:"retry_reason"`
	Reason       string          `json:"reason"`
	DebugInfo    struct {
		Host string `json:"host"`
	} `json:"debug_info"`
}

// socket is one Socket Mode connection; its writes are serialised.
type socket struct {
	conn *websocket.Conn
	wmu  sync.Mutex
}

// ack acknowledges the envelope id, with payload when it is not nil
// (the answer Slack waits for: a form's errors, a select's options).
func (s *socket) ack(id string, payload any) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.conn.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return err
	}
	return s.conn.WriteJSON(struct {
		EnvelopeID string `json:"envelope_id"`
		Payload    any    `json:"payload,omitempty"`
	}{id, payload})
}

// serveSocket keeps a Socket Mode connection open until ctx ends,
// handing every envelope to out. A `disconnect` Slack asks for is
// followed by a new connection at once; a disabled link
// (link_disabled) and a connection that dropped, after a pause that
// doubles from Config.RetryWait up to a minute. Each is logged at WARN
// (the disabled link at ERROR: nothing reaches odoobot until the app's
// Socket Mode is turned on again), and so is each reconnection once it
// is made. It returns a *fatalError when Slack refuses the app token
// or the URL is wrong, and an error when a connection cannot be opened
// (Run then waits and tries again).
func (b *Bot) serveSocket(ctx context.Context, out chan<- incoming) error {
	wait := b.cfg.RetryWait
	for {
		start := time.Now()
		reason, host, err := b.connection(ctx, out)
		if ctx.Err() != nil {
			return nil
		}
		var fatal *fatalError
		if errors.As(err, &fatal) || reason == "" && !b.wasConnected(start) {
			return err // not connected: Run says so and waits
		}
		b.mu.Lock()
		b.lostAt = time.Now()
		b.mu.Unlock()
		if time.Since(start) > maxRetryWait {
			wait = b.cfg.RetryWait
		}
		switch {
		case reason == reasonLinkDisabled:
			b.log.Error("slack: Slack disabled the app's Socket Mode link (link_disabled): no command reaches odoobot until Socket Mode is turned on again in the Slack app's settings; retrying", "host", b.clean(host), "in", wait)
		case reason != "":
			b.log.Warn("slack: Slack asked to disconnect; reconnecting", "reason", b.clean(reason), "host", b.clean(host))
			continue
		default:
			b.log.Warn("slack: socket mode connection ended; reconnecting", "cause", b.clean(err.Error()), "in", wait)
		}
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

// wasConnected reports whether a connection was made (Slack said hello)
// since start.
func (b *Bot) wasConnected(start time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.helloAt.Before(start)
}

// connection opens one Socket Mode connection (apps.connections.open,
// then the WebSocket) and reads it until it ends: it returns the reason
// and host Slack gave when it asked to disconnect, or why it ended.
// Every envelope is acknowledged as soon as it is read, before it is
// handed to out; a form submitted or a select's type-ahead, as soon as
// its answer is known (see interactive). An envelope over maxEnvelope is read and dropped unread
// (not acknowledged: Slack tells the user it failed, and may deliver it
// again a few times); one that cannot be parsed, or of a type odoobot
// does not run, is acknowledged and runs nothing.
func (b *Bot) connection(ctx context.Context, out chan<- incoming) (reason, host string, err error) {
	var wsURL string
	_, err = rateLimited(ctx, b, func() (struct{}, error) {
		var err error
		_, wsURL, err = b.api.StartSocketModeContext(ctx)
		return struct{}{}, err
	})
	if err != nil {
		if code := slackCode(err); authErrors[code] {
			return "", "", &fatalError{fmt.Errorf("slack: the app token was refused (%s): check SLACK_APP_TOKEN", code)}
		}
		var sc slackapi.StatusCodeError
		if errors.As(err, &sc) && sc.Code == http.StatusNotFound {
			return "", "", &fatalError{fmt.Errorf("slack: apps.connections.open answered 404: check SLACK_API_URL and SLACK_APP_TOKEN: %w", err)}
		}
		return "", "", fmt.Errorf("slack: apps.connections.open: %w", err)
	}
	dialer := websocket.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: 30 * time.Second}
	conn, resp, err := dialer.DialContext(ctx, wsURL, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return "", "", fmt.Errorf("slack: socket mode: connect: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	s := &socket{conn: conn}
	alive := func() { _ = conn.SetReadDeadline(time.Now().Add(pingTimeout)) }
	alive()
	conn.SetPingHandler(func(data string) error {
		alive()
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(writeTimeout))
		if err != nil && !errors.Is(err, websocket.ErrCloseSent) {
			b.log.Debug("slack: pong", "err", err)
		}
		return nil
	})
	for {
		data, size, err := readEnvelope(conn)
		if err != nil {
			return "", "", fmt.Errorf("slack: socket mode: read: %w", err)
		}
		alive()
		if data == nil {
			b.log.Warn("slack: an envelope over the size bound was dropped unread", "bytes", size, "bound", maxEnvelope)
			continue
		}
		var f frame
		if err := json.Unmarshal(data, &f); err != nil {
			b.log.Warn("slack: socket mode: a frame that is not JSON was ignored", "bytes", size, "err", err)
			continue
		}
		switch f.Type {
		case "hello":
			b.hello()
			continue
		case "disconnect":
			return f.Reason, f.DebugInfo.Host, nil
		}
		if f.EnvelopeID == "" {
			b.log.Warn("slack: socket mode: a frame without an envelope was ignored", "type", b.clean(f.Type))
			continue
		}
		in := incoming{id: f.EnvelopeID, attempt: f.RetryAttempt, reason: f.RetryReason}
		if f.Type == "interactive" {
			// A form submitted or a select opened waits for its answer in
			// the ack; anything else is acknowledged at once.
			if !b.interactive(ctx, s, f, &in) {
				continue
			}
			select {
			case out <- in:
			case <-ctx.Done():
				return "", "", ctx.Err()
			}
			continue
		}
		// Ack before anything else: Slack gives up after 3 s.
		b.ackEnvelope(s, f.EnvelopeID, nil)
		switch f.Type {
		case "slash_commands":
			var sc slackapi.SlashCommand
			if err := json.Unmarshal(f.Payload, &sc); err != nil {
				b.log.Warn("slack: socket mode: a slash command that cannot be parsed was acknowledged, not run", "envelope", f.EnvelopeID, "err", err)
				continue
			}
			in.data = sc
		case "events_api":
			// app_home_opened publishes the home view (home.go); any
			// other event is acknowledged, nothing to run.
			if e := b.parseEvent(f.Payload); e != nil {
				in.data = e
			}
		default:
			b.log.Warn("slack: socket mode: an envelope of a type odoobot does not know was acknowledged, not run", "envelope", f.EnvelopeID, "type", b.clean(f.Type))
		}
		select {
		case out <- in:
		case <-ctx.Done():
			return "", "", ctx.Err()
		}
	}
}

// interactive acknowledges an interactive envelope and says whether it
// runs something (then set in in.data). A view_submission of one of
// odoobot's forms is checked first and its ack carries the errors to
// show in the form, if any (then nothing runs); a block_suggestion is
// answered with its options in its ack, from a goroutine of its own
// (at most maxSuggesting at once; beyond, it gets no option) so that
// the envelopes behind it are not held up. Anything else is
// acknowledged at once.
func (b *Bot) interactive(ctx context.Context, s *socket, f frame, in *incoming) bool {
	var cb slackapi.InteractionCallback
	if err := json.Unmarshal(f.Payload, &cb); err != nil {
		b.ackEnvelope(s, f.EnvelopeID, nil)
		b.log.Warn("slack: socket mode: an interaction that cannot be parsed was acknowledged, not run", "envelope", f.EnvelopeID, "err", err)
		return false
	}
	switch cb.Type {
	case slackapi.InteractionTypeViewSubmission:
		sub, answer, ok := b.checkSubmission(cb)
		if !ok {
			b.ackEnvelope(s, f.EnvelopeID, nil)
			return false
		}
		if answer.ResponseAction != "" {
			b.ackEnvelope(s, f.EnvelopeID, answer)
			b.log.Debug("slack: a form was refused", "form", cb.View.CallbackID, "user", cb.User.ID)
			return false
		}
		b.ackEnvelope(s, f.EnvelopeID, nil)
		in.data = sub
		return true
	case slackapi.InteractionTypeBlockSuggestion:
		select {
		case b.suggesting <- struct{}{}:
		default:
			b.ackEnvelope(s, f.EnvelopeID, slackapi.OptionsResponse{Options: []*slackapi.OptionBlockObject{}})
			b.log.Warn("slack: too many suggestions at once; one was answered with no option", "user", cb.User.ID)
			return false
		}
		go func() {
			defer func() { <-b.suggesting }()
			defer func() {
				if p := recover(); p != nil {
					b.log.Error("slack: a suggestion's handling panicked", "envelope", f.EnvelopeID, "panic", b.clean(fmt.Sprint(p)), "stack", string(debug.Stack()))
				}
			}()
			b.ackEnvelope(s, f.EnvelopeID, b.suggestions(ctx, cb))
		}()
		return false
	}
	b.ackEnvelope(s, f.EnvelopeID, nil)
	in.data = cb
	return true
}

// maxSuggesting bounds the block_suggestion envelopes answered at once.
const maxSuggesting = 16

// ackEnvelope acknowledges id on s, with payload when it is not nil,
// logging a failure (Slack will then deliver the envelope again).
func (b *Bot) ackEnvelope(s *socket, id string, payload any) {
	if err := s.ack(id, payload); err != nil {
		b.log.Error("slack: ack", "envelope", id, "err", b.clean(err.Error()))
	}
}

// hello records a connection made, and logs a reconnection at WARN,
// with how long odoobot could not be reached.
func (b *Bot) hello() {
	b.mu.Lock()
	n := b.connections
	b.connections++
	b.helloAt = time.Now()
	lost := b.lostAt
	b.lostAt = time.Time{}
	b.mu.Unlock()
	switch {
	case n > 0:
		b.log.Warn("slack: reconnected", "connection", n, "after", time.Since(lost).Round(time.Millisecond))
	case !lost.IsZero(): // the first connection, after failed attempts
		b.log.Warn("slack: connected", "after", time.Since(lost).Round(time.Millisecond))
	default:
		b.log.Info("slack: connected")
	}
}

// readEnvelope reads the next text frame of conn: its bytes, or nil when
// it is longer than maxEnvelope (then read to its end and dropped), and
// its size. Other frames are read and dropped.
func readEnvelope(conn *websocket.Conn) ([]byte, int64, error) {
	for {
		typ, r, err := conn.NextReader()
		if err != nil {
			return nil, 0, err
		}
		if typ != websocket.TextMessage {
			if _, err := io.Copy(io.Discard, r); err != nil {
				return nil, 0, err
			}
			continue
		}
		buf, err := readAtMost(r, maxEnvelope)
		if err != nil {
			return nil, int64(len(buf)), err
		}
		if len(buf) <= maxEnvelope {
			return buf, int64(len(buf)), nil
		}
		rest, err := io.Copy(io.Discard, r)
		return nil, int64(len(buf)) + rest, err
	}
}

// readAtMost reads r to its end, or to n+1 bytes when it is longer: its
// buffer starts at 64 KiB and doubles, up to about n+1 bytes.
func readAtMost(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, 0, min(64<<10, n+1))
	for {
		if len(buf) == cap(buf) {
			if len(buf) > n {
				return buf, nil
			}
			buf = slices.Grow(buf, min(cap(buf), n+1-len(buf)))
		}
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
