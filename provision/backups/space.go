package backups

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// FreeSpaceFunc returns the bytes free to unprivileged users on the file
// system holding path (statfs(2)'s f_bavail × f_bsize).
type FreeSpaceFunc func(path string) (uint64, error)

// spareBytes is kept free beyond a backup's estimate, so that a backup
// never fills the disk the instances write to.
const spareBytes = 256 << 20

// Estimate is the space a backup of a database of dbSize bytes
// (pg_database_size) and a filestore of filestoreSize bytes (TreeSize)
// is counted for: their sum plus a tenth, plus 256 MiB kept
// spare. A custom-format dump is compressed and usually much smaller than
// the database; the filestore's attachments are mostly compressed
// already, so the archive is about their size.
func Estimate(dbSize, filestoreSize uint64) uint64 {
	sum := dbSize + filestoreSize
	return sum + sum/10 + spareBytes
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

// TreeSize is the sum of the sizes of the regular files in fsys (as its
// listing reports them: a link is not followed).
func TreeSize(fsys fs.FS) (uint64, error) {
	var n uint64
	err := fs.WalkDir(fsys, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
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
