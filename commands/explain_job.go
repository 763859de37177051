package commands

import (
	"fmt"
	"regexp"
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
// is ExplainJobError of the job's text.
func ExplainJob(job provision.Job) string {
	f := job.Failure
	if f.Step == "" || f.Kind == "" {
		return ExplainJobError(job.Error)
	}
	text := fmt.Sprintf("step %s failed: %s", f.Step, explainKind(f.Kind, f.Hint))
	if len(job.Undone) > 0 {
		text += fmt.Sprintf("; rolled back: %v", job.Undone)
	}
	if len(f.Left) > 0 {
		text += fmt.Sprintf("; could NOT undo: %v (see the creation log)", f.Left)
	}
	return text
}

// ExplainJobError is a failed job's error text (provision.Job.Error: by
// the time a job ends its error is a string, "step NAME failed: CAUSE",
// maybe followed by "; rolled back: [...]" and "; could NOT undo: [...]")
// in words an on-call engineer can act on, for a cause no driver typed:
// the PostgreSQL text of provision/odoo and of pg_dump, and a refused
// connection to an instance's port. Such a cause is replaced by what it
// means and what to do, without the driver's text; the step and what was
// rolled back or left are kept. Any other text (odoobot's own errors,
// which already say what to do) is returned unchanged. The failures of
// provision/postgres and provision/systemd come typed (ExplainJob).
func ExplainJobError(raw string) string {
	prefix, cause, suffix := splitJobError(raw)
	explained, ok := explainCause(cause)
	if !ok {
		return raw
	}
	return prefix + explained + suffix
}

var stepPrefix = regexp.MustCompile(`^step [a-z0-9_-]+ failed: `)

// splitJobError cuts a job's error into the runner's "step NAME failed: "
// prefix, the cause and the runner's "; rolled back: …" and "; could NOT
// undo: …" suffix (each part "" when absent).
func splitJobError(raw string) (prefix, cause, suffix string) {
	cause = raw
	if m := stepPrefix.FindString(cause); m != "" {
		prefix, cause = m, cause[len(m):]
	}
	for _, marker := range []string{"; rolled back: [", "; could NOT undo: ["} {
		if i := strings.LastIndex(cause, marker); i >= 0 {
			suffix = cause[i:] + suffix
			cause = cause[:i]
		}
	}
	return prefix, cause, suffix
}

var (
	sqlstate       = regexp.MustCompile(`\(SQLSTATE ([0-9A-Z]{5})\)`)
	missingDB      = regexp.MustCompile(`database "([^"]+)" does not exist`)
	refusedAddress = regexp.MustCompile(`dial tcp ([^:]+:[0-9]+): connect: connection refused`)
)

// explainCause says a job's cause in words, when it is a PostgreSQL or
// systemd failure it knows.
func explainCause(cause string) (string, bool) {
	lower := strings.ToLower(cause)
	code := ""
	if m := sqlstate.FindStringSubmatch(cause); m != nil {
		code = m[1]
	}
	switch {
	case code == "28P01" || code == "28000" || strings.Contains(lower, "password authentication failed"):
		return "PostgreSQL refused a login (password authentication failed): check DB_USER and DB_PASSWORD (or DB_PASSWORD_FILE) for odoobot's role, and pg_hba.conf; the bot's log names the role", true
	case code == "3D000" || missingDB.MatchString(cause):
		db := "a database odoobot needs"
		if m := missingDB.FindStringSubmatch(cause); m != nil {
			db = "the database " + m[1]
		}
		return fmt.Sprintf("%s does not exist in PostgreSQL: it was dropped or never made; check with psql -l, and run the command again (a template is made again when missing)", db), true
	case code == "42501" || strings.Contains(lower, "permission denied for") || strings.Contains(lower, "permission denied to"):
		return "PostgreSQL denied odoobot a right it needs (permission denied): DB_USER needs CREATEDB and CREATEROLE and must be granted each instance's role (odoobot checks at start and says how); the bot's log names the object", true
	case code == "57P01" || code == "57P02" || code == "57P03" || strings.HasPrefix(code, "08") || strings.Contains(lower, "the database system is starting up") || strings.Contains(lower, "the database system is shutting down"):
		return "PostgreSQL was restarting or shutting down: run the command again in a minute; if it lasts, check systemctl status postgresql", true
	case strings.HasPrefix(code, "53") || strings.Contains(lower, "no space left on device"):
		return "the server is out of resources (disk, memory or PostgreSQL connections): check the free disk (df -h) and PostgreSQL's connections (pg_stat_activity), then run the command again", true
	case strings.HasPrefix(code, "40"):
		return "PostgreSQL gave up the operation because of a concurrent one: run the command again", true
	case strings.Contains(lower, "connection refused") && (strings.Contains(lower, "postgres") || strings.Contains(lower, "failed to connect to") || strings.Contains(cause, ":5432")):
		return "PostgreSQL cannot be reached (connection refused): check that it runs (systemctl status postgresql) and that DB_HOST and DB_PORT point at it, then run the command again", true
	case strings.Contains(lower, "connection refused"):
		addr := "the address it was given"
		if m := refusedAddress.FindStringSubmatch(cause); m != nil {
			addr = m[1]
		}
		return fmt.Sprintf("nothing answered at %s (connection refused): the service meant to listen there is not running; check it with status NAME and the logs verb", addr), true
	case code != "":
		return fmt.Sprintf("PostgreSQL refused the operation (SQLSTATE %s); the bot's log has its message", code), true
	}
	return "", false
}
