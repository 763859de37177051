package provision_test

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
	"odoobot/provision"
	"odoobot/provision/backups"
	"odoobot/provision/postgres"
	"odoobot/provision/tree"
)

// dayTwo is the Service over the real backups driver in root, and
// pg (nil for tests that never reach PostgreSQL).
func dayTwo(cfg provision.Config, root string, r provision.Retention, store *backups.Dir, pg provision.Postgres) *provision.Service {
	if cfg.Rules.Zone == "" {
		cfg.Rules = provision.NameRules{Zone: "example.com"}
	}
	if store == nil {
		store = &backups.Dir{Root: root}
	}
	return provision.NewService(cfg, provision.BackupConfig{Dir: root, Retention: r, Store: store, Postgres: pg})
}

// fakeBackup writes a complete backup directory with one dump file.
func fakeBackup(t *testing.T, instDir, id, content string) provision.BackupInfo {
	t.Helper()
	return fakeBackupFor(t, instDir, id, content, provision.ReasonManual)
}

// fakeBackupFor is fakeBackup with the manifest's reason.
func fakeBackupFor(t *testing.T, instDir, id, content, reason string) provision.BackupInfo {
	t.Helper()
	dir := filepath.Join(instDir, id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, provision.DumpName), []byte(content), 0o600)
	f, err := backups.HashFile(dir, provision.DumpName)
	if err != nil {
		t.Fatal(err)
	}
	m := provision.Manifest{Format: 1, ID: id, Instance: "acme", Database: "prod-acme", Reason: reason, Files: []provision.BackupFile{f}}
	raw, _ := json.Marshal(m)
	os.WriteFile(filepath.Join(dir, backups.ManifestName), raw, 0o600)
	bi, err := backups.Read(dir)
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
	d := dayTwo(provision.Config{}, root, provision.Retention{Daily: 3, Safety: 1, Final: 1}, nil, nil)
	inst := filepath.Join(root, "prod-acme")
	var ids []string
	for i := range 5 {
		id := "2026112" + strconv.Itoa(i) + "T030000Z"
		reason := provision.ReasonManual
		if i == 0 {
			reason = provision.ReasonSafety // the oldest: kept by its own count
		}
		fakeBackupFor(t, inst, id, "dump "+id, reason)
		ids = append(ids, id)
	}
	os.MkdirAll(filepath.Join(inst, ".20261130T030000Z.partial"), 0o700)
	acme := provision.Instance{Name: "acme", Internal: "prod-acme"}
	if err := d.Retain(context.Background(), acme); err != nil {
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

	if b, err := d.FindBackup(acme, ids[4]); err != nil || b.ID != ids[4] || !b.Intact {
		t.Errorf("findBackup(%s) = %s intact %v, %v", ids[4], b.ID, b.Intact, err)
	}
	for _, id := range []string{"../prod-other/x", ids[1], ".20261130T030000Z.partial", ""} {
		if _, err := d.FindBackup(acme, id); !errors.Is(err, provision.ErrBackupNotFound) {
			t.Errorf("findBackup(%q): %v, want ErrBackupNotFound", id, err)
		}
	}
	os.WriteFile(filepath.Join(inst, ids[4], provision.DumpName), []byte("cut"), 0o600)
	if _, err := d.FindBackup(acme, ids[4]); !errors.Is(err, provision.ErrBackupCorrupt) || !strings.Contains(err.Error(), "bytes") {
		t.Errorf("findBackup of a truncated backup: %v, want ErrBackupCorrupt saying its size", err)
	}
}

// TestBackupsListingVerifiesChecksums: the listing verifies every
// checksum at the Service's clock and records when; a dump with one byte
// flipped (same size) is listed damaged, naming the file, and a restore
// of it is refused by its verify step.
func TestBackupsListingVerifiesChecksums(t *testing.T) {
	root := t.TempDir()
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	d := dayTwo(provision.Config{Now: func() time.Time { return now }}, root, provision.Retention{}, nil, nil)
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
	if _, err := os.Stat(filepath.Join(b.Dir, backups.VerificationName)); err != nil {
		t.Errorf("no verification recorded: %v", err)
	}

	// One byte flipped by a write: size kept, modification time moves.
	now = now.Add(time.Hour)
	p := filepath.Join(b.Dir, provision.DumpName)
	st, _ := os.Stat(p)
	raw, _ := os.ReadFile(p)
	raw[3] ^= 0x20
	if err := os.WriteFile(p, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(p, st.ModTime().Add(time.Second), st.ModTime().Add(time.Second))
	list, _ = d.Backups(context.Background(), "acme")
	if got := list[0]; got.ID != b.ID || got.Intact || got.Damaged != provision.DumpName || !strings.Contains(got.Problem, "checksum mismatch") || !got.VerifiedAt.Equal(now) {
		t.Errorf("flipped dump listed as intact %v damaged %q problem %q verified %v; want DAMAGED %s now", got.Intact, got.Damaged, got.Problem, got.VerifiedAt, provision.DumpName)
	}
	if got := list[1]; !got.Intact {
		t.Errorf("the untouched older backup is listed damaged: %s", got.Problem)
	}
	if err := d.RestoreVerify(context.Background(), provision.Instance{Name: "acme", Internal: "prod-acme"}, b); !errors.Is(err, provision.ErrBackupCorrupt) {
		t.Errorf("restore's verify of the flipped dump: %v, want ErrBackupCorrupt", err)
	}
}

// TestBackupRefusedWithoutSpace backs up a real database to a BACKUP_DIR
// whose file system (a fake statfs) has too little space: refused before
// anything is written, naming what it needs and what is free. With
// enough space the check passes, and the real statfs answers for a
// BACKUP_DIR that does not exist yet.
func TestBackupRefusedWithoutSpace(t *testing.T) {
	ctx := context.Background()
	u, err := url.Parse(testenv.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	pw, _ := u.User.Password()
	pg := postgres.Admin{DB: provision.DBConn{Host: u.Hostname(), Port: port, User: u.User.Username(), Password: pw}}
	db := strings.TrimPrefix(u.Path, "/")
	dbSize, err := pg.Size(ctx, db)
	if err != nil || dbSize < 1<<20 {
		t.Fatalf("pg_database_size of %s = %d, %v; want a few MiB", db, dbSize, err)
	}

	root := t.TempDir()
	layout := provision.Layout{ProdRoot: root}
	inst := provision.Instance{Name: "acme", Internal: db}
	store := filepath.Join(layout.Paths(inst).DataDir, "filestore", db, "ab")
	os.MkdirAll(store, 0o750)
	os.WriteFile(filepath.Join(store, "abcdef"), make([]byte, 300<<10), 0o640)
	os.WriteFile(filepath.Join(store, "abcdf0"), make([]byte, 100<<10), 0o640)
	dir := filepath.Join(root, "backups")

	var asked []string
	free := uint64(200 << 20)
	fake := func(path string) (uint64, error) { asked = append(asked, path); return free, nil }
	shelf := &backups.Dir{Root: dir, FreeSpace: fake}
	d := dayTwo(provision.Config{Host: provision.Host{Files: tree.New(layout)}, Layout: layout}, dir, provision.Retention{}, shelf, pg)

	_, err = d.TakeBackup(ctx, inst, provision.ReasonManual)
	if !errors.Is(err, provision.ErrBackupNoSpace) {
		t.Fatalf("backup with 200 MiB free: %v, want ErrBackupNoSpace", err)
	}
	need := backups.Estimate(dbSize, 400<<10)
	for _, want := range []string{provision.ByteSize(need), provision.ByteSize(dbSize), "filestore 400.0 KiB", "200.0 MiB free", dir} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	if len(asked) != 1 || asked[0] != dir {
		t.Errorf("free space asked of %q, want BACKUP_DIR %s", asked, dir)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused backup wrote into BACKUP_DIR: %v", err)
	}

	free = need
	if err := d.CheckBackupSpace(ctx, inst); err != nil {
		t.Errorf("check with exactly the estimate free: %v", err)
	}

	// The real statfs, on a BACKUP_DIR not made yet: its parent's file system.
	shelf.FreeSpace = nil
	real, err := backups.StatfsFree(filepath.Join(dir, "not", "yet"))
	if err != nil || real == 0 {
		t.Fatalf("StatfsFree of a path not made yet: %d, %v", real, err)
	}
	if err := d.CheckBackupSpace(ctx, inst); real >= need+(64<<20) && err != nil {
		t.Errorf("check on the real file system (%s free): %v", provision.ByteSize(real), err)
	} else if real < need && !errors.Is(err, provision.ErrBackupNoSpace) {
		t.Errorf("check on the real file system (%s free, %s needed): %v, want a refusal", provision.ByteSize(real), provision.ByteSize(need), err)
	}
}

// refusingReleases fails the test when anything asks it for a release.
type refusingReleases struct{ t *testing.T }

func (r refusingReleases) Ensure(context.Context, func(string)) (provision.Release, error) {
	r.t.Error("a backup asked the release builder for a release; it must record the instance's own")
	return provision.Release{Key: "head", Commit: "ffffffffffffffffffffffffffffffffffffffff"}, nil
}

// TestBackupManifestRecordsTheInstancesRelease: the manifest says the
// release the instance recorded, never the builder's, and "unknown" for
// an instance that records none.
func TestBackupManifestRecordsTheInstancesRelease(t *testing.T) {
	root := t.TempDir()
	now := time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)
	d := dayTwo(provision.Config{Host: provision.Host{Releases: refusingReleases{t}}, Now: func() time.Time { return now }}, root, provision.Retention{}, nil, nil)
	pinned := provision.ReleaseRecord{Key: "0123456789abcdef", Repo: "file:///srv/odoo", Commit: "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
		Python: "/usr/bin/python3.11", Deps: "debian"}
	for _, tc := range []struct {
		name   string
		rel    provision.ReleaseRecord
		commit string
	}{
		{"acme", pinned, pinned.Commit},
		{"legacy", provision.ReleaseRecord{}, "unknown"},
	} {
		id, err := d.SealEmptyBackup(context.Background(), provision.Instance{Name: tc.name, Internal: "prod-" + tc.name, Release: tc.rel})
		if err != nil {
			t.Fatalf("%s: seal: %v", tc.name, err)
		}
		raw, err := os.ReadFile(filepath.Join(root, "prod-"+tc.name, id, backups.ManifestName))
		if err != nil {
			t.Fatal(err)
		}
		var m provision.Manifest
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

// TestBackupSpaceFollowsNoLink: a tenant that puts a link in place of
// its data dir, to a tree laid out like its own, makes the backup's
// space check count nothing there: the backup is refused for the link
// (nothing written), never sized by what the link points to.
func TestBackupSpaceFollowsNoLink(t *testing.T) {
	ctx := context.Background()
	u, err := url.Parse(testenv.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	pw, _ := u.User.Password()
	pg := postgres.Admin{DB: provision.DBConn{Host: u.Hostname(), Port: port, User: u.User.Username(), Password: pw}}
	db := strings.TrimPrefix(u.Path, "/")

	root := t.TempDir()
	layout := provision.Layout{ProdRoot: root}
	inst := provision.Instance{Name: "acme", Internal: db}
	decoy := filepath.Join(t.TempDir(), "elsewhere")
	os.MkdirAll(filepath.Join(decoy, "filestore", db), 0o750)
	// A sparse file: a terabyte counted, none written.
	if err := os.WriteFile(filepath.Join(decoy, "filestore", db, "huge"), nil, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(decoy, "filestore", db, "huge"), 1<<40); err != nil {
		t.Fatal(err)
	}
	dataDir := layout.Paths(inst).DataDir
	os.MkdirAll(filepath.Dir(dataDir), 0o750)
	if err := os.Symlink(decoy, dataDir); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "backups")
	shelf := &backups.Dir{Root: dir, FreeSpace: func(string) (uint64, error) { return 1 << 30, nil }}
	d := dayTwo(provision.Config{Host: provision.Host{Files: tree.New(layout)}, Layout: layout}, dir, provision.Retention{}, shelf, pg)

	err = d.CheckBackupSpace(ctx, inst)
	if err == nil || errors.Is(err, provision.ErrBackupNoSpace) || strings.Contains(err.Error(), "GiB") {
		t.Errorf("space check of a data dir that is a link: %v; want the link refused, nothing counted behind it", err)
	}
	if _, err := d.TakeBackup(ctx, inst, provision.ReasonManual); err == nil {
		t.Errorf("a backup through a link in place of the data dir was made")
	}
	if list, _ := d.Backups(ctx, "acme"); len(list) != 0 {
		t.Errorf("a backup through a link is listed: %v", list)
	}
}
