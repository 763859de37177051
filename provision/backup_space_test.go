package provision

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"odoobot/internal/backup"
	"odoobot/internal/testenv"
)

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
	pg := backup.PG{DB: backup.Conn{Host: u.Hostname(), Port: port, User: u.User.Username(), Password: pw}}
	db := strings.TrimPrefix(u.Path, "/")
	dbSize, err := pg.Size(ctx, db)
	if err != nil || dbSize < 1<<20 {
		t.Fatalf("pg_database_size of %s = %d, %v; want a few MiB", db, dbSize, err)
	}

	root := t.TempDir()
	data := filepath.Join(root, "data")
	store := filepath.Join(data, "filestore", db, "ab")
	os.MkdirAll(store, 0o750)
	os.WriteFile(filepath.Join(store, "abcdef"), make([]byte, 300<<10), 0o640)
	os.WriteFile(filepath.Join(store, "abcdf0"), make([]byte, 100<<10), 0o640)
	backups := filepath.Join(root, "backups")

	var asked []string
	free := uint64(200 << 20)
	fake := func(path string) (uint64, error) { asked = append(asked, path); return free, nil }
	d := &DayTwo{Creator: NewCreator(CreatorConfig{}), bcfg: BackupConfig{Dir: backups, FreeSpace: fake}, pg: pg}
	run := &backupRun{d: d, inst: Instance{Name: "acme", Internal: db}, paths: Paths{DataDir: data}, reason: ReasonManual}

	_, err = run.take(ctx)
	if !errors.Is(err, ErrBackupNoSpace) {
		t.Fatalf("backup with 200 MiB free: %v, want ErrBackupNoSpace", err)
	}
	need := backup.Estimate(dbSize, 400<<10)
	for _, want := range []string{backup.ByteSize(need), backup.ByteSize(dbSize), "filestore 400.0 KiB", "200.0 MiB free", backups} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	if len(asked) != 1 || asked[0] != backups {
		t.Errorf("free space asked of %q, want BACKUP_DIR %s", asked, backups)
	}
	if _, err := os.Stat(backups); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused backup wrote into BACKUP_DIR: %v", err)
	}

	free = need
	if err := run.checkSpace(ctx); err != nil {
		t.Errorf("check with exactly the estimate free: %v", err)
	}

	// The real statfs, on a BACKUP_DIR not made yet: its parent's file system.
	d.bcfg.FreeSpace = nil
	real, err := backup.StatfsFree(filepath.Join(backups, "not", "yet"))
	if err != nil || real == 0 {
		t.Fatalf("StatfsFree of a path not made yet: %d, %v", real, err)
	}
	if err := run.checkSpace(ctx); real >= need+(64<<20) && err != nil {
		t.Errorf("check on the real file system (%s free): %v", backup.ByteSize(real), err)
	} else if real < need && !errors.Is(err, ErrBackupNoSpace) {
		t.Errorf("check on the real file system (%s free, %s needed): %v, want a refusal", backup.ByteSize(real), backup.ByteSize(need), err)
	}
}
