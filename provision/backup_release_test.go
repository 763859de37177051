package provision

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"odoobot/internal/backup"
)

// refusingReleases fails the test when anything asks it for a release.
type refusingReleases struct{ t *testing.T }

func (r refusingReleases) Ensure(context.Context, func(string)) (Release, error) {
	r.t.Error("a backup asked the release builder for a release; it must record the instance's own")
	return Release{Key: "head", Commit: "ffffffffffffffffffffffffffffffffffffffff"}, nil
}

// TestBackupManifestRecordsTheInstancesRelease: the manifest says the
// release the instance recorded, never the builder's, and "unknown" for
// an instance that records none.
func TestBackupManifestRecordsTheInstancesRelease(t *testing.T) {
	root := t.TempDir()
	d := &DayTwo{Creator: NewCreator(CreatorConfig{Rules: NameRules{Zone: "example.com"}, Releases: refusingReleases{t}}),
		bcfg: BackupConfig{Dir: root}}
	pinned := ReleaseRecord{Key: "0123456789abcdef", Repo: "file:///srv/odoo", Commit: "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
		Python: "/usr/bin/python3.11", Deps: "debian"}
	for _, tc := range []struct {
		name   string
		rel    ReleaseRecord
		commit string
	}{
		{"acme", pinned, pinned.Commit},
		{"legacy", ReleaseRecord{}, "unknown"},
	} {
		partial := filepath.Join(root, "prod-"+tc.name, ".20261130T030000Z.partial")
		if err := os.MkdirAll(partial, 0o700); err != nil {
			t.Fatal(err)
		}
		b := &backupRun{d: d, inst: Instance{Name: tc.name, Internal: "prod-" + tc.name, Release: tc.rel},
			id: "20261130T030000Z", partial: partial, reason: ReasonManual}
		if err := b.seal(context.Background()); err != nil {
			t.Fatalf("%s: seal: %v", tc.name, err)
		}
		raw, err := os.ReadFile(filepath.Join(root, "prod-"+tc.name, "20261130T030000Z", backup.ManifestName))
		if err != nil {
			t.Fatal(err)
		}
		var m Manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		if m.OdooRelease != tc.commit {
			t.Errorf("%s: manifest odoo_release = %q, want %q", tc.name, m.OdooRelease, tc.commit)
		}
		switch {
		case tc.rel.Known() && (m.Release == nil || *m.Release != tc.rel):
			t.Errorf("%s: manifest release = %+v, want %+v", tc.name, m.Release, tc.rel)
		case !tc.rel.Known() && m.Release != nil:
			t.Errorf("%s: manifest release = %+v, want none", tc.name, m.Release)
		}
	}
}
