package watch

import (
	"sync"
	"time"
)

// Verdict is the watcher's last word on one instance: Problem is ""
// when every check passed at At, else what failed, in words.
type Verdict struct {
	Problem string
	At      time.Time
}

// verdicts keeps the last verdict of each instance checked, for readers
// outside the rounds (the overview).
type verdicts struct {
	mu   sync.Mutex
	last map[string]Verdict
}

// remember keeps the results of a round checked at now; a subject not
// checked (Skipped) keeps its previous verdict, and one absent from the
// round (deleted, no longer ready, stopped on purpose) loses it.
func (v *verdicts) remember(now time.Time, results []Result) {
	v.mu.Lock()
	defer v.mu.Unlock()
	next := make(map[string]Verdict, len(results))
	for _, r := range results {
		if r.Key == HostKey {
			continue
		}
		if r.Skipped {
			if old, ok := v.last[r.Key]; ok {
				next[r.Key] = old
			}
			continue
		}
		next[r.Key] = Verdict{Problem: r.Problem, At: now}
	}
	v.last = next
}

// Verdict is the last verdict of a round on instance name; ok is false
// when no round has checked it yet, or the last one did not (it is not
// ready, or stopped on purpose). Safe for concurrent use.
func (w *Watcher) Verdict(name string) (v Verdict, ok bool) {
	w.verdicts.mu.Lock()
	defer w.verdicts.mu.Unlock()
	v, ok = w.verdicts.last[name]
	return v, ok
}
