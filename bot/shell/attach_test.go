package shell_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"odoobot/bot/shell"
)

// TestAttachWritesTheFileAndPrintsItsPath: a terminal shows no picture:
// the PNG goes, whole, to a new file only its owner reads, and the line
// says what it is and where.
func TestAttachWritesTheFileAndPrintsItsPath(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	var out bytes.Buffer
	r := shell.NewResponder(&out)
	png := []byte("\x89PNG\r\n\x1a\n fake")
	if err := r.Attach(context.Background(), "acme-24h.png", png, "acme: the last 24 hours"); err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(out.String())
	prefix := "── acme: the last 24 hours: "
	if !strings.HasPrefix(line, prefix) || !strings.HasSuffix(line, "acme-24h.png") {
		t.Fatalf("printed %q, want the text alternative and the file's path", line)
	}
	path := strings.TrimPrefix(line, prefix)
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, png) {
		t.Errorf("%s holds %q (%v), want the PNG", path, got, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v (%v), want 0600", path, fi.Mode(), err)
	}
	if r.Refused() {
		t.Error("an attachment is not a refusal")
	}
}
