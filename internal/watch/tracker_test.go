package watch

import (
	"strings"
	"testing"
	"time"
)

// step is one round for the instance "acme": pass or fail, and the
// events it must raise ("alert", "recovered", or "").
type step struct {
	fail bool
	want string
}

func TestTrackerPolicy(t *testing.T) {
	const f, p = true, false
	tests := []struct {
		name   string
		policy Policy
		rounds []step // one round a minute
	}{
		{"a failure below the threshold raises nothing", Policy{Failures: 3, Quiet: 30 * time.Minute},
			[]step{{f, ""}, {f, ""}, {p, ""}, {f, ""}, {f, ""}, {p, ""}}},
		{"the third failure in a row raises one alert; the passing check one recovery", Policy{Failures: 3, Quiet: 30 * time.Minute},
			[]step{{f, ""}, {f, ""}, {f, "alert"}, {f, ""}, {f, ""}, {p, "recovered"}, {p, ""}}},
		{"one failure suffices with Failures 1", Policy{Failures: 1},
			[]step{{p, ""}, {f, "alert"}, {p, "recovered"}, {f, "alert"}}},
		{"flapping within the quiet period raises no new alert", Policy{Failures: 2, Quiet: 10 * time.Minute},
			[]step{{f, ""}, {f, "alert"}, {p, "recovered"}, // recovered at minute 2
				{f, ""}, {f, ""}, {p, ""}, {f, ""}, {f, ""}, {p, ""}, {f, ""}, {f, ""}, {p, ""}}},
		{"still failing when the quiet period ends: alerted then", Policy{Failures: 2, Quiet: 5 * time.Minute},
			[]step{{f, ""}, {f, "alert"}, {p, "recovered"}, // recovered at minute 2; quiet until 7
				{f, ""}, {f, ""}, {f, ""}, {f, ""}, {f, "alert"}, {f, ""}, {p, "recovered"}}},
		{"a failure after the quiet period is alerted as usual", Policy{Failures: 2, Quiet: 3 * time.Minute},
			[]step{{f, ""}, {f, "alert"}, {p, "recovered"}, {p, ""}, {p, ""}, {p, ""}, {f, ""}, {f, "alert"}}},
		{"no damping with Quiet 0", Policy{Failures: 1},
			[]step{{f, "alert"}, {p, "recovered"}, {f, "alert"}, {p, "recovered"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(tt.policy)
			start := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
			for i, s := range tt.rounds {
				r := Result{Key: "acme"}
				if s.fail {
					r.Problem = "its unit odoo19e-prod-acme.service is failed (failed)"
				}
				events := tr.Observe(start.Add(time.Duration(i)*time.Minute), []Result{r})
				var got []string
				for _, e := range events {
					got = append(got, string(e.Kind))
				}
				if strings.Join(got, ",") != s.want {
					t.Fatalf("round %d (minute %d, fail %v): events %q, want %q", i+1, i, s.fail, got, s.want)
				}
			}
		})
	}
}

func TestTrackerKeepsSubjectsApart(t *testing.T) {
	tr := NewTracker(Policy{Failures: 2, Quiet: time.Hour})
	now := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	round := func(results ...Result) []Event {
		now = now.Add(time.Minute)
		return tr.Observe(now, results)
	}
	round(Result{Key: "acme", Problem: "down"}, Result{Key: "beta"}, Result{Key: HostKey, Problem: "disk"})
	ev := round(Result{Key: "acme", Problem: "down"}, Result{Key: "beta"}, Result{Key: HostKey, Problem: "disk"})
	if len(ev) != 2 || ev[0].Key != HostKey || ev[1].Key != "acme" || ev[1].Problem != "down" || ev[1].Failures != 2 {
		t.Fatalf("second round: %+v, want the host's and acme's alerts", ev)
	}
	// acme disappears (deleted): it is forgotten, and comes back clean.
	if ev := round(Result{Key: "beta"}, Result{Key: HostKey, Problem: "disk"}); len(ev) != 0 {
		t.Errorf("acme gone: %+v, want nothing", ev)
	}
	if ev := round(Result{Key: "acme", Problem: "down"}, Result{Key: "beta"}, Result{Key: HostKey}); len(ev) != 1 || ev[0].Kind != Recovered || ev[0].Key != HostKey {
		t.Errorf("after acme came back failing once and the disk passed: %+v, want only the host's recovery", ev)
	}
}

func TestTrackerHold(t *testing.T) {
	tr := NewTracker(Policy{Failures: 1})
	now := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	if ev := tr.Observe(now, []Result{{Key: "acme", Problem: "down"}}); len(ev) != 1 {
		t.Fatalf("first failure: %+v, want an alert", ev)
	}
	tr.Hold("acme") // an operator stopped it
	if ev := tr.Observe(now.Add(time.Minute), []Result{{Key: "acme", Problem: "stopped"}}); len(ev) != 0 {
		t.Errorf("held: %+v, want nothing", ev)
	}
	if ev := tr.Observe(now.Add(2*time.Minute), []Result{{Key: "acme"}}); len(ev) != 0 {
		t.Errorf("held and passing: %+v, want no recovery of an alert it forgot", ev)
	}
	tr.Release("acme")
	if ev := tr.Observe(now.Add(3*time.Minute), []Result{{Key: "acme", Problem: "down"}}); len(ev) != 1 || ev[0].Kind != Alerted {
		t.Errorf("released and failing: %+v, want an alert", ev)
	}
}

func TestEventText(t *testing.T) {
	since := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	a := Event{Kind: Alerted, Key: "acme", Problem: "health check: port 2100 did not answer within 10s", Since: since, Failures: 3}
	for _, want := range []string{"instance acme is failing", "port 2100 did not answer", "3 checks in a row since 10:00:00 UTC"} {
		if !strings.Contains(a.Text(since), want) {
			t.Errorf("alert text %q lacks %q", a.Text(since), want)
		}
	}
	a.Held = 4 * time.Minute
	if !strings.Contains(a.Text(since), "waited 4m0s (flapping)") {
		t.Errorf("held alert text %q does not say it waited", a.Text(since))
	}
	r := Event{Kind: Recovered, Key: HostKey, Problem: "only 0.5 GiB free", Since: since}
	if got, want := r.Text(since.Add(5*time.Minute)), "✅ the host recovered after 5m0s (it was failing: only 0.5 GiB free)"; got != want {
		t.Errorf("recovery text %q, want %q", got, want)
	}
}
