package provision

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/internal/testenv"
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

// TestTarRoundTrip archives a filestore and extracts it elsewhere: the
// same files, the same content; a missing filestore gives an empty one.
func TestTarRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	files := map[string]string{"ab/abcdef": "one", "cd/cdef01": "two", "top": ""}
	for name, text := range files {
		p := filepath.Join(src, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(text), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	arc := filepath.Join(t.TempDir(), "fs.tar.gz")
	if err := writeTarGz(ctx, src, arc); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "out")
	if err := extractTarGz(ctx, arc, dst, os.Getuid(), os.Getgid()); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	filepath.WalkDir(dst, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(dst, p)
			got[filepath.ToSlash(rel)] = string(b)
		}
		return err
	})
	if diff := cmp.Diff(got, files); diff != "" {
		t.Errorf("extracted (-got +want):\n%s", diff)
	}

	empty := filepath.Join(t.TempDir(), "empty.tar.gz")
	if err := writeTarGz(ctx, filepath.Join(src, "missing"), empty); err != nil {
		t.Fatalf("archive of a missing filestore: %v", err)
	}
	out := filepath.Join(t.TempDir(), "e")
	if err := extractTarGz(ctx, empty, out, os.Getuid(), os.Getgid()); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("an empty archive extracted %v", entries)
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
	os.WriteFile(filepath.Join(dir, backupDump), []byte(content), 0o600)
	b := &backupRun{partial: dir}
	if err := b.record(backupDump); err != nil {
		t.Fatal(err)
	}
	m := Manifest{Format: 1, ID: id, Instance: "acme", Database: "prod-acme", Reason: reason, Files: b.files}
	raw, _ := jsonMarshal(m)
	os.WriteFile(filepath.Join(dir, backupManifest), raw, 0o600)
	bi, err := readBackup(dir)
	if err != nil {
		t.Fatal(err)
	}
	return bi
}

// TestBackupListingRetentionAndVerify: backups are listed newest first,
// half-made ones are not listed, retention keeps the newest 3 days, and a
// changed byte is caught by VerifyBackup but not by the size check.
func TestBackupListingRetentionAndVerify(t *testing.T) {
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
	list, err := listBackups(inst)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range list {
		got = append(got, b.ID)
	}
	if diff := cmp.Diff(got, []string{ids[4], ids[3], ids[2], ids[1], ids[0]}); diff != "" {
		t.Errorf("listing (-got +want):\n%s", diff)
	}
	run := &backupRun{d: d, inst: Instance{Name: "acme", Internal: "prod-acme"}}
	if err := run.retain(context.Background()); err != nil {
		t.Fatal(err)
	}
	list, err = d.Backups(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, b := range list {
		got = append(got, b.ID)
	}
	if diff := cmp.Diff(got, []string{ids[4], ids[3], ids[2], ids[0]}); diff != "" {
		t.Errorf("after retention (-got +want):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(inst, ".20261130T030000Z.partial")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a half-made backup survived retention: %v", err)
	}

	b := list[0]
	if err := VerifyBackup(b); err != nil {
		t.Fatalf("VerifyBackup: %v", err)
	}
	p := filepath.Join(b.Dir, backupDump)
	raw, _ := os.ReadFile(p)
	raw[0] ^= 1
	os.WriteFile(p, raw, 0o600)
	if again, _ := readBackup(b.Dir); !again.Intact {
		t.Errorf("a same-size change made the listing say damaged: %s", again.Problem)
	}
	if err := VerifyBackup(b); !errors.Is(err, ErrBackupCorrupt) || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Errorf("VerifyBackup of a changed dump: %v, want a checksum mismatch", err)
	}
	os.WriteFile(p, raw[:3], 0o600)
	if again, _ := readBackup(b.Dir); again.Intact || !strings.Contains(again.Problem, backupDump) {
		t.Errorf("a truncated dump is listed as intact")
	}
	if _, err := d.findBackup(Instance{Name: "acme", Internal: "prod-acme"}, "../prod-other/x"); !errors.Is(err, ErrBackupNotFound) {
		t.Errorf("findBackup of a path outside: %v", err)
	}
}

// TestPGToolsDumpRestoreSwap dumps a real database, restores it beside
// itself and swaps the two by rename, as a restore does.
func TestPGToolsDumpRestoreSwap(t *testing.T) {
	ctx := context.Background()
	u, err := url.Parse(testenv.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	pw, _ := u.User.Password()
	pg := pgTools{db: DBConn{Host: u.Hostname(), Port: port, User: u.User.Username(), Password: pw}}
	if _, err := pg.path("pg_dump"); err != nil {
		testenv.Missing(t, err.Error())
	}
	db := strings.TrimPrefix(u.Path, "/")
	psql := func(dbname, q string) string {
		t.Helper()
		out, err := pg.run(ctx, "psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", dbname, "-c", q)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	psql(db, "CREATE TABLE t (v text); INSERT INTO t VALUES ('backed up')")
	file := filepath.Join(t.TempDir(), "db.dump")
	if err := pg.dump(ctx, db, file); err != nil {
		t.Fatal(err)
	}
	psql(db, "UPDATE t SET v = 'changed'")
	staging, old := db+"_restore", db+"_old"
	t.Cleanup(func() { pg.drop(ctx, staging); pg.drop(ctx, old) })
	if err := pg.restore(ctx, staging, "", file); err != nil {
		t.Fatal(err)
	}
	if err := pg.swap(ctx, db, old, staging); err != nil {
		t.Fatal(err)
	}
	if got := psql(db, "SELECT v FROM t"); got != "backed up" {
		t.Errorf("after the swap %s holds %q", db, got)
	}
	if got := psql(old, "SELECT v FROM t"); got != "changed" {
		t.Errorf("after the swap %s holds %q", old, got)
	}
	if ok, _ := pg.exists(ctx, staging); ok {
		t.Errorf("%s still exists after the swap", staging)
	}
	if err := pg.restore(ctx, staging, "", filepath.Join(t.TempDir(), "missing.dump")); err == nil {
		t.Errorf("restore of a missing dump succeeded")
	}
	if ok, _ := pg.exists(ctx, staging); ok {
		t.Errorf("a failed restore left %s", staging)
	}
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// TestBackupsListingVerifiesChecksums: the listing verifies every
// checksum and records when; a dump with one byte flipped (same size)
// is listed damaged, naming the file; silent damage that keeps size and
// modification time is found once the verification is VerifyMaxAge old.
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
	for _, x := range list {
		if !x.Intact || x.Damaged != "" || !x.VerifiedAt.Equal(now) {
			t.Errorf("fresh backup %s: intact %v damaged %q verified %v, want intact and verified at %v", x.ID, x.Intact, x.Damaged, x.VerifiedAt, now)
		}
	}
	if _, err := os.Stat(filepath.Join(b.Dir, backupVerification)); err != nil {
		t.Errorf("no verification recorded: %v", err)
	}

	// A later listing reuses the verification while the files are as they were.
	later := now.Add(time.Hour)
	now = later
	list, _ = d.Backups(context.Background(), "acme")
	if got := list[0].VerifiedAt; !got.Equal(later.Add(-time.Hour)) {
		t.Errorf("unchanged backup verified at %v, want the recorded %v", got, later.Add(-time.Hour))
	}

	// One byte flipped by a write: size kept, modification time moves.
	p := filepath.Join(b.Dir, backupDump)
	st, _ := os.Stat(p)
	raw, _ := os.ReadFile(p)
	raw[3] ^= 0x20
	if err := os.WriteFile(p, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(p, st.ModTime().Add(time.Second), st.ModTime().Add(time.Second))
	list, _ = d.Backups(context.Background(), "acme")
	if got := list[0]; got.ID != b.ID || got.Intact || got.Damaged != backupDump || !strings.Contains(got.Problem, "checksum mismatch") || !got.VerifiedAt.Equal(now) {
		t.Errorf("flipped dump listed as intact %v damaged %q problem %q verified %v; want DAMAGED %s now", got.Intact, got.Damaged, got.Problem, got.VerifiedAt, backupDump)
	}
	if got := list[1]; !got.Intact {
		t.Errorf("the untouched older backup is listed damaged: %s", got.Problem)
	}
	if err := VerifyBackup(list[0]); !errors.Is(err, ErrBackupCorrupt) {
		t.Errorf("VerifyBackup of the listed damaged backup: %v, want ErrBackupCorrupt", err)
	}

	// Put it right: verified intact again.
	raw[3] ^= 0x20
	os.WriteFile(p, raw, 0o600)
	list, _ = d.Backups(context.Background(), "acme")
	if !list[0].Intact {
		t.Errorf("repaired dump still listed damaged: %s", list[0].Problem)
	}

	// Silent damage (size and modification time kept) stands until the
	// verification is VerifyMaxAge old, then is found.
	st, _ = os.Stat(p)
	raw[0] ^= 1
	os.WriteFile(p, raw, 0o600)
	os.Chtimes(p, st.ModTime(), st.ModTime())
	if list, _ = d.Backups(context.Background(), "acme"); !list[0].Intact {
		t.Errorf("a recent verification was not reused: %s", list[0].Problem)
	}
	now = now.Add(VerifyMaxAge)
	if list, _ = d.Backups(context.Background(), "acme"); list[0].Intact || list[0].Damaged != backupDump {
		t.Errorf("silent damage not found after VerifyMaxAge: intact %v damaged %q", list[0].Intact, list[0].Damaged)
	}

	// A truncated dump is damaged by its size, without hashing.
	os.WriteFile(p, raw[:3], 0o600)
	if list, _ = d.Backups(context.Background(), "acme"); list[0].Intact || list[0].Damaged != backupDump || !strings.Contains(list[0].Problem, "bytes") {
		t.Errorf("truncated dump: intact %v damaged %q problem %q", list[0].Intact, list[0].Damaged, list[0].Problem)
	}
}
