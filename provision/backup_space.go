package provision

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ErrBackupNoSpace is returned, before anything is written, when the
// file system of BACKUP_DIR has less free space than a backup is
// estimated to need.
var ErrBackupNoSpace = errors.New("not enough free space for the backup")

// FreeSpaceFunc returns the bytes free to unprivileged users on the file
// system holding path (statfs(2)'s f_bavail × f_bsize).
type FreeSpaceFunc func(path string) (uint64, error)

// backupSpareBytes is kept free beyond a backup's estimate, so that a
// backup never fills the disk the instances write to.
const backupSpareBytes = 256 << 20

// BackupEstimate is the space a backup of a database of dbSize bytes
// (pg_database_size) and a filestore of filestoreSize bytes is counted
// for: their sum plus a tenth, plus backupSpareBytes. A custom-format
// dump is compressed and usually much smaller than the database; the
// filestore's attachments are mostly compressed already, so the archive
// is about their size.
func BackupEstimate(dbSize, filestoreSize uint64) uint64 {
	sum := dbSize + filestoreSize
	return sum + sum/10 + backupSpareBytes
}

// StatfsFree is the FreeSpaceFunc of the real host: statfs(2) of path,
// or of its nearest existing parent when path does not exist yet.
func StatfsFree(path string) (uint64, error) {
	dir := filepath.Clean(path)
	for {
		if _, err := os.Stat(dir); err == nil || dir == "/" || dir == "." {
			break
		}
		dir = filepath.Dir(dir)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("free space of %s: %w", dir, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// treeSize is the sum of the sizes of the regular files under dir; 0
// when dir does not exist.
func treeSize(dir string) (uint64, error) {
	var n uint64
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if !e.Type().IsRegular() {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		n += uint64(info.Size())
		return nil
	})
	return n, err
}

// checkSpace estimates the backup (pg_database_size of the instance's
// database and the size of its filestore, see BackupEstimate) and
// refuses it, with both numbers, when BACKUP_DIR's file system has less
// free space. It runs before the backup writes anything.
func (b *backupRun) checkSpace(ctx context.Context) error {
	dbSize, err := b.d.pg.databaseSize(ctx, b.inst.Internal)
	if err != nil {
		return fmt.Errorf("backup: size of database %s: %w", b.inst.Internal, err)
	}
	fsDir := filepath.Join(b.paths.DataDir, "filestore", b.inst.Internal)
	fsSize, err := treeSize(fsDir)
	if err != nil {
		return fmt.Errorf("backup: size of the filestore %s: %w", fsDir, err)
	}
	free, err := b.d.bcfg.freeSpace()(b.d.bcfg.Dir)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	need := BackupEstimate(dbSize, fsSize)
	if free < need {
		return fmt.Errorf("%w: a backup of %s needs about %s (database %s, filestore %s, and a margin) but %s has %s free: free space there, remove old backups, or point BACKUP_DIR at a larger disk",
			ErrBackupNoSpace, b.inst.Internal, byteSize(need), byteSize(dbSize), byteSize(fsSize), b.d.bcfg.Dir, byteSize(free))
	}
	return nil
}

// freeSpace is the configured FreeSpaceFunc, StatfsFree by default.
func (c BackupConfig) freeSpace() FreeSpaceFunc {
	if c.FreeSpace != nil {
		return c.FreeSpace
	}
	return StatfsFree
}

// databaseSize is pg_database_size of db, in bytes.
func (p pgTools) databaseSize(ctx context.Context, db string) (uint64, error) {
	var n int64
	if err := p.queryRow(ctx, "SELECT pg_database_size($1::name)", []any{db}, &n); err != nil {
		return 0, fmt.Errorf("size of database %q: %w", db, err)
	}
	return uint64(n), nil
}

// byteSize renders n bytes for people: 1.5 GiB, 320.0 MiB, 12.0 KiB.
func byteSize(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
