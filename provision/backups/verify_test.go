package backups

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"odoobot/provision"
)

// TestCheckVerifiesChecksums: Check verifies every checksum and
// records when; a dump with one byte flipped (same size)
// is listed damaged, naming the file; silent damage that keeps size and
// modification time is found once the verification is VerifyMaxAge old.
func TestCheckVerifiesChecksums(t *testing.T) {
	root := t.TempDir()
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	inst := filepath.Join(root, "prod-acme")
	// listed is what a listing shows: every backup, checked at now.
	listed := func() []provision.BackupInfo {
		t.Helper()
		list, err := List(inst)
		if err != nil {
			t.Fatal(err)
		}
		for i := range list {
			list[i] = Check(list[i], now)
		}
		return list
	}
	fakeBackup(t, inst, "20261126T030000Z", "an older dump")
	b := fakeBackup(t, inst, "20261127T030000Z", "the dump of the day")

	list := listed()
	for _, x := range list {
		if !x.Intact || x.Damaged != "" || !x.VerifiedAt.Equal(now) {
			t.Errorf("fresh backup %s: intact %v damaged %q verified %v, want intact and verified at %v", x.ID, x.Intact, x.Damaged, x.VerifiedAt, now)
		}
	}
	if _, err := os.Stat(filepath.Join(b.Dir, VerificationName)); err != nil {
		t.Errorf("no verification recorded: %v", err)
	}

	// A later listing reuses the verification while the files are as they were.
	later := now.Add(time.Hour)
	now = later
	list = listed()
	if got := list[0].VerifiedAt; !got.Equal(later.Add(-time.Hour)) {
		t.Errorf("unchanged backup verified at %v, want the recorded %v", got, later.Add(-time.Hour))
	}

	// One byte flipped by a write: size kept, modification time moves.
	p := filepath.Join(b.Dir, provision.DumpName)
	st, _ := os.Stat(p)
	raw, _ := os.ReadFile(p)
	raw[3] ^= 0x20
	if err := os.WriteFile(p, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(p, st.ModTime().Add(time.Second), st.ModTime().Add(time.Second))
	list = listed()
	if got := list[0]; got.ID != b.ID || got.Intact || got.Damaged != provision.DumpName || !strings.Contains(got.Problem, "checksum mismatch") || !got.VerifiedAt.Equal(now) {
		t.Errorf("flipped dump listed as intact %v damaged %q problem %q verified %v; want DAMAGED %s now", got.Intact, got.Damaged, got.Problem, got.VerifiedAt, provision.DumpName)
	}
	if got := list[1]; !got.Intact {
		t.Errorf("the untouched older backup is listed damaged: %s", got.Problem)
	}
	if err := Verify(list[0]); !errors.Is(err, provision.ErrBackupCorrupt) {
		t.Errorf("Verify of the listed damaged backup: %v, want provision.ErrBackupCorrupt", err)
	}

	// Put it right: verified intact again.
	raw[3] ^= 0x20
	os.WriteFile(p, raw, 0o600)
	list = listed()
	if !list[0].Intact {
		t.Errorf("repaired dump still listed damaged: %s", list[0].Problem)
	}

	// Silent damage (size and modification time kept) stands until the
	// verification is VerifyMaxAge old, then is found.
	st, _ = os.Stat(p)
	raw[0] ^= 1
	os.WriteFile(p, raw, 0o600)
	os.Chtimes(p, st.ModTime(), st.ModTime())
	if list = listed(); !list[0].Intact {
		t.Errorf("a recent verification was not reused: %s", list[0].Problem)
	}
	now = now.Add(VerifyMaxAge)
	if list = listed(); list[0].Intact || list[0].Damaged != provision.DumpName {
		t.Errorf("silent damage not found after VerifyMaxAge: intact %v damaged %q", list[0].Intact, list[0].Damaged)
	}

	// A truncated dump is damaged by its size, without hashing.
	os.WriteFile(p, raw[:3], 0o600)
	if list = listed(); list[0].Intact || list[0].Damaged != provision.DumpName || !strings.Contains(list[0].Problem, "bytes") {
		t.Errorf("truncated dump: intact %v damaged %q problem %q", list[0].Intact, list[0].Damaged, list[0].Problem)
	}
}

// TestMarkVerified: a backup marked verified when it was made is not
// hashed again by Check until VerifyMaxAge has passed; a file changed
// since (a new modification time) is.
func TestMarkVerified(t *testing.T) {
	made := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	b := fakeBackup(t, t.TempDir(), "20261127T030000Z", "the dump")
	if err := MarkVerified(b, made); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(b.Dir, provision.DumpName)
	st, _ := os.Stat(p)
	os.WriteFile(p, []byte("THE DUMP"), 0o600) // same size
	os.Chtimes(p, st.ModTime(), st.ModTime())
	if got := Check(b, made.Add(time.Hour)); !got.Intact || !got.VerifiedAt.Equal(made) {
		t.Errorf("Check an hour later: intact %v verified %v (%s); want the mark, intact at %v", got.Intact, got.VerifiedAt, got.Problem, made)
	}
	os.Chtimes(p, st.ModTime().Add(time.Second), st.ModTime().Add(time.Second))
	if got := Check(b, made.Add(2*time.Hour)); got.Intact || got.Damaged != provision.DumpName || !got.VerifiedAt.Equal(made.Add(2*time.Hour)) {
		t.Errorf("Check of a changed file: intact %v damaged %q verified %v; want damaged, verified now", got.Intact, got.Damaged, got.VerifiedAt)
	}
}
