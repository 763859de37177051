package provision

import (
	"fmt"
	"io/fs"
	"sync"
)

// countingFS is a filestore's view that counts the regular files opened
// through it and their sizes, as a backup's archive takes them: the
// files and bytes the archive holds. Listing and stat go to the view
// itself, which keeps its own rules (no link followed).
type countingFS struct {
	fsys fs.FS

	mu           sync.Mutex
	files, bytes int64
}

// Open opens name in the view and counts it when it is a regular file.
func (c *countingFS) Open(name string) (fs.File, error) {
	f, err := c.fsys.Open(name)
	if err != nil {
		return f, err
	}
	if st, serr := f.Stat(); serr == nil && st.Mode().IsRegular() {
		c.mu.Lock()
		c.files++
		c.bytes += st.Size()
		c.mu.Unlock()
	}
	return f, nil
}

// ReadDir lists name in the view.
func (c *countingFS) ReadDir(name string) ([]fs.DirEntry, error) { return fs.ReadDir(c.fsys, name) }

// Stat is the view's.
func (c *countingFS) Stat(name string) (fs.FileInfo, error) { return fs.Stat(c.fsys, name) }

// treeCount counts the regular files of fsys and their sizes, as its
// listing reports them (a link is not followed).
func treeCount(fsys fs.FS) (files, bytes int64, err error) {
	err = fs.WalkDir(fsys, ".", func(_ string, e fs.DirEntry, err error) error {
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
		files++
		bytes += info.Size()
		return nil
	})
	return files, bytes, err
}

// ByteSize renders n bytes for people: 1.5 GiB, 320.0 MiB, 12.0 KiB,
// 512 B.
func ByteSize(n uint64) string {
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
