package cloudflare_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"odoobot/provision"
	"odoobot/provision/cloudflare"
	"odoobot/provision/cloudflare/cftest"
)

// lostServers is the record the lost server made for acme: its mark, its
// address.
func lostServers() cftest.Record {
	return cftest.Record{Type: "A", Name: "acme.example.com", Content: "198.51.100.99", Proxied: true, TTL: 1,
		Comment: "managed-by: odoobot server=old-host instance=acme"}
}

// The record the lost server made for the instance is taken over: the
// Ledger holds it, EnsureRecord points it here in place (this server's
// address and mark), and GiveBack puts it back as it was and lets it go.
func TestTakeOverPointsTheLostServersRecordHereAndGivesItBack(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	old := srv.AddRecord(lostServers())
	c := newClient(t, srv)
	ctx := t.Context()

	if err := c.EnsureRecord(ctx, "acme.example.com"); !errors.Is(err, provision.ErrNameTakenInDNS) {
		t.Fatalf("EnsureRecord before a take-over = %v, want the name refused", err)
	}
	was, err := c.Holder(ctx, "acme.example.com")
	if err != nil {
		t.Fatalf("Holder: %v", err)
	}
	want := provision.DNSTaken{RecordID: old.ID, Content: old.Content, Comment: old.Comment, Proxied: true}
	if was != want {
		t.Errorf("Holder = %+v, want %+v", was, want)
	}
	if err := c.TakeOver(ctx, "acme.example.com", was); err != nil {
		t.Fatalf("TakeOver: %v", err)
	}
	if w := writes(srv.Requests()); len(w) != 0 {
		t.Errorf("Holder and TakeOver wrote %v; they only journal", w)
	}
	if err := c.EnsureRecord(ctx, "acme.example.com"); err != nil {
		t.Fatalf("EnsureRecord after the take-over: %v", err)
	}
	got := srv.Records()
	if diff := cmp.Diff(got, []cftest.Record{ourRecord("acme.example.com", ip)}, ignoreRecordMeta); diff != "" || got[0].ID != old.ID {
		t.Errorf("records after the take-over (-got +want):\n%s\nID %s, want %s updated in place", diff, got[0].ID, old.ID)
	}

	if err := c.GiveBack(ctx, "acme.example.com", was); err != nil {
		t.Fatalf("GiveBack: %v", err)
	}
	if diff := cmp.Diff(srv.Records(), []cftest.Record{old}, ignoreRecordMeta); diff != "" {
		t.Errorf("records after GiveBack (-got +want):\n%s", diff)
	}
	n := srv.RequestCount()
	if err := c.DeleteRecord(ctx, "acme.example.com"); !errors.Is(err, cloudflare.ErrForeignRecord) {
		t.Errorf("DeleteRecord after GiveBack = %v, want the record another server's again", err)
	}
	if w := writes(srv.Requests()[n:]); len(w) != 0 {
		t.Errorf("DeleteRecord after GiveBack wrote %v", w)
	}
}

// Nothing at the name, or only this server's record: nothing to take.
func TestTakeOverTakesNothingWhenNothingIsHeld(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	c := newClient(t, srv)
	if was, err := c.Holder(t.Context(), "acme.example.com"); err != nil || was != (provision.DNSTaken{}) {
		t.Fatalf("Holder of an empty name = %+v, %v", was, err)
	}
	if err := c.EnsureRecord(t.Context(), "acme.example.com"); err != nil {
		t.Fatal(err)
	}
	if was, err := c.Holder(t.Context(), "acme.example.com"); err != nil || was != (provision.DNSTaken{}) {
		t.Fatalf("Holder of this server's record = %+v, %v", was, err)
	}
}

// Only an A record carrying odoobot's mark for that very instance, alone
// at the name, is taken over; anything else is refused, saying what
// holds the name, and nothing changes.
func TestTakeOverRefusesWhatOdoobotDidNotMakeForTheInstance(t *testing.T) {
	lost := lostServers()
	tests := map[string][]cftest.Record{
		"no mark":               {{Type: "A", Name: "acme.example.com", Content: "198.51.100.7"}},
		"a human's note":        {{Type: "A", Name: "acme.example.com", Content: "198.51.100.7", Comment: "marketing site"}},
		"another instance mark": {{Type: "A", Name: "acme.example.com", Content: "198.51.100.7", Comment: "managed-by: odoobot server=old-host instance=beta"}},
		"a CNAME, marked":       {{Type: "CNAME", Name: "acme.example.com", Content: "x.example.net", Comment: lost.Comment}},
		"beside another record": {lost, {Type: "AAAA", Name: "acme.example.com", Content: "2001:db8::1"}},
		"two marked":            {lost, {Type: "A", Name: "acme.example.com", Content: "198.51.100.98", Proxied: true, Comment: lost.Comment}},
	}
	for name, recs := range tests {
		t.Run(name, func(t *testing.T) {
			srv := cftest.NewServer(t, zone, token)
			for _, r := range recs {
				srv.AddRecord(r)
			}
			before := srv.Records()
			c := newClient(t, srv)
			was, err := c.Holder(t.Context(), "acme.example.com")
			noToken(t, err)
			if !errors.Is(err, provision.ErrNameTakenInDNS) || was != (provision.DNSTaken{}) {
				t.Fatalf("Holder = %+v, %v; want refused", was, err)
			}
			for _, want := range []string{"acme.example.com", "remove it", recs[len(recs)-1].Type} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if err := c.EnsureRecord(t.Context(), "acme.example.com"); !errors.Is(err, provision.ErrNameTakenInDNS) {
				t.Errorf("EnsureRecord after a refused take-over = %v, want still refused", err)
			}
			if diff := cmp.Diff(srv.Records(), before); diff != "" {
				t.Errorf("records changed (-got +want):\n%s", diff)
			}
		})
	}
}

// The apex and deeper names are refused before any request.
func TestTakeOverKeepsTheApexGuard(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	c := newClient(t, srv)
	for _, fqdn := range []string{"example.com", "www.example.com", "a.b.example.com", "acme.example.org"} {
		n := srv.RequestCount()
		if _, err := c.Holder(t.Context(), fqdn); !errors.Is(err, provision.ErrApexGuard) {
			t.Errorf("Holder(%s) = %v, want the apex guard", fqdn, err)
		}
		if err := c.TakeOver(t.Context(), fqdn, provision.DNSTaken{RecordID: "x", Content: "198.51.100.1"}); !errors.Is(err, provision.ErrApexGuard) {
			t.Errorf("TakeOver(%s) = %v, want the apex guard", fqdn, err)
		}
		if srv.RequestCount() != n {
			t.Errorf("TakeOver(%s) sent a request", fqdn)
		}
	}
}

// A record changed between the look-up and the take-over (another
// address, or replaced) is not taken: the operator asks again.
func TestTakeOverRefusesARecordChangedSinceItWasLookedUp(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	srv.AddRecord(lostServers())
	c := newClient(t, srv)
	was, err := c.Holder(t.Context(), "acme.example.com")
	if err != nil {
		t.Fatal(err)
	}
	stale := was
	stale.Content = "198.51.100.1"
	if err := c.TakeOver(t.Context(), "acme.example.com", stale); !errors.Is(err, provision.ErrNameTakenInDNS) || !strings.Contains(err.Error(), "changed since") {
		t.Fatalf("TakeOver of a stale look-up = %v", err)
	}
	if err := c.EnsureRecord(t.Context(), "acme.example.com"); !errors.Is(err, provision.ErrNameTakenInDNS) {
		t.Errorf("EnsureRecord after a refused take-over = %v, want still refused", err)
	}
}
