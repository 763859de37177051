package templates

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"odoobot/internal/unitsecurity"
)

// testUnit renders a unit whose ExecStart binary and paths exist under
// dir; withPython false leaves <Venv>/bin/python3 missing.
func testUnit(t *testing.T, s *Set, dir string, withPython bool) (path string) {
	t.Helper()
	venv := filepath.Join(dir, "release", "venv")
	release := filepath.Join(dir, "release", "src")
	inst := filepath.Join(dir, "prod", "prod-acme")
	for _, d := range []string{filepath.Join(venv, "bin"), release, inst, filepath.Join(dir, "units")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if withPython {
		if err := os.WriteFile(filepath.Join(venv, "bin", "python3"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(release, "odoo-bin"), []byte("# stand-in odoo-bin\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	u := acmeUnit()
	u.Venv, u.Release, u.Dir, u.Conf = venv, release, inst, filepath.Join(inst, "odoo.conf")
	b, err := s.Unit(u)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "units", u.Service)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// verify runs `systemd-analyze verify` on a unit file. On this machine
// (systemd 252, no systemd as PID 1) a valid unit produces no output at
// all, so nothing is filtered: any line (an unknown key, a bad value, a
// missing executable) counts against the unit. verify exits 0 on
// warnings such as unknown keys, hence the output check.
func verify(t *testing.T, unit string) ([]byte, error) {
	t.Helper()
	sa := lookPath(t, "systemd-analyze", "/usr/bin/systemd-analyze")
	cmd := exec.Command(sa, "verify", unit)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_LEVEL=notice", "SYSTEMD_LOG_COLOR=0")
	return cmd.CombinedOutput()
}

func TestUnitPassesSystemdAnalyzeVerify(t *testing.T) {
	s := mustLoad(t)
	unit := testUnit(t, s, t.TempDir(), true)
	out, err := verify(t, unit)
	if err != nil || len(out) > 0 {
		b, _ := os.ReadFile(unit)
		t.Fatalf("systemd-analyze verify: %v\n%s\nunit:\n%s", err, out, b)
	}
}

// TestSystemdAnalyzeVerifyCatchesErrors proves the check above can fail:
// a unit whose python3 is missing, and one with an unknown key.
func TestSystemdAnalyzeVerifyCatchesErrors(t *testing.T) {
	s := mustLoad(t)
	unit := testUnit(t, s, t.TempDir(), false)
	if out, err := verify(t, unit); err == nil && len(out) == 0 {
		t.Error("verify accepted a unit whose ExecStart binary is missing")
	}
	unit = testUnit(t, s, t.TempDir(), true)
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(b), "KillMode=mixed\n", "KillMode=mixed\nProtectEverything=yes\n", 1)
	if err := os.WriteFile(unit, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _ := verify(t, unit); !strings.Contains(string(out), "ProtectEverything") {
		t.Errorf("verify did not report an unknown key:\n%s", out)
	}
}

// TestUnitExposure rates the rendered instance unit with `systemd-analyze
// security --offline`: its sandbox must keep the exposure within
// unitsecurity.MaxExposure (an unsandboxed unit rates 9.6).
func TestUnitExposure(t *testing.T) {
	sa := lookPath(t, "systemd-analyze", "/usr/bin/systemd-analyze")
	unit := testUnit(t, mustLoad(t), t.TempDir(), true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := unitsecurity.Offline(ctx, sa, unit)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: exposure %.1f", r.Unit, r.Exposure)
	if r.OverThreshold() {
		t.Errorf("%s rates %.1f, above %.1f:\n%s", r.Unit, r.Exposure, unitsecurity.MaxExposure, r.Output)
	}
}
