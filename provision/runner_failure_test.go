package provision

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// memFailures is an in-memory FailureStore.
type memFailures struct {
	mu  sync.Mutex
	got map[int64]JobFailure
}

func (m *memFailures) RecordFailure(_ context.Context, id int64, f JobFailure) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.got == nil {
		m.got = map[int64]JobFailure{}
	}
	m.got[id] = f
	return nil
}

// TestAFailedStepsKindIsRecordedAndHinted: a step that fails with a
// typed error ends the job with its step, kind, hint and what its
// rollback left, in the job handed to Finished and in the store; its
// failed event carries the hint to the subscribers, never the detail.
func TestAFailedStepsKindIsRecordedAndHinted(t *testing.T) {
	failures := &memFailures{}
	r := NewRunner(RunnerConfig{Store: newMemJobs(), Failures: failures, Workers: 1})
	defer r.Close()
	cause := &Error{Kind: KindBroken, What: "the service u.service did not start", Hint: "look at why in its log",
		Detail: []string{"a journal line"}, Err: errors.New("systemd: start u.service: job failed")}
	var mu sync.Mutex
	var hints []string
	task := &Task{Job: Job{ID: 41}, Steps: []Step{
		{Name: "files", Apply: func(context.Context) error { return nil }, Undo: func(context.Context) error { return errors.New("cannot") }},
		{Name: "service", Apply: func(context.Context) error { return cause }},
	}, Subscribe: []Subscriber{func(e Event) {
		if e.Kind == EventFailed {
			mu.Lock()
			hints = append(hints, e.Hint)
			mu.Unlock()
		}
	}}}
	if err := r.Submit(task); err != nil {
		t.Fatal(err)
	}
	job, _ := task.Wait(context.Background())
	select {
	case <-task.Recorded():
	case <-time.After(10 * time.Second):
		t.Fatal("the end was not recorded")
	}
	want := JobFailure{Step: "service", Kind: KindBroken, Hint: "the service u.service did not start: look at why in its log", Left: []string{"files"}}
	if diff := cmp.Diff(job.Failure, want); diff != "" {
		t.Errorf("the job's failure (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(failures.got[41], want); diff != "" {
		t.Errorf("the recorded failure (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(hints, []string{want.Hint}); diff != "" {
		t.Errorf("the failed event's hint (-got +want):\n%s", diff)
	}
}
