package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"odoobot/internal/pgdb"
	"odoobot/provision"
)

// wantTyped holds that err is a provision.Error of kind whose words hold
// want and none of forbidden (the programs' and PostgreSQL's own text),
// while its text, for the log, keeps what the program said (raw).
func wantTyped(t *testing.T, err error, kind provision.ErrorKind, want []string, raw string, forbidden ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	e, ok := provision.AsError(err)
	if !ok {
		t.Fatalf("%q is not a provision.Error", err)
	}
	if e.Kind != kind {
		t.Errorf("kind %q, want %q (%v)", e.Kind, kind, err)
	}
	got := e.Explain()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("Explain() = %q, lacks %q", got, w)
		}
	}
	for _, f := range forbidden {
		if strings.Contains(got, f) {
			t.Errorf("Explain() = %q shows the raw %q", got, f)
		}
	}
	if raw != "" && !strings.Contains(err.Error(), raw) {
		t.Errorf("the error's text, for the log, lost %q: %q", raw, err)
	}
}

// TestDumpAndRestoreFailuresAreTyped: pg_dump's and pg_restore's
// failures on a real PostgreSQL come up typed by what they said: a
// missing database is broken and named, a refused login and a missing
// right refused, the server down unavailable, anything else broken as
// the program's failure; never with the program's text in their words.
func TestDumpAndRestoreFailuresAreTyped(t *testing.T) {
	ctx := context.Background()
	pg, adminURL := testPG(t)
	b := make([]byte, 4)
	rand.Read(b)
	tag := hex.EncodeToString(b)
	file := filepath.Join(t.TempDir(), "dump")
	weak := "typed_weak_" + tag
	if _, err := pg.SQL(ctx, "CREATE ROLE "+pgdb.Ident(weak)+" LOGIN"); err != nil {
		t.Fatal(err)
	}
	locked := "typed_locked_" + tag
	if _, err := pg.SQL(ctx, "CREATE DATABASE "+pgdb.Ident(locked)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pg.Drop(context.Background(), locked)
		pg.SQL(context.Background(), "DROP ROLE IF EXISTS "+pgdb.Ident(weak))
	})
	as := func(user string) Admin {
		a := pg
		a.DB.User = user
		return a
	}

	t.Run("a missing database", func(t *testing.T) {
		db := "typed_missing_" + tag
		wantTyped(t, pg.Dump(ctx, db, file), provision.KindBroken,
			[]string{"the database " + db + " does not exist in PostgreSQL", "psql -l"}, "pg_dump: error", "FATAL", "pg_dump")
	})
	t.Run("a refused login", func(t *testing.T) {
		wantTyped(t, as("typed_no_such_role_"+tag).Dump(ctx, locked, file), provision.KindRefused,
			[]string{"PostgreSQL refused a login", "check DB_USER and DB_PASSWORD"}, "pg_dump: error", "FATAL", "pg_dump")
	})
	t.Run("a missing right", func(t *testing.T) {
		// A table odoobot's login may not read.
		conn := connectTo(t, ctx, adminURL, locked)
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "CREATE TABLE secret (x int)"); err != nil {
			t.Fatal(err)
		}
		wantTyped(t, as(weak).Dump(ctx, locked, file), provision.KindRefused,
			[]string{"PostgreSQL denied odoobot a right it needs", "CREATEDB and CREATEROLE"}, "permission denied", "ERROR", "secret")
	})
	t.Run("the server down", func(t *testing.T) {
		down := pg
		down.DB.Port = 1
		wantTyped(t, down.Dump(ctx, locked, file), provision.KindUnavailable,
			[]string{"PostgreSQL cannot be reached (connection refused)", "DB_HOST and DB_PORT"}, "Connection refused", "pg_dump: error")
		wantTyped(t, down.Restore(ctx, "typed_restore_"+tag, "", file), provision.KindUnavailable,
			[]string{"PostgreSQL cannot be reached (connection refused)"}, "", "dial")
		_, err := down.Exists(ctx, locked)
		wantTyped(t, err, provision.KindUnavailable, []string{"PostgreSQL cannot be reached (connection refused)"}, "", "dial")
	})
	t.Run("a file that is no dump", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad")
		if err := os.WriteFile(bad, []byte("not a dump"), 0o600); err != nil {
			t.Fatal(err)
		}
		db := "typed_restore_" + tag
		err := pg.Restore(ctx, db, "", bad)
		wantTyped(t, err, provision.KindBroken, []string{"pg_restore failed: the bot's log has its message"}, "pg_restore: error", "input file")
		if ok, _ := pg.Exists(ctx, db); ok {
			t.Errorf("the failed restore left database %s", db)
		}
	})
	t.Run("a missing right (SQL)", func(t *testing.T) {
		_, err := as(weak).SQL(ctx, "CREATE DATABASE "+pgdb.Ident("typed_denied_"+tag))
		wantTyped(t, err, provision.KindRefused, []string{"PostgreSQL denied odoobot a right it needs"}, "permission denied", "SQLSTATE")
	})
}
