package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/provision"
)

const (
	sqlInsertJob = `
INSERT INTO odoobot.jobs (kind, instance, state, requested_by, params, chat_ref, started_at, owner)
VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $3::text = 'running' THEN now() END, $7)
RETURNING id, created_at, started_at`

	sqlSelectJob = `
SELECT id, kind, instance, state, requested_by, params, error, undone, chat_ref,
       created_at, started_at, finished_at, failed_step, error_kind, error_hint, left_behind
FROM odoobot.jobs`

	sqlRecordFailure = `
UPDATE odoobot.jobs SET failed_step = $2, error_kind = $3, error_hint = $4, left_behind = $5
WHERE id = $1`

	sqlStartJob = `
UPDATE odoobot.jobs SET state = 'running', started_at = now()
WHERE id = $1 AND state = 'queued'`

	sqlFinishJob = `
UPDATE odoobot.jobs SET state = $2, error = $3, undone = $4, finished_at = now()
WHERE id = $1 AND state IN ('queued', 'running')`

	sqlJobState = `SELECT state FROM odoobot.jobs WHERE id = $1`

	sqlSetChatRef = `UPDATE odoobot.jobs SET chat_ref = $2 WHERE id = $1`

	sqlInsertEvent = `
INSERT INTO odoobot.job_events (job_id, at, step, kind, message, duration_ms)
VALUES ($1, coalesce($2, now()), $3, $4, $5, $6)`

	sqlSelectEvents = `
SELECT job_id, at, step, kind, message, duration_ms
FROM odoobot.job_events WHERE job_id = $1 ORDER BY id`
)

// CreateJob records a new job in state queued (the default) or running,
// and returns it with its id and timestamps. If the instance already has
// an open (queued or running) job, it returns an error matching
// provision.ErrInstanceBusy that names that job; while a quick verb holds
// the instance (HoldInstance), one matching ErrInstanceHeld and
// provision.ErrInstanceBusy.
func (s *Store) CreateJob(ctx context.Context, j provision.Job) (provision.Job, error) {
	if j.State == "" {
		j.State = provision.JobQueued
	}
	if !j.State.Open() {
		return provision.Job{}, errorf("postgres: create job: state must be queued or running, not %q", j.State)
	}
	var started *time.Time
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var free bool
		if err := tx.QueryRow(ctx, sqlTryInstanceXactLock, instanceLockSpace, j.Instance).Scan(&free); err != nil {
			return err
		}
		if !free {
			return ErrInstanceHeld
		}
		return tx.QueryRow(ctx, sqlInsertJob,
			string(j.Kind), j.Instance, string(j.State), j.RequestedBy, jsonMap(j.Params), jsonMap(j.ChatRef), s.owner,
		).Scan(&j.ID, &j.CreatedAt, &started)
	})
	if errors.Is(err, ErrInstanceHeld) {
		return provision.Job{}, errorf("postgres: create job: %s: %w: %w", j.Instance, err, provision.ErrInstanceBusy)
	}
	if _, ok := isUniqueViolation(err); ok {
		if open, found, aerr := s.ActiveJob(ctx, j.Instance); aerr == nil && found {
			return provision.Job{}, errorf("postgres: create job: %s has %s job #%d %s: %w",
				j.Instance, open.Kind, open.ID, open.State, provision.ErrInstanceBusy)
		}
		return provision.Job{}, errorf("postgres: create job: %s: %w", j.Instance, provision.ErrInstanceBusy)
	}
	if err != nil {
		return provision.Job{}, errorf("postgres: create job: %w", err)
	}
	j.StartedAt = deref(started)
	j.FinishedAt = time.Time{}
	j.Error, j.Undone = "", nil
	if len(j.Params) == 0 {
		j.Params = nil
	}
	if len(j.ChatRef) == 0 {
		j.ChatRef = nil
	}
	return j, nil
}

// StartJob moves a queued job to running and stamps its start. A job that
// is not queued is refused: one that has ended with an error matching
// provision.ErrJobEnded, a running one with provision.ErrJobStarted; an
// unknown id gives provision.ErrJobNotFound.
func (s *Store) StartJob(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, sqlStartJob, id)
	if err != nil {
		return errorf("postgres: start job %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return s.wrongState(ctx, "start", id)
	}
	return nil
}

var _ provision.FailureStore = (*Store)(nil)

// FinishJob ends an open job in a terminal state (succeeded, failed,
// rolled_back or interrupted) with what failed (errText, empty on success)
// and the steps its rollback undid, and stamps its end; the instance is
// free for the next job. A job already finished is refused with an error
// matching provision.ErrJobEnded; an unknown id gives
// provision.ErrJobNotFound.
func (s *Store) FinishJob(ctx context.Context, id int64, state provision.JobState, errText string, undone []string) error {
	if !state.Terminal() {
		return errorf("postgres: finish job %d: %q is not a terminal state", id, state)
	}
	if undone == nil {
		undone = []string{}
	}
	tag, err := s.pool.Exec(ctx, sqlFinishJob, id, string(state), errText, undone)
	if err != nil {
		return errorf("postgres: finish job %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return s.wrongState(ctx, "finish", id)
	}
	return nil
}

// RecordFailure records which step job id failed at, the kind of its
// error, its hint and the steps left behind (provision.FailureStore);
// recording it again replaces them. An unknown id gives
// provision.ErrJobNotFound.
func (s *Store) RecordFailure(ctx context.Context, id int64, f provision.JobFailure) error {
	left := f.Left
	if left == nil {
		left = []string{}
	}
	tag, err := s.pool.Exec(ctx, sqlRecordFailure, id, string(f.Step), string(f.Kind), f.Hint, left)
	if err != nil {
		return errorf("postgres: record the failure of job %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return errorf("postgres: record the failure of job %d: %w", id, provision.ErrJobNotFound)
	}
	return nil
}

// wrongState explains why an update of job id matched no row.
func (s *Store) wrongState(ctx context.Context, action string, id int64) error {
	var st string
	err := s.pool.QueryRow(ctx, sqlJobState, id).Scan(&st)
	if errors.Is(err, pgx.ErrNoRows) {
		return errorf("postgres: %s job %d: %w", action, id, provision.ErrJobNotFound)
	}
	if err != nil {
		return errorf("postgres: %s job %d: %w", action, id, err)
	}
	if provision.JobState(st).Terminal() {
		return errorf("postgres: %s job %d: job is %s: %w", action, id, st, provision.ErrJobEnded)
	}
	if provision.JobState(st) == provision.JobRunning {
		return errorf("postgres: %s job %d: job is running: %w", action, id, provision.ErrJobStarted)
	}
	return errorf("postgres: %s job %d: job is %s", action, id, st)
}

// Job returns the job with the given id, or an error matching
// provision.ErrJobNotFound.
func (s *Store) Job(ctx context.Context, id int64) (provision.Job, error) {
	rows, err := s.pool.Query(ctx, sqlSelectJob+` WHERE id = $1`, id)
	if err != nil {
		return provision.Job{}, errorf("postgres: job %d: %w", id, err)
	}
	j, err := pgx.CollectExactlyOneRow(rows, scanJob)
	if errors.Is(err, pgx.ErrNoRows) {
		return provision.Job{}, errorf("postgres: job %d: %w", id, provision.ErrJobNotFound)
	}
	if err != nil {
		return provision.Job{}, errorf("postgres: job %d: %w", id, err)
	}
	return j, nil
}

// OpenJobs returns the queued and running jobs, oldest first. At start-up
// these are the jobs a previous run left open.
func (s *Store) OpenJobs(ctx context.Context) ([]provision.Job, error) {
	rows, err := s.pool.Query(ctx, sqlSelectJob+` WHERE state IN ('queued', 'running') ORDER BY id`)
	if err != nil {
		return nil, errorf("postgres: open jobs: %w", err)
	}
	jobs, err := pgx.CollectRows(rows, scanJob)
	if err != nil {
		return nil, errorf("postgres: open jobs: %w", err)
	}
	return jobs, nil
}

// ActiveJob returns the open (queued or running) job of an instance, if
// any; ok is false when the instance has none.
func (s *Store) ActiveJob(ctx context.Context, instance string) (j provision.Job, ok bool, err error) {
	rows, err := s.pool.Query(ctx, sqlSelectJob+` WHERE instance = $1 AND state IN ('queued', 'running')`, instance)
	if err != nil {
		return provision.Job{}, false, errorf("postgres: active job of %s: %w", instance, err)
	}
	j, err = pgx.CollectExactlyOneRow(rows, scanJob)
	if errors.Is(err, pgx.ErrNoRows) {
		return provision.Job{}, false, nil
	}
	if err != nil {
		return provision.Job{}, false, errorf("postgres: active job of %s: %w", instance, err)
	}
	return j, true, nil
}

// Jobs returns instance's jobs of kind, newest first, at most n
// (provision.Store): a restore drill's outcome is its job's record.
func (s *Store) Jobs(ctx context.Context, instance string, kind provision.JobKind, n int) ([]provision.Job, error) {
	rows, err := s.pool.Query(ctx, sqlSelectJob+` WHERE instance = $1 AND kind = $2 ORDER BY id DESC LIMIT $3`, instance, string(kind), n)
	if err != nil {
		return nil, errorf("postgres: %s jobs of %s: %w", kind, instance, err)
	}
	jobs, err := pgx.CollectRows(rows, scanJob)
	if err != nil {
		return nil, errorf("postgres: %s jobs of %s: %w", kind, instance, err)
	}
	return jobs, nil
}

// SetChatRef records where a chat adapter reports the job (for example
// its channel and thread), replacing any earlier reference. An unknown id
// gives provision.ErrJobNotFound.
func (s *Store) SetChatRef(ctx context.Context, id int64, ref map[string]string) error {
	tag, err := s.pool.Exec(ctx, sqlSetChatRef, id, jsonMap(ref))
	if err != nil {
		return errorf("postgres: set chat ref of job %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return errorf("postgres: set chat ref of job %d: %w", id, provision.ErrJobNotFound)
	}
	return nil
}

// AppendEvent adds an event to its job's progress; a zero At means now.
// Durations are stored in whole milliseconds. An unknown job gives
// provision.ErrJobNotFound.
func (s *Store) AppendEvent(ctx context.Context, e provision.Event) error {
	var at *time.Time
	if !e.At.IsZero() {
		at = &e.At
	}
	_, err := s.pool.Exec(ctx, sqlInsertEvent, e.JobID, at, e.Step, string(e.Kind), e.Message, e.Duration.Milliseconds())
	if isForeignKeyViolation(err) {
		return errorf("postgres: append event to job %d: %w", e.JobID, provision.ErrJobNotFound)
	}
	if err != nil {
		return errorf("postgres: append event to job %d: %w", e.JobID, err)
	}
	return nil
}

// Events returns a job's events in the order they were appended.
func (s *Store) Events(ctx context.Context, id int64) ([]provision.Event, error) {
	rows, err := s.pool.Query(ctx, sqlSelectEvents, id)
	if err != nil {
		return nil, errorf("postgres: events of job %d: %w", id, err)
	}
	evs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (provision.Event, error) {
		var e provision.Event
		var kind string
		var ms int64
		err := row.Scan(&e.JobID, &e.At, &e.Step, &kind, &e.Message, &ms)
		e.Kind = provision.EventKind(kind)
		e.Duration = time.Duration(ms) * time.Millisecond
		return e, err
	})
	if err != nil {
		return nil, errorf("postgres: events of job %d: %w", id, err)
	}
	return evs, nil
}

func scanJob(row pgx.CollectableRow) (provision.Job, error) {
	var j provision.Job
	var kind, state string
	var started, finished *time.Time
	var step, errKind string
	err := row.Scan(&j.ID, &kind, &j.Instance, &state, &j.RequestedBy, &j.Params, &j.Error, &j.Undone, &j.ChatRef,
		&j.CreatedAt, &started, &finished, &step, &errKind, &j.Failure.Hint, &j.Failure.Left)
	j.Failure.Step, j.Failure.Kind = provision.StepName(step), provision.ErrorKind(errKind)
	if len(j.Failure.Left) == 0 {
		j.Failure.Left = nil
	}
	j.Kind = provision.JobKind(kind)
	j.State = provision.JobState(state)
	j.StartedAt, j.FinishedAt = deref(started), deref(finished)
	if len(j.Params) == 0 {
		j.Params = nil
	}
	if len(j.ChatRef) == 0 {
		j.ChatRef = nil
	}
	if len(j.Undone) == 0 {
		j.Undone = nil
	}
	return j, err
}

// jsonMap turns a nil map into an empty one, so that a jsonb column holds
// {} rather than null.
func jsonMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}
