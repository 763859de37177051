package postgres_test

import (
	"context"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"odoobot/internal/testenv"
	"odoobot/provision/postgres"
)

// openStore opens a Store on a fresh database and closes it at the end.
func openStore(t *testing.T) *postgres.Store {
	t.Helper()
	return openDSN(t, testenv.NewDatabase(t))
}

func openDSN(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(testContext(t), dsn, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// withPoolSize sets pgxpool's pool_max_conns on a database URL, so that
// concurrency tests really run that many transactions at once.
func withPoolSize(t *testing.T, dsn string, n int) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("pool_max_conns", strconv.Itoa(n))
	u.RawQuery = q.Encode()
	return u.String()
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestOpenIsIdempotent(t *testing.T) {
	dsn := testenv.NewDatabase(t)
	ctx := testContext(t)
	first := openDSN(t, dsn)
	first.Close()
	s := openDSN(t, dsn) // second Open on a migrated database
	var n int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM odoobot.schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if want := migrationCount(t); n != want {
		t.Errorf("schema_migrations has %d rows after two Opens, want %d", n, want)
	}
	var tables []string
	rows, err := s.Pool().Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'odoobot' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{"alert_cards", "approval_requests", "audit", "dns_records", "host_samples", "instance_samples", "instances", "job_events", "job_owners", "jobs", "ports", "schema_migrations"}
	if len(tables) != len(want) {
		t.Fatalf("tables = %v, want %v", tables, want)
	}
	for i := range want {
		if tables[i] != want[i] {
			t.Fatalf("tables = %v, want %v", tables, want)
		}
	}
}

func TestConcurrentOpens(t *testing.T) {
	dsn := testenv.NewDatabase(t)
	ctx := testContext(t)
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	stores := make([]*postgres.Store, n)
	for i := range n {
		wg.Go(func() {
			stores[i], errs[i] = postgres.Open(ctx, dsn, slog.New(slog.DiscardHandler))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open #%d: %v", i, err)
			continue
		}
		stores[i].Close()
	}
	s := openDSN(t, dsn)
	var count int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM odoobot.schema_migrations`).Scan(&count); err != nil {
		t.Fatal(err)
	}
	if count != migrationCount(t) {
		t.Errorf("schema_migrations has %d rows, want %d", count, migrationCount(t))
	}
}

func TestOpenBadDSN(t *testing.T) {
	_, err := postgres.Open(testContext(t), "postgres://nobody@127.0.0.1:1/none?connect_timeout=2", nil)
	if err == nil {
		t.Fatal("Open on an unreachable server succeeded")
	}
}

// migrationCount is the number of migration files the store applies.
func migrationCount(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// TestChatStateIsKept: approval requests and alert cards are kept as
// written, replaced under the same key, forgotten on delete (twice is
// no error), and a record that is not JSON is refused unwritten.
func TestChatStateIsKept(t *testing.T) {
	s := openDSN(t, testenv.NewDatabase(t))
	ctx := testContext(t)
	exp := time.Now().Add(time.Hour)
	if err := s.SaveApproval(ctx, "00aa", exp, []byte(`{"command":"delete acme"}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveApproval(ctx, "00aa", exp, []byte(`{"command":"delete acme","ref":"1.2"}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveApproval(ctx, "00bb", exp, []byte(`not json`)); err == nil {
		t.Error("a record that is not JSON was accepted")
	}
	got, err := s.Approvals(ctx)
	if err != nil || len(got) != 1 || string(got["00aa"]) != `{"ref": "1.2", "command": "delete acme"}` {
		t.Fatalf("Approvals = %q, %v; want the one replaced request", got, err)
	}
	for range 2 {
		if err := s.DeleteApproval(ctx, "00aa"); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.Approvals(ctx); err != nil || len(got) != 0 {
		t.Fatalf("Approvals after delete = %q, %v", got, err)
	}

	if err := s.SaveAlertCard(ctx, "acme", []byte(`{"refs":{"slack":"1.2"}}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveAlertCard(ctx, "acme", []byte(`{"refs":{"slack":"1.3"}}`)); err != nil {
		t.Fatal(err)
	}
	cards, err := s.AlertCards(ctx)
	if err != nil || len(cards) != 1 || string(cards["acme"]) != `{"refs": {"slack": "1.3"}}` {
		t.Fatalf("AlertCards = %q, %v", cards, err)
	}
	if err := s.DeleteAlertCard(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if cards, err := s.AlertCards(ctx); err != nil || len(cards) != 0 {
		t.Fatalf("AlertCards after delete = %q, %v", cards, err)
	}
}
