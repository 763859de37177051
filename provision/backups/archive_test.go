package backups

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

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
	if err := WriteTarGz(ctx, filepath.Dir(src), filepath.Base(src), arc); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "out")
	if err := ExtractTarGz(ctx, arc, dst, os.Getuid(), os.Getgid()); err != nil {
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
	if err := WriteTarGz(ctx, src, "missing", empty); err != nil {
		t.Fatalf("archive of a missing filestore: %v", err)
	}
	out := filepath.Join(t.TempDir(), "e")
	if err := ExtractTarGz(ctx, empty, out, os.Getuid(), os.Getgid()); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("an empty archive extracted %v", entries)
	}
}
