package watch

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"odoobot/commands"
	"odoobot/internal/testenv"
	"odoobot/provision/postgres"
)

// TestACardOutlivesARestart: against PostgreSQL, an open card is kept
// with its message, state and timeline; after a restart (a new Book and
// Watcher on the same database, the same chat) the instance's recovery
// edits that card, not a new one, and the card is then forgotten.
func TestACardOutlivesARestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	store, err := postgres.Open(ctx, testenv.NewDatabase(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("open the store: %v", err)
	}
	defer store.Close()
	slack := newChat("slack")
	book := func(clk *clock) *Book {
		return NewBook(BookConfig{Store: store, Now: clk.Now, Channels: func() []Channel { return []Channel{slack.channel("S0ONCALL")} }})
	}
	clk := &clock{now: time.Date(2026, 12, 7, 14, 52, 3, 0, time.UTC)}
	first := book(clk)
	since := clk.now.Add(-time.Minute)
	first.Event(ctx, Event{Kind: Alerted, Key: "acme", Problem: "health check: port 2100 did not answer", Since: since, Failures: 2})
	first.Note(ctx, commands.AlertNote{Name: "acme", Verb: commands.VerbRestart, Who: "olga", Failed: true})
	if len(slack.calls) != 2 || !strings.HasPrefix(slack.calls[0], "post m1 ") {
		t.Fatalf("before the restart: %q, want the card posted and edited", slack.calls)
	}

	// The restart: a new book, resumed, and a watcher told of its cards.
	clk.now = clk.now.Add(5 * time.Minute)
	second := book(clk)
	open, err := second.Resume(ctx)
	if err != nil || len(open) != 1 || open[0].Key != "acme" || !open[0].Since.Equal(since) {
		t.Fatalf("Resume = %+v, %v; want acme's card, failing since %s", open, err, since)
	}
	tr := NewTracker(Policy{Failures: 2})
	for _, o := range open {
		tr.Resume(o.Key, o.Problem, o.Since, o.Failures)
	}
	if ev := tr.Observe(clk.now, []Result{{Key: "acme", Problem: "health check: port 2100 did not answer"}}); len(ev) != 0 {
		t.Errorf("a resumed alert still failing raised %+v, want nothing (its card is open)", ev)
	}
	second.AfterRound(ctx, clk.now, tr.Alerting())
	ev := tr.Observe(clk.now.Add(time.Minute), []Result{{Key: "acme"}})
	if len(ev) != 1 || ev[0].Kind != Recovered {
		t.Fatalf("the resumed instance's passing check raised %+v, want its recovery", ev)
	}
	clk.now = clk.now.Add(time.Minute)
	second.Event(ctx, ev[0])

	if n := len(slack.calls); n != 3 || !strings.HasPrefix(slack.calls[2], "edit m1 ✅ instance acme recovered at 14:58:03 UTC: it was down for 7m0s") {
		t.Fatalf("after the restart: %q, want the recovery as an edit of the card m1", slack.calls)
	}
	if !strings.Contains(slack.calls[2], "restart by olga failed") {
		t.Errorf("the recovered card lost its timeline: %q", slack.calls[2])
	}
	if kept, err := store.AlertCards(ctx); err != nil || len(kept) != 0 {
		t.Errorf("kept cards after the recovery: %d, %v; want none", len(kept), err)
	}
}

// TestACardsTimelineIsBounded: a card keeps its last maxNotes lines.
func TestACardsTimelineIsBounded(t *testing.T) {
	slack := newChat("slack")
	book, clk := newBook(t, 0, slack)
	ctx := context.Background()
	book.Event(ctx, Event{Kind: Alerted, Key: "acme", Problem: "down", Since: clk.now, Failures: 2})
	for i := range maxNotes + 5 {
		clk.now = clk.now.Add(time.Second)
		book.Note(ctx, commands.AlertNote{Name: "acme", Verb: commands.VerbRestart, Who: "olga" + string(rune('a'+i%26)), Failed: true})
	}
	text := slack.msgs["m1"].Text
	if n := strings.Count(text, "• "); n != maxNotes {
		t.Errorf("the card shows %d timeline lines, want %d:\n%s", n, maxNotes, text)
	}
	if strings.Contains(text, "by olgaa failed") || !strings.Contains(text, "by olgay failed") {
		t.Errorf("the card does not keep the newest lines:\n%s", text)
	}
}
