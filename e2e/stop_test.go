package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"odoobot/internal/app"
)

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
	bin := odoobotBin(t)
	run := func(args ...string) string {
		t.Helper()
		out, err := env.command(ctx, bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("odoobot %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out := run("stop", inst.Name); !strings.Contains(out, "stays stopped") {
		t.Errorf("stop does not say the instance stays stopped:\n%s", out)
	}
	if out, _ := exec.Command("systemctl", "is-enabled", inst.Unit).Output(); strings.TrimSpace(string(out)) != "disabled" {
		t.Errorf("after stop, systemctl is-enabled %s = %q, want disabled", inst.Unit, out)
	}

	serve := env.command(ctx, bin, "serve")
	serve.Env = append(serve.Env, "WATCH_INTERVAL=1s", "WATCH_FAILURES=1", "WATCH_DISK_FREE_MB=1")
	stdin, err := serve.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	serve.Stdout, serve.Stderr = &out, &out
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second) // three rounds of the watcher
	stdin.Close()
	if err := serve.Wait(); err != nil {
		t.Errorf("serve: %v", err)
	}
	if strings.Contains(out.String(), inst.Name+" is failing") || strings.Contains(out.String(), "instance "+inst.Name) {
		t.Errorf("a restarted serve alerted about %s, stopped on purpose:\n%s", inst.Name, out.String())
	}
	if out := run("status", inst.Name); !strings.Contains(out, "stopped  on purpose by") {
		t.Errorf("status does not say the instance was stopped on purpose:\n%s", out)
	}

	run("start", inst.Name)
	if out, _ := exec.Command("systemctl", "is-enabled", inst.Unit).Output(); strings.TrimSpace(string(out)) != "enabled" {
		t.Errorf("after start, systemctl is-enabled %s = %q, want enabled", inst.Unit, out)
	}
	if out := run("status", inst.Name); strings.Contains(out, "on purpose") {
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
	bin := odoobotBin(t)
	run := func(args ...string) string {
		t.Helper()
		out, err := env.command(ctx, bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("odoobot %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out := run("maintenance", inst.Name, "30m", "moving", "the", "disk"); !strings.Contains(out, "alerts are silenced") {
		t.Errorf("maintenance does not say the alerts are silenced:\n%s", out)
	}
	if out, err := exec.Command("systemctl", "stop", inst.Unit).CombinedOutput(); err != nil {
		t.Fatalf("systemctl stop %s: %v\n%s", inst.Unit, err, out)
	}
	if out := run("status", inst.Name); !strings.Contains(out, "maintenance until") || !strings.Contains(out, "moving the disk") {
		t.Errorf("status does not show the maintenance window:\n%s", out)
	}
	failing := "instance " + inst.Name + " is failing"
	watch := func() string {
		t.Helper()
		serve := env.command(ctx, bin, "serve")
		serve.Env = append(serve.Env, "WATCH_INTERVAL=1s", "WATCH_FAILURES=1", "WATCH_DISK_FREE_MB=1")
		stdin, err := serve.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		var out syncBuffer
		serve.Stdout, serve.Stderr = &out, &out
		if err := serve.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(5*time.Second, func() bool { return strings.Contains(out.String(), failing) })
		stdin.Close()
		if err := serve.Wait(); err != nil {
			t.Errorf("serve: %v", err)
		}
		return out.String()
	}
	if out := watch(); strings.Contains(out, failing) {
		t.Errorf("serve alerted about %s during its maintenance window:\n%s", inst.Name, out)
	}
	if out := run("maintenance", inst.Name, "off"); !strings.Contains(out, "maintenance ended") {
		t.Errorf("maintenance off:\n%s", out)
	}
	if out := watch(); !strings.Contains(out, failing) {
		t.Errorf("serve did not alert about %s once its maintenance ended:\n%s", inst.Name, out)
	}
}
