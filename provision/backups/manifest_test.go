package backups

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"odoobot/provision"
)

// fakeBackup writes a complete backup directory instDir/id with one dump
// file holding content, and its manifest.
func fakeBackup(t *testing.T, instDir, id, content string) provision.BackupInfo {
	t.Helper()
	dir := filepath.Join(instDir, id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, provision.DumpName), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := HashFile(dir, provision.DumpName)
	if err != nil {
		t.Fatal(err)
	}
	m := provision.Manifest{Format: 1, ID: id, Instance: "acme", Database: "prod-acme", Reason: provision.ReasonManual, Files: []provision.BackupFile{f}}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestName), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHashFile: the manifest entry of a file is its name, its size and
// the SHA-256 of its content.
func TestHashFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x"), []byte("abc"), 0o600)
	got, err := HashFile(dir, "x")
	want := provision.BackupFile{Name: "x", Size: 3, SHA256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}
	if err != nil || got != want {
		t.Errorf("HashFile = %+v, %v; want %+v", got, err, want)
	}
	if _, err := HashFile(dir, "missing"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("HashFile of a missing file: %v, want not exist", err)
	}
}

// TestListReadAndVerify: backups are listed newest first, half-made ones
// and directories without a manifest are not listed; a changed byte is
// caught by Verify but not by Read's size check, a truncated file by
// both.
func TestListReadAndVerify(t *testing.T) {
	inst := filepath.Join(t.TempDir(), "prod-acme")
	if list, err := List(inst); err != nil || len(list) != 0 {
		t.Errorf("List of a directory not made yet = %v, %v; want none", list, err)
	}
	ids := []string{"20261125T030000Z", "20261127T030000Z", "20261126T030000Z", "20261127T030000Z-1"}
	for _, id := range ids {
		fakeBackup(t, inst, id, "dump "+id)
	}
	os.MkdirAll(filepath.Join(inst, ".20261130T030000Z.partial"), 0o700)
	os.MkdirAll(filepath.Join(inst, "not-a-backup"), 0o700)
	list, err := List(inst)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range list {
		got = append(got, b.ID)
		if !b.Intact || b.Dir != filepath.Join(inst, b.ID) {
			t.Errorf("backup %s listed intact %v in %s", b.ID, b.Intact, b.Dir)
		}
	}
	if diff := cmp.Diff(got, []string{"20261127T030000Z-1", "20261127T030000Z", "20261126T030000Z", "20261125T030000Z"}); diff != "" {
		t.Errorf("listing (-got +want):\n%s", diff)
	}

	b := list[0]
	if err := Verify(b); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	p := filepath.Join(b.Dir, provision.DumpName)
	raw, _ := os.ReadFile(p)
	raw[0] ^= 1
	os.WriteFile(p, raw, 0o600)
	if again, _ := Read(b.Dir); !again.Intact {
		t.Errorf("a same-size change made the listing say damaged: %s", again.Problem)
	}
	err = Verify(b)
	if !errors.Is(err, provision.ErrBackupCorrupt) || !strings.Contains(err.Error(), "checksum mismatch") || !strings.Contains(err.Error(), provision.DumpName+" of backup "+b.ID) {
		t.Errorf("Verify of a changed dump: %v, want a checksum mismatch naming the file and the backup", err)
	}
	os.WriteFile(p, raw[:3], 0o600)
	if again, _ := Read(b.Dir); again.Intact || !strings.Contains(again.Problem, provision.DumpName) {
		t.Errorf("a truncated dump is listed as intact")
	}
	os.Remove(p)
	if again, _ := Read(b.Dir); again.Intact || again.Problem != provision.DumpName+" is missing" {
		t.Errorf("a missing dump: intact %v, problem %q", again.Intact, again.Problem)
	}

	noDump := b
	noDump.Files = nil
	if err := Verify(noDump); !errors.Is(err, provision.ErrBackupCorrupt) || !strings.Contains(err.Error(), "missing from the manifest") {
		t.Errorf("Verify of a manifest without a dump: %v, want provision.ErrBackupCorrupt", err)
	}
}
