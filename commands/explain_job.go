package commands

import (
	"fmt"
	"regexp"
	"strings"

	"odoobot/provision"
)

// jobFailure is the failed job's error as its thread's summary shows it
// (ExplainJobError); the raw text goes to the log, with the job's ID
// that the summary names.
func (d *Dispatcher) jobFailure(job provision.Job) string {
	if job.Error == "" {
		return ""
	}
	explained := ExplainJobError(job.Error)
	if explained == job.Error {
		return explained
	}
	d.logger().Error("job failed", "job", job.ID, "kind", string(job.Kind), "instance", job.Instance, "err", job.Error)
	return fmt.Sprintf("%s\n(job %d: the raw error is in odoobot's log)", explained, job.ID)
}

// withExplainedError is job with its Error as ExplainJobError says it,
// logging the raw text: what a job's final text is made from. A job
// that succeeded is returned as it is.
func (d *Dispatcher) withExplainedError(job provision.Job) provision.Job {
	if job.State != provision.JobSucceeded {
		job.Error = d.jobFailure(job)
	}
	return job
}

// ExplainJobError is a failed job's error text (provision.Job.Error: by
// the time a job ends its error is a string, "step NAME failed: CAUSE",
// maybe followed by "; rolled back: [...]" and "; could NOT undo: [...]")
// in words an on-call engineer can act on. A cause that is a known
// PostgreSQL or systemd failure is replaced by what it means and what to
// do, without the driver's text; the step and what was rolled back or
// left are kept. Any other text (odoobot's own errors, which already say
// what to do) is returned unchanged.
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
	missingUnit    = regexp.MustCompile(`Unit ([^ ]+\.service) not found`)
	unitName       = regexp.MustCompile(`([A-Za-z0-9@_.:-]+\.service)`)
	exitStatus     = regexp.MustCompile(`code=(exited|killed|dumped), status=([0-9]+)(?:/([A-Z]+))?`)
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
	// systemd first: a unit's journal lines may quote PostgreSQL.
	case missingUnit.MatchString(cause) || strings.Contains(cause, "org.freedesktop.systemd1.NoSuchUnit"):
		unit := "the instance's unit"
		if m := missingUnit.FindStringSubmatch(cause); m != nil {
			unit = m[1]
		}
		return fmt.Sprintf("systemd does not know %s (unit not found): its unit file is missing from SYSTEMD_UNIT_DIR, or systemd was not reloaded; check with systemctl status %s, and run the command again (each step is safe to repeat)", unit, unitArg(unit)), true
	case strings.Contains(lower, "start request repeated too quickly"):
		unit := firstUnit(cause)
		return fmt.Sprintf("systemd gave up starting %s: it failed several times in a row (start request repeated too quickly). See why in its log (journalctl -u %s, or the logs verb); once mended, run systemctl reset-failed %s and start it again", unit, unitArg(unit), unitArg(unit)), true
	case exitStatus.MatchString(cause):
		return explainExit(cause), true
	case strings.HasPrefix(cause, "systemd:") && (strings.Contains(cause, "; unit failed/") || strings.Contains(cause, "job failed")):
		unit := firstUnit(cause)
		return fmt.Sprintf("the service %s failed to start: see why in its log (journalctl -u %s, or the logs verb)", unit, unitArg(unit)), true

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

// explainExit says what a unit's "code=exited, status=N" means.
func explainExit(cause string) string {
	m := exitStatus.FindStringSubmatch(cause)
	unit := firstUnit(cause)
	how, status, name := m[1], m[2], m[3]
	var why string
	switch {
	case name == "EXEC" || status == "203":
		why = "systemd could not run its program: the release's venv or odoo-bin is missing; run the command again, or create the release anew"
	case name == "USER" || status == "217":
		why = "its system user does not exist; isolate or create the instance again"
	case name == "CHDIR" || status == "200" || name == "NAMESPACE" || status == "226":
		why = "a directory the unit names is missing; check the instance's directory under PROD_ROOT"
	case name == "KILL" || status == "9":
		why = "it was killed, most often for going over its memory limit (MemoryMax; see LIMIT_MEMORY_HARD_MB)"
	default:
		why = "Odoo stopped with an error"
	}
	return fmt.Sprintf("the service %s %s with status %s: %s. See its log (journalctl -u %s, or the logs verb)", unit, how, status+slashName(name), why, unitArg(unit))
}

func slashName(name string) string {
	if name == "" {
		return ""
	}
	return "/" + name
}

// firstUnit is the first unit name in text, or "the instance's service".
func firstUnit(text string) string {
	if m := unitName.FindStringSubmatch(text); m != nil {
		return m[1]
	}
	return "the instance's service"
}

// unitArg is unit as an argument to systemctl or journalctl: a
// placeholder when the unit is not known.
func unitArg(unit string) string {
	if strings.HasSuffix(unit, ".service") {
		return unit
	}
	return "UNIT"
}
