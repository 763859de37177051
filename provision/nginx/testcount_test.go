package nginx

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// countingBinary wraps the real nginx in a script that appends its
// arguments to a file before running it, and returns the script and a
// function counting the `-t` runs so far.
func countingBinary(t *testing.T, real string) (bin string, tests func() int) {
	t.Helper()
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	bin = filepath.Join(dir, "nginx")
	script := fmt.Sprintf("#!/bin/sh\necho \"$*\" >> %q\nexec %q \"$@\"\n", calls, real)
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, func() int {
		b, _ := os.ReadFile(calls)
		n := 0
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasSuffix(line, " -t") {
				n++
			}
		}
		return n
	}
}

// An install whose candidate configuration passed `nginx -t` does not
// test the same configuration again once written: each test parses every
// enabled site, so the second one doubled how an install grows with the
// number of sites. The site still answers, and a broken one is still
// refused before anything is touched.
func TestInstallTestsOnce(t *testing.T) {
	h := startNginx(t, false)
	ctx := context.Background()
	bin, tests := countingBinary(t, h.bin)
	cfg := h.sites.cfg
	cfg.Binary = bin
	sites := New(cfg)

	for i, name := range []string{"prod-one", "prod-two"} {
		s := site{name: name, host: name + ".example.test", b: startBackend(t, name)}
		before := tests()
		if err := sites.Install(ctx, s.name, s.text(h)); err != nil {
			t.Fatalf("Install %s: %v", name, err)
		}
		if got := tests() - before; got != 1 {
			t.Errorf("install %d ran nginx -t %d times, want 1 (the candidate)", i+1, got)
		}
		if err := sites.Verify(ctx, s.host, false, nil); err != nil {
			t.Errorf("Verify %s: %v", name, err)
		}
	}
	// The same content again: no candidate, the real configuration is
	// tested before the reload.
	before := tests()
	text, err := os.ReadFile(filepath.Join(h.avail, "prod-one"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sites.Install(ctx, "prod-one", text); err != nil {
		t.Fatalf("Install unchanged: %v", err)
	}
	if got := tests() - before; got != 1 {
		t.Errorf("unchanged install ran nginx -t %d times, want 1 (the real configuration)", got)
	}
	if err := sites.Install(ctx, "prod-bad", []byte("server { bogus_directive on; }\n")); err == nil {
		t.Fatal("a broken site was installed")
	}
	if _, err := os.Lstat(filepath.Join(h.enabled, "prod-bad")); err == nil {
		t.Error("a broken site was left enabled")
	}
}
