package atomicfile

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// names lists dir, hidden files included.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// TestWriteReplacesWithExactMode: the file holds the new content with
// the mode asked for, whatever the umask and the mode of the file it
// replaces, and nothing else is left in the directory.
func TestWriteReplacesWithExactMode(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)

	dir := t.TempDir()
	p := filepath.Join(dir, "odoo.conf")
	if err := os.WriteFile(p, []byte("db_password = old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		content string
		mode    os.FileMode
	}{
		{"[options]\none\n", 0o644}, // wider than the umask and the old file allow
		{"[options]\ntwo\n", 0o640}, // narrower than the file it replaces
		{"", 0o600},
	} {
		if err := Write(p, []byte(step.content), step.mode); err != nil {
			t.Fatalf("Write(%v): %v", step.mode, err)
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != step.content {
			t.Errorf("content = %q, want %q", got, step.content)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != step.mode {
			t.Errorf("mode = %v, want %v", fi.Mode(), step.mode)
		}
		if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != os.Geteuid() || int(st.Gid) != os.Getegid() {
			t.Errorf("owner = %d:%d, want the process's %d:%d", st.Uid, st.Gid, os.Geteuid(), os.Getegid())
		}
	}
	if got := names(t, dir); !slices.Equal(got, []string{"odoo.conf"}) {
		t.Errorf("files in the directory: %q, want only odoo.conf", got)
	}
}

// TestWriteIsARename: a reader that opened the file before the write
// still reads the old content whole; the new content is a new file.
func TestWriteIsARename(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "site.conf")
	if err := os.WriteFile(p, []byte("old content\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := Write(p, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "old content\n" {
		t.Errorf("a reader of the old file reads %q, want the old content whole", got)
	}
	if now, _ := os.ReadFile(p); string(now) != "new" {
		t.Errorf("the file holds %q, want %q", now, "new")
	}
}

// TestWriteFailures: a missing directory is not created; a target that
// cannot be replaced stays as it was; either way no temporary file is
// left and the error names the target.
func TestWriteFailures(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing", "x.service")
	err := Write(missing, []byte("x"), 0o644)
	if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("write into a missing directory: %v, want an error naming %s and no such file", err, missing)
	}
	if _, err := os.Stat(filepath.Dir(missing)); !os.IsNotExist(err) {
		t.Errorf("the missing directory was created: %v", err)
	}

	busy := filepath.Join(dir, "busy")
	if err := os.MkdirAll(filepath.Join(busy, "inside"), 0o755); err != nil {
		t.Fatal(err)
	}
	err = Write(busy, []byte("x"), 0o644)
	if err == nil || !strings.Contains(err.Error(), busy) {
		t.Errorf("write over a non-empty directory: %v, want an error naming %s", err, busy)
	}
	if fi, err := os.Stat(busy); err != nil || !fi.IsDir() {
		t.Errorf("the directory written over is gone or changed: %v", err)
	}
	if got := names(t, dir); !slices.Equal(got, []string{"busy"}) {
		t.Errorf("files left in the directory: %q, want only busy", got)
	}
}
