package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"odoobot/internal/testenv"
)

// TestShippedUnitVerifies runs systemd-analyze verify on the unit shipped
// for odoobot itself, with its binary and env file at temporary paths.
func TestShippedUnitVerifies(t *testing.T) {
	analyze := testenv.LookPath(t, "systemd-analyze")
	b, err := os.ReadFile("../../deploy/odoobot.service")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin, env := filepath.Join(dir, "odoobot"), filepath.Join(dir, "odoobot.env")
	os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(env, []byte("CF_ZONE_NAME=example.com\n"), 0o600)
	unit := strings.NewReplacer("/usr/local/bin/odoobot", bin, "/etc/odoobot/odoobot.env", env).Replace(string(b))
	path := filepath.Join(dir, "odoobot.service")
	os.WriteFile(path, []byte(unit), 0o644)
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
