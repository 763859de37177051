package provision

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Recover finds the jobs left open by a process that stopped (a crash, a
// kill) — never those another live odoobot is running — and ends each,
// so none stays "running" and nothing stays half-made: it rebuilds the
// plan of each by its kind (recoveryPlans) and ends the job with the
// plan's Recover, which finishes it when its change was recorded as made
// and rolls it back otherwise (see recoverer); a plan without one (a
// creation, a clone) is rolled back unless it had finished. It returns
// the jobs it ended, for the adapters to report in their threads.
func (s *Service) Recover(ctx context.Context, subscribe func(Job) []Subscriber) ([]Job, error) {
	open, err := s.cfg.Store.OrphanedJobs(ctx)
	if err != nil {
		return nil, fmt.Errorf("provision: recover: %w", err)
	}
	plans := s.recoveryPlans()
	var ended []Job
	for _, job := range open {
		rebuild := plans[job.Kind]
		if rebuild == nil {
			// Other kinds have nothing half-made to undo here.
			_ = s.cfg.Store.FinishJob(ctx, job.ID, JobInterrupted, "odoobot stopped while this job ran", nil)
			job.State = JobInterrupted
			ended = append(ended, job)
			continue
		}
		plan, end := rebuild(ctx, job)
		if end != nil {
			_ = s.cfg.Store.FinishJob(ctx, job.ID, end.state, end.msg, nil)
			job.State = end.state
			if end.msg != "" {
				job.Error = end.msg
			}
			ended = append(ended, job)
			continue
		}
		if plan.Recover != nil {
			events, err := s.cfg.Store.Events(ctx, job.ID)
			if err != nil {
				// Without its record, recovery could undo a change that
				// succeeded: the job stays open for the next start.
				s.cfg.Logger.Error("recover: cannot read what the job did; left open for the next start", "job", job.ID, "err", err)
				continue
			}
			ended = append(ended, s.recoverJob(ctx, job, plan, recordedOf(events), subscribe))
			continue
		}
		t := plan.task(job)
		if subscribe != nil {
			t.Subscribe = subscribe(job)
		}
		s.cfg.Runner.RollBack(ctx, t, "odoobot stopped while this job ran")
		ended = append(ended, t.result)
	}
	return ended, nil
}

// settled is how recovery ends an open job without running anything:
// its plan need not, or may not, be run back.
type settled struct {
	state JobState
	msg   string
}

// recoveryPlans rebuild, for each kind of job that can leave something
// half-made, the plan of an open job of that kind from its record. A
// kind missing here has nothing to undo: its open jobs end interrupted.
func (s *Service) recoveryPlans() map[JobKind]func(context.Context, Job) (Plan, *settled) {
	plans := map[JobKind]func(context.Context, Job) (Plan, *settled){
		JobCreate:  s.creationPlanOf,
		JobClone:   s.creationPlanOf,
		JobRebuild: s.rebuildPlanOf,
		JobDrill:   s.drillPlanOf,
	}
	for kind := range s.recoverers() {
		plans[kind] = s.jobPlanOf
	}
	return plans
}

// recoverers end the day-two jobs a stopped odoobot left open, by kind:
// each finished when its change was recorded as made, rolled back
// otherwise (see recoverer).
func (s *Service) recoverers() map[JobKind]recoverer {
	return map[JobKind]recoverer{
		JobBackup:  s.recoverBackup,
		JobRestore: s.abandoning(s.recoverRestore),
		JobUpgrade: s.abandoning(s.recoverUpgrade),
		JobIsolate: s.recoverIsolate,
		JobDelete:  s.abandoning(s.recoverDelete),
	}
}

// jobPlanOf is the plan of an open day-two job: its kind's Recover reads
// the instance's row and what the host shows, and rebuilds from them the
// steps it runs or undoes; the plan has none of its own.
func (s *Service) jobPlanOf(_ context.Context, job Job) (Plan, *settled) {
	return s.jobPlan(job.Kind, s.newInstance(job.Instance, SSLHTTP), job.Params, nil, ""), nil
}

// creationPlanOf is the plan of an open creation or clone: a creation's
// steps for the instance the job names, as its row records it when it
// has one, rolled back whole. It settles the job instead when the name
// or the row is not one the creation could have made (nothing is
// undone), or when the instance is ready: the process stopped after the
// last step and before the job was closed, so the instance is finished,
// never undone.
func (s *Service) creationPlanOf(ctx context.Context, job Job) (Plan, *settled) {
	mode, _ := ParseSSLMode(job.Params["ssl"], SSLHTTP)
	inst := s.newInstance(job.Instance, mode)
	if err := s.recoverable(ctx, job, inst); err != nil {
		return Plan{}, &settled{JobInterrupted, "odoobot stopped while this job ran; NOT rolled back: " + err.Error()}
	}
	if got, err := s.cfg.Store.Instance(ctx, job.Instance); err == nil {
		if got.State == StateReady {
			return Plan{}, &settled{JobSucceeded, ""}
		}
		inst = got
	}
	plan, _ := s.createPlan(inst)
	plan.Kind, plan.Params = job.Kind, job.Params
	return plan, nil
}

// recoverer ends an orphaned job of one kind. It decides from rec, what
// the job recorded as done: once the step that commits the job's change
// is recorded done (and no rollback had begun), it finishes the job
// forward and reports finished; before that it rolls back what the job
// did and says what it undid. emit records each step it runs or undoes,
// in the store, the job's log and its subscribers, as the runner does.
type recoverer func(ctx context.Context, job Job, rec recorded, emit emitFunc) (recovery, error)

// emitFunc records one event of a job (Runner.emitter).
type emitFunc func(step StepName, kind EventKind, msg string, d time.Duration)

// recovery is what a recoverer did with an orphaned job.
type recovery struct {
	// finished is set when the job's change had been made and recovery
	// finished the job forward: the job succeeded.
	finished bool
	// undone are the steps rolled back, in the order they were undone.
	undone []string
}

// recorded is what a job's events say it did.
type recorded struct {
	done        map[StepName]bool
	rollingBack bool
	events      []Event
}

// recordedOf reads what a job's events say it did.
func recordedOf(events []Event) recorded {
	r := recorded{done: map[StepName]bool{}, events: events}
	for _, e := range events {
		switch e.Kind {
		case EventDone:
			r.done[StepName(e.Step)] = true
		case EventFailed, EventUndo, EventUndone, EventUndoFailed:
			r.rollingBack = true
		}
	}
	return r
}

// Started reports whether step is recorded started (done or not).
func (r recorded) Started(step StepName) bool {
	for _, e := range r.events {
		if StepName(e.Step) == step && e.Kind == EventStart {
			return true
		}
	}
	return false
}

// Committed reports whether every one of steps is recorded done and no
// step failed or was undone: the job's change was made and stood when
// its process stopped, so recovery finishes it rather than undo it.
func (r recorded) Committed(steps ...StepName) bool {
	if r.rollingBack {
		return false
	}
	for _, s := range steps {
		if !r.done[s] {
			return false
		}
	}
	return len(steps) > 0
}

// took is how long passed from the start of step from to the end of step
// to, as recorded; zero when either is missing.
func (r recorded) took(from, to StepName) time.Duration {
	var start, end time.Time
	for _, e := range r.events {
		switch {
		case StepName(e.Step) == from && e.Kind == EventStart && start.IsZero():
			start = e.At
		case StepName(e.Step) == to && e.Kind == EventDone:
			end = e.At
		}
	}
	if start.IsZero() || end.IsZero() {
		return 0
	}
	return end.Sub(start)
}

// recoverJob ends one orphaned job with its plan's Recover, its steps
// recorded in the job's events and log, and records how it ended:
// succeeded when the recoverer finished it, interrupted when it rolled
// it back, failed when either could not be done whole.
func (s *Service) recoverJob(ctx context.Context, job Job, plan Plan, rec recorded, subscribe func(Job) []Subscriber) Job {
	t := &Task{Job: job, LogPath: plan.LogPath}
	if subscribe != nil {
		t.Subscribe = subscribe(job)
	}
	emit, closeLog := s.cfg.Runner.emitter(ctx, t)
	defer closeLog()
	emit("recovery", EventInfo, "odoobot stopped while this job ran", 0)
	res, err := plan.Recover(ctx, job, rec, emit)
	state, msg := JobInterrupted, "odoobot stopped while this job ran; rolled back"
	switch {
	case res.finished && err == nil:
		state, msg = JobSucceeded, ""
		emit("recovery", EventInfo, "its change had been made before odoobot stopped: finished, nothing undone", 0)
	case res.finished:
		state, msg = JobFailed, "it had made its change; finishing it failed, and nothing was undone: "+err.Error()
		emit("recovery", EventInfo, msg, 0)
	case err != nil:
		msg += "; could NOT roll back all of it: " + err.Error()
		emit("recovery", EventInfo, msg, 0)
	default:
		emit("recovery", EventInfo, "rolled back", 0)
	}
	_ = s.cfg.Store.FinishJob(ctx, job.ID, state, msg, res.undone)
	job.State, job.Error, job.Undone = state, msg, res.undone
	return job
}

// runStep runs one step's work during recovery, recording its start and
// its end as the runner does.
func runStep(ctx context.Context, emit emitFunc, name StepName, f func(context.Context) error) error {
	emit(name, EventStart, "", 0)
	start := time.Now()
	err := f(ctx)
	var noted *Noted
	switch {
	case errors.As(err, &noted):
		emit(name, EventDone, noted.Message, time.Since(start))
		return nil
	case err != nil:
		emit(name, EventFailed, err.Error(), time.Since(start))
		return fmt.Errorf("%s: %w", name, err)
	}
	emit(name, EventDone, "", time.Since(start))
	return nil
}

// undoStep runs one step's undo during recovery, recording it as the
// runner does, and adds its name to undone when it succeeds.
func undoStep(ctx context.Context, emit emitFunc, name StepName, f func(context.Context) error, undone *[]string) error {
	emit(name, EventUndo, "", 0)
	start := time.Now()
	if err := f(ctx); err != nil {
		emit(name, EventUndoFailed, err.Error(), time.Since(start))
		return fmt.Errorf("%s: %w", name, err)
	}
	emit(name, EventUndone, "", time.Since(start))
	*undone = append(*undone, string(name))
	return nil
}

// recoverable checks that an orphaned creation's instance is one whose
// rollback may run: its name passes the rules, and its row, when there is
// one, records exactly the names the creation made (inst, derived from
// the name with this host's tenants).
func (s *Service) recoverable(ctx context.Context, job Job, inst Instance) error {
	if err := s.cfg.Rules.Check(job.Instance); err != nil {
		return err
	}
	got, err := s.cfg.Store.Instance(ctx, job.Instance)
	if errors.Is(err, ErrInstanceNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := s.cfg.Layout.CheckStored(got); err != nil {
		return err
	}
	if got.User != inst.User || got.DBRole != inst.DBRole {
		return &StoredNameError{Instance: got.Name, Field: "system_user", Stored: got.User, Expected: fmt.Sprintf("%q, as its creation made it", inst.User)}
	}
	return nil
}

// abandoning is recover, after the instance's backups left half-made by
// the stopped job (its safety or final backup) are removed: a backup
// is never finished by recovery, and while the job is open no other job
// of the instance can be making one.
func (s *Service) abandoning(recover recoverer) recoverer {
	return func(ctx context.Context, job Job, rec recorded, emit emitFunc) (recovery, error) {
		if _, err := s.backups.Abandon(InternalName(job.Instance)); err != nil {
			return recovery{}, fmt.Errorf("remove a half-made backup: %w", err)
		}
		return recover(ctx, job, rec, emit)
	}
}
