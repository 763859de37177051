// Package testenv gives tests the real services they need (a PostgreSQL
// database, the nginx binary, the sandbox host) and decides what happens
// when one is missing: under `make test` (ODOOBOT_REQUIRE_ALL=1) the test
// fails loudly; under a bare `go test` it is skipped with the reason.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Missing stops the test because something it needs is not here: fatal
// under `make test`, a skip naming the reason otherwise.
func Missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("ODOOBOT_REQUIRE_ALL") == "1" {
		t.Fatalf("required by make test but missing: %s", why)
	}
	t.Skipf("skipped: %s (make test provides it)", why)
}

// DatabaseURL is the URL of the PostgreSQL server for tests, from
// ODOOBOT_TEST_DATABASE_URL (make test starts a throwaway cluster).
func DatabaseURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("ODOOBOT_TEST_DATABASE_URL")
	if u == "" {
		Missing(t, "ODOOBOT_TEST_DATABASE_URL is not set (no PostgreSQL for tests)")
	}
	return u
}

// NewDatabase creates an empty database for one test and drops it when the
// test ends. It returns the database's URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := DatabaseURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("testenv: connect to %s: %v", redact(admin), err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "t_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("testenv: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("testenv: drop database: %v", err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("testenv: drop database %s: %v", name, err)
		}
	})
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	return u.String()
}

// LookPath returns the path of a program the test needs, or stops the
// test through Missing.
func LookPath(t testing.TB, prog string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		Missing(t, prog+" is not installed")
	}
	return p
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
