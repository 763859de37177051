package provision

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/internal/backup"
)

func TestNextDaily(t *testing.T) {
	at := 3 * time.Hour
	tests := []struct{ now, want string }{
		{"2026-11-27T02:59:59Z", "2026-11-27T03:00:00Z"},
		{"2026-11-27T03:00:00Z", "2026-11-28T03:00:00Z"},
		{"2026-11-27T23:00:00Z", "2026-11-28T03:00:00Z"},
		{"2026-12-31T12:00:00-05:00", "2027-01-01T03:00:00Z"},
	}
	for _, tt := range tests {
		now, _ := time.Parse(time.RFC3339, tt.now)
		if got := NextDaily(now, at).Format(time.RFC3339); got != tt.want {
			t.Errorf("NextDaily(%s) = %s, want %s", tt.now, got, tt.want)
		}
	}
}

// fakeBackup writes a complete backup directory with one dump file.
func fakeBackup(t *testing.T, instDir, id, content string) BackupInfo {
	t.Helper()
	return fakeBackupFor(t, instDir, id, content, ReasonManual)
}

// fakeBackupFor is fakeBackup with the manifest's reason.
func fakeBackupFor(t *testing.T, instDir, id, content, reason string) BackupInfo {
	t.Helper()
	dir := filepath.Join(instDir, id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, backup.DumpName), []byte(content), 0o600)
	b := &backupRun{partial: dir}
	if err := b.record(backup.DumpName); err != nil {
		t.Fatal(err)
	}
	m := Manifest{Format: 1, ID: id, Instance: "acme", Database: "prod-acme", Reason: reason, Files: b.files}
	raw, _ := json.Marshal(m)
	os.WriteFile(filepath.Join(dir, backup.ManifestName), raw, 0o600)
	bi, err := backup.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	return bi
}

// TestBackupRetentionAndFind: after a backup, retention keeps the newest
// 3 days and the safety backup its own count allows, and removes a
// half-made backup; the listing shows what is left, newest first; a
// backup id that is a path is not found.
func TestBackupRetentionAndFind(t *testing.T) {
	root := t.TempDir()
	d := &DayTwo{Creator: NewCreator(CreatorConfig{Rules: NameRules{Zone: "example.com"}}), bcfg: BackupConfig{Dir: root, Retention: Retention{Daily: 3, Safety: 1, Final: 1}}}
	inst := filepath.Join(root, "prod-acme")
	var ids []string
	for i := range 5 {
		id := "2026112" + strconv.Itoa(i) + "T030000Z"
		reason := ReasonManual
		if i == 0 {
			reason = ReasonSafety // the oldest: kept by its own count
		}
		fakeBackupFor(t, inst, id, "dump "+id, reason)
		ids = append(ids, id)
	}
	os.MkdirAll(filepath.Join(inst, ".20261130T030000Z.partial"), 0o700)
	run := &backupRun{d: d, inst: Instance{Name: "acme", Internal: "prod-acme"}}
	if err := run.retain(context.Background()); err != nil {
		t.Fatal(err)
	}
	list, err := d.Backups(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range list {
		got = append(got, b.ID)
	}
	if diff := cmp.Diff(got, []string{ids[4], ids[3], ids[2], ids[0]}); diff != "" {
		t.Errorf("after retention (-got +want):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(inst, ".20261130T030000Z.partial")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a half-made backup survived retention: %v", err)
	}

	acme := Instance{Name: "acme", Internal: "prod-acme"}
	if b, err := d.findBackup(acme, ids[4]); err != nil || b.ID != ids[4] || !b.Intact {
		t.Errorf("findBackup(%s) = %s intact %v, %v", ids[4], b.ID, b.Intact, err)
	}
	for _, id := range []string{"../prod-other/x", ids[1], ".20261130T030000Z.partial", ""} {
		if _, err := d.findBackup(acme, id); !errors.Is(err, ErrBackupNotFound) {
			t.Errorf("findBackup(%q): %v, want ErrBackupNotFound", id, err)
		}
	}
	os.WriteFile(filepath.Join(inst, ids[4], backup.DumpName), []byte("cut"), 0o600)
	if _, err := d.findBackup(acme, ids[4]); !errors.Is(err, ErrBackupCorrupt) || !strings.Contains(err.Error(), "bytes") {
		t.Errorf("findBackup of a truncated backup: %v, want ErrBackupCorrupt saying its size", err)
	}
}

// TestBackupsListingVerifiesChecksums: the listing verifies every
// checksum at the Creator's clock and records when; a dump with one byte
// flipped (same size) is listed damaged, naming the file, and a restore
// of it is refused by its verify step.
func TestBackupsListingVerifiesChecksums(t *testing.T) {
	root := t.TempDir()
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	d := &DayTwo{Creator: NewCreator(CreatorConfig{Rules: NameRules{Zone: "example.com"}, Now: func() time.Time { return now }}), bcfg: BackupConfig{Dir: root}}
	inst := filepath.Join(root, "prod-acme")
	fakeBackup(t, inst, "20261126T030000Z", "an older dump")
	b := fakeBackup(t, inst, "20261127T030000Z", "the dump of the day")

	list, err := d.Backups(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("listed %d backups, want 2", len(list))
	}
	for _, x := range list {
		if !x.Intact || x.Damaged != "" || !x.VerifiedAt.Equal(now) {
			t.Errorf("fresh backup %s: intact %v damaged %q verified %v, want intact and verified at %v", x.ID, x.Intact, x.Damaged, x.VerifiedAt, now)
		}
	}
	if _, err := os.Stat(filepath.Join(b.Dir, backup.VerificationName)); err != nil {
		t.Errorf("no verification recorded: %v", err)
	}

	// One byte flipped by a write: size kept, modification time moves.
	now = now.Add(time.Hour)
	p := filepath.Join(b.Dir, backup.DumpName)
	st, _ := os.Stat(p)
	raw, _ := os.ReadFile(p)
	raw[3] ^= 0x20
	if err := os.WriteFile(p, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(p, st.ModTime().Add(time.Second), st.ModTime().Add(time.Second))
	list, _ = d.Backups(context.Background(), "acme")
	if got := list[0]; got.ID != b.ID || got.Intact || got.Damaged != backup.DumpName || !strings.Contains(got.Problem, "checksum mismatch") || !got.VerifiedAt.Equal(now) {
		t.Errorf("flipped dump listed as intact %v damaged %q problem %q verified %v; want DAMAGED %s now", got.Intact, got.Damaged, got.Problem, got.VerifiedAt, backup.DumpName)
	}
	if got := list[1]; !got.Intact {
		t.Errorf("the untouched older backup is listed damaged: %s", got.Problem)
	}
	r := d.restoreRun(Instance{Name: "acme", Internal: "prod-acme"}, b, "tester")
	if err := r.verify(context.Background()); !errors.Is(err, ErrBackupCorrupt) {
		t.Errorf("restore's verify of the flipped dump: %v, want ErrBackupCorrupt", err)
	}
}
