package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"odoobot/internal/app"
	"odoobot/provision"
	"odoobot/provision/systemd"
)

// TestBackupTimerBacksUpEveryInstance installs the daily backup as a
// systemd timer with `odoobot install-timer`, as an operator would: the
// sandbox's systemd lists the timer, persistent, with a next run; starting
// its service, as the timer does, backs up every ready instance
// (scheduled, verified). With BACKUP_TIME=off, install-timer removes both
// units.
func TestBackupTimerBacksUpEveryInstance(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	env.withBackupDir(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	names := []string{uniqueName(t, "timer"), uniqueName(t, "timer")}
	for _, n := range names {
		destroyLater(t, a, n)
		createReady(t, ctx, a, n)
	}

	bin := odoobotBin(t)
	envFile := env.writeEnvFile(t)
	timerPath := filepath.Join(systemdUnitDir, provision.BackupTimerUnit)
	servicePath := filepath.Join(systemdUnitDir, provision.BackupServiceUnit)
	remove := func() error {
		cmd := exec.Command(bin, "--env-file", envFile, "install-timer")
		cmd.Env = append(os.Environ(), "BACKUP_TIME=off")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Logf("install-timer with BACKUP_TIME=off: %s", out)
		}
		return err
	}
	t.Cleanup(func() { remove() })

	out, err := exec.CommandContext(ctx, bin, "--env-file", envFile, "install-timer").CombinedOutput()
	if err != nil {
		t.Fatalf("install-timer: %v\n%s", err, out)
	}
	if !systemd.BackupTimerInstalled(systemdUnitDir) {
		t.Fatalf("no %s after install-timer:\n%s", timerPath, out)
	}
	svc, err := os.ReadFile(servicePath)
	if err != nil || !strings.Contains(string(svc), "ExecStart="+bin+" --env-file "+envFile+" backup-all") {
		t.Fatalf("%s: %v\n%s", servicePath, err, svc)
	}

	out, _ = exec.CommandContext(ctx, "systemctl", "list-timers", "--all", "--no-pager", provision.BackupTimerUnit).CombinedOutput()
	if !strings.Contains(string(out), provision.BackupTimerUnit) || !strings.Contains(string(out), provision.BackupServiceUnit) {
		t.Errorf("systemctl list-timers does not list %s:\n%s", provision.BackupTimerUnit, out)
	}
	out, _ = exec.CommandContext(ctx, "systemctl", "show", "--no-pager", "-p", "Persistent,ActiveState,UnitFileState,NextElapseUSecRealtime", provision.BackupTimerUnit).CombinedOutput()
	for _, want := range []string{"Persistent=yes", "ActiveState=active", "UnitFileState=enabled"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("systemctl show %s lacks %s:\n%s", provision.BackupTimerUnit, want, out)
		}
	}

	// What the timer does at BACKUP_TIME: start the service (a oneshot:
	// systemctl returns when backup-all has finished).
	if out, err := exec.CommandContext(ctx, "systemctl", "start", provision.BackupServiceUnit).CombinedOutput(); err != nil {
		journal, _ := exec.Command("journalctl", "--no-pager", "-n", "40", "-u", provision.BackupServiceUnit).CombinedOutput()
		t.Fatalf("systemctl start %s: %v\n%s\n%s", provision.BackupServiceUnit, err, out, journal)
	}
	for _, n := range names {
		list, err := a.Service.Backups(ctx, n)
		if err != nil || len(list) != 1 || list[0].Reason != provision.ReasonScheduled || !list[0].Intact || list[0].VerifiedAt.IsZero() {
			t.Errorf("backups of %s after the timer's service: %+v, %v; want one scheduled backup, verified", n, list, err)
		}
	}

	if err := remove(); err != nil {
		t.Errorf("install-timer with BACKUP_TIME=off: %v", err)
	}
	for _, p := range []string{timerPath, servicePath} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still there after BACKUP_TIME=off install-timer: %v", p, err)
		}
	}
}
