package commands

import (
	"strings"
	"testing"

	"odoobot/provision"
)

func TestFormatListShowsEachRelease(t *testing.T) {
	got := FormatList([]provision.Instance{
		{Name: "acme", Domain: "acme.example.com", State: provision.StateReady, SSLMode: provision.SSLHTTP,
			Release: provision.ReleaseRecord{Key: "k1", Repo: "r", Commit: "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"}},
		{Name: "old", Domain: "old.example.com", State: provision.StateReady, SSLMode: provision.SSLCloudflare},
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
