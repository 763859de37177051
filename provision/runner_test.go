package provision

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// memJobs is an in-memory JobStore, a test double of provision/postgres.
type memJobs struct {
	mu     sync.Mutex
	events []Event
	final  map[int64]JobState
	undone map[int64][]string
}

func newMemJobs() *memJobs {
	return &memJobs{final: map[int64]JobState{}, undone: map[int64][]string{}}
}
func (m *memJobs) StartJob(context.Context, int64) error { return nil }
func (m *memJobs) AppendEvent(_ context.Context, e Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, e)
	return nil
}
func (m *memJobs) FinishJob(_ context.Context, id int64, st JobState, _ string, undone []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.final[id], m.undone[id] = st, undone
	return nil
}

// trace records the calls of steps.
type trace struct {
	mu    sync.Mutex
	calls []string
}

func (tr *trace) step(name StepName, fail bool) Step {
	return Step{
		Name: name,
		Apply: func(context.Context) error {
			tr.add("apply " + string(name))
			if fail {
				return errors.New("boom")
			}
			return nil
		},
		Undo: func(context.Context) error { tr.add("undo " + string(name)); return nil },
	}
}
func (tr *trace) add(s string) { tr.mu.Lock(); tr.calls = append(tr.calls, s); tr.mu.Unlock() }

func TestRunnerSuccess(t *testing.T) {
	store := newMemJobs()
	r := NewRunner(RunnerConfig{Store: store})
	defer r.Close()
	tr := &trace{}
	logPath := filepath.Join(t.TempDir(), "log", "create-prod-acme.log")
	var seen []string
	task := &Task{Job: Job{ID: 1, Instance: "acme"}, LogPath: logPath,
		Steps:     []Step{tr.step("a", false), tr.step("b", false)},
		Subscribe: []Subscriber{func(e Event) { seen = append(seen, string(e.Kind)+" "+e.Step) }}}
	if err := r.Submit(task); err != nil {
		t.Fatal(err)
	}
	job, err := task.Wait(context.Background())
	if err != nil || job.State != JobSucceeded || store.final[1] != JobSucceeded {
		t.Fatalf("job %+v err %v", job, err)
	}
	if diff := cmp.Diff(tr.calls, []string{"apply a", "apply b"}); diff != "" {
		t.Errorf("calls (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(seen, []string{"start a", "done a", "start b", "done b"}); diff != "" {
		t.Errorf("events (-got +want):\n%s", diff)
	}
	b, _ := os.ReadFile(logPath)
	if strings.Count(string(b), "\n") != 4 || !strings.Contains(string(b), "✓ b (") {
		t.Errorf("creation log:\n%s", b)
	}
}

func TestRunnerRollsBackInReverse(t *testing.T) {
	store := newMemJobs()
	r := NewRunner(RunnerConfig{Store: store})
	defer r.Close()
	tr := &trace{}
	task := &Task{Job: Job{ID: 7}, Steps: []Step{tr.step("a", false), tr.step("b", false), tr.step("c", true), tr.step("d", false)}}
	r.Submit(task)
	job, err := task.Wait(context.Background())
	var se *StepError
	if !errors.As(err, &se) || se.Step != "c" {
		t.Fatalf("err = %v, want a StepError at c", err)
	}
	if diff := cmp.Diff(tr.calls, []string{"apply a", "apply b", "apply c", "undo c", "undo b", "undo a"}); diff != "" {
		t.Errorf("calls (-got +want):\n%s", diff)
	}
	if job.State != JobRolledBack || store.final[7] != JobRolledBack {
		t.Errorf("state %s / %s", job.State, store.final[7])
	}
	if diff := cmp.Diff(store.undone[7], []string{"c", "b", "a"}); diff != "" {
		t.Errorf("undone (-got +want):\n%s", diff)
	}
	if !strings.Contains(err.Error(), "step c failed: boom") || !strings.Contains(err.Error(), "rolled back: [c b a]") {
		t.Errorf("message %q", err)
	}
}

func TestRunnerFailAtHookAndUndoFailure(t *testing.T) {
	store := newMemJobs()
	r := NewRunner(RunnerConfig{Store: store, FailAt: "b"})
	defer r.Close()
	tr := &trace{}
	bad := tr.step("a", false)
	bad.Undo = func(context.Context) error { return errors.New("cannot") }
	task := &Task{Job: Job{ID: 3}, Steps: []Step{bad, tr.step("b", false), tr.step("c", false)}}
	r.Submit(task)
	job, err := task.Wait(context.Background())
	if job.State != JobFailed || !strings.Contains(err.Error(), "injected") || !strings.Contains(err.Error(), "could NOT undo: [a]") {
		t.Fatalf("job %s err %v", job.State, err)
	}
}

func TestRollBackUndoesEveryStep(t *testing.T) {
	store := newMemJobs()
	r := NewRunner(RunnerConfig{Store: store})
	defer r.Close()
	tr := &trace{}
	task := &Task{Job: Job{ID: 9}, Steps: []Step{tr.step("a", false), tr.step("b", false)}}
	r.RollBack(context.Background(), task, "odoobot stopped during the job")
	if diff := cmp.Diff(tr.calls, []string{"undo b", "undo a"}); diff != "" {
		t.Errorf("calls (-got +want):\n%s", diff)
	}
	if store.final[9] != JobInterrupted {
		t.Errorf("state %s", store.final[9])
	}
}

func TestNotesComeFirst(t *testing.T) {
	store := newMemJobs()
	r := NewRunner(RunnerConfig{Store: store})
	defer r.Close()
	tr := &trace{}
	var seen []string
	task := &Task{Job: Job{ID: 11}, Steps: []Step{tr.step("a", false)}, Notes: []string{"capacity: 85% of memory"},
		Subscribe: []Subscriber{func(e Event) { seen = append(seen, string(e.Kind)+" "+e.Step+" "+e.Message) }}}
	r.Submit(task)
	task.Wait(context.Background())
	if diff := cmp.Diff(seen, []string{"info note capacity: 85% of memory", "start a ", "done a "}); diff != "" {
		t.Errorf("events (-got +want):\n%s", diff)
	}
}

func TestNotedStepIsDoneWithItsMessage(t *testing.T) {
	store := newMemJobs()
	r := NewRunner(RunnerConfig{Store: store})
	defer r.Close()
	var seen []string
	task := &Task{Job: Job{ID: 12}, Steps: []Step{{Name: "dns", Apply: func(context.Context) error {
		return &Noted{Message: "left in place"}
	}}}, Subscribe: []Subscriber{func(e Event) { seen = append(seen, string(e.Kind)+" "+e.Message) }}}
	r.Submit(task)
	if job, err := task.Wait(context.Background()); err != nil || job.State != JobSucceeded {
		t.Fatalf("job %s, %v", job.State, err)
	}
	if diff := cmp.Diff(seen, []string{"start ", "done left in place"}); diff != "" {
		t.Errorf("events (-got +want):\n%s", diff)
	}
}

func TestStepTimeout(t *testing.T) {
	store := newMemJobs()
	r := NewRunner(RunnerConfig{Store: store, StepTimeout: 50 * time.Millisecond})
	defer r.Close()
	task := &Task{Job: Job{ID: 13}, Steps: []Step{{Name: "release", Apply: func(ctx context.Context) error {
		<-ctx.Done() // a hung clone
		return ctx.Err()
	}}}}
	r.Submit(task)
	job, err := task.Wait(context.Background())
	if job.State != JobRolledBack || err == nil || !strings.Contains(err.Error(), "gave up after 50ms") {
		t.Fatalf("job %s, err %v", job.State, err)
	}
}

func TestProgressReachesSubscribersAndLogNotTheStore(t *testing.T) {
	store := newMemJobs()
	r := NewRunner(RunnerConfig{Store: store})
	defer r.Close()
	logPath := filepath.Join(t.TempDir(), "create.log")
	var mu sync.Mutex
	var seen []string
	task := &Task{Job: Job{ID: 3}, LogPath: logPath,
		Subscribe: []Subscriber{func(e Event) { mu.Lock(); seen = append(seen, string(e.Kind)+" "+e.Message); mu.Unlock() }}}
	task.Steps = []Step{{Name: "release", Apply: func(context.Context) error {
		task.Progress("release", "cloning odoo")
		task.Progress("release", "installing 3 Debian packages")
		return nil
	}}}
	task.Progress("release", "before the run: dropped")
	if err := r.Submit(task); err != nil {
		t.Fatal(err)
	}
	if _, err := task.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	task.Progress("release", "after the run: dropped")
	want := []string{"start ", "progress cloning odoo", "progress installing 3 Debian packages", "done "}
	if diff := cmp.Diff(seen, want); diff != "" {
		t.Errorf("events (-got +want):\n%s", diff)
	}
	for _, e := range store.events {
		if e.Kind == EventProgress {
			t.Errorf("a progress event reached the job record: %+v", e)
		}
	}
	if b, _ := os.ReadFile(logPath); !strings.Contains(string(b), "… release: installing 3 Debian packages") {
		t.Errorf("creation log lacks the progress:\n%s", b)
	}
}
