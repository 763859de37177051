package postgres_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/provision"
	"odoobot/provision/postgres"
)

// The ledger keeps what the DNS driver made: a create journaled before
// it is sent, its record's ID after, tombstones that are never lifted,
// and the sweep's list (tombstones, and challenge records older than an
// hour).
func TestDNSLedger(t *testing.T) {
	s := openStore(t)
	ctx := testContext(t)
	l := postgres.DNSLedger{Store: s}
	at := time.Now().UTC().Truncate(time.Microsecond)

	a, err := l.Journal(ctx, provision.DNSEntry{Name: "acme.example.com", Type: "A", Content: "203.0.113.10", Attempted: at})
	if err != nil {
		t.Fatalf("Journal: %v", err)
	}
	created := at.Add(time.Second)
	if err := l.Made(ctx, a, "rec-1", created); err != nil {
		t.Fatalf("Made: %v", err)
	}
	if _, err := l.Journal(ctx, provision.DNSEntry{Name: "other.example.com", Type: "A", Content: "203.0.113.10", RecordID: "rec-1", Attempted: at}); err == nil {
		t.Error("a second entry with the same record ID was journaled")
	}
	late, err := l.Journal(ctx, provision.DNSEntry{Name: "late.example.com", Type: "A", Content: "203.0.113.10", Attempted: at})
	if err != nil {
		t.Fatal(err)
	}
	oldTXT, err := l.Journal(ctx, provision.DNSEntry{Name: "_acme-challenge.acme.example.com", Type: "TXT", Content: "d", Attempted: at.Add(-2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Journal(ctx, provision.DNSEntry{Name: "_acme-challenge.acme.example.com", Type: "TXT", Content: "e", Attempted: at}); err != nil {
		t.Fatal(err)
	}

	got, err := l.Entries(ctx, "acme.example.com")
	want := []provision.DNSEntry{{Key: a, Name: "acme.example.com", Type: "A", Content: "203.0.113.10", RecordID: "rec-1", Attempted: at, CreatedOn: created}}
	if err != nil || !cmp.Equal(got, want) {
		t.Errorf("Entries = %v (%v)\n%s", got, err, cmp.Diff(got, want))
	}
	buried, err := l.Buried(ctx)
	if err != nil || len(buried) != 1 || buried[0].Key != oldTXT {
		t.Errorf("Buried before any tombstone = %+v, %v; want only the challenge record older than an hour", buried, err)
	}
	if err := l.Bury(ctx, "late.example.com"); err != nil {
		t.Fatal(err)
	}
	if err := l.Bury(ctx, "late.example.com"); err != nil {
		t.Fatal(err)
	}
	buried, _ = l.Buried(ctx)
	if len(buried) != 2 || buried[1].Key != late || !buried[1].Gone || buried[1].RecordID != "" {
		t.Errorf("Buried = %+v, want the old challenge and the tombstone of late.example.com", buried)
	}
	if err := l.Forget(ctx, late); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.Entries(ctx, "late.example.com"); len(got) != 0 {
		t.Errorf("Entries after Forget = %+v", got)
	}
	if n, err := s.DNSEntryCount(ctx); err != nil || n != 3 {
		t.Errorf("DNSEntryCount = %d, %v; want 3", n, err)
	}
}
