package e2e

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"odoobot/internal/app"
	"odoobot/provision"
)

// systemdCgroup is the cgroup path of pid in systemd's own hierarchy: the
// name=systemd line of /proc/PID/cgroup on a cgroup v1 layout, the
// unified (0::) one on cgroup v2.
func systemdCgroup(t *testing.T, pid uint32) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/cgroup")
	if err != nil {
		t.Fatalf("cgroup of the main PID %d: %v", pid, err)
	}
	var unified string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		_, rest, _ := strings.Cut(sc.Text(), ":")
		ctl, path, _ := strings.Cut(rest, ":")
		switch ctl {
		case "name=systemd":
			return path
		case "":
			unified = path
		}
	}
	if unified == "" {
		t.Fatalf("no systemd cgroup for PID %d in:\n%s", pid, b)
	}
	return unified
}

// busyInUnit starts a busy loop as the instance's Unix user and moves it
// into the instance unit's cgroup, as a process the instance started
// would be (a module's code spawning a worker); it is killed when the
// test ends.
func busyInUnit(t *testing.T, ctx context.Context, a *app.App, inst provision.Instance) {
	t.Helper()
	st, err := a.Services.Status(ctx, inst.Unit)
	if err != nil || st.MainPID == 0 {
		t.Fatalf("status of %s: %+v, %v; want a main PID", inst.Unit, st, err)
	}
	cg := systemdCgroup(t, st.MainPID)
	u, err := user.Lookup(inst.User)
	if err != nil {
		t.Fatalf("the instance's user %s: %v", inst.User, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	cmd := exec.Command("sh", "-c", "while :; do :; done")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start a busy loop as %s: %v", inst.User, err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	moved := 0
	for _, h := range []string{"systemd", "unified", ""} {
		procs := filepath.Join("/sys/fs/cgroup", h, cg, "cgroup.procs")
		if _, err := os.Stat(procs); err != nil {
			continue
		}
		if err := os.WriteFile(procs, []byte(strconv.Itoa(cmd.Process.Pid)), 0); err != nil {
			t.Fatalf("move the busy loop into %s: %v", procs, err)
		}
		moved++
	}
	if moved == 0 {
		t.Fatalf("no cgroup.procs for %s under /sys/fs/cgroup", cg)
	}
}

// TestMetricsCPUOfBusyInstance runs `odoobot serve` with METRICS_EVERY=1s
// while a process of the instance (its user, its unit's cgroup) burns a
// core: the samples in the state database carry the unit's CPU time, in
// every sample, never going down, and rising by at least a tenth of a
// core between the first and the last (the idle stand-in uses next to
// none), although systemd counts no CPU on the sandbox host.
func TestMetricsCPUOfBusyInstance(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	name := uniqueName(t, "busy")
	inst := createReady(t, ctx, a, name)
	busyInUnit(t, ctx, a, inst)

	f := newSlackFake(t)
	bot := startServe(t, append(slackServeEnv(env, f, writeSlackAllowlist(t, env)), "METRICS_EVERY=1s"))
	f.waitConnected(t, bot)
	samples := waitSamples(t, ctx, a, name, 5)
	bot.stop(t)
	requireReadings(t, samples)
	for i := 1; i < len(samples); i++ {
		if p, c := samples[i-1].CPUNanos, samples[i].CPUNanos; p != nil && c != nil && *c < *p {
			t.Errorf("sample %d: CPU time %d ns, less than the previous sample's %d, with no restart", i, *c, *p)
		}
	}
	first, last := samples[0], samples[len(samples)-1]
	if first.CPUNanos == nil || last.CPUNanos == nil {
		t.Fatalf("no CPU time in the first or last of %d samples", len(samples))
	}
	dt := last.At.Sub(first.At)
	share := float64(*last.CPUNanos-*first.CPUNanos) / float64(dt)
	t.Logf("%d samples over %s: CPU time %d → %d ns, %.0f %% of a core", len(samples), dt, *first.CPUNanos, *last.CPUNanos, share*100)
	if dt <= 0 || share < 0.1 {
		t.Errorf("a busy loop in the unit for %s: its CPU time rose by %.0f %% of a core, want at least 10 %%", dt, share*100)
	}
}
