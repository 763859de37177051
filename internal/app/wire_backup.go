package app

import (
	"context"
	"time"

	"odoobot/provision"
)

// wireBackups wires backup, restore and delete: the dispatcher's Creator
// becomes a *provision.DayTwo over the app's Creator, which creates as
// before and also runs the day-two verbs (the dispatcher finds them on
// it). Backups go to BACKUP_DIR, kept as the BACKUP_KEEP_* settings say.
func (a *App) wireBackups(ctx context.Context, opt Options) error {
	a.Dispatcher.Creator = a.Creator.DayTwo(provision.BackupConfig{Dir: a.Config.BackupDir, Retention: a.Config.BackupRetention(), BotVersion: opt.Version})
	return nil
}

// DayTwo returns the backup, restore and delete verbs as wired into the
// dispatcher; nil before New has wired them.
func (a *App) DayTwo() *provision.DayTwo {
	if a.Dispatcher == nil {
		return nil
	}
	dt, _ := a.Dispatcher.Creator.(*provision.DayTwo)
	return dt
}

// StartBackups starts the scheduled daily backup of every ready instance
// at BACKUP_TIME (UTC), one instance after the other; it stops with ctx.
// serve calls it. BACKUP_TIME=off turns it off, and so does an
// installed odoobot-backup.timer (odoobot install-timer), which then
// runs it.
//
// It first installs the rotation of every instance's odoo.log
// (provision.LogrotateFile); a failure there is logged and alerted, and
// the rest goes on.
func (a *App) StartBackups(ctx context.Context) {
	if _, err := provision.InstallLogrotate(provision.LogrotateFile, a.Config.ProdRoot); err != nil {
		a.Log.Error("odoo.log rotation", "err", err)
		a.Alert(ctx, "odoo.log rotation is not installed: "+err.Error())
	}
	dt := a.DayTwo()
	at, on, _ := a.Config.DailyBackup()
	if dt == nil || !on {
		return
	}
	if provision.BackupTimerInstalled(a.Config.UnitDir) {
		a.Log.Info("daily backup: left to " + provision.BackupTimerUnit)
		return
	}
	go func() {
		for {
			next := provision.NextDaily(time.Now(), at)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(next)):
			}
			if err := dt.BackupAll(ctx, "schedule"); err != nil {
				a.Alert(ctx, "scheduled backup: "+err.Error())
			}
		}
	}()
}

// Recover ends the jobs a stopped odoobot left open: each is finished
// when the job recorded its change as made, rolled back otherwise (see
// provision.DayTwo.Recover).
//
// Then the DNS sweep (SweepDNS) starts in the background (StartSweep):
// Recover returns without waiting for it.
func (a *App) Recover(ctx context.Context) ([]provision.Job, error) {
	var jobs []provision.Job
	var err error
	if dt := a.DayTwo(); dt != nil {
		jobs, err = dt.Recover(ctx, nil)
	} else {
		jobs, err = a.Creator.Recover(ctx, nil)
	}
	if err != nil {
		return jobs, err
	}
	a.StartSweep(ctx)
	return jobs, nil
}
