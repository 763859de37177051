package commands

import (
	"strings"
	"testing"
	"time"

	"odoobot/provision"
)

// TestFormatBackupsSaysRestoreTested: backups shows "restore-tested
// <when>" for a drilled backup, and a failed drill in capitals with what
// failed.
func TestFormatBackupsSaysRestoreTested(t *testing.T) {
	at := time.Date(2026, 12, 7, 14, 30, 0, 0, time.UTC)
	b := func(id string, d *provision.DrillOutcome) provision.ListedBackup {
		return provision.ListedBackup{Local: true, Drill: d, BackupInfo: provision.BackupInfo{Intact: true, VerifiedAt: at,
			Manifest: provision.Manifest{ID: id, Reason: provision.ReasonScheduled}}}
	}
	out := FormatBackups("prod-acme", provision.BackupListing{Backups: []provision.ListedBackup{
		b("20261207T030000Z", &provision.DrillOutcome{Backup: "20261207T030000Z", At: at, OK: true}),
		b("20261206T030000Z", &provision.DrillOutcome{Backup: "20261206T030000Z", At: at, Failed: "step compare: res_partner: 13 rows recorded, 12 restored"}),
		b("20261205T030000Z", nil),
	}})
	lines := strings.Split(out, "\n")
	for i, want := range map[int]string{
		2: "restore-tested 2026-12-07 14:30 UTC",
		3: "RESTORE TEST FAILED 2026-12-07 14:30 UTC: step compare: res_partner: 13 rows recorded, 12 restored",
	} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d %q does not say %q\n%s", i, lines[i], want, out)
		}
	}
	if strings.Contains(lines[4], "restore") {
		t.Errorf("an undrilled backup says %q", lines[4])
	}
}
