package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgconn"

	"odoobot/internal/testenv"
	"odoobot/provision"
	"odoobot/provision/postgres"
)

// TestTypedKinds: each PostgreSQL failure the store meets becomes a
// provision.Error of the kind chat decides on, its words without
// PostgreSQL's own text, and its chain (and text, for the log) kept.
func TestTypedKinds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A real connection failure: nothing listens on port 1.
	_, refused := pgconn.Connect(ctx, "postgres://odoo@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=5")
	if refused == nil {
		t.Fatal("connecting to port 1 succeeded")
	}
	tests := []struct {
		name      string
		err       error
		kind      provision.ErrorKind
		want      string // Explain holds it
		forbidden string // raw text Explain must not show
	}{
		{"login refused", &pgconn.PgError{Code: "28P01", Message: "password authentication failed for user \"odoo\""},
			provision.KindRefused, "PostgreSQL refused odoobot's login (SQLSTATE 28P01): check DB_USER and DB_PASSWORD", "authentication failed"},
		{"starting up", &pgconn.PgError{Code: "57P03", Message: "the database system is starting up"},
			provision.KindUnavailable, "PostgreSQL is restarting or shutting down (SQLSTATE 57P03): try again in a minute", "starting up"},
		{"out of disk", &pgconn.PgError{Code: "53100", Message: "could not extend file"},
			provision.KindUnavailable, "PostgreSQL is out of resources (SQLSTATE 53100", "could not extend"},
		{"permission denied", &pgconn.PgError{Code: "42501", Message: "permission denied for table instances"},
			provision.KindRefused, "PostgreSQL denied odoobot a right it needs (SQLSTATE 42501)", "for table"},
		{"serialisation", &pgconn.PgError{Code: "40001", Message: "could not serialize access"},
			provision.KindConflict, "a concurrent one (SQLSTATE 40001): run the command again", "serialize"},
		{"unique violation", &pgconn.PgError{Code: "23505", Message: "duplicate key value violates unique constraint"},
			provision.KindConflict, "exists already", "duplicate key"},
		{"other", &pgconn.PgError{Code: "XX000", Message: "internal error"},
			provision.KindBroken, "PostgreSQL refused the operation (SQLSTATE XX000", ""},
		{"connection refused (real)", refused,
			provision.KindUnavailable, "odoobot's state database (PostgreSQL) cannot be reached: check that PostgreSQL is running", "127.0.0.1:1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := fmt.Errorf("postgres: instances: %w", tc.err)
			err := postgres.Typed(raw)
			e, ok := provision.AsError(err)
			if !ok {
				t.Fatalf("Typed(%q) = %#v, not a provision.Error", raw, err)
			}
			if e.Kind != tc.kind {
				t.Errorf("kind %q, want %q", e.Kind, tc.kind)
			}
			if got := e.Explain(); !strings.Contains(got, tc.want) || (tc.forbidden != "" && strings.Contains(got, tc.forbidden)) {
				t.Errorf("Explain() = %q, want it to hold %q and not %q", got, tc.want, tc.forbidden)
			}
			if err.Error() != raw.Error() || !errors.Is(err, tc.err) {
				t.Errorf("the typed error lost the driver's: %q", err)
			}
		})
	}
	own := fmt.Errorf("postgres: instance x: %w", provision.ErrInstanceNotFound)
	if got := postgres.Typed(own); got != own {
		t.Errorf("odoobot's own error was changed: %#v", got)
	}
}

// TestStoreErrorsAreTyped: the store's own errors, from a real
// PostgreSQL, come up typed: a wrong password is refused, a closed store
// unavailable.
func TestStoreErrorsAreTyped(t *testing.T) {
	dsn := testenv.NewDatabase(t)
	ctx := testContext(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("odoobot_no_such_role", "wrong")
	_, err = postgres.Open(ctx, u.String(), slog.New(slog.DiscardHandler))
	if k := provision.KindOf(err); k != provision.KindRefused {
		t.Errorf("Open with a wrong login: %v, kind %q, want refused", err, k)
	}
	s := openDSN(t, dsn)
	s.Close()
	_, err = s.Instances(ctx)
	if k := provision.KindOf(err); k != provision.KindUnavailable {
		t.Errorf("Instances on a closed store: %v, kind %q, want unavailable", err, k)
	}
}

// TestAFailedJobKeepsItsStepAndKind: a job whose step fails with a typed
// error is recorded with that step, the error's kind and its words, and
// the steps whose undo failed; the raw text stays in its error.
func TestAFailedJobKeepsItsStepAndKind(t *testing.T) {
	s := openStore(t)
	ctx := testContext(t)
	j, err := s.CreateJob(ctx, provision.Job{Kind: provision.JobBackup, Instance: "acme", RequestedBy: "@ana"})
	if err != nil {
		t.Fatal(err)
	}
	cause := postgres.Typed(fmt.Errorf("postgres: dump: %w", &pgconn.PgError{Code: "28P01", Message: "password authentication failed"}))
	r := provision.NewRunner(provision.RunnerConfig{Store: s, Failures: s, Workers: 1})
	defer r.Close()
	task := &provision.Task{Job: j, Steps: []provision.Step{
		{Name: "safety", Apply: func(context.Context) error { return nil }, Undo: func(context.Context) error { return errors.New("cannot") }},
		{Name: "dump", Apply: func(context.Context) error { return cause }},
	}}
	if err := r.Submit(task); err != nil {
		t.Fatal(err)
	}
	if _, err := task.Wait(ctx); err == nil {
		t.Fatal("the job succeeded")
	}
	<-task.Recorded()
	got, err := s.Job(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := provision.JobFailure{Step: "dump", Kind: provision.KindRefused,
		Hint: "PostgreSQL refused odoobot's login (SQLSTATE 28P01): check DB_USER and DB_PASSWORD (or DB_PASSWORD_FILE), and pg_hba.conf", Left: []string{"safety"}}
	if diff := cmp.Diff(got.Failure, want); diff != "" {
		t.Errorf("the recorded failure (-got +want):\n%s", diff)
	}
	if got.State != provision.JobFailed || !strings.Contains(got.Error, "password authentication failed") {
		t.Errorf("the job: state %s, error %q", got.State, got.Error)
	}
	if diff := cmp.Diff(task.Job.Failure, want); diff != "" {
		t.Errorf("the job handed to Finished (-got +want):\n%s", diff)
	}
}
