package watch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"odoobot/commands"
)

// chat is a channel double: every post and edit, in order.
type chat struct {
	name  string
	calls []string // "post REF TEXT|MENTION|BUTTONS", "edit REF …"
	msgs  map[string]commands.Alert
}

func newChat(name string) *chat { return &chat{name: name, msgs: map[string]commands.Alert{}} }

func (c *chat) channel(mention string) Channel {
	return Channel{Name: c.name, Mention: mention,
		Post: func(_ context.Context, a commands.Alert) (string, error) {
			ref := fmt.Sprintf("m%d", len(c.calls)+1)
			c.calls = append(c.calls, "post "+ref+" "+describe(a))
			c.msgs[ref] = a
			return ref, nil
		},
		Update: func(_ context.Context, ref string, a commands.Alert) error {
			if _, ok := c.msgs[ref]; !ok {
				return errors.New("no such message")
			}
			c.calls = append(c.calls, "edit "+ref+" "+describe(a))
			c.msgs[ref] = a
			return nil
		},
	}
}

func describe(a commands.Alert) string {
	var labels []string
	for _, act := range a.Actions {
		labels = append(labels, act.Label)
	}
	return a.Text + " |" + a.Mention + "| [" + strings.Join(labels, ",") + "]"
}

// clock is a settable time.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func newBook(t *testing.T, repeat time.Duration, chats ...*chat) (*Book, *clock) {
	t.Helper()
	clk := &clock{now: time.Date(2026, 12, 7, 14, 52, 3, 0, time.UTC)}
	return NewBook(BookConfig{Repeat: repeat, Now: clk.Now, Channels: func() []Channel {
		var chs []Channel
		for _, c := range chats {
			chs = append(chs, c.channel("S0ONCALL"))
		}
		return chs
	}}), clk
}

// One incident is one message per channel: posted with the mention and
// every button, then edited in place as operators act on it and when it
// recovers, the recovery saying how long it was down.
func TestOneIncidentIsOneCardEditedInPlace(t *testing.T) {
	slack, discord := newChat("slack"), newChat("discord")
	book, clk := newBook(t, 30*time.Minute, slack, discord)
	ctx := context.Background()
	since := clk.now.Add(-time.Minute)
	book.Event(ctx, Event{Kind: Alerted, Key: "acme", Problem: "health check: port 2100 did not answer", Since: since, Failures: 2})

	clk.now = clk.now.Add(time.Minute)
	if by, err := book.Acknowledge(ctx, "acme", "olga"); err != nil || by != "" {
		t.Fatalf("Acknowledge: %q, %v", by, err)
	}
	clk.now = clk.now.Add(10 * time.Second)
	book.Note(ctx, commands.AlertNote{Name: "acme", Verb: commands.VerbRestart, Who: "olga", At: clk.now})
	book.Note(ctx, commands.AlertNote{Name: "other", Verb: commands.VerbRestart, Who: "olga", At: clk.now}) // no card: nothing
	clk.now = clk.now.Add(50 * time.Second)
	book.Event(ctx, Event{Kind: Recovered, Key: "acme", Problem: "health check: port 2100 did not answer", Since: since})

	for _, c := range []*chat{slack, discord} {
		if len(c.calls) != 4 || !strings.HasPrefix(c.calls[0], "post m1 ") {
			t.Fatalf("%s: calls, want one post and three edits:\n%s", c.name, strings.Join(c.calls, "\n"))
		}
		for _, call := range c.calls[1:] {
			if !strings.HasPrefix(call, "edit m1 ") {
				t.Errorf("%s: %q, want an edit of the card m1", c.name, call)
			}
		}
		first := c.calls[0]
		for _, want := range []string{"🚨 instance acme is failing: health check: port 2100 did not answer", "down since 14:51:03 UTC (2 checks in a row)", "|S0ONCALL|", "[Acknowledge,Restart,Logs,Silence 1 h]"} {
			if !strings.Contains(first, want) {
				t.Errorf("%s: the card %q lacks %q", c.name, first, want)
			}
		}
		acked := c.calls[1]
		if !strings.Contains(acked, "👤 acknowledged by olga at 14:53:03 UTC") || !strings.HasSuffix(acked, "|| [Restart,Logs,Silence 1 h]") {
			t.Errorf("%s: after the acknowledgement %q, want who, no mention again, no Acknowledge button", c.name, acked)
		}
		if !strings.Contains(c.calls[2], "14:53:13 UTC restarted by olga; waiting for its checks to pass") {
			t.Errorf("%s: after the restart %q", c.name, c.calls[2])
		}
		final := c.msgs["m1"]
		if want := "✅ instance acme recovered at 14:54:03 UTC: it was down for 3m0s"; !strings.HasPrefix(final.Text, want) || len(final.Actions) != 0 {
			t.Errorf("%s: the recovered card %q (buttons %v), want it to start %q, without buttons", c.name, final.Text, final.Actions, want)
		}
		if !strings.Contains(final.Text, "acknowledged by olga") || !strings.Contains(final.Text, "restarted by olga") {
			t.Errorf("%s: the recovered card lost its history: %q", c.name, final.Text)
		}
	}
	if _, err := book.Acknowledge(ctx, "acme", "olga"); !errors.Is(err, commands.ErrNoOpenAlert) {
		t.Errorf("acknowledging a recovered alert: %v, want ErrNoOpenAlert", err)
	}
}

// An unacknowledged card is repeated every Repeat with the mention;
// acknowledged or silenced, it is not.
func TestUnacknowledgedCardIsRepeatedWithTheMention(t *testing.T) {
	c := newChat("slack")
	book, clk := newBook(t, 30*time.Minute, c)
	ctx := context.Background()
	start := clk.now
	book.Event(ctx, Event{Kind: Alerted, Key: "acme", Problem: "its unit is failed", Since: start, Failures: 3})
	book.Event(ctx, Event{Kind: Alerted, Key: "beta", Problem: "its unit is failed", Since: start, Failures: 3})
	book.Event(ctx, Event{Kind: Alerted, Key: HostKey, Problem: "only 0.1 GiB free", Since: start, Failures: 3})
	open := map[string]bool{"acme": true, "beta": true, HostKey: true}
	round := func(after time.Duration) []string {
		n := len(c.calls)
		clk.now = start.Add(after)
		book.AfterRound(ctx, clk.now, open)
		return c.calls[n:]
	}
	if got := round(29 * time.Minute); len(got) != 0 {
		t.Errorf("before ALERT_REPEAT: %q", got)
	}
	got := round(30 * time.Minute)
	if len(got) != 2 {
		t.Fatalf("at ALERT_REPEAT: %q, want one repeat for each instance (none for the host, which cannot be acknowledged)", got)
	}
	for i, name := range []string{"acme", "beta"} {
		if !strings.Contains(got[i], "🔁 instance "+name+" is still failing and nobody has acknowledged it") || !strings.HasSuffix(got[i], "|S0ONCALL| []") {
			t.Errorf("repeat %q, want the instance, the mention, no buttons", got[i])
		}
	}
	if _, err := book.Acknowledge(ctx, "acme", "olga"); err != nil {
		t.Fatal(err)
	}
	book.Note(ctx, commands.AlertNote{Name: "beta", Verb: commands.VerbMaintenance, Who: "olga", Until: clk.now.Add(time.Hour), At: clk.now})
	if !strings.Contains(c.calls[len(c.calls)-1], "🔕 silenced until 16:22 UTC") || strings.Contains(c.calls[len(c.calls)-1], "Silence 1 h") {
		t.Errorf("the silenced card %q, want it to say so, without the Silence button", c.calls[len(c.calls)-1])
	}
	if got := round(61 * time.Minute); len(got) != 0 {
		t.Errorf("acknowledged and silenced: %q, want no repeat", got)
	}
	if got := round(91 * time.Minute); len(got) != 1 || !strings.Contains(got[0], "🔁 instance beta") {
		t.Errorf("after the silence ended: %q, want beta repeated", got)
	}
}

// A card whose alert is no longer open (the instance deleted, no longer
// ready) is closed and says so; a stop on purpose closes it too.
func TestCardIsClosedWhenTheInstanceIsNoLongerWatched(t *testing.T) {
	c := newChat("slack")
	book, clk := newBook(t, time.Minute, c)
	ctx := context.Background()
	book.Event(ctx, Event{Kind: Alerted, Key: "acme", Problem: "its unit is failed", Since: clk.now, Failures: 3})
	book.Event(ctx, Event{Kind: Alerted, Key: "beta", Problem: "its unit is failed", Since: clk.now, Failures: 3})
	book.Note(ctx, commands.AlertNote{Name: "beta", Verb: commands.VerbStop, Who: "olga", At: clk.now})
	clk.now = clk.now.Add(2 * time.Minute)
	book.AfterRound(ctx, clk.now, map[string]bool{})
	if len(c.calls) != 4 {
		t.Fatalf("calls:\n%s", strings.Join(c.calls, "\n"))
	}
	if !strings.Contains(c.msgs["m2"].Text, "closed at 14:52:03 UTC: stopped on purpose by olga") || len(c.msgs["m2"].Actions) != 0 {
		t.Errorf("the stopped instance's card: %+v", c.msgs["m2"])
	}
	if !strings.Contains(c.msgs["m1"].Text, "no longer watched") || len(c.msgs["m1"].Actions) != 0 {
		t.Errorf("the card of an instance gone: %+v", c.msgs["m1"])
	}
	if _, err := book.Acknowledge(ctx, "acme", "olga"); !errors.Is(err, commands.ErrNoOpenAlert) {
		t.Errorf("acknowledging a closed card: %v", err)
	}
}

// A restart the watcher saw recover before the dispatcher told of it is
// still shown on the recovered card; a later one, or a stop, is not.
func TestRestartToldAfterTheRecoveryIsShown(t *testing.T) {
	c := newChat("slack")
	book, clk := newBook(t, 0, c)
	ctx := context.Background()
	book.Event(ctx, Event{Kind: Alerted, Key: "acme", Problem: "its unit is failed", Since: clk.now, Failures: 3})
	clk.now = clk.now.Add(time.Minute)
	book.Event(ctx, Event{Kind: Recovered, Key: "acme", Problem: "its unit is failed", Since: clk.now.Add(-time.Minute)})
	book.Note(ctx, commands.AlertNote{Name: "acme", Verb: commands.VerbRestart, Who: "olga", At: clk.now})
	book.Note(ctx, commands.AlertNote{Name: "acme", Verb: commands.VerbStop, Who: "olga", At: clk.now})
	clk.now = clk.now.Add(lateNote + time.Second)
	book.Note(ctx, commands.AlertNote{Name: "acme", Verb: commands.VerbRestart, Who: "ana", At: clk.now})
	if len(c.calls) != 3 {
		t.Fatalf("calls:\n%s", strings.Join(c.calls, "\n"))
	}
	text := c.msgs["m1"].Text
	if !strings.HasPrefix(text, "✅ instance acme recovered") || !strings.HasSuffix(text, "• 14:53:03 UTC restarted by olga") {
		t.Errorf("the recovered card %q, want olga's restart shown last", text)
	}
}
