package backups

import (
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"odoobot/provision"
)

// TestEstimate: the sum of database and filestore, a tenth more, and the
// spare bytes.
func TestEstimate(t *testing.T) {
	if got, want := Estimate(1000<<20, 24<<20), uint64(1024<<20+1024<<20/10+spareBytes); got != want {
		t.Errorf("Estimate(1000 MiB, 24 MiB) = %d, want %d", got, want)
	}
	if got := Estimate(0, 0); got != spareBytes {
		t.Errorf("Estimate of nothing = %d, want the spare %d", got, spareBytes)
	}
}

// TestTreeSize counts the regular files of a tree, not what a link
// points to, and nothing for an empty one.
func TestTreeSize(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "ab"), 0o750)
	os.WriteFile(filepath.Join(dir, "ab", "one"), make([]byte, 300), 0o640)
	os.WriteFile(filepath.Join(dir, "two"), make([]byte, 100), 0o640)
	os.Symlink("two", filepath.Join(dir, "link"))
	if n, err := TreeSize(os.DirFS(dir)); err != nil || n != 400 {
		t.Errorf("TreeSize = %d, %v; want 400", n, err)
	}
	if n, err := TreeSize(fstest.MapFS{}); err != nil || n != 0 {
		t.Errorf("TreeSize of an empty tree = %d, %v; want 0", n, err)
	}
}

func TestByteSize(t *testing.T) {
	for n, want := range map[uint64]string{512: "512 B", 12 << 10: "12.0 KiB", 320 << 20: "320.0 MiB", 3 << 29: "1.5 GiB"} {
		if got := provision.ByteSize(n); got != want {
			t.Errorf("ByteSize(%d) = %q, want %q", n, got, want)
		}
	}
}
