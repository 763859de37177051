package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"odoobot/provision"
	"odoobot/provision/systemd"
)

// The systemd tests (TestSystemd*) drive provision/systemd's Manager
// against the sandbox's systemd with throwaway units named
// odoobot-test-<random>.service under systemdUnitDir, removed when each
// test ends.

// systemdUnitDir is where the test writes its units, as the product does.
const systemdUnitDir = "/etc/systemd/system"

// newSystemdManager connects to the sandbox's systemd and closes the
// connection when the test ends.
func newSystemdManager(t *testing.T) *systemd.Manager {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(systemdLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m, err := systemd.New(ctx, log)
	if err != nil {
		t.Fatalf("systemd.New: %v", err)
	}
	t.Cleanup(m.Close)
	return m
}

// testUnit returns a fresh unit name and its path under systemdUnitDir,
// removed (unit and file) when the test ends.
func testUnit(t *testing.T, m *systemd.Manager) (name, path string) {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name = "odoobot-test-" + hex.EncodeToString(b) + ".service"
	path = filepath.Join(systemdUnitDir, name)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := m.Remove(ctx, path); err != nil {
			t.Errorf("cleanup: remove %s: %v", name, err)
		}
		os.Remove(path)
	})
	return name, path
}

func TestSystemdLifecycle(t *testing.T) {
	needSandbox(t)
	m := newSystemdManager(t)
	unit, path := testUnit(t, m)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	content := []byte(`[Unit]
Description=odoobot e2e test service

[Service]
Type=simple
ExecStart=/bin/sh -c 'echo started; exec sleep 600'
Restart=no

[Install]
WantedBy=multi-user.target
`)
	if err := m.Install(ctx, path, content); err != nil {
		t.Fatalf("Install: %v", err)
	}
	if err := m.Install(ctx, path, content); err != nil {
		t.Fatalf("Install again: %v", err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != string(content) {
		t.Fatalf("unit file = %q, %v; want the content installed", got, err)
	}
	if fi, _ := os.Stat(path); fi == nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("unit file mode = %v, want 0644", fi)
	}
	if _, err := os.Lstat(filepath.Join(systemdUnitDir, "multi-user.target.wants", unit)); err != nil {
		t.Errorf("unit not enabled: %v", err)
	}
	st, err := m.Status(ctx, unit)
	if err != nil {
		t.Fatalf("Status after install: %v", err)
	}
	if !st.Loaded || st.ActiveState != "inactive" || st.MainPID != 0 || !st.Since.IsZero() {
		t.Errorf("status after install = %+v, want loaded, inactive, no PID, no since", st)
	}

	before := time.Now()
	if err := m.Start(ctx, unit); err != nil {
		t.Fatalf("Start: %v", err)
	}
	st, err = m.Status(ctx, unit)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if !st.Running() || st.SubState != "running" || st.MainPID == 0 || st.MemoryBytes == 0 {
		t.Errorf("status after start = %+v, want active/running with a PID and memory", st)
	}
	if st.Since.Before(before.Add(-2*time.Second)) || st.Since.After(time.Now()) {
		t.Errorf("Since = %v, want between %v and now", st.Since, before)
	}
	if b, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(st.MainPID), 10) + "/cmdline"); err != nil || !strings.Contains(string(b), "sleep") {
		t.Errorf("main PID %d runs %q (%v), want sleep", st.MainPID, b, err)
	}

	lines := waitJournal(t, m, unit, "started")
	if len(lines) > 20 {
		t.Errorf("Journal(20) gave %d lines", len(lines))
	}

	if err := m.Restart(ctx, unit); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	st2, err := m.Status(ctx, unit)
	if err != nil {
		t.Fatalf("Status after restart: %v", err)
	}
	if !st2.Running() || st2.MainPID == 0 || st2.MainPID == st.MainPID {
		t.Errorf("status after restart = %+v, want active with a new PID (old %d)", st2, st.MainPID)
	}

	if err := m.Stop(ctx, unit); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	st, err = m.Status(ctx, unit)
	if err != nil {
		t.Fatalf("Status after stop: %v", err)
	}
	if st.Running() || st.ActiveState != "inactive" || st.MainPID != 0 || !st.Since.IsZero() {
		t.Errorf("status after stop = %+v, want inactive without PID", st)
	}
	if err := m.Stop(ctx, unit); err != nil {
		t.Errorf("Stop a stopped unit: %v", err)
	}

	if err := m.Start(ctx, unit); err != nil {
		t.Fatalf("Start again: %v", err)
	}
	if err := m.Remove(ctx, path); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unit file after Remove: %v, want it gone", err)
	}
	if _, err := os.Lstat(filepath.Join(systemdUnitDir, "multi-user.target.wants", unit)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("enablement link after Remove: %v, want it gone", err)
	}
	st, err = m.Status(ctx, unit)
	if err != nil {
		t.Fatalf("Status after remove: %v", err)
	}
	if st.Loaded || st.Running() || st.MainPID != 0 {
		t.Errorf("status after remove = %+v, want not loaded, not running", st)
	}
	if err := m.Remove(ctx, path); err != nil {
		t.Errorf("Remove again: %v", err)
	}
	if err := m.Start(ctx, unit); err == nil {
		t.Errorf("Start of a removed unit succeeded")
	}
}

func TestSystemdStartFailure(t *testing.T) {
	needSandbox(t)
	m := newSystemdManager(t)
	unit, path := testUnit(t, m)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	content := []byte(`[Unit]
Description=odoobot e2e test service that fails

[Service]
ExecStart=/bin/sh -c 'echo about to fail; exec /bin/false'
Restart=no
`)
	if err := m.Install(ctx, path, content); err != nil {
		t.Fatalf("Install: %v", err)
	}
	err := m.Start(ctx, unit)
	if err == nil {
		t.Fatal("Start of a unit whose ExecStart fails succeeded")
	}
	var ue *systemd.UnitError
	if !errors.As(err, &ue) {
		t.Fatalf("Start error %v is not a *systemd.UnitError", err)
	}
	msg := err.Error()
	t.Logf("Start error, as an operator would read it:\n%s", msg)
	for _, want := range []string{unit, "failed", "exit-code"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Start error does not mention %q:\n%s", want, msg)
		}
	}
	if ue.ActiveState != "failed" {
		t.Errorf("ActiveState = %q, want failed", ue.ActiveState)
	}
	// Typed at the driver's edge: broken, said in words with where to
	// look, which is what chat shows.
	if pe, ok := provision.AsError(err); !ok || pe.Kind != provision.KindBroken ||
		!strings.Contains(pe.Explain(), "did not start") || !strings.Contains(pe.Explain(), "journalctl -u "+unit) {
		t.Errorf("Start error is not typed broken with where to look: %#v", pe)
	}
	if !strings.Contains(msg, "about to fail") {
		t.Logf("journal line not yet in the error (journald may lag):\n%s", msg)
		waitJournal(t, m, unit, "about to fail")
	}
	st, err := m.Status(ctx, unit)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if st.Running() || st.ActiveState != "failed" {
		t.Errorf("status = %+v, want failed", st)
	}
	if err := m.Restart(ctx, unit); err == nil || !strings.Contains(err.Error(), "failed") {
		t.Errorf("Restart of a failing unit: %v, want an error mentioning failed", err)
	}
	if err := m.Remove(ctx, path); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	st, err = m.Status(ctx, unit)
	if err != nil {
		t.Fatalf("Status after remove: %v", err)
	}
	if st.Loaded || st.ActiveState == "failed" {
		t.Errorf("status after remove = %+v, want not loaded, failed state reset", st)
	}
}

func TestSystemdRejectsBadNames(t *testing.T) {
	needSandbox(t)
	m := newSystemdManager(t)
	ctx := context.Background()
	bad := "evil;reboot.service"
	if err := m.Start(ctx, bad); err == nil {
		t.Error("Start accepted an invalid unit name")
	}
	if _, err := m.Status(ctx, "sshd"); err == nil {
		t.Error("Status accepted a name without .service")
	}
	if _, err := m.Journal(ctx, "-f.service", 5); err == nil {
		t.Error("Journal accepted a name starting with -")
	}
	if err := m.Install(ctx, "/etc/systemd/system/x.target", []byte("[Unit]\n")); err == nil {
		t.Error("Install accepted a non-service unit")
	}
	if _, err := os.Stat("/etc/systemd/system/x.target"); err == nil {
		t.Error("Install wrote a file for a refused name")
	}
}

func TestSystemdReloadNginx(t *testing.T) {
	needSandbox(t)
	m := newSystemdManager(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before, err := m.Status(ctx, "nginx.service")
	if err != nil {
		t.Fatalf("Status nginx: %v", err)
	}
	if !before.Running() {
		t.Fatalf("nginx.service is not running in the sandbox: %+v", before)
	}
	if err := m.Reload(ctx, "nginx.service"); err != nil {
		t.Fatalf("Reload nginx: %v", err)
	}
	after, err := m.Status(ctx, "nginx.service")
	if err != nil {
		t.Fatalf("Status nginx: %v", err)
	}
	if !after.Running() || after.MainPID != before.MainPID {
		t.Errorf("after reload = %+v, want the same master PID %d still running", after, before.MainPID)
	}
}

// waitJournal polls the unit's last 20 journal lines until one contains
// want (journald may lag a little behind the process) and returns them.
func waitJournal(t *testing.T, m *systemd.Manager, unit, want string) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		lines, err := m.Journal(context.Background(), unit, 20)
		if err != nil {
			t.Fatalf("Journal: %v", err)
		}
		for _, l := range lines {
			if strings.Contains(l, want) {
				return lines
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("journal of %s has no line with %q:\n%s", unit, want, strings.Join(lines, "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// systemdLogWriter sends a logger's output to t.Log.
type systemdLogWriter struct{ t *testing.T }

func (w systemdLogWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestSystemdStartDiesSoon: a unit that dies within Start's watch (200
// ms) fails the Start; one that dies later is the health step's to
// notice (TestCreateFailureAtEachStep and the health tests).
func TestSystemdStartDiesSoon(t *testing.T) {
	needSandbox(t)
	m := newSystemdManager(t)
	unit, path := testUnit(t, m)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	content := []byte(`[Unit]
Description=odoobot e2e test service that dies after a moment

[Service]
ExecStart=/bin/sh -c 'echo starting; sleep 0.05; echo giving up; exit 3'
Restart=no
`)
	if err := m.Install(ctx, path, content); err != nil {
		t.Fatalf("Install: %v", err)
	}
	err := m.Start(ctx, unit)
	if err == nil || !strings.Contains(err.Error(), "failed") {
		t.Fatalf("Start of a unit that exits after 0.05 s, within the start's watch: %v, want an error mentioning failed", err)
	}
	t.Logf("Start error:\n%s", err)
}
