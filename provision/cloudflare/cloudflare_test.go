package cloudflare_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"odoobot/provision"
	"odoobot/provision/cloudflare"
	"odoobot/provision/cloudflare/cftest"
)

const (
	zone  = "example.com"
	token = "tok-7f3Qz9LmXw2VbN8rKdT5-secret"
	ip    = "203.0.113.10"
)

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newClient builds a client for srv, logging at debug level into a buffer
// that is checked, when the test ends, never to hold the token.
func newClient(t *testing.T, srv *cftest.Server, mods ...func(*cloudflare.Config)) *cloudflare.Client {
	t.Helper()
	logs := &syncBuffer{}
	cfg := cloudflare.Config{
		APIToken:   token,
		ZoneName:   zone,
		PublicIP:   ip,
		BaseURL:    srv.URL(),
		Logger:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		MaxRetries: 2,
	}
	for _, m := range mods {
		m(&cfg)
	}
	if cfg.Ledger == nil {
		cfg.Ledger = &memLedger{}
	}
	c, err := cloudflare.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if strings.Contains(logs.String(), cfg.APIToken) {
			t.Errorf("the API token appears in the logs:\n%s", logs.String())
		}
		if logs.String() == "" {
			return
		}
		t.Logf("logs:\n%s", logs.String())
	})
	return c
}

// noToken fails the test if err's message holds the token.
func noToken(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), token) {
		t.Errorf("the API token appears in the error: %v", err)
	}
}

// writes returns the requests that change something.
func writes(reqs []cftest.Request) []string {
	var out []string
	for _, r := range reqs {
		if r.Method != http.MethodGet {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

// mark is the comment the client under test puts on the records of the
// instance at fqdn: its server ID defaults to PUBLIC_IP.
func mark(fqdn string) string {
	label, _, _ := strings.Cut(fqdn, ".")
	return "managed-by: odoobot server=" + ip + " instance=" + label
}

func ourRecord(name, content string) cftest.Record {
	return cftest.Record{Type: "A", Name: name, Content: content, Proxied: true, TTL: 1, Comment: mark(name)}
}

var ignoreRecordMeta = cmpopts.IgnoreFields(cftest.Record{}, "ID", "CreatedOn", "ModifiedOn", "Proxiable")

func TestEnsureRecordCreates(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	c := newClient(t, srv)

	if err := c.EnsureRecord(t.Context(), "acme.example.com"); err != nil {
		t.Fatalf("EnsureRecord: %v", err)
	}

	reqs := srv.Requests()
	var got []string
	for _, r := range reqs {
		if r.Authorization != "Bearer "+token {
			t.Errorf("%s %s: Authorization = %q, want the bearer token", r.Method, r.Path, r.Authorization)
		}
		got = append(got, r.Method+" "+r.Path)
	}
	id := srv.ZoneID()
	want := []string{
		"GET /zones",
		"GET /zones/" + id + "/dns_records",
		"POST /zones/" + id + "/dns_records",
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Fatalf("requests (-got +want):\n%s", diff)
	}
	if q := reqs[0].Query.Get("name"); q != zone {
		t.Errorf("zone lookup name = %q, want %q", q, zone)
	}
	if q := reqs[1].Query.Get("name.exact"); q != "acme.example.com" {
		t.Errorf("record list name.exact = %q, want acme.example.com (query %v)", q, reqs[1].Query)
	}

	var body map[string]any
	if err := json.Unmarshal(reqs[2].Body, &body); err != nil {
		t.Fatalf("create body %s: %v", reqs[2].Body, err)
	}
	wantBody := map[string]any{
		"type": "A", "name": "acme.example.com", "content": ip,
		"proxied": true, "ttl": float64(1), "comment": "managed-by: odoobot server=203.0.113.10 instance=acme",
	}
	if diff := cmp.Diff(body, wantBody); diff != "" {
		t.Errorf("create body (-got +want):\n%s", diff)
	}

	wantRecs := []cftest.Record{ourRecord("acme.example.com", ip)}
	if diff := cmp.Diff(srv.Records(), wantRecs, ignoreRecordMeta); diff != "" {
		t.Errorf("records (-got +want):\n%s", diff)
	}
}

func TestEnsureRecordIsIdempotent(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	c := newClient(t, srv)

	for i := range 2 {
		if err := c.EnsureRecord(t.Context(), "acme.example.com"); err != nil {
			t.Fatalf("EnsureRecord #%d: %v", i+1, err)
		}
	}
	want := []string{"POST /zones/" + srv.ZoneID() + "/dns_records"}
	if diff := cmp.Diff(writes(srv.Requests()), want); diff != "" {
		t.Errorf("writes (-got +want):\n%s", diff)
	}
	if n := len(srv.Records()); n != 1 {
		t.Errorf("%d records, want 1", n)
	}
	zoneLookups := 0
	for _, r := range srv.Requests() {
		if r.Path == "/zones" {
			zoneLookups++
		}
	}
	if zoneLookups != 1 {
		t.Errorf("zone looked up %d times, want once (cached)", zoneLookups)
	}
}

func TestEnsureRecordUpdatesOurRecord(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	old := ourRecord("acme.example.com", "198.51.100.7")
	old.Proxied = false
	old.TTL = 3600
	old = srv.AddRecord(old)
	l := &memLedger{}
	l.own(old)
	c := newClient(t, srv, withLedger(l))

	if err := c.EnsureRecord(t.Context(), "acme.example.com"); err != nil {
		t.Fatalf("EnsureRecord: %v", err)
	}
	want := []string{"PATCH /zones/" + srv.ZoneID() + "/dns_records/" + old.ID}
	if diff := cmp.Diff(writes(srv.Requests()), want); diff != "" {
		t.Errorf("writes (-got +want):\n%s", diff)
	}
	wantRecs := []cftest.Record{ourRecord("acme.example.com", ip)}
	if diff := cmp.Diff(srv.Records(), wantRecs, ignoreRecordMeta); diff != "" {
		t.Errorf("records (-got +want):\n%s", diff)
	}
	if got := srv.Records()[0].ID; got != old.ID {
		t.Errorf("record ID = %s, want the same record %s updated in place", got, old.ID)
	}
}

func TestEnsureRecordRefusesForeignRecords(t *testing.T) {
	tests := map[string]cftest.Record{
		"A without marker":  {Type: "A", Name: "acme.example.com", Content: "198.51.100.7"},
		"A with other note": {Type: "A", Name: "acme.example.com", Content: ip, Proxied: true, Comment: "mail server, do not touch"},
		"CNAME":             {Type: "CNAME", Name: "acme.example.com", Content: "elsewhere.example.net"},
		"AAAA even marked":  {Type: "AAAA", Name: "acme.example.com", Content: "2001:db8::1", Comment: mark("acme.example.com")},
	}
	for name, foreign := range tests {
		t.Run(name, func(t *testing.T) {
			srv := cftest.NewServer(t, zone, token)
			srv.AddRecord(foreign)
			before := srv.Records()
			c := newClient(t, srv)

			err := c.EnsureRecord(t.Context(), "acme.example.com")
			noToken(t, err)
			if !errors.Is(err, cloudflare.ErrForeignRecord) {
				t.Fatalf("EnsureRecord = %v, want ErrForeignRecord", err)
			}
			for _, want := range []string{"acme.example.com", foreign.Type, "remove it", "choose another name"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if w := writes(srv.Requests()); len(w) != 0 {
				t.Errorf("writes %v, want none", w)
			}
			if diff := cmp.Diff(srv.Records(), before); diff != "" {
				t.Errorf("records changed (-got +want):\n%s", diff)
			}
		})
	}
}

func TestDeleteRecord(t *testing.T) {
	t.Run("ours", func(t *testing.T) {
		srv := cftest.NewServer(t, zone, token)
		mine := srv.AddRecord(ourRecord("acme.example.com", ip))
		other := srv.AddRecord(ourRecord("other.example.com", ip))
		l := &memLedger{}
		l.own(mine)
		l.own(other)
		c := newClient(t, srv, withLedger(l))

		if err := c.DeleteRecord(t.Context(), "acme.example.com"); err != nil {
			t.Fatalf("DeleteRecord: %v", err)
		}
		want := []string{"DELETE /zones/" + srv.ZoneID() + "/dns_records/" + mine.ID}
		if diff := cmp.Diff(writes(srv.Requests()), want); diff != "" {
			t.Errorf("writes (-got +want):\n%s", diff)
		}
		if diff := cmp.Diff(srv.Records(), []cftest.Record{other}); diff != "" {
			t.Errorf("records (-got +want):\n%s", diff)
		}
	})
	t.Run("none", func(t *testing.T) {
		srv := cftest.NewServer(t, zone, token)
		c := newClient(t, srv)
		if err := c.DeleteRecord(t.Context(), "acme.example.com"); err != nil {
			t.Fatalf("DeleteRecord of a missing record = %v, want nil", err)
		}
		if w := writes(srv.Requests()); len(w) != 0 {
			t.Errorf("writes %v, want none", w)
		}
	})
	t.Run("foreign", func(t *testing.T) {
		srv := cftest.NewServer(t, zone, token)
		foreign := srv.AddRecord(cftest.Record{Type: "A", Name: "acme.example.com", Content: ip})
		c := newClient(t, srv)
		err := c.DeleteRecord(t.Context(), "acme.example.com")
		noToken(t, err)
		if !errors.Is(err, cloudflare.ErrForeignRecord) {
			t.Fatalf("DeleteRecord = %v, want ErrForeignRecord", err)
		}
		if w := writes(srv.Requests()); len(w) != 0 {
			t.Errorf("writes %v, want none", w)
		}
		if diff := cmp.Diff(srv.Records(), []cftest.Record{foreign}); diff != "" {
			t.Errorf("records (-got +want):\n%s", diff)
		}
	})
	t.Run("ours beside a foreign TXT", func(t *testing.T) {
		srv := cftest.NewServer(t, zone, token)
		l := &memLedger{}
		l.own(srv.AddRecord(ourRecord("acme.example.com", ip)))
		txt := srv.AddRecord(cftest.Record{Type: "TXT", Name: "acme.example.com", Content: "v=spf1 -all"})
		c := newClient(t, srv, withLedger(l))
		err := c.DeleteRecord(t.Context(), "acme.example.com")
		if !errors.Is(err, cloudflare.ErrForeignRecord) || !strings.Contains(err.Error(), "TXT") {
			t.Fatalf("DeleteRecord = %v, want ErrForeignRecord naming the TXT left in place", err)
		}
		if diff := cmp.Diff(srv.Records(), []cftest.Record{txt}); diff != "" {
			t.Errorf("records (-got +want):\n%s", diff)
		}
	})
}

func TestInvalidToken(t *testing.T) {
	srv := cftest.NewServer(t, zone, "the-right-token")
	c := newClient(t, srv)

	err := c.EnsureRecord(t.Context(), "acme.example.com")
	noToken(t, err)
	if !errors.Is(err, cloudflare.ErrAuth) {
		t.Fatalf("EnsureRecord = %v, want ErrAuth", err)
	}
	var apiErr *cloudflare.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusForbidden {
		t.Fatalf("EnsureRecord = %v, want an APIError with status 403", err)
	}
	for _, want := range []string{"cloudflare: find zone example.com:", "9109 Invalid access token", "token", "invalid or lacks"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if n := srv.RequestCount(); n != 1 {
		t.Errorf("%d requests, want 1 (a 403 is not retried)", n)
	}

	_, err = c.SignOrigin(t.Context(), csrPEM(t, ecKey(t), "acme.example.com"), []string{"acme.example.com"}, 365)
	noToken(t, err)
	if !errors.Is(err, cloudflare.ErrAuth) || !strings.Contains(err.Error(), "SSL and Certificates") {
		t.Errorf("SignOrigin = %v, want ErrAuth naming the SSL and Certificates permission", err)
	}
}

func TestCloudflareErrorReachesTheUser(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	srv.FailNextMatching(http.MethodPost, http.StatusBadRequest, 81057, "Record already exists")
	c := newClient(t, srv)

	err := c.EnsureRecord(t.Context(), "acme.example.com")
	noToken(t, err)
	const want = "cloudflare: create record acme.example.com: 81057 Record already exists"
	if err == nil || err.Error() != want {
		t.Fatalf("EnsureRecord = %v, want %q", err, want)
	}
	var apiErr *cloudflare.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 ||
		!cmp.Equal(apiErr.Errors, []cloudflare.APIMessage{{Code: 81057, Message: "Record already exists"}}) {
		t.Errorf("APIError = %+v", apiErr)
	}
}

// statuses lists the answers the server gave, in order.
func statuses(reqs []cftest.Request) []int {
	var out []int
	for _, r := range reqs {
		out = append(out, r.Status)
	}
	return out
}

func TestRetryAfter429(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	srv.FailNext(http.StatusTooManyRequests, 1, "1")
	c := newClient(t, srv)

	start := time.Now()
	id, err := c.ZoneID(t.Context())
	if err != nil {
		t.Fatalf("ZoneID after one 429: %v", err)
	}
	if id != srv.ZoneID() {
		t.Errorf("ZoneID = %q, want %q", id, srv.ZoneID())
	}
	if elapsed := time.Since(start); elapsed < 900*time.Millisecond {
		t.Errorf("retried after %v, want Retry-After: 1 honoured", elapsed)
	}
	if diff := cmp.Diff(statuses(srv.Requests()), []int{429, 200}); diff != "" {
		t.Errorf("attempts (-got +want):\n%s", diff)
	}
}

func TestRetry5xxThenSuccess(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	c := newClient(t, srv)
	if _, err := c.ZoneID(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv.FailNext(http.StatusServiceUnavailable, 2, "0")

	if err := c.EnsureRecord(t.Context(), "acme.example.com"); err != nil {
		t.Fatalf("EnsureRecord after two 503: %v", err)
	}
	if diff := cmp.Diff(statuses(srv.Requests()), []int{200, 503, 503, 200, 200}); diff != "" {
		t.Errorf("attempts (-got +want):\n%s", diff)
	}
	if n := len(srv.Records()); n != 1 {
		t.Errorf("%d records, want 1", n)
	}
}

func TestRetry5xxGivesUp(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	srv.FailNext(http.StatusInternalServerError, 100, "0.01")
	c := newClient(t, srv, func(cfg *cloudflare.Config) { cfg.MaxRetries = 2 })

	err := c.EnsureRecord(t.Context(), "acme.example.com")
	noToken(t, err)
	const want = "cloudflare: find zone example.com: 10001 Service temporarily unavailable"
	if err == nil || err.Error() != want {
		t.Fatalf("EnsureRecord = %v, want %q", err, want)
	}
	if n := srv.RequestCount(); n != 3 {
		t.Errorf("%d attempts, want 3 (1 + MaxRetries 2)", n)
	}
}

func TestRetryBackoffWithoutRetryAfter(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the SDK's 2 s backoff")
	}
	srv := cftest.NewServer(t, zone, token)
	srv.FailNext(http.StatusBadGateway, 1, "")
	c := newClient(t, srv, func(cfg *cloudflare.Config) { cfg.MaxRetries = 1 })
	start := time.Now()
	if _, err := c.ZoneID(t.Context()); err != nil {
		t.Fatalf("ZoneID after one 502: %v", err)
	}
	if elapsed := time.Since(start); elapsed < time.Second {
		t.Errorf("retried after %v, want a backoff of at least 1 s", elapsed)
	}
}

func TestConfiguredZoneID(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	c := newClient(t, srv, func(cfg *cloudflare.Config) { cfg.ZoneID = srv.ZoneID() })
	if err := c.EnsureRecord(t.Context(), "acme.example.com"); err != nil {
		t.Fatalf("EnsureRecord: %v", err)
	}
	if got, want := srv.Requests()[0].Path, "/zones/"+srv.ZoneID(); got != want {
		t.Errorf("first request %s, want %s (CF_ZONE_ID checked, not looked up)", got, want)
	}

	// CF_ZONE_ID of another zone: refused before any record is touched.
	other := cftest.NewServer(t, "other.org", token)
	c = newClient(t, other, func(cfg *cloudflare.Config) { cfg.ZoneID = other.ZoneID() })
	err := c.EnsureRecord(t.Context(), "acme.example.com")
	if !errors.Is(err, cloudflare.ErrZoneNotFound) {
		t.Fatalf("EnsureRecord with a CF_ZONE_ID of other.org = %v, want ErrZoneNotFound", err)
	}
	if n := other.RequestCount(); n != 1 {
		t.Errorf("%d requests, want 1 (the zone check only)", n)
	}

	// A CF_ZONE_ID that does not exist.
	c = newClient(t, srv, func(cfg *cloudflare.Config) { cfg.ZoneID = "0000" })
	if _, err := c.ZoneID(t.Context()); !errors.Is(err, cloudflare.ErrZoneNotFound) || !strings.Contains(err.Error(), "CF_ZONE_ID") {
		t.Errorf("ZoneID with an unknown CF_ZONE_ID = %v, want ErrZoneNotFound naming CF_ZONE_ID", err)
	}

	// A zone the token does not see.
	c = newClient(t, other)
	if _, err := c.ZoneID(t.Context()); !errors.Is(err, cloudflare.ErrZoneNotFound) {
		t.Errorf("ZoneID of example.com on other.org's account = %v, want ErrZoneNotFound", err)
	}
}

func TestNewValidatesAndSendsNothing(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	good := cloudflare.Config{APIToken: token, ZoneName: zone, PublicIP: ip, BaseURL: srv.URL()}
	tests := map[string]func(*cloudflare.Config){
		"no token":       func(c *cloudflare.Config) { c.APIToken = "" },
		"no zone":        func(c *cloudflare.Config) { c.ZoneName = "" },
		"one-label zone": func(c *cloudflare.Config) { c.ZoneName = "com" },
		"bad zone":       func(c *cloudflare.Config) { c.ZoneName = "exa_mple.com" },
		"no IP":          func(c *cloudflare.Config) { c.PublicIP = "" },
		"IPv6":           func(c *cloudflare.Config) { c.PublicIP = "2001:db8::1" },
		"bad IPv4":       func(c *cloudflare.Config) { c.PublicIP = "203.0.113.300" },
		"unspecified IP": func(c *cloudflare.Config) { c.PublicIP = "0.0.0.0" },
		"bad base URL":   func(c *cloudflare.Config) { c.BaseURL = "ftp://x" },
	}
	for name, mod := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := good
			mod(&cfg)
			_, err := cloudflare.New(t.Context(), cfg)
			noToken(t, err)
			if err == nil || !strings.HasPrefix(err.Error(), "cloudflare: new client: ") {
				t.Errorf("New = %v, want a cloudflare: new client: error", err)
			}
		})
	}
	cfg := good
	cfg.ZoneName = "Example.COM."
	c, err := cloudflare.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", good, err)
	}
	if c.Zone() != zone {
		t.Errorf("Zone() = %q, want %q", c.Zone(), zone)
	}
	if n := srv.RequestCount(); n != 0 {
		t.Errorf("New sent %d requests, want none", n)
	}
}

func TestTokenScrubbedFromTransportErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	// A base URL that (absurdly) holds the token: the connection error
	// names the URL, and must still not show the token.
	srv := cftest.New(zone, token)
	c := newClient(t, srv, func(cfg *cloudflare.Config) {
		cfg.BaseURL = "http://" + addr + "/" + token + "/"
		cfg.MaxRetries = -1
	})
	err = c.EnsureRecord(t.Context(), "acme.example.com")
	if err == nil {
		t.Fatal("EnsureRecord against a closed port succeeded")
	}
	noToken(t, err)
	if !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("error %q: want the token replaced by [redacted]", err)
	}
}

func TestGuardRefusesBeforeAnyRequest(t *testing.T) {
	names := []string{
		"",
		"example.com",
		"example.com.",
		".example.com",
		"www.example.com",
		"a.b.example.com",
		"www.acme.example.com",
		"acme.example.com.",
		"acme.example.com..",
		"Acme.example.com",
		"ACME.EXAMPLE.COM",
		"acme.Example.com",
		"acme.example.org",
		"acme.notexample.com",
		"acmeexample.com",
		"acme.com",
		"-acme.example.com",
		"acme-.example.com",
		"ac_me.example.com",
		"*.example.com",
		" acme.example.com",
		"acme.example.com ",
		"acme.example.com/x",
		strings.Repeat("a", 64) + ".example.com",
		"example.com.example.com",
	}
	srv := cftest.NewServer(t, zone, token)
	c := newClient(t, srv)
	csr := csrPEM(t, ecKey(t), "acme.example.com")
	for _, name := range names {
		if err := c.EnsureRecord(t.Context(), name); !errors.Is(err, provision.ErrApexGuard) {
			t.Errorf("EnsureRecord(%q) = %v, want ErrApexGuard", name, err)
		}
		if err := c.DeleteRecord(t.Context(), name); !errors.Is(err, provision.ErrApexGuard) {
			t.Errorf("DeleteRecord(%q) = %v, want ErrApexGuard", name, err)
		}
		if _, err := c.SignOrigin(t.Context(), csr, []string{"acme.example.com", name}, 365); !errors.Is(err, provision.ErrApexGuard) {
			t.Errorf("SignOrigin(%q) = %v, want ErrApexGuard", name, err)
		}
	}
	if n := srv.RequestCount(); n != 0 {
		t.Errorf("%d requests left for refused names, want 0: %+v", n, srv.Requests())
	}
	// The longest valid label passes the guard (its mark needs a plan
	// whose comments hold more than the Free plan's 100 characters).
	srv.SetCommentLimit(500)
	if err := c.EnsureRecord(t.Context(), strings.Repeat("a", 63)+".example.com"); err != nil {
		t.Errorf("EnsureRecord of a 63-character label: %v", err)
	}
}

func rsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func csrPEM(t *testing.T, key any, host string) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: host},
		DNSNames: []string{host},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestSignOrigin(t *testing.T) {
	tests := map[string]struct {
		key      any
		days     int
		wantType string
		wantDays int
	}{
		"rsa 10 days":   {key: rsaKey(t), days: 10, wantType: "origin-rsa", wantDays: 30},
		"ecdsa 1 year":  {key: ecKey(t), days: 365, wantType: "origin-ecc", wantDays: 365},
		"ecdsa 15 yrs":  {key: ecKey(t), days: 5000, wantType: "origin-ecc", wantDays: 5475},
		"ecdsa 7 days":  {key: ecKey(t), days: 1, wantType: "origin-ecc", wantDays: 7},
		"rsa 2 years+1": {key: rsaKey(t), days: 731, wantType: "origin-rsa", wantDays: 1095},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			srv := cftest.NewServer(t, zone, token)
			c := newClient(t, srv)
			const host = "acme.example.com"

			certPEM, err := c.SignOrigin(t.Context(), csrPEM(t, tt.key, host), []string{host}, tt.days)
			if err != nil {
				t.Fatalf("SignOrigin: %v", err)
			}
			block, _ := pem.Decode(certPEM)
			if block == nil || block.Type != "CERTIFICATE" {
				t.Fatalf("SignOrigin returned no PEM certificate:\n%s", certPEM)
			}
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cert.Verify(x509.VerifyOptions{DNSName: host, Roots: srv.CAPool()}); err != nil {
				t.Errorf("certificate does not verify against the fake CA for %s: %v", host, err)
			}
			if diff := cmp.Diff(cert.DNSNames, []string{host}); diff != "" {
				t.Errorf("SANs (-got +want):\n%s", diff)
			}
			pub, _ := x509.MarshalPKIXPublicKey(cert.PublicKey)
			wantPub, _ := x509.MarshalPKIXPublicKey(tt.key.(crypto.Signer).Public())
			if !bytes.Equal(pub, wantPub) {
				t.Error("certificate is not for the CSR's key")
			}

			reqs := srv.Requests()
			if len(reqs) != 1 || reqs[0].Method != http.MethodPost || reqs[0].Path != "/certificates" {
				t.Fatalf("requests %+v, want one POST /certificates", reqs)
			}
			var body struct {
				Hostnames         []string `json:"hostnames"`
				RequestType       string   `json:"request_type"`
				RequestedValidity int      `json:"requested_validity"`
			}
			if err := json.Unmarshal(reqs[0].Body, &body); err != nil {
				t.Fatal(err)
			}
			if body.RequestType != tt.wantType || body.RequestedValidity != tt.wantDays || !cmp.Equal(body.Hostnames, []string{host}) {
				t.Errorf("request body %s: want type %s, validity %d, hostnames [%s]", reqs[0].Body, tt.wantType, tt.wantDays, host)
			}
			if got := time.Until(cert.NotAfter); got < time.Duration(tt.wantDays-1)*24*time.Hour || got > time.Duration(tt.wantDays+1)*24*time.Hour {
				t.Errorf("certificate valid for %v, want about %d days", got, tt.wantDays)
			}
		})
	}
}

func TestSignOriginRefusals(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	c := newClient(t, srv)
	csr := csrPEM(t, ecKey(t), "acme.example.com")
	hosts := []string{"acme.example.com"}
	ctx := context.Background()

	if _, err := c.SignOrigin(ctx, csr, nil, 365); err == nil {
		t.Error("SignOrigin with no hostname succeeded")
	}
	if _, err := c.SignOrigin(ctx, csr, hosts, 0); err == nil {
		t.Error("SignOrigin for 0 days succeeded")
	}
	if _, err := c.SignOrigin(ctx, csr, hosts, 5476); err == nil {
		t.Error("SignOrigin for 5476 days succeeded")
	}
	if _, err := c.SignOrigin(ctx, []byte("not a csr"), hosts, 365); err == nil {
		t.Error("SignOrigin of garbage succeeded")
	}
	if n := srv.RequestCount(); n != 0 {
		t.Errorf("%d requests for refused calls, want 0", n)
	}
}

func TestValidity(t *testing.T) {
	for days, want := range map[int]int{1: 7, 7: 7, 8: 30, 30: 30, 31: 90, 91: 365, 365: 365, 366: 730, 1000: 1095, 1096: 5475, 5475: 5475} {
		got, err := cloudflare.Validity(days)
		if err != nil || got != want {
			t.Errorf("Validity(%d) = %d, %v; want %d", days, got, err, want)
		}
	}
	for _, days := range []int{-1, 0, 5476} {
		if _, err := cloudflare.Validity(days); err == nil {
			t.Errorf("Validity(%d) succeeded", days)
		}
	}
}
