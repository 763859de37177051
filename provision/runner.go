package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Step is one unit of a job. Apply does the work and must be idempotent:
// running it again after a partial or full apply finishes the work and
// does no harm. Undo reverses Apply, also after a partial apply, and must
// be harmless when Apply never ran; nil means there is nothing to undo.
type Step struct {
	Name  StepName
	Apply func(ctx context.Context) error
	Undo  func(ctx context.Context) error
}

// JobStore is what the runner needs from the state store. StartJob and
// FinishJob of a job that has already ended return an error matching
// ErrJobEnded; StartJob of a running job, one matching ErrJobStarted.
type JobStore interface {
	StartJob(ctx context.Context, id int64) error
	AppendEvent(ctx context.Context, e Event) error
	FinishJob(ctx context.Context, id int64, state JobState, errText string, undone []string) error
}

// FailureStore keeps which step a failed job failed at and why
// (postgres.Store has it).
type FailureStore interface {
	// RecordFailure records f as job id's failure; recording it again
	// does no harm.
	RecordFailure(ctx context.Context, id int64, f JobFailure) error
}

// ErrJobEnded is the error (wrapped) of a JobStore asked to start or end
// a job that has already ended.
var ErrJobEnded = errors.New("job has already ended")

// ErrJobStarted is the error (wrapped) of a JobStore asked to start a job
// that is running already.
var ErrJobStarted = errors.New("job has already started")

// Subscriber receives a job's events as they happen. It is called from
// the worker running the job and must not block for long.
type Subscriber func(Event)

// StepError is the error a failed job ends with: which step failed, why,
// and what was undone. Its message is safe to show in chat.
type StepError struct {
	Step   StepName
	Err    error
	Undone []string
	Left   []string // steps whose undo failed: something is left behind
}

func (e *StepError) Error() string {
	msg := fmt.Sprintf("step %s failed: %v", e.Step, e.Err)
	if len(e.Undone) > 0 {
		msg += fmt.Sprintf("; rolled back: %v", e.Undone)
	}
	if len(e.Left) > 0 {
		msg += fmt.Sprintf("; could NOT undo: %v (see the creation log)", e.Left)
	}
	return msg
}

func (e *StepError) Unwrap() error { return e.Err }

// Failure is the failed step and its cause, as the job record keeps it:
// the kind and hint of the step's Error when a driver typed it.
func (e *StepError) Failure() *JobFailure {
	f := &JobFailure{Step: e.Step, Left: e.Left}
	if pe, ok := AsError(e.Err); ok {
		f.Kind, f.Hint = pe.Kind, pe.Explain()
	}
	return f
}

// Noted is what a step returns when it applied but has something the
// user must read (a record it had to leave in place): the runner records
// the step as done, with the message.
type Noted struct{ Message string }

func (n *Noted) Error() string { return n.Message }

// Task is a job with its steps, ready to run.
type Task struct {
	Job       Job
	Steps     []Step
	LogPath   string       // the creation log, appended to; empty for none
	Subscribe []Subscriber // receive every event
	Notes     []string     // shown as info events before the first step (a capacity warning)
	// Finished, when set, is called once the job has ended, with its final
	// record.
	Finished func(Job)
	// Instance is the instance the job works on: for a creation or a
	// clone, the one reserved (with its ports); for a day-two job, as it
	// was when the job was queued.
	Instance Instance

	done     chan struct{}
	recorded chan struct{}
	result   Job
	err      error
	progress atomic.Pointer[func(StepName, string)]
	summary  atomic.Pointer[string]
}

// SetSummary keeps the summary of the instance the job made (its
// info-instancia.txt, without secrets), for Summary; the step that
// writes it calls it. Safe for concurrent use.
func (t *Task) SetSummary(text string) {
	if t != nil {
		t.summary.Store(&text)
	}
}

// Summary is the summary the job kept (SetSummary), "" when it kept none:
// what a caller shows once the job has succeeded, without asking for it
// again.
func (t *Task) Summary() string {
	if s := t.summary.Load(); s != nil {
		return *s
	}
	return ""
}

// Progress reports how far step has come, for a long step to call from
// its Apply: the text ("installing modules 12/47") goes to the
// subscribers and the creation log as an EventProgress, each replacing
// the last. It does nothing when the task is not running. Safe for
// concurrent use.
func (t *Task) Progress(step StepName, text string) {
	if f := t.progress.Load(); f != nil {
		(*f)(step, text)
	}
}

// Wait blocks until the task has ended and returns the final job and its
// error (a *StepError when a step failed).
func (t *Task) Wait(ctx context.Context) (Job, error) {
	select {
	case <-t.done:
		return t.result, t.err
	case <-ctx.Done():
		return t.Job, ctx.Err()
	}
}

// Done is closed when the task has ended.
func (t *Task) Done() <-chan struct{} { return t.done }

// Recorded is closed once the job's end is recorded in the store, which
// frees its instance for the next job: when the task ends, or later when
// the store was away then (see RunnerConfig.Outcomes). It is never
// closed when the runner is closed first.
func (t *Task) Recorded() <-chan struct{} { return t.recorded }

// start readies the task's channels; a task runs once.
func (t *Task) start() {
	if t.done == nil {
		t.done, t.recorded = make(chan struct{}), make(chan struct{})
	}
}

// RunnerConfig configures a Runner.
type RunnerConfig struct {
	Store   JobStore
	Workers int // jobs run at once; default 2
	Logger  *slog.Logger
	// FailAt, a test hook, makes the named step fail after its Apply has
	// run, so the rollback of a fully applied step is exercised.
	FailAt StepName
	// KillAt, a test hook, kills the process (SIGKILL, as a crash would)
	// when the named step starts, once its start event is recorded and
	// before its Apply runs: every step before it is recorded done, so
	// recovery's decisions can be tested at each step.
	KillAt StepName
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// StepTimeout bounds one step's Apply, so that a hung clone or pip
	// never holds an instance forever; default 30 minutes (a real Odoo
	// release build takes several).
	StepTimeout time.Duration
	// CloseRetry is the first wait before trying again to record the end
	// of a job the store could not record (PostgreSQL away); it doubles,
	// up to a minute, until the end is recorded or the runner is closed.
	// Default 1 s.
	CloseRetry time.Duration
	// Outcomes, when set, keeps the end of a job the store could not
	// record (provision/jobends: a file per job, 0600) until it is
	// recorded: by this runner trying again, or, when the process stops
	// first, by the next NewRunner, before anything else runs. So
	// recovery, which rolls back the jobs left open, never undoes a job
	// that had ended: it finds it ended as it did. Without it the end is
	// kept in memory only.
	Outcomes JobEndKeeper
	// Ended, when set, is called after each job that ran, or was rolled
	// back by recovery, has ended (its task's Finished first), with its
	// final record, in the worker: for what follows a change of the
	// instances (the rotation of their logs). It must be quick, and
	// cannot change the job's outcome.
	Ended func(ctx context.Context, job Job)
	// Failures, when set, records the failed step of a job that failed,
	// with its kind and hint, before its end; nil records only the end.
	Failures FailureStore
}

// Runner runs tasks on a pool of workers. Each task's steps run in order;
// each emits start and done/failed events with durations, stored, written
// to the creation log and sent to subscribers. On failure the steps that
// ran, the failed one included, are undone in reverse.
type Runner struct {
	cfg   RunnerConfig
	queue chan *Task
	wg    sync.WaitGroup
	stop  context.CancelFunc
	ctx   context.Context

	// retries are the goroutines recording job ends the store refused;
	// unrecorded holds those they gave up when the runner was closed.
	retries    sync.WaitGroup
	mu         sync.Mutex
	unrecorded []pendingEnd
}

// JobEnd is how a job ended, as the store is to record it, and as a
// JobEndKeeper keeps it.
type JobEnd struct {
	Job    int64    `json:"job"`
	State  JobState `json:"state"`
	Error  string   `json:"error,omitempty"`
	Undone []string `json:"undone,omitempty"`
	// Failure is the failed step and its cause, nil when none failed.
	Failure *JobFailure `json:"failure,omitempty"`
}

// outcome is the runner's name for a JobEnd.
type outcome = JobEnd

// JobEndKeeper keeps the ends of jobs the store could not record, across
// a restart of odoobot (provision/jobends). Its methods may be called
// from several goroutines, for different jobs.
type JobEndKeeper interface {
	// Keep stores end, whole or not at all, in place of what is kept for
	// the same job.
	Keep(end JobEnd) error
	// Forget removes what is kept for job; nothing kept is not an error.
	Forget(job int64) error
	// Kept returns every end kept, in no set order. One that cannot be
	// read, or is not a job's end (no job, a state that is not
	// terminal), is left in place and reported in unreadable, each error
	// naming it; err says the keeper cannot be read at all (nothing kept
	// yet is no error).
	Kept() (ends []JobEnd, unreadable []error, err error)
	// Where says where job's end is kept, for messages.
	Where(job int64) string
}

// pendingEnd is an outcome not recorded yet, and what to close once it is.
type pendingEnd struct {
	o        outcome
	recorded chan struct{}
}

// ErrRunnerStopped is returned by Submit after Close.
var ErrRunnerStopped = errors.New("runner stopped")

// NewRunner records the job ends a previous run kept in Outcomes (those
// the store still refuses are tried again in the background), then starts
// the workers. Close stops them after the running tasks have ended (a task
// in progress is finished or rolled back, never left).
func NewRunner(cfg RunnerConfig) *Runner {
	if cfg.Workers < 1 {
		cfg.Workers = 2
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.StepTimeout <= 0 {
		cfg.StepTimeout = 30 * time.Minute
	}
	if cfg.CloseRetry <= 0 {
		cfg.CloseRetry = time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runner{cfg: cfg, queue: make(chan *Task, 1024), stop: cancel, ctx: ctx}
	r.recordKeptOutcomes()
	for range cfg.Workers {
		r.wg.Go(r.work)
	}
	return r
}

// Submit queues a task. The job must already be recorded in the store.
func (r *Runner) Submit(t *Task) error {
	t.start()
	if r.ctx.Err() != nil {
		return ErrRunnerStopped
	}
	select {
	case r.queue <- t:
		return nil
	default:
		return errors.New("provision: the job queue is full; try again later")
	}
}

// Close stops taking tasks and waits for the workers to finish what they
// run. Tasks still queued end at once with an error; their jobs stay
// queued in the store and are recovered (rolled back) at the next start.
// The job ends the store has refused so far are tried once more; those
// it still refuses stay in Outcomes for the next start.
func (r *Runner) Close() {
	r.stop()
	r.wg.Wait()
	r.retries.Wait()
	for _, p := range r.unrecorded {
		if err := r.finish(context.Background(), p.o); err != nil {
			where := "it is lost: the next start's recovery will judge the job"
			if r.cfg.Outcomes != nil {
				where = "it is kept in " + r.cfg.Outcomes.Where(p.o.Job) + " for the next start"
			}
			r.cfg.Logger.Error("could not record the end of a job before stopping; "+where,
				"job", p.o.Job, "state", p.o.State, "err", err)
			continue
		}
		r.forgetOutcome(p.o.Job)
		close(p.recorded)
	}
	r.unrecorded = nil
	for {
		select {
		case t := <-r.queue:
			t.result, t.err = t.Job, ErrRunnerStopped
			close(t.done)
		default:
			return
		}
	}
}

func (r *Runner) work() {
	for {
		select {
		case <-r.ctx.Done():
			return
		case t := <-r.queue:
			r.Run(context.WithoutCancel(r.ctx), t)
		}
	}
}

// Run runs one task in the calling goroutine: it is what the workers do,
// and what recovery uses to roll back a job found open at start-up.
func (r *Runner) Run(ctx context.Context, t *Task) {
	t.start()
	defer close(t.done)
	log := r.cfg.Logger.With("job", t.Job.ID, "instance", t.Job.Instance, "kind", t.Job.Kind)
	send, closeLog := r.events(ctx, t)
	defer closeLog()
	emit := func(step StepName, kind EventKind, msg string, d time.Duration) { send(step, kind, msg, "", d) }
	if err := r.startJob(ctx, t.Job.ID); err != nil {
		// The job is no longer queued (another process recovered it, or
		// it was ended), or the runner is closing while the store is away
		// (the job stays queued, for the next start's recovery): running
		// its steps now would race with that.
		log.Error("start job", "err", err)
		t.Job.Error = "could not start: " + err.Error()
		t.result, t.err = t.Job, errors.New(t.Job.Error)
		if t.Finished != nil {
			t.Finished(t.result)
		}
		return
	}
	t.Job.State, t.Job.StartedAt = JobRunning, r.cfg.Now()

	for _, n := range t.Notes {
		emit("note", EventInfo, n, 0)
	}
	progress := func(step StepName, text string) { emit(step, EventProgress, text, 0) }
	t.progress.Store(&progress)
	defer t.progress.Store(nil)
	var failed *StepError
	ran := 0
	for _, s := range t.Steps {
		ran++
		emit(s.Name, EventStart, "", 0)
		if r.cfg.KillAt != "" && s.Name == r.cfg.KillAt {
			r.cfg.Logger.Warn("killing odoobot at the start of a step (test hook)", "job", t.Job.ID, "step", s.Name)
			if self, err := os.FindProcess(os.Getpid()); err == nil {
				_ = self.Kill() // SIGKILL
			}
			select {} // the signal is on its way: nothing more of this job runs
		}
		start := r.cfg.Now()
		sctx, cancel := context.WithTimeout(ctx, r.cfg.StepTimeout)
		err := s.Apply(sctx)
		if err != nil && sctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			err = fmt.Errorf("gave up after %s: %w", r.cfg.StepTimeout, err)
		}
		cancel()
		if err == nil && r.cfg.FailAt != "" && s.Name == r.cfg.FailAt {
			err = fmt.Errorf("failure injected at step %s (test hook)", s.Name)
		}
		d := r.cfg.Now().Sub(start)
		var noted *Noted
		if errors.As(err, &noted) {
			emit(s.Name, EventDone, noted.Message, d)
			continue
		}
		if err != nil {
			send(s.Name, EventFailed, err.Error(), Hint(err), d)
			failed = &StepError{Step: s.Name, Err: err}
			break
		}
		emit(s.Name, EventDone, "", d)
	}

	state, errText := JobSucceeded, ""
	if failed != nil {
		// Undo with a context that survives the cancellation that may have
		// caused the failure: a rollback is never abandoned half-way.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		failed.Undone, failed.Left = r.undo(uctx, t.Steps[:ran], send)
		cancel()
		state, errText = JobRolledBack, failed.Error()
		if len(failed.Left) > 0 {
			state = JobFailed
		}
		t.err = failed
		log.Warn("job rolled back", "err", failed)
	}
	var undone []string
	var failure *JobFailure
	if failed != nil {
		undone = failed.Undone
		failure = failed.Failure()
		t.Job.Failure = *failure
	}
	r.recordEnd(ctx, t, outcome{Job: t.Job.ID, State: state, Error: errText, Undone: undone, Failure: failure})
	t.Job.State, t.Job.Error, t.Job.Undone, t.Job.FinishedAt = state, errText, undone, r.cfg.Now()
	t.result = t.Job
	if t.Finished != nil {
		t.Finished(t.result)
	}
	if r.cfg.Ended != nil {
		r.cfg.Ended(context.WithoutCancel(ctx), t.result)
	}
}

// startJob records that the job starts. While the store cannot (PostgreSQL
// away), it tries again, waiting as recordEnd's retries do, so that the
// job runs once the store is back rather than stay queued for good; it
// gives up when the job is not queued (ErrJobEnded, ErrJobStarted,
// ErrJobNotFound) or when ctx ends or the runner is closed.
func (r *Runner) startJob(ctx context.Context, id int64) error {
	wait := r.cfg.CloseRetry
	for attempt := 1; ; attempt++ {
		err := r.cfg.Store.StartJob(ctx, id)
		if err == nil || errors.Is(err, ErrJobEnded) || errors.Is(err, ErrJobStarted) || errors.Is(err, ErrJobNotFound) {
			return err
		}
		if attempt == 1 || attempt%10 == 0 {
			r.cfg.Logger.Warn("could not start a job; trying again", "job", id, "attempts", attempt, "err", err)
		}
		select {
		case <-ctx.Done():
			return err
		case <-r.ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Minute)
	}
}

// emitter returns the function that records an event of t: in the store,
// in the creation log, and to every subscriber; and the function that
// closes the log.
func (r *Runner) emitter(ctx context.Context, t *Task) (func(StepName, EventKind, string, time.Duration), func()) {
	send, closeLog := r.events(ctx, t)
	return func(step StepName, kind EventKind, msg string, d time.Duration) { send(step, kind, msg, "", d) }, closeLog
}

// events is emitter's, with the hint of a failed step's typed error
// (Event.Hint), which only its subscribers get.
func (r *Runner) events(ctx context.Context, t *Task) (func(StepName, EventKind, string, string, time.Duration), func()) {
	var logFile *os.File
	if t.LogPath != "" {
		if err := os.MkdirAll(filepath.Dir(t.LogPath), 0o750); err == nil {
			logFile, _ = os.OpenFile(t.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		}
	}
	var mu sync.Mutex // progress comes from the step's own goroutines
	emit := func(step StepName, kind EventKind, msg, hint string, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		e := Event{JobID: t.Job.ID, At: r.cfg.Now(), Step: string(step), Kind: kind, Message: msg, Duration: d}
		if kind != EventProgress {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if err := r.cfg.Store.AppendEvent(sctx, e); err != nil {
				r.cfg.Logger.Error("store job event", "job", t.Job.ID, "err", err)
			}
			cancel()
		}
		if logFile != nil {
			fmt.Fprintln(logFile, FormatEvent(e))
		}
		e.Hint = hint
		for _, s := range t.Subscribe {
			s(e)
		}
	}
	return emit, func() {
		if logFile != nil {
			logFile.Close()
		}
	}
}

// undo runs the Undo of steps in reverse and returns the names of those
// undone and of those whose undo failed.
func (r *Runner) undo(ctx context.Context, steps []Step, emit func(StepName, EventKind, string, string, time.Duration)) (undone, left []string) {
	for i := len(steps) - 1; i >= 0; i-- {
		s := steps[i]
		if s.Undo == nil {
			continue
		}
		emit(s.Name, EventUndo, "", "", 0)
		start := r.cfg.Now()
		if err := s.Undo(ctx); err != nil {
			emit(s.Name, EventUndoFailed, err.Error(), Hint(err), r.cfg.Now().Sub(start))
			left = append(left, string(s.Name))
			continue
		}
		emit(s.Name, EventUndone, "", "", r.cfg.Now().Sub(start))
		undone = append(undone, string(s.Name))
	}
	return undone, left
}

// RollBack undoes every step of a task, in reverse, whatever ran before:
// it is how a job found open at start-up (the process died mid-way) is
// cleaned up, relying on each Undo being harmless when Apply never ran.
// The job ends interrupted.
func (r *Runner) RollBack(ctx context.Context, t *Task, reason string) {
	t.start()
	defer close(t.done)
	send, closeLog := r.events(ctx, t)
	defer closeLog()
	send("recovery", EventInfo, reason, "", 0)
	undone, left := r.undo(ctx, t.Steps, send)
	errText := reason + "; rolled back"
	if len(left) > 0 {
		errText += fmt.Sprintf("; could NOT undo: %v", left)
	}
	r.recordEnd(ctx, t, outcome{Job: t.Job.ID, State: JobInterrupted, Error: errText, Undone: undone})
	t.Job.State, t.Job.Error, t.Job.Undone = JobInterrupted, errText, undone
	t.result = t.Job
	t.err = errors.New(errText)
	if t.Finished != nil {
		t.Finished(t.result)
	}
	if r.cfg.Ended != nil {
		r.cfg.Ended(context.WithoutCancel(ctx), t.result)
	}
}

// recordEnd records how t's job ended. When the store cannot (PostgreSQL
// away), the outcome is kept (Outcomes) and recorded in the background,
// trying again with backoff, so that the instance is not left busy; the
// task's Recorded is closed once it is.
func (r *Runner) recordEnd(ctx context.Context, t *Task, o outcome) {
	err := r.finish(ctx, o)
	if err == nil {
		close(t.recorded)
		return
	}
	r.cfg.Logger.Error("could not record the end of a job; trying again in the background",
		"job", o.Job, "state", o.State, "err", err)
	r.keepOutcome(o)
	r.retries.Go(func() { r.retry(pendingEnd{o, t.recorded}) })
}

// finish records o in the store, within 10 s. A job the store has as ended
// already is recorded: by an attempt whose answer was lost, or by a
// recovery that judged it first.
func (r *Runner) finish(ctx context.Context, o outcome) error {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if o.Failure != nil && r.cfg.Failures != nil {
		if err := r.cfg.Failures.RecordFailure(fctx, o.Job, *o.Failure); err != nil && !errors.Is(err, ErrJobNotFound) {
			return err
		}
	}
	err := r.cfg.Store.FinishJob(fctx, o.Job, o.State, o.Error, o.Undone)
	if errors.Is(err, ErrJobEnded) || errors.Is(err, ErrJobNotFound) {
		r.cfg.Logger.Warn("the end of a job was recorded already", "job", o.Job, "state", o.State, "err", err)
		return nil
	}
	return err
}

// retry records p's outcome, waiting CloseRetry then twice as long each
// time (up to a minute) between attempts. When the runner is closed
// first, p is left to Close.
func (r *Runner) retry(p pendingEnd) {
	wait := r.cfg.CloseRetry
	for attempt := 2; ; attempt++ {
		select {
		case <-r.ctx.Done():
			r.mu.Lock()
			r.unrecorded = append(r.unrecorded, p)
			r.mu.Unlock()
			return
		case <-time.After(wait):
		}
		err := r.finish(r.ctx, p.o)
		if err == nil {
			r.cfg.Logger.Info("recorded the end of a job", "job", p.o.Job, "state", p.o.State, "attempts", attempt)
			r.forgetOutcome(p.o.Job)
			close(p.recorded)
			return
		}
		if attempt%10 == 0 {
			r.cfg.Logger.Warn("still cannot record the end of a job; trying again", "job", p.o.Job, "attempts", attempt, "err", err)
		}
		wait = min(2*wait, time.Minute)
	}
}

// keepOutcome keeps o (Outcomes), whole or not at all.
func (r *Runner) keepOutcome(o outcome) {
	if r.cfg.Outcomes == nil {
		return
	}
	if err := r.cfg.Outcomes.Keep(o); err != nil {
		r.cfg.Logger.Error("could not keep the end of a job on disk", "job", o.Job, "where", r.cfg.Outcomes.Where(o.Job), "err", err)
	}
}

// forgetOutcome removes what Outcomes keeps of job, once it is recorded.
func (r *Runner) forgetOutcome(job int64) {
	if r.cfg.Outcomes == nil {
		return
	}
	if err := r.cfg.Outcomes.Forget(job); err != nil {
		r.cfg.Logger.Error("could not remove a recorded job end", "job", job, "err", err)
	}
}

// recordKeptOutcomes records the job ends Outcomes holds (a previous
// run could not record them before it stopped); those the store still
// refuses are tried again in the background.
func (r *Runner) recordKeptOutcomes() {
	if r.cfg.Outcomes == nil {
		return
	}
	ends, unreadable, err := r.cfg.Outcomes.Kept()
	if err != nil {
		r.cfg.Logger.Error("could not read the kept job ends", "err", err)
		return
	}
	for _, err := range unreadable {
		r.cfg.Logger.Error("a kept job end cannot be read; left in place", "err", err)
	}
	for _, o := range ends {
		if err := r.finish(r.ctx, o); err != nil {
			r.cfg.Logger.Error("could not record the end of a job a previous run kept; trying again in the background",
				"job", o.Job, "state", o.State, "err", err)
			r.retries.Go(func() { r.retry(pendingEnd{o, make(chan struct{})}) })
			continue
		}
		r.cfg.Logger.Info("recorded the end of a job a previous run kept", "job", o.Job, "state", o.State)
		r.forgetOutcome(o.Job)
	}
}

// FormatEvent renders an event as one line of a creation log or thread:
// "12:00:01 ✓ database (1.23s)".
func FormatEvent(e Event) string {
	mark := map[EventKind]string{
		EventStart: "…", EventDone: "✓", EventFailed: "✗", EventUndo: "↶",
		EventUndone: "↶✓", EventUndoFailed: "↶✗", EventInfo: "·", EventProgress: "…",
	}[e.Kind]
	line := fmt.Sprintf("%s %s %s", e.At.UTC().Format("15:04:05"), mark, e.Step)
	switch e.Kind {
	case EventStart:
		line += " started"
	case EventUndo:
		line += " undoing"
	case EventDone, EventUndone:
		line += fmt.Sprintf(" (%s)", e.Duration.Round(time.Millisecond))
	case EventFailed, EventUndoFailed:
		line += fmt.Sprintf(" (%s)", e.Duration.Round(time.Millisecond))
	}
	if e.Message != "" {
		line += ": " + e.Message
	}
	return line
}
