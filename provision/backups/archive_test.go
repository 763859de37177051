package backups

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// TestTarRoundTrip archives a filestore and reads the archive back: the
// same files, the same content; an empty filestore gives an empty
// archive.
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
	if err := WriteTarGz(ctx, tenantFS(t, filepath.Dir(src), filepath.Base(src)), arc); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for name, body := range archived(t, arc) {
		if !strings.HasSuffix(name, "/") {
			got[name] = body
		}
	}
	if diff := cmp.Diff(got, files); diff != "" {
		t.Errorf("archived (-got +want):\n%s", diff)
	}

	empty := filepath.Join(t.TempDir(), "empty.tar.gz")
	if err := WriteTarGz(ctx, fstest.MapFS{}, empty); err != nil {
		t.Fatalf("archive of an empty filestore: %v", err)
	}
	if got := archived(t, empty); len(got) != 0 {
		t.Errorf("an empty filestore archived %v", got)
	}
}
