package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"odoobot/config"
	"odoobot/internal/app"
	"odoobot/provision"
	"odoobot/provision/systemd"
)

// installTimer is `odoobot install-timer`: it installs the daily backup
// as odoobot-backup.timer and odoobot-backup.service in SYSTEMD_UNIT_DIR
// and starts the timer; with BACKUP_TIME=off it removes them. The
// service reads envFile, which must exist: the environment this command
// runs in does not reach it.
func installTimer(ctx context.Context, stdout, stderr io.Writer, cfg *config.Config, envFile string) error {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	svc, err := systemd.New(ctx, log)
	if err != nil {
		return err
	}
	defer svc.Close()
	at, on, err := cfg.DailyBackup()
	if err != nil {
		return err
	}
	if !on {
		if err := provision.RemoveBackupTimer(ctx, svc, cfg.UnitDir); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "BACKUP_TIME is off: the daily backup timer is removed")
		return nil
	}
	env, err := filepath.Abs(envFile)
	if err != nil {
		return err
	}
	if _, err := os.Stat(env); err != nil {
		return fmt.Errorf("install-timer: the env file %s cannot be read (%v): the timer's service reads its configuration from it; give one with --env-file", env, errors.Unwrap(err))
	}
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("install-timer: the path of this odoobot binary: %w", err)
	}
	t := provision.BackupTimer{Bin: bin, EnvFile: env, At: at}
	if err := provision.InstallBackupTimer(ctx, svc, cfg.UnitDir, t); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "installed %s: %s backup-all daily at %s UTC, with %s; a run missed while the host was down is made up at boot\n",
		provision.BackupTimerUnit, bin, cfg.BackupTime, env)
	return nil
}

// backupAll is `odoobot backup-all`, what the timer's service runs: a
// scheduled backup of every ready instance, one after the other. It fails
// when any backup failed, naming each.
func backupAll(ctx context.Context, stdout, stderr io.Writer, cfg *config.Config) error {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := app.New(ctx, cfg, log, hookOptions())
	if err != nil {
		return err
	}
	defer a.Close()
	svc := a.Service
	if svc == nil {
		return errors.New("backup-all: backups are not available on this server")
	}
	if err := svc.BackupAll(ctx, "timer"); err != nil {
		return fmt.Errorf("backup-all: %w", err)
	}
	fmt.Fprintln(stdout, "backup-all: every ready instance is backed up")
	return nil
}
