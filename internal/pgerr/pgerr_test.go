package pgerr_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/internal/pgerr"
	"odoobot/internal/testenv"
	"odoobot/provision"
)

// check holds that err, a failure of a real PostgreSQL, is typed as
// cause: its kind, words that hold want and not PostgreSQL's own text
// (forbidden), and its chain and text kept for the log.
func check(t *testing.T, err error, cause pgerr.Cause, want []string, forbidden ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	if got := pgerr.Classify(err).Cause; got != cause {
		t.Errorf("Classify(%q) = cause %d, want %d", err, got, cause)
	}
	typed := pgerr.Typed(err)
	e, ok := provision.AsError(typed)
	if !ok {
		t.Fatalf("Typed(%q) is not a provision.Error", err)
	}
	if e.Kind != cause.Kind() || e.Kind == "" {
		t.Errorf("kind %q, want %q", e.Kind, cause.Kind())
	}
	got := e.Explain()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("Explain() = %q, lacks %q", got, w)
		}
	}
	for _, f := range forbidden {
		if strings.Contains(got, f) {
			t.Errorf("Explain() = %q shows PostgreSQL's %q", got, f)
		}
	}
	if typed.Error() != err.Error() || !errors.Is(typed, err) {
		t.Errorf("the typed error lost the driver's: %q", typed)
	}
}

func suffix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// TestRealFailuresAreTyped: the failures a driver meets on a real
// PostgreSQL (a refused login, a missing database, a missing right, the
// server gone or shutting a session down) are each typed with the kind
// and words chat tells them by.
func TestRealFailuresAreTyped(t *testing.T) {
	admin := testenv.DatabaseURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	super, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close(context.Background())
	as := func(user, db string) (*pgx.Conn, error) {
		u, _ := url.Parse(admin)
		u.User = url.User(user)
		if db != "" {
			u.Path = "/" + db
		}
		return pgx.Connect(ctx, u.String())
	}
	weak := "pgerr_weak_" + suffix()
	if _, err := super.Exec(ctx, "CREATE ROLE "+pgx.Identifier{weak}.Sanitize()+" LOGIN"); err != nil {
		t.Fatal(err)
	}
	nologin := "pgerr_nologin_" + suffix()
	if _, err := super.Exec(ctx, "CREATE ROLE "+pgx.Identifier{nologin}.Sanitize()+" NOLOGIN"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, r := range []string{weak, nologin} {
			super.Exec(context.Background(), "DROP ROLE IF EXISTS "+pgx.Identifier{r}.Sanitize())
		}
	})

	t.Run("a role that does not exist", func(t *testing.T) {
		_, err := as("pgerr_no_such_role_"+suffix(), "")
		check(t, fmt.Errorf("odoo: create database x: %w", err), pgerr.Login,
			[]string{"PostgreSQL refused a login", "check DB_USER and DB_PASSWORD"}, "does not exist", "FATAL")
	})
	t.Run("a role that may not log in", func(t *testing.T) {
		_, err := as(nologin, "")
		check(t, err, pgerr.Login, []string{"PostgreSQL refused a login", "pg_hba.conf"}, "not permitted")
	})
	t.Run("a missing database", func(t *testing.T) {
		db := "pgerr_missing_" + suffix()
		_, err := as(weak, db)
		check(t, err, pgerr.MissingDatabase,
			[]string{"the database " + db + " does not exist in PostgreSQL: it was dropped or never made; check with psql -l"}, "FATAL")
	})
	t.Run("permission denied", func(t *testing.T) {
		conn, err := as(weak, "postgres")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{"pgerr_denied_" + suffix()}.Sanitize())
		check(t, err, pgerr.Denied,
			[]string{"PostgreSQL denied odoobot a right it needs", "CREATEDB and CREATEROLE"}, "permission denied to create", "SQLSTATE")
	})
	t.Run("a session ended by the server", func(t *testing.T) {
		conn, err := as(weak, "postgres")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if _, err := super.Exec(ctx, "SELECT pg_terminate_backend($1)", conn.PgConn().PID()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		_, err = conn.Exec(ctx, "SELECT 1")
		check(t, err, pgerr.Restarting, []string{"PostgreSQL was restarting or shutting down", "again in a minute"}, "terminating")
	})
	t.Run("the server down", func(t *testing.T) {
		_, err := pgx.Connect(ctx, "postgres://odoo@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=5")
		check(t, err, pgerr.Unreachable,
			[]string{"PostgreSQL cannot be reached (connection refused)", "systemctl status postgresql", "DB_HOST and DB_PORT"}, "127.0.0.1:1")
	})
}

// TestFromCode: every class of SQLSTATE has its cause and words.
func TestFromCode(t *testing.T) {
	for _, tc := range []struct {
		code  string
		cause pgerr.Cause
		want  string
	}{
		{"28P01", pgerr.Login, "PostgreSQL refused a login (password authentication failed): check DB_USER and DB_PASSWORD"},
		{"28000", pgerr.Login, "PostgreSQL refused a login (SQLSTATE 28000)"},
		{"42501", pgerr.Denied, "PostgreSQL denied odoobot a right it needs"},
		{"3D000", pgerr.MissingDatabase, "a database odoobot needs does not exist in PostgreSQL"},
		{"57P03", pgerr.Restarting, "PostgreSQL was restarting"},
		{"08006", pgerr.Restarting, "PostgreSQL was restarting"},
		{"53100", pgerr.Resources, "out of resources (disk, memory or PostgreSQL connections): check the free disk (df -h)"},
		{"53300", pgerr.Resources, "pg_stat_activity"},
		{"40001", pgerr.Concurrent, "concurrent one: run the command again"},
		{"40P01", pgerr.Concurrent, "concurrent one"},
		{"23505", pgerr.Duplicate, "exists already"},
		{"XX000", pgerr.Other, "PostgreSQL refused the operation (SQLSTATE XX000): the bot's log has its message"},
	} {
		f := pgerr.FromCode(tc.code, "")
		if f.Cause != tc.cause {
			t.Errorf("FromCode(%s) = cause %d, want %d", tc.code, f.Cause, tc.cause)
		}
		if got := f.Error(errors.New("raw")).Explain(); !strings.Contains(got, tc.want) {
			t.Errorf("FromCode(%s): %q, lacks %q", tc.code, got, tc.want)
		}
	}
	own := fmt.Errorf("odoo: %w", provision.ErrInstanceNotFound)
	if got := pgerr.Typed(own); got != own {
		t.Errorf("odoobot's own error was changed: %#v", got)
	}
	typed := &provision.Error{Kind: provision.KindBroken, What: "x"}
	if got := pgerr.Typed(fmt.Errorf("y: %w", typed)); provision.Hint(got) != "x" {
		t.Errorf("a typed error was typed again: %#v", got)
	}
}
