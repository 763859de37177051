package provision

import (
	"testing"
	"time"
)

// TestRecordedCommitted: recovery finishes a job only when every step
// that commits its change is recorded done and no rollback had begun.
func TestRecordedCommitted(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	ev := func(step StepName, kind EventKind, s int) Event {
		return Event{Step: string(step), Kind: kind, At: at.Add(time.Duration(s) * time.Second)}
	}
	upToStart := []Event{
		ev(StepStop, EventStart, 0), ev(StepStop, EventDone, 1),
		ev(StepSwitch, EventStart, 1), ev(StepSwitch, EventDone, 2),
		ev(StepUpdate, EventStart, 2), ev(StepUpdate, EventDone, 30),
		ev(StepStart, EventStart, 30), ev(StepStart, EventDone, 33),
	}
	cases := []struct {
		name   string
		events []Event
		want   bool
	}{
		{"nothing recorded", nil, false},
		{"killed during the start", upToStart[:7], false},
		{"killed after the start", upToStart, true},
		{"killed after the start, a later step failed", append(append([]Event{}, upToStart...), ev(StepVerify, EventStart, 33), ev(StepVerify, EventFailed, 34)), false},
		{"killed while undoing", append(append([]Event{}, upToStart...), ev(StepStart, EventUndo, 35)), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := recordedOf(c.events)
			if got := rec.Committed(StepSwitch, StepUpdate, StepStart); got != c.want {
				t.Errorf("Committed = %v, want %v", got, c.want)
			}
		})
	}
	rec := recordedOf(upToStart)
	if d := rec.took(StepStop, StepStart); d != 33*time.Second {
		t.Errorf("downtime from the recorded stop to the recorded start: %s, want 33s", d)
	}
	if !rec.Started(StepStart) || rec.Started(StepRecord) {
		t.Errorf("Started: start %v, record %v; want true, false", rec.Started(StepStart), rec.Started(StepRecord))
	}
	if recordedOf(nil).Committed() {
		t.Error("Committed of no step is true")
	}
}
