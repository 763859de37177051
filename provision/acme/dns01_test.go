package acme_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/go-acme/lego/v5/challenge/dns01"
	"github.com/google/go-cmp/cmp"

	"odoobot/provision/acme"
	"odoobot/provision/acme/acmetest"
)

// challtestDNS is a DNSChallenger writing into pebble-challtestsrv, the
// DNS server pebble validates against, and remembering the calls.
type challtestDNS struct {
	pebble *acmetest.Pebble
	fail   error // returned by SetACMEChallenge when set

	mu    sync.Mutex
	calls []string
}

func (d *challtestDNS) SetACMEChallenge(ctx context.Context, fqdn, value string) error {
	d.mu.Lock()
	d.calls = append(d.calls, "set "+fqdn+" "+value)
	d.mu.Unlock()
	if d.fail != nil {
		return d.fail
	}
	return d.pebble.SetTXT("_acme-challenge."+fqdn, value)
}

func (d *challtestDNS) ClearACMEChallenge(ctx context.Context, fqdn, value string) error {
	d.mu.Lock()
	d.calls = append(d.calls, "clear "+fqdn+" "+value)
	d.mu.Unlock()
	return d.pebble.ClearTXT("_acme-challenge." + fqdn)
}

func (d *challtestDNS) Calls() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}

func TestChallengeValueIsLegos(t *testing.T) {
	t.Setenv("LEGO_DISABLE_CNAME_SUPPORT", "true") // no DNS query for the comparison
	for _, ka := range []string{"token.thumbprint", "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI", ""} {
		if got, want := acme.ChallengeValue(ka), dns01.GetChallengeInfo(t.Context(), "acme.example.com", ka).Value; got != want {
			t.Errorf("ChallengeValue(%q) = %q, lego's is %q", ka, got, want)
		}
	}
}

// TestIssueDNS01 obtains a certificate from pebble through DNS-01: the
// TXT record is published through the DNSChallenger (into challtestsrv,
// which pebble resolves through), validated, then removed; nothing is
// served over HTTP (nothing listens on pebble's HTTP-01 port).
func TestIssueDNS01(t *testing.T) {
	t.Setenv("LEGO_DISABLE_CNAME_SUPPORT", "true") // no query to the system's resolvers
	pebble := acmetest.Start(t, acmetest.Options{})
	state := t.TempDir()
	dns := &challtestDNS{pebble: pebble}
	webroot := filepath.Join(state, "webroot")
	is, err := acme.New(acme.Config{
		DirectoryURL: pebble.DirectoryURL, AccountDir: filepath.Join(state, "acme"),
		HTTPClient: pebble.HTTPClient,
		DNS:        dns, Nameservers: []string{pebble.DNSAddr},
		// Would fail the issuance if DNS-01 still waited for HTTP.
		ChallengeAddr: "127.0.0.1:1",
	})
	if err != nil {
		t.Fatal(err)
	}
	inst := instance("dnsone")
	dir := filepath.Join(state, "certs", inst.Name)
	f, err := is.Issue(t.Context(), inst, dir)
	if err != nil {
		t.Fatalf("Issue through DNS-01: %v", err)
	}
	c := leaf(t, f.Cert, inst.Domain, pebble.Roots(t))
	if diff := cmp.Diff(c.DNSNames, []string{inst.Domain}); diff != "" {
		t.Errorf("certificate names (-got +want):\n%s", diff)
	}
	if m := mode(t, f.Key); m != 0o600 {
		t.Errorf("key mode %o, want 600", m)
	}
	calls := dns.Calls()
	if len(calls) != 2 || !strings.HasPrefix(calls[0], "set "+inst.Domain+" ") ||
		calls[1] != "clear"+strings.TrimPrefix(calls[0], "set") {
		t.Fatalf("DNSChallenger calls %q; want one set for %s then the clear of the same value", calls, inst.Domain)
	}
	if v := strings.Fields(calls[0])[2]; len(v) != 43 {
		t.Errorf("TXT value %q is not a base64url SHA-256 digest", v)
	}
	if _, err := os.Stat(webroot); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("DNS-01 made the webroot %s (%v)", webroot, err)
	}

	// A failure to publish the record reaches the caller, naming it.
	dns.fail = errors.New("zone is read-only")
	if _, err := is.Renew(t.Context(), instance("dnstwo"), filepath.Join(state, "certs", "dnstwo")); err == nil ||
		!strings.Contains(err.Error(), "zone is read-only") {
		t.Errorf("Renew with a failing DNSChallenger = %v; want its error", err)
	}
}

func TestNewNeedsWebrootOrDNS(t *testing.T) {
	_, err := acme.New(acme.Config{DirectoryURL: "https://127.0.0.1:1/dir", AccountDir: t.TempDir()})
	if err == nil {
		t.Error("New without Webroot or DNS succeeded")
	}
	if _, err := acme.New(acme.Config{DirectoryURL: "https://127.0.0.1:1/dir", AccountDir: t.TempDir(), DNS: &challtestDNS{}}); err != nil {
		t.Errorf("New with DNS and no Webroot: %v", err)
	}
}
