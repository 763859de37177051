package nofollow

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// A 300 MB log of one line, as a tenant can write it, costs odoobot no
// more than a few MiB to tail, and the line comes back cut, saying so.
func TestTailFileBoundsAHugeLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "odoo.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	const size = 300 << 20
	// Sparse: 300 MB of NUL bytes with no newline, then the line's end.
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("the end of the line\n"), size); err != nil {
		t.Fatal(err)
	}
	f.Close()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	lines := Tail(path, 50)
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("tailing a 300 MB single-line log allocated %.1f MiB", float64(alloc)/(1<<20))
	if alloc > 8<<20 {
		t.Errorf("tailing a 300 MB line allocated %d MiB; want at most 8", alloc>>20)
	}
	if len(lines) != 1 {
		t.Fatalf("got %d lines, want the one line", len(lines))
	}
	l := lines[0]
	if len(l) > MaxTailLine+200 || !strings.Contains(l, "line cut") || !strings.Contains(l, "not read") {
		t.Errorf("the line (%d bytes) is not cut with a note: %.200q…", len(l), l)
	}

	// odoobot's log handling: the failed health wait carries the same
	// bounded tail.
	allocs := testing.AllocsPerRun(3, func() { Tail(path, 10) })
	if allocs > 100 {
		t.Errorf("TailFile makes %.0f allocations per run", allocs)
	}
}

// Ordinary logs: the last n lines, long ones cut, a partial first line
// dropped when there are lines enough after it.
func TestTailFileLines(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "odoo.log")
	long := strings.Repeat("x", MaxTailLine+10)
	if err := os.WriteFile(path, []byte("one\ntwo\n"+long+"\nfour\n\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	got := Tail(path, 3)
	if len(got) != 3 || got[0] != "two" || got[2] != "four" || !strings.HasSuffix(got[1], "[… line cut: 10 more bytes]") || len(got[1]) > MaxTailLine+40 {
		t.Errorf("TailFile = %q", got)
	}
	if got := Tail(path, 10); len(got) != 4 || got[0] != "one" {
		t.Errorf("Tail(10) = %q", got)
	}
	big := strings.Repeat("y\n", MaxTailBytes) // 2 MiB of lines
	if err := os.WriteFile(path, []byte(big), 0o640); err != nil {
		t.Fatal(err)
	}
	if got := Tail(path, 5); len(got) != 5 || got[0] != "y" {
		t.Errorf("TailFile of many lines = %q", got)
	}
}

// The log is in a directory its tenant can write: a link or a FIFO put
// in its place is not followed nor waited on.
func TestTailFileRefusesLinksAndFIFOs(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("root's secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "odoo.log")
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	if got := Tail(link, 5); got != nil {
		t.Errorf("TailFile followed a link: %q", got)
	}
	// A link in place of the instance's directory is not followed either.
	inst := filepath.Join(dir, "prod-acme")
	if err := os.Symlink(dir, inst); err != nil {
		t.Fatal(err)
	}
	if got := Tail(filepath.Join(inst, "secret"), 5); got != nil {
		t.Errorf("TailFile followed a linked directory: %q", got)
	}
	fifo := filepath.Join(dir, "fifo.log")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := Tail(fifo, 5); got != nil {
		t.Errorf("TailFile of a FIFO = %q", got)
	}
}

// A small file of a tenant's tree is read whole only within its limit,
// never through a link.
func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "odoo.conf")
	if err := os.WriteFile(conf, []byte("[options]\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFile(conf, 100); err != nil || string(b) != "[options]\n" {
		t.Errorf("ReadTenantFile = %q, %v", b, err)
	}
	if _, err := ReadFile(conf, 5); err == nil || !strings.Contains(err.Error(), "larger than 5 bytes") {
		t.Errorf("a file over the limit: %v", err)
	}
	link := filepath.Join(dir, "info-instancia.txt")
	if err := os.Symlink(conf, link); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFile(link, 100); err == nil {
		t.Errorf("ReadTenantFile followed a link: %q", b)
	}
}

// Control characters a tenant writes (a terminal's escape sequences)
// reach no operator's terminal.
func TestTailFileHidesControlCharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "odoo.log")
	if err := os.WriteFile(path, []byte("INFO ok\tfine\n\x1b]0;owned\x07\x1b[2J\x00bad\xff\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	got := Tail(path, 2)
	if len(got) != 2 || got[0] != "INFO ok\tfine" || strings.ContainsAny(got[1], "\x1b\x07\x00") || !strings.HasSuffix(got[1], "bad\uFFFD") {
		t.Errorf("TailFile = %q", got)
	}
}
