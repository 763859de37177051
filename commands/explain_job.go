package commands

import (
	"fmt"
	"strings"

	"odoobot/provision"
)

// jobFailure is the failed job's error as its thread's summary shows it
// (ExplainJob); the raw text goes to the log, with the job's ID that the
// summary names.
func (d *Dispatcher) jobFailure(job provision.Job) string {
	if job.Error == "" {
		return ""
	}
	explained := ExplainJob(job)
	if explained == job.Error {
		return explained
	}
	d.logger().Error("job failed", "job", job.ID, "kind", string(job.Kind), "instance", job.Instance, "err", job.Error)
	return fmt.Sprintf("%s\n(job %d: the raw error is in odoobot's log)", explained, job.ID)
}

// withExplainedError is job with its Error as ExplainJob says it,
// logging the raw text: what a job's final text is made from. A job
// that succeeded is returned as it is.
func (d *Dispatcher) withExplainedError(job provision.Job) provision.Job {
	if job.State != provision.JobSucceeded {
		job.Error = d.jobFailure(job)
	}
	return job
}

// ExplainJob is a failed job's error as chat shows it. When its driver
// typed the failed step's error (job.Failure has a kind), it is the step,
// the cause told by its kind (what happened and what to do, without the
// driver's text), what the rollback undid and what it left. Otherwise it
// is the job's error as it is: odoobot's own errors, which already say
// what to do. A job's text is never read for its cause: the drivers type
// every failure of the systems they drive (PostgreSQL, pg_dump and
// pg_restore, systemd, an instance's port).
func ExplainJob(job provision.Job) string {
	f := job.Failure
	if f.Step == "" || f.Kind == "" {
		return job.Error
	}
	text := fmt.Sprintf("step %s failed: %s", f.Step, explainKind(f.Kind, f.Hint)) + committed(job.Error)
	if len(job.Undone) > 0 {
		text += fmt.Sprintf("; rolled back: %v", job.Undone)
	}
	if len(f.Left) > 0 {
		text += fmt.Sprintf("; could NOT undo: %v (see the creation log)", f.Left)
	}
	return text
}

// committed is the runner's own "; nothing undone: …" clause of a job's
// error (provision.StepError's words for a failure after the task's
// commit step: ask again to finish it), "" when it has none.
func committed(jobErr string) string {
	const marker = "; nothing undone: "
	i := strings.LastIndex(jobErr, marker)
	if i < 0 {
		return ""
	}
	clause := jobErr[i:]
	for _, m := range []string{"; rolled back: [", "; could NOT undo: ["} {
		if j := strings.Index(clause, m); j >= 0 {
			clause = clause[:j]
		}
	}
	return clause
}
