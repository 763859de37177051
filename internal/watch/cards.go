package watch

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"odoobot/commands"
)

// Channel is one place alert cards go (a Slack or Discord alert
// channel).
type Channel struct {
	Name string // for the log: "slack", "discord"
	// Post posts a new message and returns its reference (a Slack ts, a
	// Discord message ID), which Update takes.
	Post func(ctx context.Context, alert commands.Alert) (ref string, err error)
	// Update replaces the message ref's text and buttons. nil: the
	// channel cannot edit, and a card is posted there when the alert is
	// raised and again when it ends (recovered, closed), as a new
	// message each time.
	Update func(ctx context.Context, ref string, alert commands.Alert) error
	// Mention is the user group a new card and its repeats notify, in
	// the platform's terms; "" for none.
	Mention string
}

// BookConfig configures a Book.
type BookConfig struct {
	// Channels are where the cards go, asked at each post (serve adds
	// them as it starts its adapters).
	Channels func() []Channel
	// Repeat: an instance's card neither acknowledged nor silenced is
	// posted again, as a short reminder with the Mention, every Repeat
	// while its alert stays open (ALERT_REPEAT); 0 never.
	Repeat time.Duration
	// Store, when set, keeps the open cards, so that after a restart a
	// card still open is edited in place, not posted again (Resume
	// reads them back).
	Store  CardStore
	Now    func() time.Time // time.Now when nil
	Logger *slog.Logger     // discarded when nil
}

// CardStore keeps the open alert cards by key, as JSON records written
// by the Book: their messages per channel, their state and timeline
// (provision/postgres.Store has it).
type CardStore interface {
	SaveAlertCard(ctx context.Context, key string, card []byte) error
	DeleteAlertCard(ctx context.Context, key string) error
	AlertCards(ctx context.Context) (map[string][]byte, error)
}

// maxNotes bounds a card's timeline: the oldest lines beyond it go.
const maxNotes = 20

// Book keeps the alert cards: one card per incident, posted once in each
// channel when the watcher raises the alert and edited in place as it
// develops (an operator's restart, acknowledgement or silence, the
// recovery with how long it was down). It is the commands.AlertBook of
// the dispatcher. With a Store, its open cards outlive a restart of
// odoobot: Resume reads them back, and an instance still failing keeps
// its card, which its recovery edits.
//
// Its methods may be called from any goroutine; the posts and edits of
// all cards are serialised, so that an edit never overtakes a newer one.
type Book struct {
	cfg  BookConfig
	log  *slog.Logger
	mu   sync.Mutex
	open map[string]*card // the open cards by key
	// last is each key's card that ended last: an operator's restart
	// that the watcher saw recover before the dispatcher told of it is
	// still shown on it, for lateNote.
	last map[string]*card
}

// lateNote is how long after a card ended an operator's restart or
// start is still shown on it: a restart waits up to 90 s for the
// instance's health, and the watcher may see it recover before the
// restart returns (or the instance may have recovered as the operator
// clicked); the restart still belongs to the incident's card.
const lateNote = 10 * time.Minute

var _ commands.AlertBook = (*Book)(nil)

// NewBook returns an empty Book.
func NewBook(cfg BookConfig) *Book {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Channels == nil {
		cfg.Channels = func() []Channel { return nil }
	}
	return &Book{cfg: cfg, log: cfg.Logger, open: map[string]*card{}, last: map[string]*card{}}
}

// card is one incident.
type card struct {
	key      string
	problem  string
	since    time.Time // the first failed check
	failures int
	held     time.Duration
	ackBy    string
	ackAt    time.Time
	silenced time.Time // the end of the silence (maintenance window); zero when none
	notes    []string  // what operators did, one line each, in order
	ended    time.Time // the recovery, or when the card stopped following the instance
	end      string    // why it stopped following, "" for a recovery
	refs     map[string]string
	pinged   time.Time // the card's post or its last repeat
}

// keptCard is the record of an open card in a CardStore.
type keptCard struct {
	Problem  string            `json:"problem"`
	Since    time.Time         `json:"since"`
	Failures int               `json:"failures"`
	Held     time.Duration     `json:"held,omitempty"`
	AckBy    string            `json:"ack_by,omitempty"`
	AckAt    time.Time         `json:"ack_at,omitzero"`
	Silenced time.Time         `json:"silenced,omitzero"`
	Notes    []string          `json:"notes,omitempty"`
	Refs     map[string]string `json:"refs"`
	Pinged   time.Time         `json:"pinged"`
}

// Open is an alert card open when the Book was resumed: the watcher
// takes its alert as still raised (Watcher.Resume), so that the
// instance's recovery edits it.
type Open struct {
	Key      string
	Problem  string
	Since    time.Time
	Failures int
}

// Resume reads back the open cards the Store kept (serve calls it once,
// before the watcher's first round) and returns them, in the order of
// their keys; a record that cannot be read is dropped and logged.
func (b *Book) Resume(ctx context.Context) ([]Open, error) {
	if b.cfg.Store == nil {
		return nil, nil
	}
	recs, err := b.cfg.Store.AlertCards(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch: resume the alert cards: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Open
	for _, key := range slices.Sorted(maps.Keys(recs)) {
		var k keptCard
		if err := json.Unmarshal(recs[key], &k); err != nil {
			b.log.Error("alert: a kept card cannot be read; it is dropped", "instance", key, "err", err)
			b.forget(ctx, key)
			continue
		}
		if k.Refs == nil {
			k.Refs = map[string]string{}
		}
		b.open[key] = &card{key: key, problem: k.Problem, since: k.Since, failures: k.Failures, held: k.Held,
			ackBy: k.AckBy, ackAt: k.AckAt, silenced: k.Silenced, notes: k.Notes, refs: k.Refs, pinged: k.Pinged}
		out = append(out, Open{Key: key, Problem: k.Problem, Since: k.Since, Failures: k.Failures})
	}
	return out, nil
}

// keep writes card c to the Store while it is open, and forgets it once
// it ended. Called with b.mu held; a failure is logged.
func (b *Book) keep(ctx context.Context, c *card) {
	if b.cfg.Store == nil {
		return
	}
	if !c.ended.IsZero() {
		b.forget(ctx, c.key)
		return
	}
	rec, err := json.Marshal(keptCard{Problem: c.problem, Since: c.since, Failures: c.failures, Held: c.held,
		AckBy: c.ackBy, AckAt: c.ackAt, Silenced: c.silenced, Notes: c.notes, Refs: c.refs, Pinged: c.pinged})
	if err == nil {
		err = b.cfg.Store.SaveAlertCard(context.WithoutCancel(ctx), c.key, rec)
	}
	if err != nil {
		b.log.Error("alert: the card could not be kept; after a restart it would be posted again", "instance", c.key, "err", err)
	}
}

// forget deletes the card about key from the Store.
func (b *Book) forget(ctx context.Context, key string) {
	if err := b.cfg.Store.DeleteAlertCard(context.WithoutCancel(ctx), key); err != nil {
		b.log.Error("alert: a closed card could not be forgotten in the state database", "instance", key, "err", err)
	}
}

// Text is the card as the channels show it at now.
func (c *card) Text(now time.Time) string {
	subject := "instance " + c.key
	if c.key == HostKey {
		subject = "the host"
	}
	since := c.since.UTC().Format("15:04:05")
	var lines []string
	switch {
	case c.ended.IsZero():
		lines = append(lines, fmt.Sprintf("🚨 %s is failing: %s", subject, c.problem))
		line := fmt.Sprintf("down since %s UTC (%d checks in a row)", since, c.failures)
		if c.held > 0 {
			line += fmt.Sprintf("; it had recovered shortly before, so this alert waited %s (flapping)", c.held.Round(time.Second))
		}
		lines = append(lines, line)
	case c.end == "":
		lines = append(lines,
			fmt.Sprintf("✅ %s recovered at %s UTC: it was down for %s", subject, c.ended.UTC().Format("15:04:05"), c.ended.Sub(c.since).Round(time.Second)),
			fmt.Sprintf("it was failing since %s UTC: %s", since, c.problem))
	default:
		lines = append(lines,
			fmt.Sprintf("⏹ %s: this alert was closed at %s UTC: %s", subject, c.ended.UTC().Format("15:04:05"), c.end),
			fmt.Sprintf("it was failing since %s UTC: %s", since, c.problem))
	}
	if c.ackBy != "" {
		lines = append(lines, fmt.Sprintf("👤 acknowledged by %s at %s UTC", c.ackBy, c.ackAt.UTC().Format("15:04:05")))
	}
	if c.ended.IsZero() && c.silenced.After(now) {
		lines = append(lines, fmt.Sprintf("🔕 silenced until %s UTC (a maintenance window)", c.silenced.UTC().Format("15:04")))
	}
	for _, n := range c.notes {
		lines = append(lines, "• "+n)
	}
	return strings.Join(lines, "\n")
}

// alert is the card with the buttons it has at now: an open instance
// card's Acknowledge (until acknowledged), Restart, Logs and Silence 1 h
// (unless silenced); none on the host's card nor on a closed card.
func (c *card) alert(now time.Time) commands.Alert {
	a := commands.Alert{Text: c.Text(now)}
	if !c.ended.IsZero() || c.key == HostKey {
		return a
	}
	for _, act := range commands.InstanceActions(c.key) {
		switch {
		case strings.HasPrefix(act.Command, string(commands.VerbAck)+" ") && c.ackBy != "":
		case strings.HasPrefix(act.Command, string(commands.VerbMaintenance)+" ") && c.silenced.After(now):
		default:
			a.Actions = append(a.Actions, act)
		}
	}
	return a
}

// Event takes one of the watcher's events: an alert posts a new card in
// every channel (with its Mention); a recovery edits the open card to say
// so and how long it was down, and closes it. A recovery without a card
// is posted as its text. Failed deliveries are logged.
func (b *Book) Event(ctx context.Context, e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Now()
	switch e.Kind {
	case Alerted:
		c := b.open[e.Key]
		if c == nil {
			c = &card{key: e.Key, refs: map[string]string{}, pinged: now}
			b.open[e.Key] = c
		}
		c.problem, c.since, c.failures, c.held = e.Problem, e.Since, e.Failures, e.Held
		b.show(ctx, c, now, true)
	case Recovered:
		c := b.open[e.Key]
		if c == nil {
			b.say(ctx, commands.Alert{Text: e.Text(now)})
			return
		}
		c.ended = now
		b.close(c)
		b.show(ctx, c, now, false)
	}
}

// Acknowledge is commands.AlertBook's: the open card about name shows
// who acknowledged it, loses its Acknowledge button and is not repeated.
func (b *Book) Acknowledge(ctx context.Context, name, who string) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.open[name]
	if c == nil || name == HostKey {
		return "", commands.ErrNoOpenAlert
	}
	if c.ackBy != "" {
		return c.ackBy, nil
	}
	now := b.cfg.Now()
	c.ackBy, c.ackAt = who, now
	b.show(ctx, c, now, false)
	return "", nil
}

// Note is commands.AlertBook's: the open card about n.Name shows what an
// operator did. A stop that succeeded closes it (the instance is no
// longer watched); a maintenance window silences it until its end.
func (b *Book) Note(ctx context.Context, n commands.AlertNote) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Now()
	c := b.open[n.Name]
	if c == nil {
		c = b.last[n.Name]
		late := c != nil && now.Sub(c.ended) < lateNote && c.end == "" && !n.Failed
		if !late || n.Verb != commands.VerbRestart && n.Verb != commands.VerbStart {
			return
		}
	}
	at := n.At
	if at.IsZero() {
		at = now
	}
	when := at.UTC().Format("15:04:05") + " UTC"
	past := map[commands.Verb]string{commands.VerbRestart: "restarted", commands.VerbStart: "started", commands.VerbStop: "stopped"}[n.Verb]
	switch {
	case n.Verb == commands.VerbMaintenance && !n.Until.IsZero():
		c.silenced = n.Until
		c.notes = append(c.notes, fmt.Sprintf("%s silenced by %s until %s UTC", when, n.Who, n.Until.UTC().Format("15:04")))
	case n.Verb == commands.VerbMaintenance:
		c.silenced = time.Time{}
		c.notes = append(c.notes, fmt.Sprintf("%s maintenance ended by %s: alerts on again", when, n.Who))
	case past == "":
		return
	case n.Failed:
		c.notes = append(c.notes, fmt.Sprintf("%s %s by %s failed", when, n.Verb, n.Who))
	case n.Verb == commands.VerbStop:
		c.ended, c.end = at, "stopped on purpose by "+n.Who+"; it is not watched until it is started"
		b.close(c)
	case n.Verb == commands.VerbRestart:
		line := fmt.Sprintf("%s restarted by %s", when, n.Who)
		if c.ended.IsZero() {
			line += "; waiting for its checks to pass"
		}
		c.notes = append(c.notes, line)
	default:
		c.notes = append(c.notes, fmt.Sprintf("%s %s by %s", when, past, n.Who))
	}
	b.show(ctx, c, now, false)
}

// AfterRound is the watcher's Config.AfterRound: an open card whose
// alert is no longer open (the instance was deleted, stopped, or is no
// longer ready) is closed; an instance's card neither acknowledged nor
// silenced is repeated, with the channels' Mention, once Repeat has
// passed since it was posted or last repeated. Cards are taken in the
// order of their keys.
func (b *Book) AfterRound(ctx context.Context, now time.Time, alerting map[string]bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, key := range slices.Sorted(maps.Keys(b.open)) {
		c := b.open[key]
		if !alerting[key] {
			c.ended, c.end = now, "the instance is no longer watched (deleted, stopped or not ready)"
			b.close(c)
			b.show(ctx, c, now, false)
			continue
		}
		if b.cfg.Repeat <= 0 || key == HostKey || c.ackBy != "" || c.silenced.After(now) || now.Sub(c.pinged) < b.cfg.Repeat {
			continue
		}
		c.pinged = now
		text := fmt.Sprintf("🔁 instance %s is still failing and nobody has acknowledged it (down since %s UTC, %s): %s. Acknowledge it on its card above.",
			key, c.since.UTC().Format("15:04:05"), now.Sub(c.since).Round(time.Second), c.problem)
		for _, ch := range b.cfg.Channels() {
			if _, err := ch.Post(ctx, commands.Alert{Text: text, Mention: ch.Mention}); err != nil {
				b.log.Error("alert: the repeat was not delivered", "channel", ch.Name, "instance", key, "err", err)
			}
		}
	}
}

// close moves the ended card c from the open ones to the last ones.
// Called with b.mu held.
func (b *Book) close(c *card) {
	delete(b.open, c.key)
	b.last[c.key] = c
}

// show brings every channel's message of card c up to date: posted
// (with the channel's Mention when fresh) where it has none yet, edited
// elsewhere. Called with b.mu held.
func (b *Book) show(ctx context.Context, c *card, now time.Time, fresh bool) {
	defer b.keep(ctx, c)
	if n := len(c.notes); n > maxNotes {
		c.notes = slices.Clone(c.notes[n-maxNotes:])
	}
	a := c.alert(now)
	for _, ch := range b.cfg.Channels() {
		ref := c.refs[ch.Name]
		if ch.Update == nil {
			if fresh || !c.ended.IsZero() {
				post := a
				if fresh {
					post.Mention = ch.Mention
				}
				if _, err := ch.Post(ctx, post); err != nil {
					b.log.Error("alert: the card was not delivered", "channel", ch.Name, "instance", c.key, "err", err)
				}
			}
			continue
		}
		if ref != "" {
			if err := ch.Update(ctx, ref, a); err != nil {
				b.log.Error("alert: the card could not be edited", "channel", ch.Name, "instance", c.key, "err", err)
			}
			continue
		}
		post := a
		if fresh {
			post.Mention = ch.Mention
		}
		ref, err := ch.Post(ctx, post)
		if err != nil {
			b.log.Error("alert: the card was not delivered", "channel", ch.Name, "instance", c.key, "err", err)
			continue
		}
		c.refs[ch.Name] = ref
	}
}

// say posts a plain alert in every channel.
func (b *Book) say(ctx context.Context, a commands.Alert) {
	for _, ch := range b.cfg.Channels() {
		if _, err := ch.Post(ctx, a); err != nil {
			b.log.Error("alert not delivered", "channel", ch.Name, "err", err)
		}
	}
}
