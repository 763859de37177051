package provision

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"odoobot/internal/testenv"
)

// TestBackupTimerUnits: the timer fires daily at BACKUP_TIME UTC and
// catches up a missed run (Persistent=true); the service runs
// `odoobot --env-file FILE backup-all`; systemd-analyze accepts both.
func TestBackupTimerUnits(t *testing.T) {
	bin, _ := os.Executable()
	env := filepath.Join(t.TempDir(), "odoobot.env")
	os.WriteFile(env, nil, 0o600)
	service, timer, err := BackupTimer{Bin: bin, EnvFile: env, At: 3*time.Hour + 5*time.Minute}.Units()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"OnCalendar=*-*-* 03:05:00 UTC\n", "Persistent=true\n", "Unit=odoobot-backup.service\n", "WantedBy=timers.target\n"} {
		if !strings.Contains(string(timer), want) {
			t.Errorf("timer lacks %q:\n%s", want, timer)
		}
	}
	if want := "ExecStart=" + bin + " --env-file " + env + " backup-all\n"; !strings.Contains(string(service), want) || !strings.Contains(string(service), "Type=oneshot\n") {
		t.Errorf("service lacks %q or Type=oneshot:\n%s", want, service)
	}
	for _, bad := range []BackupTimer{{Bin: "odoobot", EnvFile: env}, {Bin: bin, EnvFile: "/etc/my odoobot.env"}, {Bin: bin, EnvFile: env, At: 24 * time.Hour}} {
		if _, _, err := bad.Units(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}

	analyze := testenv.LookPath(t, "systemd-analyze")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, BackupServiceUnit), service, 0o644)
	os.WriteFile(filepath.Join(dir, BackupTimerUnit), timer, 0o644)
	cmd := exec.Command(analyze, "verify", "--man=no", filepath.Join(dir, BackupServiceUnit), filepath.Join(dir, BackupTimerUnit))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err := exec.Command(analyze, "calendar", "--iterations=2", "*-*-* 03:05:00 UTC").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "03:05:00 UTC") {
		t.Errorf("systemd-analyze calendar: %v\n%s", err, out)
	}
}

// fakeUnits records what InstallBackupTimer asks of systemd.
type fakeUnits struct {
	ServiceManager
	calls []string
}

func (f *fakeUnits) Install(_ context.Context, p string, _ []byte) error {
	f.calls = append(f.calls, "install "+p)
	return nil
}
func (f *fakeUnits) Restart(_ context.Context, u string) error {
	f.calls = append(f.calls, "restart "+u)
	return nil
}
func (f *fakeUnits) Remove(_ context.Context, p string) error {
	f.calls = append(f.calls, "remove "+p)
	return nil
}

func TestInstallBackupTimer(t *testing.T) {
	f := &fakeUnits{}
	bin, _ := os.Executable()
	if err := InstallBackupTimer(context.Background(), f, "/etc/systemd/system", BackupTimer{Bin: bin, EnvFile: "/etc/odoobot/odoobot.env", At: 3 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	want := "install /etc/systemd/system/odoobot-backup.service,install /etc/systemd/system/odoobot-backup.timer,restart odoobot-backup.timer"
	if got := strings.Join(f.calls, ","); got != want {
		t.Errorf("calls %s, want %s", got, want)
	}
	f.calls = nil
	if err := RemoveBackupTimer(context.Background(), f, "/etc/systemd/system"); err != nil || len(f.calls) != 2 {
		t.Errorf("remove: %v, calls %v", err, f.calls)
	}
}
