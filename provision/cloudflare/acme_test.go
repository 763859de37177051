package cloudflare_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"odoobot/provision"
	"odoobot/provision/cloudflare/cftest"
)

func txtRecord(name, content string) cftest.Record {
	return cftest.Record{Type: "TXT", Name: name, Content: content, TTL: 120, Comment: mark("acme.example.com")}
}

func TestACMEChallengeSetAndClear(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	var events []string
	srv.OnRecord = func(r cftest.Record, deleted bool) {
		verb := "set"
		if deleted {
			verb = "deleted"
		}
		events = append(events, verb+" "+r.Type+" "+r.Name+" "+r.Content)
	}
	c := newClient(t, srv)
	ctx := t.Context()
	const name = "_acme-challenge.acme.example.com"

	if err := c.SetACMEChallenge(ctx, "acme.example.com", "digest-1"); err != nil {
		t.Fatalf("SetACMEChallenge: %v", err)
	}
	reqs := srv.Requests()
	last := reqs[len(reqs)-1]
	if q := reqs[len(reqs)-2].Query.Get("name.exact"); q != name {
		t.Errorf("record list name.exact = %q, want %s", q, name)
	}
	var body map[string]any
	if err := json.Unmarshal(last.Body, &body); err != nil {
		t.Fatalf("create body %s: %v", last.Body, err)
	}
	wantBody := map[string]any{
		"type": "TXT", "name": name, "content": `"digest-1"`,
		"proxied": false, "ttl": float64(120), "comment": mark("acme.example.com"),
	}
	if diff := cmp.Diff(body, wantBody); diff != "" {
		t.Errorf("create body (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(srv.Records(), []cftest.Record{txtRecord(name, `"digest-1"`)}, ignoreRecordMeta); diff != "" {
		t.Errorf("records (-got +want):\n%s", diff)
	}

	// Idempotent: the same value again writes nothing.
	before := len(writes(srv.Requests()))
	if err := c.SetACMEChallenge(ctx, "acme.example.com", "digest-1"); err != nil {
		t.Fatalf("SetACMEChallenge again: %v", err)
	}
	if got := writes(srv.Requests())[before:]; len(got) != 0 {
		t.Errorf("setting the same value again wrote %v", got)
	}

	// A second value (another authorization) sits beside the first, and a
	// foreign TXT record at the name is never touched.
	foreign := srv.AddRecord(cftest.Record{Type: "TXT", Name: name, Content: `"digest-1"`, TTL: 300})
	if err := c.SetACMEChallenge(ctx, "acme.example.com", "digest-2"); err != nil {
		t.Fatalf("SetACMEChallenge digest-2: %v", err)
	}
	if err := c.ClearACMEChallenge(ctx, "acme.example.com", "digest-1"); err != nil {
		t.Fatalf("ClearACMEChallenge digest-1: %v", err)
	}
	want := []cftest.Record{
		{Type: "TXT", Name: name, Content: `"digest-1"`, TTL: 300},
		txtRecord(name, `"digest-2"`),
	}
	if diff := cmp.Diff(srv.Records(), want, ignoreRecordMeta); diff != "" {
		t.Errorf("records after clearing digest-1 (-got +want):\n%s", diff)
	}
	if err := c.ClearACMEChallenge(ctx, "acme.example.com", "digest-2"); err != nil {
		t.Fatalf("ClearACMEChallenge digest-2: %v", err)
	}
	if err := c.ClearACMEChallenge(ctx, "acme.example.com", "digest-2"); err != nil {
		t.Fatalf("ClearACMEChallenge with nothing left: %v", err)
	}
	if recs := srv.Records(); len(recs) != 1 || recs[0].ID != foreign.ID {
		t.Errorf("records at the end: %+v; want only the foreign one", recs)
	}
	wantEvents := []string{
		"set TXT " + name + ` "digest-1"`,
		"set TXT " + name + ` "digest-2"`,
		"deleted TXT " + name + ` "digest-1"`,
		"deleted TXT " + name + ` "digest-2"`,
	}
	if diff := cmp.Diff(events, wantEvents); diff != "" {
		t.Errorf("OnRecord events (-got +want):\n%s", diff)
	}
}

func TestACMEChallengeGuard(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	c := newClient(t, srv)
	for _, fqdn := range []string{
		"example.com",                      // _acme-challenge.example.com: the apex
		"a.b.example.com",                  // two labels deep
		"www.example.com",                  // the zone's own site
		"_acme-challenge.acme.example.com", // would be _acme-challenge._acme-challenge.…
		"acme.example.org",
		"Acme.example.com",
		"acme.example.com.",
		"",
	} {
		if err := c.SetACMEChallenge(t.Context(), fqdn, "v"); !errors.Is(err, provision.ErrApexGuard) {
			t.Errorf("SetACMEChallenge(%q) = %v, want ErrApexGuard", fqdn, err)
		}
		if err := c.ClearACMEChallenge(t.Context(), fqdn, "v"); !errors.Is(err, provision.ErrApexGuard) {
			t.Errorf("ClearACMEChallenge(%q) = %v, want ErrApexGuard", fqdn, err)
		}
	}
	if n := srv.RequestCount(); n != 0 {
		t.Errorf("%d requests left for refused names, want 0: %+v", n, srv.Requests())
	}
}
