package provision

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// The systemd units of the daily backup: the timer starts the service,
// which runs `odoobot backup-all`.
const (
	BackupServiceUnit = "odoobot-backup.service"
	BackupTimerUnit   = "odoobot-backup.timer"
)

// BackupTimer describes the daily backup as systemd units.
type BackupTimer struct {
	// Bin is the absolute path of the odoobot binary the service runs.
	Bin string
	// EnvFile is the absolute path of odoobot's env file, passed as
	// --env-file: the service has no other configuration.
	EnvFile string
	// At is the time of day, UTC, as an offset from midnight.
	At time.Duration
}

// Units returns the service and the timer. The timer is Persistent: a
// run missed while the host was down or the timer not yet loaded is
// made up as soon as it is; the service is a oneshot, so two runs never
// overlap.
func (t BackupTimer) Units() (service, timer []byte, err error) {
	for what, p := range map[string]string{"odoobot binary": t.Bin, "env file": t.EnvFile} {
		if !filepath.IsAbs(p) || strings.ContainsAny(p, " \t\n\"'\\%$") {
			return nil, nil, fmt.Errorf("backup timer: the %s path %q must be absolute, without spaces, quotes, backslashes, %% or $", what, p)
		}
	}
	if t.At < 0 || t.At >= 24*time.Hour {
		return nil, nil, fmt.Errorf("backup timer: time of day %s is not within a day", t.At)
	}
	hhmm := fmt.Sprintf("%02d:%02d", int(t.At.Hours()), int(t.At.Minutes())%60)
	service = fmt.Appendf(nil, `# Installed by odoobot install-timer: the daily backup of every instance.
[Unit]
Description=odoobot: back up every instance
After=network-online.target postgresql.service
Wants=network-online.target

[Service]
Type=oneshot
ExecStart=%s --env-file %s backup-all
StandardInput=null
`, t.Bin, t.EnvFile)
	timer = fmt.Appendf(nil, `# Installed by odoobot install-timer: BACKUP_TIME, UTC.
[Unit]
Description=odoobot: daily backup of every instance at %[1]s UTC

[Timer]
OnCalendar=*-*-* %[1]s:00 UTC
Persistent=true
AccuracySec=1min
Unit=%[2]s

[Install]
WantedBy=timers.target
`, hhmm, BackupServiceUnit)
	return service, timer, nil
}

// InstallBackupTimer writes the service and the timer into unitDir,
// enables the timer and starts it (a running timer picks up new
// content). Running it again replaces both.
func InstallBackupTimer(ctx context.Context, svc ServiceManager, unitDir string, t BackupTimer) error {
	service, timer, err := t.Units()
	if err != nil {
		return err
	}
	if err := svc.Install(ctx, filepath.Join(unitDir, BackupServiceUnit), service); err != nil {
		return err
	}
	if err := svc.Install(ctx, filepath.Join(unitDir, BackupTimerUnit), timer); err != nil {
		return err
	}
	if err := svc.Restart(ctx, BackupTimerUnit); err != nil {
		return fmt.Errorf("backup timer: start %s: %w", BackupTimerUnit, err)
	}
	return nil
}

// RemoveBackupTimer stops, disables and removes the timer and the
// service; nothing installed is not an error.
func RemoveBackupTimer(ctx context.Context, svc ServiceManager, unitDir string) error {
	return errors.Join(
		svc.Remove(ctx, filepath.Join(unitDir, BackupTimerUnit)),
		svc.Remove(ctx, filepath.Join(unitDir, BackupServiceUnit)),
	)
}
