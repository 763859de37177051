package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"odoobot/internal/app"
	"odoobot/provision"
)

// TestQuickVerbHoldsTheInstance: a restart holds its instance until the
// instance is healthy again, so a job asked for meanwhile (a restore's
// swap, a delete) cannot land between the restart's check and its act:
// it is refused as busy, and accepted once the restart is done. The
// restart is made slow on purpose by a drop-in on the instance's unit.
func TestQuickVerbHoldsTheInstance(t *testing.T) {
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	inst := createReady(t, ctx, a, uniqueName(t, "hold"))

	dropin := filepath.Join(a.Config.UnitDir, inst.Unit+".d")
	if err := os.MkdirAll(dropin, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.RemoveAll(dropin)
		exec.Command("systemctl", "daemon-reload").Run()
	})
	if err := os.WriteFile(filepath.Join(dropin, "slow.conf"), []byte("[Service]\nExecStartPre=/bin/sleep 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("systemctl", "daemon-reload").CombinedOutput(); err != nil {
		t.Fatalf("daemon-reload: %v\n%s", err, out)
	}

	restarted := make(chan error, 1)
	go func() { restarted <- a.Operator.Restart(ctx, inst.Name) }()
	time.Sleep(1500 * time.Millisecond) // the restart is under way: its unit sleeps 4 s before it starts
	task, err := a.Service.Backup(ctx, provision.JobRequest{Name: inst.Name, By: "e2e"})
	if err == nil {
		job, _ := task.Wait(ctx)
		t.Errorf("a backup was accepted while a restart held %s (job %s)", inst.Name, job.State)
	} else if !errors.Is(err, provision.ErrInstanceBusy) {
		t.Errorf("a backup during the restart: %v, want busy", err)
	}
	if err := <-restarted; err != nil {
		t.Fatalf("restart: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Join(a.Config.BackupDir, inst.Internal)) })
	task, err = a.Service.Backup(ctx, provision.JobRequest{Name: inst.Name, By: "e2e"})
	requireSucceeded(t, ctx, "a backup after the restart", task, err)
}
