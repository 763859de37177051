package watch

import (
	"context"
	"strings"
	"testing"
	"time"

	"odoobot/provision"
)

// TestVerdictIsTheLastRoundsWord: before any round there is no verdict;
// after one, each checked instance has its problem ("" when healthy) and
// the round's time; a round that skips a busy instance keeps its
// verdict; an instance no longer checked has none.
func TestVerdictIsTheLastRoundsWord(t *testing.T) {
	clock := time.Date(2026, 12, 7, 17, 0, 0, 0, time.UTC)
	h := &host{
		instances: []provision.Instance{
			instance("acme", 2100, provision.SSLHTTP, provision.StateReady),
			instance("beta", 2101, provision.SSLHTTP, provision.StateReady),
		},
		units: map[string]string{"odoo19e-prod-acme.service": "active", "odoo19e-prod-beta.service": "inactive"},
		disk:  8 << 30,
	}
	w := New(Config{Policy: Policy{Failures: 2}, DiskFreeMin: 1, Checks: h.checks(), Now: func() time.Time { return clock }})
	if _, ok := w.Verdict("acme"); ok {
		t.Fatal("a verdict before any round")
	}
	w.Round(context.Background())
	if v, ok := w.Verdict("acme"); !ok || v.Problem != "" || !v.At.Equal(clock) {
		t.Errorf("acme's verdict: %+v, %v; want healthy at %s", v, ok, clock)
	}
	if v, ok := w.Verdict("beta"); !ok || !strings.Contains(v.Problem, "inactive") {
		t.Errorf("beta's verdict: %+v, %v; want its unit inactive", v, ok)
	}
	h.mu.Lock()
	h.busy = map[string]bool{"beta": true}
	h.instances = h.instances[1:]
	h.mu.Unlock()
	clock = clock.Add(time.Minute)
	w.Round(context.Background())
	if v, ok := w.Verdict("beta"); !ok || v.At.Equal(clock) {
		t.Errorf("beta, busy, keeps its verdict: %+v, %v", v, ok)
	}
	if v, ok := w.Verdict("acme"); ok {
		t.Errorf("acme, gone, still has a verdict: %+v", v)
	}
}
