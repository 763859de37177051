package commands

import (
	"strings"
	"testing"

	"odoobot/provision"
)

func TestFormatListShowsEachRelease(t *testing.T) {
	got := FormatList([]provision.Instance{
		{Name: "acme", Domain: "acme.example.com", State: provision.StateReady, SSLMode: provision.SSLHTTP, DBRole: "prod-acme", User: "odoo-acme",
			Release: provision.ReleaseRecord{Key: "k1", Repo: "r", Commit: "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"}},
		{Name: "old", Domain: "old.example.com", State: provision.StateReady, SSLMode: provision.SSLCloudflare, DBRole: "prod-old", User: "odoo-old"},
	})
	lines := strings.Split(got, "\n")
	if len(lines) != 3 || !strings.HasSuffix(lines[0], "RELEASE") {
		t.Fatalf("list:\n%s\nwant a header ending in RELEASE and one line per instance", got)
	}
	if !strings.HasPrefix(lines[1], "acme ") || !strings.HasSuffix(lines[1], " a1b2c3d4e5f6") {
		t.Errorf("acme's line %q does not end with its commit's first 12 digits", lines[1])
	}
	if !strings.HasPrefix(lines[2], "old ") || !strings.HasSuffix(lines[2], " unknown") {
		t.Errorf("old's line %q (no release recorded) does not end with unknown", lines[2])
	}
}

// An instance imported from API-DEV and not isolated runs on odoobot's
// own database role: list marks it and says how to end it.
func TestFormatListMarksInstancesOnOdoobotsRole(t *testing.T) {
	got := FormatList([]provision.Instance{
		{Name: "acme", Domain: "acme.example.com", State: provision.StateReady, SSLMode: provision.SSLHTTP, DBRole: "prod-acme", User: "odoo-acme"},
		{Name: "legacy", Domain: "legacy.example.com", State: provision.StateReady, SSLMode: provision.SSLHTTP},
	})
	lines := strings.Split(got, "\n")
	if len(lines) != 4 {
		t.Fatalf("list:\n%s\nwant a header, two instances and a last line about the shared role", got)
	}
	if strings.Contains(lines[1], "odoobot's role") {
		t.Errorf("acme, with its own role, is marked: %q", lines[1])
	}
	if !strings.HasSuffix(lines[2], "on odoobot's role") {
		t.Errorf("legacy, on odoobot's role, is not marked: %q", lines[2])
	}
	if !strings.HasPrefix(lines[3], "1 imported instance is still on odoobot's own database role") || !strings.Contains(lines[3], "odoobot isolate NAME --yes") {
		t.Errorf("the last line %q does not say how many share odoobot's role and how to isolate them", lines[3])
	}
}
