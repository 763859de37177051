package provision

import (
	"errors"
	"time"
)

// JobKind is what a job does to an instance.
type JobKind string

// The kinds of job.
const (
	JobCreate  JobKind = "create"
	JobDelete  JobKind = "delete"
	JobBackup  JobKind = "backup"
	JobRestore JobKind = "restore"
)

// JobState is where a job is in its life. A job starts queued (or running),
// and ends in exactly one of the terminal states.
type JobState string

// Job states.
const (
	JobQueued      JobState = "queued"      // accepted, not started
	JobRunning     JobState = "running"     // a worker is applying its steps
	JobSucceeded   JobState = "succeeded"   // every step applied
	JobFailed      JobState = "failed"      // a step failed and the rollback is incomplete
	JobRolledBack  JobState = "rolled_back" // a step failed and every finished step was undone
	JobInterrupted JobState = "interrupted" // the bot stopped while the job was open
)

// Open reports whether the job is queued or running: an open job holds
// its instance, and a restart finds it for recovery.
func (s JobState) Open() bool { return s == JobQueued || s == JobRunning }

// Terminal reports whether s is one of the states a job ends in.
func (s JobState) Terminal() bool {
	switch s {
	case JobSucceeded, JobFailed, JobRolledBack, JobInterrupted:
		return true
	}
	return false
}

// Job is the record of one unit of background work on an instance.
// At most one open (queued or running) job exists per instance.
type Job struct {
	ID          int64
	Kind        JobKind
	Instance    string // the instance's name; the record outlives the instance
	State       JobState
	RequestedBy string            // who asked, as the chat or CLI names them
	Params      map[string]string // the request's arguments (e.g. "ssl": "cloudflare"); no secrets
	Error       string            // what failed, in plain words; empty on success
	Undone      []string          // the steps undone by a rollback, in the order they were undone
	ChatRef     map[string]string // where a chat adapter reports the job (e.g. channel and thread), so a restart can report there
	// Failure is, for a job that failed at a step, that step and its
	// cause in words; zero otherwise (and for jobs recorded before it).
	Failure    JobFailure
	CreatedAt  time.Time
	StartedAt  time.Time // zero until the job runs
	FinishedAt time.Time // zero until the job ends
}

// JobFailure is which step a job failed at, and why, as chat may tell it.
type JobFailure struct {
	Step StepName // the step that failed; "" when none did
	// Kind is the kind of the step's error when a driver typed it (a
	// provision.Error), "" otherwise.
	Kind ErrorKind
	// Hint is that Error's Explain: what happened and what to do, without
	// the driver's text. "" when the error was not typed: the job's Error
	// then says it.
	Hint string
	// Left are the steps whose undo failed: something is left behind.
	Left []string
}

// EventKind is what happened to a step.
type EventKind string

// The kinds of job event.
const (
	EventStart      EventKind = "start"       // a step began
	EventDone       EventKind = "done"        // a step applied
	EventFailed     EventKind = "failed"      // a step failed
	EventUndo       EventKind = "undo"        // a step's undo began
	EventUndone     EventKind = "undone"      // a step was undone
	EventUndoFailed EventKind = "undo_failed" // a step's undo failed: something is left behind
	EventInfo       EventKind = "info"        // a note within a step
	// EventProgress says how far a long step has come ("installing
	// modules 12/47"); each replaces the last. It goes to subscribers and
	// the creation log, not to the job record.
	EventProgress EventKind = "progress"
)

// Event is one line of a job's progress. Duration is how long the step (or
// its undo) took, for done, failed, undone and undo_failed events.
type Event struct {
	JobID    int64
	At       time.Time
	Step     string
	Kind     EventKind
	Message  string
	Duration time.Duration
	// Hint is, for a step that failed with a typed error (an Error), its
	// Explain: what chat shows in place of Message. Subscribers get it;
	// the store and the log keep Message only.
	Hint string
}

// AuditEntry records one command attempt, allowed or not. Decision is
// "allowed", "denied" or "invalid"; Outcome is what came of it.
type AuditEntry struct {
	At                                                              time.Time
	Platform, UserID, UserName, Channel, Command, Decision, Outcome string
	Duration                                                        time.Duration
}

// AuditQuery selects entries of the audit log: those at or after Since,
// of User when set (a platform user ID, or a user name in any case), at
// most Limit, oldest first.
type AuditQuery struct {
	Since time.Time
	User  string
	Limit int
}

// The decisions an AuditEntry records.
const (
	DecisionAllowed = "allowed" // the user may run the command; it ran
	DecisionDenied  = "denied"  // not on the allowlist, or the role is too low
	DecisionInvalid = "invalid" // the command could not be parsed or its arguments were refused
)

// ErrInstanceBusy is returned when a job is asked for an instance that
// already has an open (queued or running) job.
var ErrInstanceBusy = errors.New("instance is busy with another job")

// ErrJobNotFound is returned for a job id that has no record.
var ErrJobNotFound = errors.New("job not found")
