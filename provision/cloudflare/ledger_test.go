package cloudflare_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/provision"
	"odoobot/provision/cloudflare"
	"odoobot/provision/cloudflare/cftest"
)

// memLedger is a cloudflare.Ledger in memory, as the state database keeps
// it (provision/postgres has the real one).
type memLedger struct {
	mu      sync.Mutex
	next    int64
	entries []cloudflare.Entry
}

func (l *memLedger) Journal(_ context.Context, e cloudflare.Entry) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.next++
	e.Key = l.next
	l.entries = append(l.entries, e)
	return e.Key, nil
}

func (l *memLedger) Made(_ context.Context, key int64, id string, createdOn time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range l.entries {
		if l.entries[i].Key == key {
			l.entries[i].RecordID, l.entries[i].CreatedOn = id, createdOn
			return nil
		}
	}
	return errors.New("no such entry")
}

func (l *memLedger) Entries(_ context.Context, name string) ([]cloudflare.Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []cloudflare.Entry
	for _, e := range l.entries {
		if e.Name == name {
			out = append(out, e)
		}
	}
	return out, nil
}

func (l *memLedger) Bury(_ context.Context, name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range l.entries {
		if l.entries[i].Name == name {
			l.entries[i].Gone = true
		}
	}
	return nil
}

func (l *memLedger) Forget(_ context.Context, key int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = slices.DeleteFunc(l.entries, func(e cloudflare.Entry) bool { return e.Key == key })
	return nil
}

func (l *memLedger) Buried(_ context.Context) ([]cloudflare.Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []cloudflare.Entry
	for _, e := range l.entries {
		if e.Gone || (e.Type == "TXT" && time.Since(e.Attempted) > time.Hour) {
			out = append(out, e)
		}
	}
	return out, nil
}

func (l *memLedger) all() []cloudflare.Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.entries)
}

// own journals r as a record the client made.
func (l *memLedger) own(r cftest.Record) {
	_, _ = l.Journal(context.Background(), cloudflare.Entry{Name: r.Name, Type: r.Type, Content: strings.Trim(r.Content, `"`),
		RecordID: r.ID, Attempted: r.CreatedOn, CreatedOn: r.CreatedOn})
}

// withLedger gives the client l.
func withLedger(l *memLedger) func(*cloudflare.Config) {
	return func(cfg *cloudflare.Config) { cfg.Ledger = l }
}

// A record carrying this server's exact mark, that this server did not
// make, is someone else's: EnsureRecord refuses it without a write,
// saying so; DeleteRecord leaves it; Sweep never deletes it. A and TXT.
func TestForgedMarkIsNotOurs(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	srv.AddRecord(cftest.Record{Type: "A", Name: "kappa.example.com", Content: "198.51.100.66", Proxied: true, Comment: mark("kappa.example.com")})
	srv.AddRecord(cftest.Record{Type: "TXT", Name: "_acme-challenge.kappa.example.com", Content: `"x"`, Comment: mark("kappa.example.com")})
	before := srv.Records()
	l := &memLedger{}
	c := newClient(t, srv, withLedger(l))

	err := c.EnsureRecord(t.Context(), "kappa.example.com")
	if !errors.Is(err, provision.ErrNameTakenInDNS) {
		t.Fatalf("EnsureRecord over a forged mark = %v, want ErrNameTakenInDNS", err)
	}
	if !strings.Contains(err.Error(), "carrying this server's mark") || !strings.Contains(err.Error(), "not made by it") {
		t.Errorf("the refusal does not say the mark is not proof: %v", err)
	}
	if err := c.DeleteRecord(t.Context(), "kappa.example.com"); !errors.Is(err, cloudflare.ErrForeignRecord) && err != nil {
		t.Errorf("DeleteRecord = %v", err)
	}
	if err := c.DeleteRecord(t.Context(), "kappa.example.com"); !errors.Is(err, cloudflare.ErrForeignRecord) {
		t.Errorf("a second DeleteRecord = %v, want ErrForeignRecord", err)
	}
	removed, err := c.Sweep(t.Context())
	if err != nil || len(removed) != 0 {
		t.Errorf("Sweep = %v, %v; want nothing removed", removed, err)
	}
	if w := writes(srv.Requests()); len(w) != 0 {
		t.Errorf("writes %v, want none", w)
	}
	if diff := cmp.Diff(srv.Records(), before); diff != "" {
		t.Errorf("records changed (-got +want):\n%s", diff)
	}
}

// A create whose answer is lost and that Cloudflare applies after the
// client gave up: the creation's rollback (DeleteRecord) finds nothing
// yet and leaves a tombstone; the record, applied late, is recognised by
// its name, content and creation time — not its comment — and Sweep
// deletes it. Records of live entries, forged marks and other servers'
// records stay.
func TestSweepDeletesTombstonedLateCreate(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	srv.HoldNext(http.MethodPost, 600*time.Millisecond)
	l := &memLedger{}
	c := newClient(t, srv, withLedger(l), func(cfg *cloudflare.Config) {
		cfg.HTTPClient = &http.Client{Timeout: 100 * time.Millisecond}
		cfg.MaxWait = -1 // one look, no pause.
	})
	if err := c.EnsureRecord(t.Context(), "late.example.com"); err == nil {
		t.Fatal("EnsureRecord with its answer lost past the wait succeeded")
	}
	if err := c.DeleteRecord(t.Context(), "late.example.com"); err != nil {
		t.Fatalf("DeleteRecord (the rollback) before the late apply: %v", err)
	}
	if !waitFor(3*time.Second, func() bool { return len(srv.Records()) == 1 }) {
		t.Fatalf("records %+v, want the late create applied", srv.Records())
	}
	late := srv.Records()[0]

	c2 := newClient(t, srv, withLedger(l)) // a new process, the same state.
	if err := c2.EnsureRecord(t.Context(), "kept.example.com"); err != nil {
		t.Fatalf("EnsureRecord kept: %v", err)
	}
	stay := append(srv.Records()[1:],
		srv.AddRecord(cftest.Record{Type: "A", Name: "forged.example.com", Content: ip, Comment: mark("forged.example.com")}),
		srv.AddRecord(cftest.Record{Type: "A", Name: "theirs.example.com", Content: "198.51.100.2", Comment: "managed-by: odoobot server=198.51.100.2 instance=theirs"}),
	)
	removed, err := c2.Sweep(t.Context())
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if diff := cmp.Diff(removed, []string{"A late.example.com"}); diff != "" {
		t.Errorf("removed (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(srv.Records(), stay); diff != "" {
		t.Errorf("records left (-got +want):\n%s", diff)
	}
	for _, e := range l.all() {
		if e.RecordID == late.ID || e.Name == "late.example.com" {
			t.Errorf("the ledger still holds %+v after its record was swept", e)
		}
	}
}

// A failed DELETE of this server's own record is reported as that, not
// as a record "not made by odoobot", even when a foreign record shares
// the name; the tombstone stays and the next Sweep deletes it.
func TestFailedDeleteOfOursIsReportedAsOurs(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	l := &memLedger{}
	c := newClient(t, srv, withLedger(l))
	if err := c.EnsureRecord(t.Context(), "acme.example.com"); err != nil {
		t.Fatalf("EnsureRecord: %v", err)
	}
	ours := srv.Records()[0]
	txt := srv.AddRecord(cftest.Record{Type: "TXT", Name: "acme.example.com", Content: "v=spf1 -all"})
	srv.FailNextMatching(http.MethodDelete, http.StatusForbidden, 10000, "Authentication error")

	err := c.DeleteRecord(t.Context(), "acme.example.com")
	if err == nil {
		t.Fatal("DeleteRecord with its DELETE refused succeeded")
	}
	if errors.Is(err, cloudflare.ErrForeignRecord) {
		t.Errorf("the failure of our own DELETE matches ErrForeignRecord (reported as left in place, not made by odoobot): %v", err)
	}
	for _, want := range []string{"odoobot's own record", ours.ID, "could not be deleted", "sweep"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	removed, err := c.Sweep(t.Context())
	if err != nil || !cmp.Equal(removed, []string{"A acme.example.com"}) {
		t.Errorf("Sweep = %v, %v; want our record removed", removed, err)
	}
	if diff := cmp.Diff(srv.Records(), []cftest.Record{txt}); diff != "" {
		t.Errorf("records (-got +want):\n%s", diff)
	}
}

// A sweep that lists slowly while another process creates an instance
// never deletes the new record: only tombstones are swept, read again
// after the listing.
func TestSweepRacingACreateKeepsIt(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	l := &memLedger{}
	creator := newClient(t, srv, withLedger(l))
	sweeper := newClient(t, srv, withLedger(l))
	if err := creator.EnsureRecord(t.Context(), "gone.example.com"); err != nil {
		t.Fatal(err)
	}
	srv.FailNextMatching(http.MethodDelete, http.StatusForbidden, 10000, "Authentication error")
	if err := creator.DeleteRecord(t.Context(), "gone.example.com"); err == nil {
		t.Fatal("DeleteRecord succeeded despite the refused DELETE")
	}
	if _, err := sweeper.ZoneID(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv.HoldNext(http.MethodGet, 500*time.Millisecond) // the sweep's listing.
	done := make(chan error, 1)
	go func() { _, err := sweeper.Sweep(t.Context()); done <- err }()
	time.Sleep(100 * time.Millisecond)
	if err := creator.EnsureRecord(t.Context(), "fresh.example.com"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	var names []string
	for _, r := range srv.Records() {
		names = append(names, r.Name)
	}
	if diff := cmp.Diff(names, []string{"fresh.example.com"}); diff != "" {
		t.Errorf("records left (-got +want):\n%s", diff)
	}
}

// Adopt takes the record of an earlier version (this server's mark or
// the bare mark, pointing here) at an instance's name; nothing else.
func TestAdoptLegacyRecord(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	old := srv.AddRecord(ourRecord("acme.example.com", ip))
	elsewhere := srv.AddRecord(ourRecord("elsewhere.example.com", "198.51.100.9"))
	l := &memLedger{}
	c := newClient(t, srv, withLedger(l))
	if id, err := c.Adopt(t.Context(), "acme.example.com"); err != nil || id != old.ID {
		t.Fatalf("Adopt = %q, %v; want %s", id, err, old.ID)
	}
	if id, err := c.Adopt(t.Context(), "elsewhere.example.com"); err != nil || id != "" {
		t.Errorf("Adopt of a record pointing elsewhere = %q, %v; want nothing", id, err)
	}
	if err := c.DeleteRecord(t.Context(), "acme.example.com"); err != nil {
		t.Fatalf("DeleteRecord of the adopted record: %v", err)
	}
	if diff := cmp.Diff(srv.Records(), []cftest.Record{elsewhere}); diff != "" {
		t.Errorf("records (-got +want):\n%s", diff)
	}
}

// Without a ledger, nothing is changed.
func TestNoLedgerNoChange(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	c, err := cloudflare.New(t.Context(), cloudflare.Config{APIToken: token, ZoneName: zone, PublicIP: ip, BaseURL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureRecord(t.Context(), "acme.example.com"); err == nil || !strings.Contains(err.Error(), "no ledger") {
		t.Errorf("EnsureRecord without a ledger = %v", err)
	}
	if _, err := c.Sweep(t.Context()); err == nil {
		t.Error("Sweep without a ledger succeeded")
	}
	if n := srv.RequestCount(); n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}
}

// waitFor polls cond every 20 ms until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
