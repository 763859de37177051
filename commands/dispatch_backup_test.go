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
	out := FormatBackups("prod-acme", []provision.BackupInfo{
		{Manifest: provision.Manifest{ID: "20261127T030000Z", Reason: "scheduled"}, Intact: true, VerifiedAt: at},
		{Manifest: provision.Manifest{ID: "20261126T030000Z", Reason: "scheduled"}, Damaged: "database.dump", Problem: "database.dump: checksum mismatch (sha256 1234, the manifest says abcd)"},
	})
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
