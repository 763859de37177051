package app

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"odoobot/commands"
	"odoobot/config"
	"odoobot/provision"
	"odoobot/provision/offsite"
)

// offsiteCheckTimeout bounds the check of the offsite repository at
// start and in setup.
const offsiteCheckTimeout = time.Minute

// newOffsite is the offsite repository of OFFSITE_REPOSITORY, nil when
// it is not set. restic's cache is under STATE_DIR.
func newOffsite(c interface {
	OffsiteEnv() ([]string, error)
}, repository, passwordFile, serverID, stateDir string) (*offsite.Restic, error) {
	if repository == "" {
		return nil, nil
	}
	env, err := c.OffsiteEnv()
	if err != nil {
		return nil, err
	}
	return &offsite.Restic{
		Repository: repository, PasswordFile: passwordFile, Env: env, Host: serverID,
		CacheDir: filepath.Join(stateDir, "restic-cache"),
	}, nil
}

// offsiteStore is the Service's view of the offsite repository: a nil
// interface, not a nil pointer, when there is none.
func (a *App) offsiteStore() provision.Offsite {
	if a.offsite == nil {
		return nil
	}
	return a.offsite
}

// CheckOffsite opens the offsite repository, when one is configured. A
// repository that refuses odoobot (wrong password, none there) is an
// error that stops serve at start, saying which setting to fix; one that
// cannot be reached is logged, and serve goes on: the backups land
// locally and the background push tries again.
func (a *App) CheckOffsite(ctx context.Context) error {
	if a.offsite == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, offsiteCheckTimeout)
	defer cancel()
	err := a.offsite.Check(ctx)
	switch {
	case err == nil:
		return nil
	case provision.IsKind(err, provision.KindRefused):
		return fmt.Errorf("offsite: %s", provision.Hint(err))
	}
	a.Log.Warn("offsite: the repository cannot be reached now; backups land here and are pushed once it answers", "err", err)
	return nil
}

// InitOffsite creates the offsite repository of cfg when none is there
// (odoobot setup); one already there is opened and left as it is. It
// says what it did.
func InitOffsite(ctx context.Context, cfg *config.Config) (string, error) {
	r, err := newOffsite(cfg, cfg.OffsiteRepository, cfg.OffsitePasswordFile, cfg.DNSServerID(), cfg.StateDir)
	if err != nil {
		return "", err
	}
	if r == nil {
		return "offsite: none configured (OFFSITE_REPOSITORY): backups stay on this server only", nil
	}
	ctx, cancel := context.WithTimeout(ctx, offsiteCheckTimeout)
	defer cancel()
	created, err := r.Init(ctx)
	if h := provision.Hint(err); h != "" {
		return "", fmt.Errorf("offsite: %s", h)
	} else if err != nil {
		return "", fmt.Errorf("offsite: %w", err)
	}
	if created {
		return "offsite: created the repository at OFFSITE_REPOSITORY; keep the password of OFFSITE_PASSWORD_FILE away from this server too: without it the offsite backups cannot be read", nil
	}
	return "offsite: the repository at OFFSITE_REPOSITORY opens with OFFSITE_PASSWORD_FILE", nil
}

// StartDrills runs the scheduled restore drill until ctx ends
// (provision.Service.RunDrills): every ready instance's latest backup
// drilled once per DRILL_EVERY, none started in the two hours before
// the daily backup (BACKUP_TIME), a failed drill alerted (Config.Alert).
// serve calls it; DRILL_EVERY=0 turns it off.
func (a *App) StartDrills(ctx context.Context) {
	if a.Service == nil || a.Config.DrillEvery <= 0 {
		return
	}
	l := provision.DrillLoop{Every: a.Config.DrillEvery}
	if at, on, _ := a.Config.DailyBackup(); on {
		l.Backups = &at
	}
	go a.Service.RunDrills(ctx, l)
}

// StartOffsite runs the background push of the local backups offsite
// until ctx ends (provision.Service.RunOffsite), alerting the alert
// channels after OFFSITE_ALERT_AFTER failed rounds in a row and once it
// recovers. serve calls it.
func (a *App) StartOffsite(ctx context.Context) {
	if a.offsite == nil || a.Service == nil {
		return
	}
	say := func(ctx context.Context, text string) {
		a.Log.Warn("offsite alert", "text", text)
		a.post(ctx, commands.Alert{Text: text})
	}
	go a.Service.RunOffsite(ctx, provision.OffsiteLoop{
		Retry: a.Config.OffsiteRetry, AlertAfter: a.Config.OffsiteAlertAfter,
		Alert: say, Recovered: say,
	})
}
