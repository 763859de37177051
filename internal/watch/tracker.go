// Package watch is the on-call watcher: every interval it checks each
// ready instance (and the host's disk), and turns runs of failed checks
// into one alert and the next passing check into one recovery, damping an
// instance that flaps. The decisions (Tracker) are pure and take the
// time as an argument; Watcher runs the rounds.
package watch

import (
	"fmt"
	"sort"
	"time"
)

// HostKey is the key of the host's own checks (the disk under
// PROD_ROOT); every other key is an instance's name.
const HostKey = ""

// Result is the outcome of one round's checks of one subject: Problem
// is "" when every check passed, else what failed, in words.
type Result struct {
	Key     string // the instance's name, or HostKey
	Problem string
	// Skipped: not checked this round (a job runs on it); its record is
	// kept as it is, neither counted for nor against it.
	Skipped bool
}

// Kind is what an Event says.
type Kind string

const (
	// Alerted: the subject has failed Policy.Failures checks in a row.
	Alerted Kind = "alert"
	// Recovered: a subject that was alerted passed its checks again.
	Recovered Kind = "recovered"
)

// Event is an alert or a recovery to post.
type Event struct {
	Kind     Kind
	Key      string    // the instance's name, or HostKey
	Problem  string    // the latest failure (Alerted), the one that ended (Recovered)
	Since    time.Time // the first failed check of the run
	Failures int       // failed checks in a row when the alert was raised
	// Held is how long the alert waited for the quiet period after the
	// subject's last recovery (flapping); 0 when it did not.
	Held time.Duration
}

// Policy is when the tracker speaks.
type Policy struct {
	// Failures is how many failed checks in a row raise an alert (at
	// least 1).
	Failures int
	// Quiet damps flapping: after a recovery, the same subject raises no
	// new alert before Quiet has passed. A subject still failing when it
	// has passed is alerted then (so a real outage is never hidden for
	// longer than Quiet); one that passed meanwhile is not. 0: no damping.
	Quiet time.Duration
}

// state is one subject's record.
type state struct {
	fails       int
	since       time.Time // first failure of the current run
	problem     string    // the latest failure
	alerted     bool      // an alert was raised and no recovery yet
	recoveredAt time.Time // the last recovery posted; zero when none
}

// Tracker turns rounds of results into events. It is not safe for
// concurrent use; Watcher serialises its calls.
type Tracker struct {
	policy Policy
	states map[string]*state
	held   map[string]bool
}

// NewTracker returns a Tracker with policy (Failures below 1 counts as 1).
func NewTracker(policy Policy) *Tracker {
	policy.Failures = max(policy.Failures, 1)
	policy.Quiet = max(policy.Quiet, 0)
	return &Tracker{policy: policy, states: map[string]*state{}, held: map[string]bool{}}
}

// Hold stops watching key (an instance an operator stopped on purpose):
// its record is forgotten, and its results are ignored until Release.
// An alert raised before is not followed by a recovery.
func (t *Tracker) Hold(key string) {
	t.held[key] = true
	delete(t.states, key)
}

// Release watches key again, from a clean record.
func (t *Tracker) Release(key string) { delete(t.held, key) }

// Alerting is the set of keys alerted and not recovered since.
func (t *Tracker) Alerting() map[string]bool {
	out := map[string]bool{}
	for k, s := range t.states {
		if s.alerted {
			out[k] = true
		}
	}
	return out
}

// Resume takes key's alert, raised by a previous run (an alert card
// still open), as raised: its next failed check raises no new alert,
// and its next passing check raises its recovery. A key already
// tracked or held is left as it is.
func (t *Tracker) Resume(key, problem string, since time.Time, failures int) {
	if t.held[key] || t.states[key] != nil {
		return
	}
	t.states[key] = &state{fails: max(failures, t.policy.Failures), since: since, problem: problem, alerted: true}
}

// Held reports whether key is held.
func (t *Tracker) Held(key string) bool { return t.held[key] }

// Observe takes one round's results, checked at now, and returns the
// events to post, in the order of their keys. A subject missing from the
// round (deleted, not ready) is forgotten. For each subject:
//   - a failed check counts; the Policy.Failures-th in a row raises an
//     alert, once, unless the subject recovered less than Policy.Quiet
//     ago, in which case the alert waits for the quiet period to end
//     (and is raised then only if the subject is still failing);
//   - a passing check ends the run; when an alert was raised for it, it
//     raises one recovery.
func (t *Tracker) Observe(now time.Time, results []Result) []Event {
	seen := map[string]bool{}
	var events []Event
	for _, r := range results {
		if t.held[r.Key] || seen[r.Key] {
			continue
		}
		seen[r.Key] = true
		if r.Skipped {
			continue
		}
		s := t.states[r.Key]
		if s == nil {
			s = &state{}
			t.states[r.Key] = s
		}
		if r.Problem == "" {
			if s.alerted {
				events = append(events, Event{Kind: Recovered, Key: r.Key, Problem: s.problem, Since: s.since})
				s.recoveredAt = now
			}
			s.fails, s.alerted, s.problem, s.since = 0, false, "", time.Time{}
			continue
		}
		if s.fails == 0 {
			s.since = now
		}
		s.fails++
		s.problem = r.Problem
		if s.alerted || s.fails < t.policy.Failures {
			continue
		}
		var held time.Duration
		if !s.recoveredAt.IsZero() {
			quietEnds := s.recoveredAt.Add(t.policy.Quiet)
			if now.Before(quietEnds) {
				continue
			}
			// The alert would have come at the Failures-th failure; it
			// came later when that fell in the quiet period.
			if s.fails > t.policy.Failures {
				held = now.Sub(s.since)
			}
		}
		s.alerted = true
		events = append(events, Event{Kind: Alerted, Key: r.Key, Problem: r.Problem, Since: s.since, Failures: s.fails, Held: held})
	}
	for k := range t.states {
		if !seen[k] {
			delete(t.states, k)
		}
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].Key < events[j].Key })
	return events
}

// Text is the event as the alert channel shows it (instance names as the
// commands take them; the host as "the host").
func (e Event) Text(now time.Time) string {
	subject := "instance " + e.Key
	if e.Key == HostKey {
		subject = "the host"
	}
	switch e.Kind {
	case Alerted:
		text := fmt.Sprintf("🚨 %s is failing: %s (%d checks in a row since %s UTC)", subject, e.Problem, e.Failures, e.Since.UTC().Format("15:04:05"))
		if e.Held > 0 {
			text += fmt.Sprintf("; it had recovered shortly before, so this alert waited %s (flapping)", e.Held.Round(time.Second))
		}
		return text
	case Recovered:
		return fmt.Sprintf("✅ %s recovered after %s (it was failing: %s)", subject, now.Sub(e.Since).Round(time.Second), e.Problem)
	}
	return string(e.Kind) + " " + subject
}
