package app

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"odoobot/commands"
	"odoobot/config"
	"odoobot/provision"
	"odoobot/provision/pitr"
)

// newPITR is the point-in-time archive of PITR_REPOSITORY, nil when it
// is not set. login logs in to a database as the role that owns it (for
// the dump of a restore to a time); nil in setup, which dumps nothing.
func newPITR(cfg *config.Config, login func(ctx context.Context, db string) (provision.DBConn, error)) (*pitr.Driver, error) {
	if cfg.PITRRepository == "" {
		return nil, nil
	}
	scratch := cfg.PITRScratchDir
	if scratch == "" {
		scratch = filepath.Join(cfg.StateDir, "pitr")
	}
	return pitr.New(pitr.Config{
		ConfigFile: cfg.PITRConfigFile, DataDir: cfg.PITRDataDir, Port: cfg.DBPort, SocketDir: cfg.PITRSocketDir,
		Repository: cfg.PITRRepository, CipherPassFile: cfg.PITRCipherPassFile, ScratchDir: scratch, Login: login,
		S3EnvFile: cfg.PITRS3EnvFile, S3CAFile: cfg.PITRS3CAFile, S3Region: cfg.PITRS3Region,
	})
}

// pointInTime is the Service's view of the archive: a nil interface when
// there is none.
func (a *App) pointInTime() provision.PointInTime {
	if a.pitr == nil {
		return nil
	}
	return a.pitr
}

// SetupPITR turns the cluster's continuous archiving on (odoobot setup;
// pitr.Driver.Setup: it restarts PostgreSQL once), saying each step.
func SetupPITR(ctx context.Context, cfg *config.Config, say func(string)) error {
	d, err := newPITR(cfg, nil)
	if err != nil {
		return err
	}
	if d == nil {
		say("point in time: none configured (PITR_REPOSITORY): restores go to backups only")
		return nil
	}
	return d.Setup(ctx, func(s string) { say("point in time: " + s) })
}

// PITRStatus says, for odoobot config, whether the cluster archives and
// how far behind; "" when PITR_REPOSITORY is not set.
func PITRStatus(ctx context.Context, cfg *config.Config) string {
	d, err := newPITR(cfg, nil)
	if err != nil {
		return "point-in-time archive: " + err.Error()
	}
	if d == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := d.Status(ctx)
	if err != nil {
		return "point-in-time archive: status unknown: " + err.Error()
	}
	return "point-in-time archive: " + st.Summary(time.Now())
}

// StartPITR takes the cluster's base backups until ctx ends: daily at
// PITR_BACKUP_TIME UTC, full on Sundays and incremental the other days
// (pgBackRest makes a full one when none is there). A failure is logged
// and posted in the alert channels. serve calls it.
func (a *App) StartPITR(ctx context.Context) {
	if a.pitr == nil {
		return
	}
	at, err := time.Parse("15:04", a.Config.PITRBackupTime)
	if err != nil {
		return
	}
	go func() {
		for {
			now := time.Now().UTC()
			next := time.Date(now.Year(), now.Month(), now.Day(), at.Hour(), at.Minute(), 0, 0, time.UTC)
			if !next.After(now) {
				next = next.AddDate(0, 0, 1)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(next)):
			}
			kind := "incr"
			if next.Weekday() == time.Sunday {
				kind = "full"
			}
			bctx, cancel := context.WithTimeout(ctx, 6*time.Hour)
			err := a.pitr.Backup(bctx, kind)
			cancel()
			if err != nil {
				text := fmt.Sprintf("point-in-time archive: the %s base backup failed: %v", kind, err)
				a.Log.Error(text)
				a.post(ctx, commands.Alert{Text: text})
				continue
			}
			a.Log.Info("point-in-time archive: base backup taken", "type", kind)
		}
	}()
}
