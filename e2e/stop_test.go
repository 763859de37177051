package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"odoobot/internal/app"
)

// fastWatch is the environment of a serve whose watcher checks every
// second and alerts at the first failure.
var fastWatch = []string{"WATCH_INTERVAL=1s", "WATCH_FAILURES=1", "WATCH_DISK_FREE_MB=1"}

// isEnabled is `systemctl is-enabled unit`.
func isEnabled(unit string) string {
	out, _ := exec.Command("systemctl", "is-enabled", unit).Output()
	return strings.TrimSpace(string(out))
}

// TestStopOnPurposeSurvivesRestarts: `odoobot stop` keeps the instance
// stopped: its unit is disabled at boot, a new `serve` with a fast
// watcher raises no alert for it and `status` says who stopped it and
// when; `start` enables and runs it again, and status says nothing of
// the stop any more.
func TestStopOnPurposeSurvivesRestarts(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	inst := createReady(t, ctx, a, uniqueName(t, "stop"))
	if out := runOK(t, ctx, env, "stop", inst.Name); !strings.Contains(out, "stays stopped") {
		t.Errorf("stop does not say the instance stays stopped:\n%s", out)
	}
	if got := isEnabled(inst.Unit); got != "disabled" {
		t.Errorf("after stop, systemctl is-enabled %s = %q, want disabled", inst.Unit, got)
	}
	// Three rounds of the watcher.
	out := serveBriefly(t, ctx, env, fastWatch, "", 4*time.Second, func(string) bool { return false })
	if strings.Contains(out, "instance "+inst.Name) {
		t.Errorf("a restarted serve alerted about %s, stopped on purpose:\n%s", inst.Name, out)
	}
	if out := runOK(t, ctx, env, "status", inst.Name); !strings.Contains(out, "stopped  on purpose by") {
		t.Errorf("status does not say the instance was stopped on purpose:\n%s", out)
	}

	runOK(t, ctx, env, "start", inst.Name)
	if got := isEnabled(inst.Unit); got != "enabled" {
		t.Errorf("after start, systemctl is-enabled %s = %q, want enabled", inst.Unit, got)
	}
	if out := runOK(t, ctx, env, "status", inst.Name); strings.Contains(out, "on purpose") {
		t.Errorf("status after start still speaks of the stop:\n%s", out)
	}
	requireAnswers(t, ctx, inst)
}

// TestMaintenanceSilencesAlerts: an instance whose service dies behind
// odoobot's back raises no alert while a maintenance window is open
// (status shows the window, who opened it and why); once `maintenance
// NAME off` ended it, the next serve alerts.
func TestMaintenanceSilencesAlerts(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	inst := createReady(t, ctx, a, uniqueName(t, "mnt"))
	if out := runOK(t, ctx, env, "maintenance", inst.Name, "30m", "moving", "the", "disk"); !strings.Contains(out, "alerts are silenced") {
		t.Errorf("maintenance does not say the alerts are silenced:\n%s", out)
	}
	if out, err := exec.Command("systemctl", "stop", inst.Unit).CombinedOutput(); err != nil {
		t.Fatalf("systemctl stop %s: %v\n%s", inst.Unit, err, out)
	}
	if out := runOK(t, ctx, env, "status", inst.Name); !strings.Contains(out, "maintenance until") || !strings.Contains(out, "moving the disk") {
		t.Errorf("status does not show the maintenance window:\n%s", out)
	}
	failing := "instance " + inst.Name + " is failing"
	alerted := func(out string) bool { return strings.Contains(out, failing) }
	if out := serveBriefly(t, ctx, env, fastWatch, "", 5*time.Second, alerted); alerted(out) {
		t.Errorf("serve alerted about %s during its maintenance window:\n%s", inst.Name, out)
	}
	if out := runOK(t, ctx, env, "maintenance", inst.Name, "off"); !strings.Contains(out, "maintenance ended") {
		t.Errorf("maintenance off:\n%s", out)
	}
	if out := serveBriefly(t, ctx, env, fastWatch, "", 5*time.Second, alerted); !alerted(out) {
		t.Errorf("serve did not alert about %s once its maintenance ended:\n%s", inst.Name, out)
	}
}
