package app

import (
	"context"
	"time"

	"odoobot/provision"
	"odoobot/provision/logrotate"
	"odoobot/provision/systemd"
)

// StartBackups starts the scheduled daily backup of every ready instance
// at BACKUP_TIME (UTC), one instance after the other; it stops with ctx.
// serve calls it. BACKUP_TIME=off turns it off, and so does an
// installed odoobot-backup.timer (odoobot install-timer), which then
// runs it.
//
// It first installs the rotation of every instance's odoo.log
// (RotateLogs); a failure there, or an instance left out, is alerted,
// and the rest goes on.
func (a *App) StartBackups(ctx context.Context) {
	a.RotateLogs(ctx, true)
	svc := a.Service
	at, on, _ := a.Config.DailyBackup()
	if svc == nil || !on {
		return
	}
	if systemd.BackupTimerInstalled(a.Config.UnitDir) {
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
			if err := svc.BackupAll(ctx, "schedule"); err != nil {
				a.Alert(ctx, "scheduled backup: "+err.Error())
			}
		}
	}()
}

// Recover ends the jobs a stopped odoobot left open: each is finished
// when the job recorded its change as made, rolled back otherwise (see
// provision.Service.Recover).
//
// Then the DNS sweep (SweepDNS) starts in the background (StartSweep):
// Recover returns without waiting for it.
func (a *App) Recover(ctx context.Context) ([]provision.Job, error) {
	jobs, err := a.Service.Recover(ctx, nil)
	if err != nil {
		return jobs, err
	}
	a.StartSweep(ctx)
	return jobs, nil
}

// logRotation is how this host rotates its instances' logs.
func (a *App) logRotation() logrotate.Rotation {
	return logrotate.Rotation{File: a.Config.LogrotateFile, ProdRoot: a.Config.ProdRoot, ServiceUser: a.Config.ServiceUser}
}

// RotateLogs rewrites the rotation of every instance's odoo.log
// (logrotate.Rotation.Install: one stanza per instance, acting as the
// owner of its directory) from the store's instances. serve calls it at
// start, and the runner after each job that creates, clones, deletes or
// isolates an instance. A failure, and each instance left out, is logged,
// and alerted when alert is set; it never fails anything else.
func (a *App) RotateLogs(ctx context.Context, alert bool) {
	report := func(text string) {
		if alert {
			a.Alert(ctx, text)
		} else {
			a.Log.Warn(text)
		}
	}
	list, err := a.Store.Instances(ctx)
	if err != nil {
		report("odoo.log rotation is not rewritten: " + err.Error())
		return
	}
	wrote, left, err := a.logRotation().Install(list)
	for _, l := range left {
		report("odoo.log rotation: " + l)
	}
	if err != nil {
		report("odoo.log rotation is not installed: " + err.Error())
		return
	}
	if wrote {
		a.Log.Info("odoo.log rotation rewritten", "file", a.Config.LogrotateFile, "instances", len(list)-len(left))
	}
}

// rotatesLogs are the kinds of job after which the rotation of the logs
// is rewritten: those that add or remove an instance, or change who owns
// its directory.
var rotatesLogs = map[provision.JobKind]bool{
	provision.JobCreate: true, provision.JobClone: true, provision.JobDelete: true, provision.JobIsolate: true,
}

// jobEnded is the runner's Ended: see RotateLogs, then OnJobEnd.
func (a *App) jobEnded(ctx context.Context, job provision.Job) {
	a.warmAfterJob(job)
	if rotatesLogs[job.Kind] {
		a.RotateLogs(ctx, false)
	}
	a.runJobEndHooks(ctx, job)
}
