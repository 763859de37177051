package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
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

// fileLogs opens job logs as files, as provision/joblog does.
type fileLogs struct{}

func (fileLogs) Append(path string) (io.WriteCloser, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
}

func TestRunnerSuccess(t *testing.T) {
	store := newMemJobs()
	r := NewRunner(RunnerConfig{Store: store, Logs: fileLogs{}})
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
	r := NewRunner(RunnerConfig{Store: store, Faults: FaultAt("b", "", nil)})
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
	r := NewRunner(RunnerConfig{Store: store, Logs: fileLogs{}})
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

// awayJobs is a JobStore whose FinishJob fails, as when PostgreSQL is
// away, the first `away` times it is called (all of them when away < 0);
// ended lists jobs it has as ended already.
type awayJobs struct {
	*memJobs
	away    int
	calls   int
	ended   map[int64]bool
	errText map[int64]string
}

func newAwayJobs(away int) *awayJobs {
	return &awayJobs{memJobs: newMemJobs(), away: away, ended: map[int64]bool{}, errText: map[int64]string{}}
}

func (a *awayJobs) FinishJob(ctx context.Context, id int64, st JobState, errText string, undone []string) error {
	a.mu.Lock()
	a.calls++
	if a.away < 0 || a.calls <= a.away {
		a.mu.Unlock()
		return errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
	}
	if a.ended[id] {
		a.mu.Unlock()
		return fmt.Errorf("finish job %d: job is succeeded: %w", id, ErrJobEnded)
	}
	a.ended[id], a.errText[id] = true, errText
	a.mu.Unlock()
	return a.memJobs.FinishJob(ctx, id, st, errText, undone)
}

func (a *awayJobs) state(id int64) (JobState, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.final[id], a.calls
}

// waitRecorded waits for the task's end to be recorded, for at most a
// minute.
func waitRecorded(t *testing.T, task *Task) {
	t.Helper()
	select {
	case <-task.Recorded():
	case <-time.After(time.Minute):
		t.Fatal("the job's end was not recorded within a minute")
	}
}

// TestRunnerRecordsTheEndOnceTheStoreIsBack: the store refuses the job's
// end three times; the task ends at once, its end is kept on disk, and
// the runner records it by itself once the store takes it, then forgets
// the kept copy.
func TestRunnerRecordsTheEndOnceTheStoreIsBack(t *testing.T) {
	store := newAwayJobs(3)
	kept := newMemEnds()
	r := NewRunner(RunnerConfig{Store: store, CloseRetry: time.Millisecond, Outcomes: kept})
	defer r.Close()
	tr := &trace{}
	var finished []JobState
	task := &Task{Job: Job{ID: 21}, Steps: []Step{tr.step("a", false), tr.step("b", true)},
		Finished: func(j Job) { finished = append(finished, j.State) }}
	if err := r.Submit(task); err != nil {
		t.Fatal(err)
	}
	job, _ := task.Wait(context.Background())
	if job.State != JobRolledBack {
		t.Fatalf("task ended %s, want rolled_back", job.State)
	}
	if diff := cmp.Diff(finished, []JobState{JobRolledBack}); diff != "" {
		t.Errorf("Finished calls (-got +want):\n%s", diff)
	}
	waitRecorded(t, task)
	st, calls := store.state(21)
	if st != JobRolledBack || calls != 4 {
		t.Errorf("store has %q after %d FinishJob calls, want rolled_back after 4", st, calls)
	}
	if diff := cmp.Diff(store.undone[21], []string{"b", "a"}); diff != "" {
		t.Errorf("undone recorded (-got +want):\n%s", diff)
	}
	if !strings.Contains(store.errText[21], "step b failed: boom") {
		t.Errorf("error recorded %q, want the step's failure", store.errText[21])
	}
	if left := kept.jobs(); len(left) != 0 || kept.keeps == 0 {
		t.Errorf("kept ends left after the end was recorded: %v (kept %d times)", left, kept.keeps)
	}
}

// TestRollBackRecordsTheEndOnceTheStoreIsBack: recovery's rollback of an
// interrupted job, too, is recorded once the store takes it.
func TestRollBackRecordsTheEndOnceTheStoreIsBack(t *testing.T) {
	store := newAwayJobs(1)
	r := NewRunner(RunnerConfig{Store: store, CloseRetry: time.Millisecond})
	defer r.Close()
	tr := &trace{}
	task := &Task{Job: Job{ID: 22}, Steps: []Step{tr.step("a", false)}}
	r.RollBack(context.Background(), task, "odoobot stopped while this job ran")
	waitRecorded(t, task)
	if st, _ := store.state(22); st != JobInterrupted {
		t.Errorf("store has %q, want interrupted", st)
	}
}

// TestRunnerKeepsAnUnrecordedEndForTheNextStart: the store refuses the
// job's end until the runner is closed (the process stops); the end is in
// the outcome directory, and the next runner records it, as it was,
// before it takes any task.
func TestRunnerKeepsAnUnrecordedEndForTheNextStart(t *testing.T) {
	kept := newMemEnds()
	away := newAwayJobs(-1)
	r := NewRunner(RunnerConfig{Store: away, CloseRetry: time.Millisecond, Outcomes: kept})
	task := &Task{Job: Job{ID: 31}, Steps: []Step{{Name: "swap", Apply: func(context.Context) error { return nil }}}}
	if err := r.Submit(task); err != nil {
		t.Fatal(err)
	}
	if job, err := task.Wait(context.Background()); err != nil || job.State != JobSucceeded {
		t.Fatalf("task: %s, %v", job.State, err)
	}
	r.Close()
	select {
	case <-task.Recorded():
		t.Fatal("Recorded is closed though the store never took the end")
	default:
	}
	if diff := cmp.Diff(kept.jobs(), []int64{31}); diff != "" {
		t.Fatalf("the unrecorded end is not kept (-got +want):\n%s", diff)
	}

	back := newAwayJobs(0)
	next := NewRunner(RunnerConfig{Store: back, Outcomes: kept})
	defer next.Close()
	if st, _ := back.state(31); st != JobSucceeded {
		t.Errorf("after the next start the store has %q for job 31, want succeeded", st)
	}
	if left := kept.jobs(); len(left) != 0 {
		t.Errorf("kept ends left once recorded: %v", left)
	}
}

// TestKeptEndsAlreadyRecordedOrUnreadable: a kept end the store has as
// ended already (another odoobot recorded it) is dropped; one the keeper
// cannot read is left to it, and nothing is recorded from it.
func TestKeptEndsAlreadyRecordedOrUnreadable(t *testing.T) {
	kept := newMemEnds()
	kept.Keep(JobEnd{Job: 41, State: JobSucceeded})
	kept.bad = []error{errors.New("job-45.json: not json")}
	store := newAwayJobs(0)
	store.ended[41] = true
	r := NewRunner(RunnerConfig{Store: store, Outcomes: kept})
	defer r.Close()
	if left := kept.jobs(); len(left) != 0 {
		t.Errorf("kept ends left: %v, want job 41 forgotten", left)
	}
	if _, calls := store.state(0); calls != 1 {
		t.Errorf("FinishJob called %d times, want once (job 41)", calls)
	}
}

// memEnds is an in-memory JobEndKeeper, a test double of
// provision/jobends; bad is what Kept reports as unreadable.
type memEnds struct {
	mu    sync.Mutex
	ends  map[int64]JobEnd
	keeps int
	bad   []error
}

func newMemEnds() *memEnds { return &memEnds{ends: map[int64]JobEnd{}} }

func (m *memEnds) Keep(e JobEnd) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ends[e.Job] = e
	m.keeps++
	return nil
}

func (m *memEnds) Forget(job int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.ends, job)
	return nil
}

func (m *memEnds) Kept() ([]JobEnd, []error, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []JobEnd
	for _, e := range m.ends {
		out = append(out, e)
	}
	return out, m.bad, nil
}

func (m *memEnds) Where(job int64) string { return fmt.Sprintf("memory (job %d)", job) }

// jobs are the jobs whose end is kept, in order.
func (m *memEnds) jobs() []int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []int64
	for id := range m.ends {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// startAwayJobs refuses to start a job, as when PostgreSQL is away, the
// first `away` times.
type startAwayJobs struct {
	*memJobs
	away, calls int
}

func (s *startAwayJobs) StartJob(context.Context, int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.calls <= s.away {
		return errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
	}
	return nil
}

// TestRunnerStartsTheJobOnceTheStoreIsBack: a job the store could not
// mark started runs once it can, rather than stay queued.
func TestRunnerStartsTheJobOnceTheStoreIsBack(t *testing.T) {
	store := &startAwayJobs{memJobs: newMemJobs(), away: 2}
	r := NewRunner(RunnerConfig{Store: store, CloseRetry: time.Millisecond})
	defer r.Close()
	tr := &trace{}
	task := &Task{Job: Job{ID: 51}, Steps: []Step{tr.step("a", false)}}
	if err := r.Submit(task); err != nil {
		t.Fatal(err)
	}
	job, err := task.Wait(context.Background())
	if err != nil || job.State != JobSucceeded {
		t.Fatalf("task: %s, %v; want succeeded", job.State, err)
	}
	if store.calls != 3 || store.final[51] != JobSucceeded {
		t.Errorf("StartJob called %d times, store has %q; want 3 calls and succeeded", store.calls, store.final[51])
	}
	if diff := cmp.Diff(tr.calls, []string{"apply a"}); diff != "" {
		t.Errorf("calls (-got +want):\n%s", diff)
	}
}

// TestRunnerEndedSeesEveryEnd: Ended is called once per job with its
// final record: a job that succeeded, one rolled back, and one recovery
// rolled back.
func TestRunnerEndedSeesEveryEnd(t *testing.T) {
	store := newMemJobs()
	tr := &trace{}
	var mu sync.Mutex
	var ended []string
	r := NewRunner(RunnerConfig{Store: store, Ended: func(_ context.Context, j Job) {
		mu.Lock()
		defer mu.Unlock()
		ended = append(ended, fmt.Sprintf("%d %s %s", j.ID, j.Kind, j.State))
	}})
	defer r.Close()
	finished := func(Job) { tr.add("finished") }
	ok := &Task{Job: Job{ID: 1, Kind: JobCreate}, Steps: []Step{tr.step("a", false)}, Finished: finished}
	r.Submit(ok)
	ok.Wait(context.Background())
	bad := &Task{Job: Job{ID: 2, Kind: JobDelete}, Steps: []Step{tr.step("b", true)}, Finished: finished}
	r.Submit(bad)
	bad.Wait(context.Background())
	r.RollBack(context.Background(), &Task{Job: Job{ID: 3, Kind: JobIsolate}, Steps: []Step{tr.step("c", false)}, Finished: finished}, "odoobot stopped")
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(ended, []string{"1 create succeeded", "2 delete rolled_back", "3 isolate interrupted"}); diff != "" {
		t.Errorf("Ended calls (-got +want):\n%s", diff)
	}
}
