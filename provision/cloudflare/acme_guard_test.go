package cloudflare

import (
	"errors"
	"testing"

	"odoobot/provision"
)

func TestACMEGuard(t *testing.T) {
	const zone = "example.com"
	for _, name := range []string{
		"_acme-challenge.example.com",
		"_acme-challenge.a.b.example.com",
		"_acme-challenge.www.example.com",
		"_acme-challenge._acme-challenge.acme.example.com",
		"_acme-challenge.acme.example.com.",
		"_acme-challenge.acme.example.org",
		"_ACME-CHALLENGE.acme.example.com",
		"acme.example.com",
		"_acme-challenge-acme.example.com",
		"x._acme-challenge.acme.example.com",
		"",
	} {
		if d, err := acmeGuard("test", name, zone); !errors.Is(err, provision.ErrApexGuard) {
			t.Errorf("acmeGuard(%q) = %q, %v; want ErrApexGuard", name, d, err)
		}
	}
	d, err := acmeGuard("test", "_acme-challenge.acme.example.com", zone)
	if err != nil || d != "acme.example.com" {
		t.Errorf("acmeGuard(_acme-challenge.acme.example.com) = %q, %v; want acme.example.com", d, err)
	}
}

func TestTXTValue(t *testing.T) {
	for in, want := range map[string]string{
		`abc`:       "abc",
		`"abc"`:     "abc",
		` "abc" `:   "abc",
		`"ab" "cd"`: "abcd",
		`"a-_b"`:    "a-_b",
	} {
		if got := txtValue(in); got != want {
			t.Errorf("txtValue(%q) = %q, want %q", in, got, want)
		}
	}
}
