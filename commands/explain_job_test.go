package commands

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"

	"odoobot/internal/pgerr"
	"odoobot/provision"
	"odoobot/provision/probe"
)

// failedJob is a job that failed at step with cause (as its driver
// returned it), rolled back undone, as the runner records it: its error
// the StepError's text, its failure the step and the cause's kind and
// words.
func failedJob(step provision.StepName, cause error, undone ...string) provision.Job {
	se := &provision.StepError{Step: step, Err: cause, Undone: undone}
	return provision.Job{ID: 9, Kind: provision.JobCreate, Instance: "prod-acme", State: provision.JobRolledBack,
		Error: se.Error(), Undone: undone, Failure: *se.Failure()}
}

// refusedPort is what the health probe returns when nothing listens on
// a loopback port (a real refused connection), and the port.
func refusedPort(t *testing.T) (error, int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	err = probe.Health{}.Check(context.Background(), port)
	if err == nil {
		t.Fatalf("port %d answered", port)
	}
	return fmt.Errorf("health: %w", err), port
}

// TestExplainJobError: a failed job whose cause a driver typed (a
// PostgreSQL failure of provision/odoo's, pg_dump's, a refused
// connection to an instance's port) is said in words with the action
// to take; the step and the rollback stay, the driver's text goes.
// (systemd's and the state store's failures: TestAFailedJobIsExplainedByItsKind,
// and the drivers' own tests, which check that each cause is typed so.)
func TestExplainJobError(t *testing.T) {
	portErr, port := refusedPort(t)
	pg := func(code, message, raw string) error {
		return pgerr.FromCode(code, message).Error(errors.New(raw))
	}
	tests := []struct {
		name      string
		job       provision.Job
		want      []string // the text holds each
		forbidden []string // raw text that must not be shown
	}{
		{"password authentication failed",
			failedJob("database", pg("28P01", "password authentication failed for user \"odoo\"", "odoo: create database prod-acme: failed to connect to `user=odoo database=postgres`: 127.0.0.1:5432 (127.0.0.1): failed SASL auth: FATAL: password authentication failed for user \"odoo\" (SQLSTATE 28P01)"), "files", "tenant", "reserve"),
			[]string{"step database failed: PostgreSQL refused a login", "check DB_USER and DB_PASSWORD", "; rolled back: [files tenant reserve]"},
			[]string{"SASL", "FATAL", "127.0.0.1:5432"}},
		{"permission denied",
			failedJob("database", pg("42501", "permission denied to create database", "odoo: create database \"prod-acme\": ERROR: permission denied to create database (SQLSTATE 42501)"), "tenant", "reserve"),
			[]string{"PostgreSQL denied odoobot a right it needs", "CREATEDB and CREATEROLE", "; rolled back: [tenant reserve]"},
			[]string{"ERROR:", "SQLSTATE"}},
		{"database does not exist (pg_dump)",
			failedJob("dump", pgerr.Failure{Cause: pgerr.MissingDatabase, Database: "prod-acme"}.Error(errors.New("pg_dump: exit status 1: pg_dump: error: connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  database \"prod-acme\" does not exist"))),
			[]string{"step dump failed: the database prod-acme does not exist in PostgreSQL", "psql -l"},
			[]string{"pg_dump: error", "FATAL"}},
		{"out of disk",
			failedJob("database", pg("53100", "could not extend file \"base/16384/2608\": No space left on device", "odoo: copy template: ERROR: could not extend file \"base/16384/2608\": No space left on device (SQLSTATE 53100)"), "reserve"),
			[]string{"out of resources", "df -h"},
			[]string{"base/16384"}},
		{"PostgreSQL starting up",
			failedJob("database", pg("57P03", "the database system is starting up", "postgres: FATAL: the database system is starting up (SQLSTATE 57P03)")),
			[]string{"PostgreSQL was restarting", "again in a minute"},
			[]string{"FATAL"}},
		{"instance port refused",
			failedJob("health", portErr),
			[]string{fmt.Sprintf("nothing answered at 127.0.0.1:%d (connection refused)", port), "status NAME"},
			[]string{"GET http", "dial tcp"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ExplainJob(tc.job)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("ExplainJob(%q)\n = %q\nlacks %q", tc.job.Error, got, w)
				}
			}
			for _, f := range tc.forbidden {
				if strings.Contains(got, f) {
					t.Errorf("ExplainJob(%q)\n = %q\nshows the raw %q", tc.job.Error, got, f)
				}
			}
		})
	}
}

// TestAJobFailedAfterItsCommitSaysToAskAgain: a typed failure after the
// task's commit step keeps the runner's word that nothing was undone and
// that asking again finishes the job.
func TestAJobFailedAfterItsCommitSaysToAskAgain(t *testing.T) {
	se := &provision.StepError{Step: "start", Committed: "swap",
		Err: pgerr.FromCode("57P03", "").Error(errors.New("FATAL: the database system is starting up (SQLSTATE 57P03)"))}
	job := provision.Job{Error: se.Error(), Failure: *se.Failure()}
	got := ExplainJob(job)
	want := "step start failed: PostgreSQL was restarting or shutting down: run the command again in a minute; if it lasts, check systemctl status postgresql; nothing undone: the change was made at step swap and cannot be undone; ask again to finish it"
	if got != want {
		t.Errorf("ExplainJob = %q\nwant %q", got, want)
	}
}

// TestExplainJobErrorKeepsOwnErrors: odoobot's own errors, which already
// say what to do, pass unchanged; so does a text that reads like a
// driver's but that no driver typed (chat never reads a job's text for
// its cause).
func TestExplainJobErrorKeepsOwnErrors(t *testing.T) {
	for _, job := range []provision.Job{
		failedJob("nginx", errors.New("nginx -t refused the site acme.example.com: see the creation log"), "unit", "files"),
		{Error: "could not start: acme is being deleted; wait for that job to end"},
		failedJob("dns", errors.New("cloudflare: the record acme.example.com is not marked as odoobot's: remove it or choose another name")),
		failedJob("database", errors.New("odoo: FATAL: password authentication failed for user \"odoo\" (SQLSTATE 28P01)")),
	} {
		if got := ExplainJob(job); got != job.Error {
			t.Errorf("ExplainJob(%q) = %q, want it unchanged", job.Error, got)
		}
	}
}

// failingBackups is a day-two Creator whose backups fail with err.
type failingBackups struct {
	fakeDayTwo
	err error
}

func (f *failingBackups) Backup(_ context.Context, req provision.JobRequest) (*provision.Task, error) {
	job := failedJob("dump", f.err)
	job.ID, job.Kind, job.Instance = 42, provision.JobBackup, req.Name
	req.Finished(job)
	return &provision.Task{Job: job}, nil
}

// TestAFailedJobsSummaryIsExplained: the thread of a backup that failed
// on PostgreSQL ends with what to do, naming the job; the raw error is
// in the log, not in chat.
func TestAFailedJobsSummaryIsExplained(t *testing.T) {
	d, _, _ := newTestDispatcher(t)
	var logs bytes.Buffer
	d.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	// pg_dump's failure as provision/postgres types it.
	raw := errors.New("pg_dump: exit status 1: pg_dump: error: connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  password authentication failed for user \"odoo\"")
	d.DayTwo = &failingBackups{err: pgerr.Failure{Cause: pgerr.Login}.Error(raw)}
	r := &threadResponder{}
	d.Handle(context.Background(), Request{Identity: Identity{Platform: "slack", UserID: "U0ADMIN01", UserName: "ana"}, Channel: "C1", Text: "backup acme"}, r)
	if len(r.finishes) != 1 {
		t.Fatalf("the backup's thread was finished %d times: %q (privates %q)", len(r.finishes), r.finishes, r.privates)
	}
	end := r.finishes[0]
	for _, w := range []string{"❌ backup of prod-acme failed", "step dump failed: PostgreSQL refused a login", "check DB_USER and DB_PASSWORD", "job 42"} {
		if !strings.Contains(end, w) {
			t.Errorf("the thread ended with %q, lacking %q", end, w)
		}
	}
	if strings.Contains(end, "FATAL") || strings.Contains(end, "pg_dump: error") {
		t.Errorf("the thread's end shows the raw error: %q", end)
	}
	if !strings.Contains(logs.String(), "pg_dump: error: connection to server") || !strings.Contains(logs.String(), "job=42") {
		t.Errorf("the raw error is not in the log with its job:\n%s", logs.String())
	}
}

// postThread records what is posted in a thread.
type postThread struct{ posts []string }

func (p *postThread) Post(_ context.Context, text string) error {
	p.posts = append(p.posts, text)
	return nil
}
func (p *postThread) StepLine(ctx context.Context, _ string, kind provision.EventKind, line string) error {
	return PostStepLine(ctx, p.Post, kind, line)
}
func (p *postThread) Finish(context.Context, string, string) error { return nil }
func (p *postThread) Ref() map[string]string                       { return nil }

// TestAFailedStepIsExplainedInItsThread: the line of a failed step says
// the cause in words too, not PostgreSQL's raw text.
func TestAFailedStepIsExplainedInItsThread(t *testing.T) {
	th := &postThread{}
	raw := errors.New(`backup: pg_dump: exit status 1: pg_dump: error: connection to server at "127.0.0.1", port 5432 failed: FATAL:  password authentication failed for user "odoo"`)
	// The event as the runner sends it for pg_dump's typed failure.
	err := pgerr.Failure{Cause: pgerr.Login}.Error(raw)
	showEvent(context.Background(), th, provision.Event{JobID: 7, Step: "dump", Kind: provision.EventFailed, Message: err.Error(), Hint: provision.Hint(err)})
	if len(th.posts) != 1 {
		t.Fatalf("posts: %q", th.posts)
	}
	if strings.Contains(th.posts[0], "FATAL") || !strings.Contains(th.posts[0], "PostgreSQL refused a login") {
		t.Errorf("the failed step's line: %q", th.posts[0])
	}
}

// typedFailure is a day-two DayTwo whose backups fail at step dump with
// failure, as the runner records a typed error.
type typedFailure struct {
	fakeDayTwo
	failure provision.JobFailure
	raw     string
}

func (f *typedFailure) Backup(_ context.Context, req provision.JobRequest) (*provision.Task, error) {
	job := provision.Job{ID: 43, Kind: provision.JobBackup, Instance: req.Name, State: provision.JobRolledBack,
		Error: f.raw, Undone: []string{"safety"}, Failure: f.failure}
	req.Finished(job)
	return &provision.Task{Job: job}, nil
}

// TestAFailedJobIsExplainedByItsKind: a job whose failed step's error a
// driver typed ends its thread with the step, the cause in the driver's
// words (or, without them, what its kind asks), what was rolled back and
// what was left; never the raw text, whatever it says.
func TestAFailedJobIsExplainedByItsKind(t *testing.T) {
	raw := "step dump failed: postgres: dump: failed to connect to `user=odoo`: 127.0.0.1:5432: dial tcp: connect: connection refused; rolled back: [safety]"
	for _, tc := range []struct {
		name    string
		failure provision.JobFailure
		want    []string
	}{
		{"with the driver's words", provision.JobFailure{Step: "dump", Kind: provision.KindUnavailable,
			Hint: "odoobot's state database (PostgreSQL) cannot be reached: check that PostgreSQL is running"},
			[]string{"❌ backup of prod-acme failed", "step dump failed: odoobot's state database (PostgreSQL) cannot be reached: check that PostgreSQL is running; rolled back: [safety]", "job 43"}},
		{"by its kind alone", provision.JobFailure{Step: "dump", Kind: provision.KindConflict, Left: []string{"files"}},
			[]string{"step dump failed: something else holds what was asked for, or changed it meanwhile: run the command again; rolled back: [safety]; could NOT undo: [files]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, _, _ := newTestDispatcher(t)
			var logs bytes.Buffer
			d.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			d.DayTwo = &typedFailure{failure: tc.failure, raw: raw}
			r := &threadResponder{}
			d.Handle(context.Background(), Request{Identity: Identity{Platform: "slack", UserID: "U0ADMIN01", UserName: "ana"}, Channel: "C1", Text: "backup acme"}, r)
			if len(r.finishes) != 1 {
				t.Fatalf("the backup's thread was finished %d times: %q", len(r.finishes), r.finishes)
			}
			end := r.finishes[0]
			for _, w := range tc.want {
				if !strings.Contains(end, w) {
					t.Errorf("the thread ended with %q, lacking %q", end, w)
				}
			}
			if strings.Contains(end, "dial tcp") || strings.Contains(end, "5432") {
				t.Errorf("the thread's end shows the raw error: %q", end)
			}
			if !strings.Contains(logs.String(), "dial tcp") {
				t.Errorf("the raw error is not in the log:\n%s", logs.String())
			}
		})
	}
}

// TestAThreadNeverShowsADetail: a job whose unit did not start ends its
// thread with where to look, never the unit's journal lines, which only
// a private answer shows.
func TestAThreadNeverShowsADetail(t *testing.T) {
	d, _, _ := newTestDispatcher(t)
	cause := &provision.Error{Kind: provision.KindBroken, What: "the service u.service did not start", Hint: "look at why in its log",
		Detail: []string{"secret=hunter2 in a traceback"}, Err: errors.New("systemd: start u.service: last journal lines:\n  secret=hunter2 in a traceback")}
	step := &provision.StepError{Step: "service", Err: cause, Undone: []string{"files"}}
	d.DayTwo = &typedFailure{failure: *step.Failure(), raw: step.Error()}
	r := &threadResponder{}
	d.Handle(context.Background(), Request{Identity: ana, Channel: "C1", Text: "backup acme"}, r)
	if len(r.finishes) != 1 || strings.Contains(r.finishes[0], "hunter2") || !strings.Contains(r.finishes[0], "step service failed: the service u.service did not start: look at why in its log") {
		t.Errorf("the thread ended with %q", r.finishes)
	}
}

// TestAFailedStepIsExplainedByItsHint: the line of a step that failed
// with a typed error shows its hint, not its raw text.
func TestAFailedStepIsExplainedByItsHint(t *testing.T) {
	th := &postThread{}
	showEvent(context.Background(), th, provision.Event{JobID: 7, Step: "service", Kind: provision.EventFailed,
		Message: "systemd: start odoo19e-acme.service: Unit odoo19e-acme.service not found.",
		Hint:    "systemd does not know odoo19e-acme.service (unit not found): check with systemctl status odoo19e-acme.service"})
	if len(th.posts) != 1 || strings.Contains(th.posts[0], "Unit odoo19e-acme.service not found.") || !strings.Contains(th.posts[0], "systemd does not know odoo19e-acme.service") {
		t.Errorf("the failed step's line: %q", th.posts)
	}
}
