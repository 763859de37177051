package commands

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"odoobot/provision"
)

// TestExplainJobError: a failed job's error text whose cause no driver
// typed ("step NAME failed: CAUSE; rolled back: [...]") is said in words
// with the action to take when its cause is a PostgreSQL failure
// (provision/odoo's, pg_dump's) or a refused connection; the step and
// the rollback stay, the driver's text goes. (systemd's and the state
// store's failures come typed: TestAFailedJobIsExplainedByItsKind, and
// the drivers' own tests.)
func TestExplainJobError(t *testing.T) {
	tests := []struct {
		name      string
		raw       string
		want      []string // the text holds each
		forbidden []string // raw text that must not be shown
	}{
		{"password authentication failed",
			"step database failed: odoo: create database prod-acme: failed to connect to `user=odoo database=postgres`: 127.0.0.1:5432 (127.0.0.1): failed SASL auth: FATAL: password authentication failed for user \"odoo\" (SQLSTATE 28P01); rolled back: [files tenant reserve]",
			[]string{"step database failed: PostgreSQL refused a login", "check DB_USER and DB_PASSWORD", "; rolled back: [files tenant reserve]"},
			[]string{"SASL", "FATAL", "127.0.0.1:5432"}},
		{"permission denied",
			"step database failed: odoo: create database \"prod-acme\": ERROR: permission denied to create database (SQLSTATE 42501); rolled back: [tenant reserve]",
			[]string{"PostgreSQL denied odoobot a right it needs", "CREATEDB and CREATEROLE", "; rolled back: [tenant reserve]"},
			[]string{"ERROR:", "SQLSTATE"}},
		{"database does not exist (pg_dump)",
			"step dump failed: pg_dump: error: connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  database \"prod-acme\" does not exist",
			[]string{"step dump failed: the database prod-acme does not exist in PostgreSQL", "psql -l"},
			[]string{"pg_dump: error", "FATAL"}},
		{"out of disk",
			"step database failed: odoo: copy template: ERROR: could not extend file \"base/16384/2608\": No space left on device (SQLSTATE 53100); rolled back: [reserve]",
			[]string{"out of resources", "df -h"},
			[]string{"base/16384"}},
		{"PostgreSQL starting up",
			"step database failed: postgres: FATAL: the database system is starting up (SQLSTATE 57P03)",
			[]string{"PostgreSQL was restarting", "again in a minute"},
			[]string{"FATAL"}},
		{"instance port refused",
			"step health failed: GET http://127.0.0.1:2101/web/health: dial tcp 127.0.0.1:2101: connect: connection refused",
			[]string{"nothing answered at 127.0.0.1:2101 (connection refused)", "status NAME"},
			[]string{"GET http"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ExplainJobError(tc.raw)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("ExplainJobError(%q)\n = %q\nlacks %q", tc.raw, got, w)
				}
			}
			for _, f := range tc.forbidden {
				if strings.Contains(got, f) {
					t.Errorf("ExplainJobError(%q)\n = %q\nshows the raw %q", tc.raw, got, f)
				}
			}
		})
	}
}

// TestExplainJobErrorKeepsOwnErrors: odoobot's own errors, which already
// say what to do, pass unchanged.
func TestExplainJobErrorKeepsOwnErrors(t *testing.T) {
	for _, raw := range []string{
		"step nginx failed: nginx -t refused the site acme.example.com: see the creation log; rolled back: [unit files]",
		"could not start: acme is being deleted; wait for that job to end",
		"step dns failed: cloudflare: the record acme.example.com is not marked as odoobot's: remove it or choose another name",
	} {
		if got := ExplainJobError(raw); got != raw {
			t.Errorf("ExplainJobError(%q) = %q, want it unchanged", raw, got)
		}
	}
}

// failingBackups is a day-two Creator whose backups fail with err.
type failingBackups struct {
	fakeDayTwo
	err string
}

func (f *failingBackups) Backup(_ context.Context, req provision.JobRequest) (*provision.Task, error) {
	job := provision.Job{ID: 42, Kind: provision.JobBackup, Instance: req.Name, State: provision.JobRolledBack, Error: f.err}
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
	raw := "step dump failed: pg_dump: error: connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  password authentication failed for user \"odoo\""
	d.DayTwo = &failingBackups{err: raw}
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
	raw := `backup: pg_dump: error: connection to server at "127.0.0.1", port 5432 failed: FATAL:  password authentication failed for user "odoo"`
	showEvent(context.Background(), th, provision.Event{JobID: 7, Step: "dump", Kind: provision.EventFailed, Message: raw})
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
