package pgdb_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/internal/pgdb"
	"odoobot/internal/testenv"
)

// TestEnsureAndExists: Ensure creates a database of any name (a quote, a
// space, a semicolon) once and leaves it alone after; Exists sees it, and
// not one that is not there.
func TestEnsureAndExists(t *testing.T) {
	admin := testenv.DatabaseURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	b := make([]byte, 4)
	rand.Read(b)
	name := `t_o'dd; name "` + hex.EncodeToString(b)
	t.Cleanup(func() { conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgdb.Ident(name)+" WITH (FORCE)") })
	if ok, err := pgdb.Exists(ctx, conn, name); err != nil || ok {
		t.Fatalf("Exists before Ensure: %v, %v; want false", ok, err)
	}
	for i := range 2 {
		if err := pgdb.Ensure(ctx, admin, name); err != nil {
			t.Fatalf("Ensure #%d: %v", i+1, err)
		}
		if ok, err := pgdb.Exists(ctx, conn, name); err != nil || !ok {
			t.Fatalf("Exists after Ensure #%d: %v, %v; want true", i+1, ok, err)
		}
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil || n != 1 {
		t.Errorf("databases named %q: %d, %v; want 1", name, n, err)
	}
}

// TestEnsureErrorsKeepThePassword: a connection string that does not
// parse, or a server that does not answer, gives an error that says what
// to check and never holds the password.
func TestEnsureErrorsKeepThePassword(t *testing.T) {
	const secret = "s3cr3t-pw"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, dsn := range []string{
		"postgres://odoo:" + secret + "@127.0.0.1:notaport/postgres",
		"postgres://odoo:" + secret + "@127.0.0.1:1/postgres?connect_timeout=2",
	} {
		err := pgdb.Ensure(ctx, dsn, "state")
		if err == nil {
			t.Fatalf("Ensure on %q: no error", strings.ReplaceAll(dsn, secret, "…"))
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("Ensure's error holds the password: %v", err)
		}
		if !strings.Contains(err.Error(), "PostgreSQL") {
			t.Errorf("Ensure's error does not say PostgreSQL: %v", err)
		}
	}
}
