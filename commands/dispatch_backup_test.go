package commands

import (
	"strings"
	"testing"
	"time"

	"odoobot/provision"
)

// TestFormatBackupsSaysVerifiedOrDamaged: each backup's line says when
// its checksums were verified, or that it is damaged and which file.
func TestFormatBackupsSaysVerifiedOrDamaged(t *testing.T) {
	at := time.Date(2026, 11, 27, 9, 5, 0, 0, time.UTC)
	out := FormatBackups("prod-acme", provision.BackupListing{Backups: []provision.ListedBackup{
		{Local: true, BackupInfo: provision.BackupInfo{Manifest: provision.Manifest{ID: "20261127T030000Z", Reason: "scheduled"}, Intact: true, VerifiedAt: at}},
		{Local: true, BackupInfo: provision.BackupInfo{Manifest: provision.Manifest{ID: "20261126T030000Z", Reason: "scheduled"}, Damaged: "database.dump", Problem: "database.dump: checksum mismatch (sha256 1234, the manifest says abcd)"}},
	}})
	lines := strings.Split(out, "\n")
	if len(lines) < 4 {
		t.Fatalf("listing:\n%s", out)
	}
	if l := lines[2]; !strings.HasPrefix(l, "20261127T030000Z") || !strings.Contains(l, "verified 2026-11-27 09:05 UTC") {
		t.Errorf("verified backup's line %q", l)
	}
	if l := lines[3]; !strings.HasPrefix(l, "20261126T030000Z") || !strings.Contains(l, "DAMAGED: database.dump: checksum mismatch") || strings.Contains(l, "verified") {
		t.Errorf("damaged backup's line %q", l)
	}
}

// TestFormatBackupsSaysWhereEachIs: the listing names each backup's
// places, a backup kept only offsite included, and says when the
// offsite copies are unknown or when there is no offsite repository.
func TestFormatBackupsSaysWhereEachIs(t *testing.T) {
	copyOf := func(id string) *provision.OffsiteCopy { return &provision.OffsiteCopy{Snapshot: "ab12", Backup: id} }
	out := FormatBackups("prod-acme", provision.BackupListing{Offsite: true, Backups: []provision.ListedBackup{
		{Local: true, Copy: copyOf("20261127T030000Z"), BackupInfo: provision.BackupInfo{Manifest: provision.Manifest{ID: "20261127T030000Z", Reason: "scheduled"}, Intact: true}},
		{Local: true, BackupInfo: provision.BackupInfo{Manifest: provision.Manifest{ID: "20261126T030000Z", Reason: "manual"}, Intact: true}},
		{Copy: copyOf("20261101T030000Z"), BackupInfo: provision.BackupInfo{Manifest: provision.Manifest{ID: "20261101T030000Z", Reason: "scheduled"}}},
	}})
	lines := strings.Split(out, "\n")
	for i, want := range []string{"local,offsite", "local ", "offsite"} {
		if l := lines[2+i]; !strings.Contains(l, want) {
			t.Errorf("line %q does not say %q", l, want)
		}
	}
	if l := lines[4]; !strings.Contains(l, "checked when fetched back") || !strings.Contains(l, " - ") {
		t.Errorf("offsite-only line %q", l)
	}
	out = FormatBackups("prod-acme", provision.BackupListing{Offsite: true, OffsiteProblem: "offsite: no answer", Backups: []provision.ListedBackup{
		{Local: true, BackupInfo: provision.BackupInfo{Manifest: provision.Manifest{ID: "20261127T030000Z", Reason: "scheduled"}, Intact: true}},
	}})
	if !strings.Contains(out, "offsite copies unknown: offsite: no answer") {
		t.Errorf("listing does not say the offsite copies are unknown:\n%s", out)
	}
	out = FormatBackups("prod-acme", provision.BackupListing{Backups: []provision.ListedBackup{
		{Local: true, BackupInfo: provision.BackupInfo{Manifest: provision.Manifest{ID: "20261127T030000Z", Reason: "scheduled"}, Intact: true}},
	}})
	if !strings.Contains(out, "on this server only") {
		t.Errorf("listing without offsite does not say so:\n%s", out)
	}
}
