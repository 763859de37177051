package cloudflare

import (
	"errors"
	"regexp"
	"testing"

	"odoobot/provision"
	"odoobot/provision/cloudflare/cftest"
)

// labelRE is the DNS label rule of the specification, written out here
// independently of provision.
var labelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// FuzzGuard checks the apex guard's contract for any string: a name that
// passes is exactly label + "." + zone with a valid label other than www,
// and a name refused never causes a request.
func FuzzGuard(f *testing.F) {
	const zone = "example.com"
	for _, s := range []string{
		"acme.example.com", "example.com", "www.example.com", "a.b.example.com",
		"acme.example.com.", "ACME.example.com", "", ".", "..example.com",
		"acme.example.org", "xn--bcher-kva.example.com", "-a.example.com",
		"a..example.com", "example.com.example.com", "wwww.example.com",
	} {
		f.Add(s)
	}
	srv := cftest.New(zone, "fuzz-token-Qw8")
	srv.Start()
	f.Cleanup(srv.Close)
	c, err := New(f.Context(), Config{APIToken: "fuzz-token-Qw8", ZoneName: zone, PublicIP: "203.0.113.10", BaseURL: srv.URL(), MaxRetries: -1})
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, fqdn string) {
		label, err := guard("test", fqdn, zone)
		if err != nil {
			if !errors.Is(err, provision.ErrApexGuard) {
				t.Fatalf("guard(%q) = %v, want ErrApexGuard", fqdn, err)
			}
			before := srv.RequestCount()
			if err := c.EnsureRecord(t.Context(), fqdn); !errors.Is(err, provision.ErrApexGuard) {
				t.Errorf("EnsureRecord(%q) = %v, want ErrApexGuard", fqdn, err)
			}
			if err := c.DeleteRecord(t.Context(), fqdn); !errors.Is(err, provision.ErrApexGuard) {
				t.Errorf("DeleteRecord(%q) = %v, want ErrApexGuard", fqdn, err)
			}
			if _, err := c.SignOrigin(t.Context(), nil, []string{fqdn}, 365); !errors.Is(err, provision.ErrApexGuard) {
				t.Errorf("SignOrigin(%q) = %v, want ErrApexGuard", fqdn, err)
			}
			if n := srv.RequestCount() - before; n != 0 {
				t.Errorf("%q was refused yet %d requests left", fqdn, n)
			}
			return
		}
		if fqdn != label+"."+zone {
			t.Errorf("guard(%q) passed with label %q: not label.zone", fqdn, label)
		}
		if !labelRE.MatchString(label) || label == "www" {
			t.Errorf("guard(%q) passed label %q", fqdn, label)
		}
		if !provision.IsOneLabelUnder(fqdn, zone) {
			t.Errorf("guard(%q) passed a name IsOneLabelUnder refuses", fqdn)
		}
		if err := c.DeleteRecord(t.Context(), fqdn); errors.Is(err, provision.ErrApexGuard) {
			t.Errorf("DeleteRecord(%q) refused by the guard that guard() passes: %v", fqdn, err)
		}
	})
}
