package provision

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Delete queues the removal of an instance: a final backup, then every
// resource in the reverse order of its creation — DNS record,
// certificate, nginx site (tested and reloaded), unit (stopped, disabled,
// removed), database and filestore, directory, the instance's system
// user and database role, then the store row with
// its ports and the tracking lines. The instance is marked deleting
// before the job is queued.
//
// Every step is idempotent and nothing is undone: a delete that stopped
// half-way (a failure, or odoobot killed, whose job Recover then marks
// interrupted) is finished by asking for it again, which is allowed for
// an instance in state deleting. If the final backup fails, nothing has
// been removed and the instance goes back to the state it had. The zone
// apex and other instances are never touched: the DNS driver refuses
// any name but the instance's one label, and every path and name derives
// from the instance's own. After a delete that succeeded, and after
// req.Finished, the instance's release and its templates are collected
// when no instance uses them (collectAfterDelete); the outcome is only
// logged.
func (d *DayTwo) Delete(ctx context.Context, req JobRequest) (*Task, error) {
	inst, err := d.lookupFor(ctx, req.Name, trustDelete)
	if err != nil {
		return nil, err
	}
	prev := inst.State
	// Once the delete has succeeded and been reported, the instance's
	// release and its templates go if nobody uses them any more; a
	// failure is logged, never the delete's.
	finished := req.Finished
	req.Finished = func(j Job) {
		if finished != nil {
			finished(j)
		}
		if j.State == JobSucceeded {
			gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
			defer cancel()
			d.collectAfterDelete(gctx, inst)
		}
	}
	cr := &creation{c: d.Creator, inst: inst, paths: d.cfg.Layout.Paths(inst)}
	del := &deletion{d: d, cr: cr, prev: prev, by: req.By}
	return d.submit(ctx, JobDelete, inst, req, map[string]string{"state": string(prev)}, func() []Step {
		steps := []Step{{StepFinalCopy, del.finalBackup, nil}}
		if d.cfg.DNS != nil {
			steps = append(steps, Step{StepDNS, del.deleteRecord, nil})
		}
		return append(steps,
			Step{StepCertificate, del.removeCertificate, nil},
			Step{StepNginx, cr.removeSite, nil},
			Step{StepService, cr.removeService, nil},
			Step{StepDatabase, del.dropDatabase, nil},
			Step{StepFiles, cr.removeFiles, nil},
			Step{StepTenant, cr.removeTenant, nil},
			Step{StepForget, del.forget, nil},
		)
	}, func() error {
		return d.cfg.Store.SetState(ctx, inst.Name, StateDeleting)
	})
}

// deletion is one delete job.
type deletion struct {
	d    *DayTwo
	cr   *creation
	prev State
	by   string
}

// adopted reports whether the instance came from `odoobot import`: its
// database and DNS record were not made by odoobot.
func (del *deletion) adopted() bool { return del.cr.inst.CreatedBy == ImportedBy }

// deleteRecord removes the instance's DNS record. A record odoobot did
// not make (an imported instance's) is left in place and said so: the
// delete goes on.
func (del *deletion) deleteRecord(ctx context.Context) error {
	err := del.cr.deleteRecord(ctx)
	if errors.Is(err, ErrForeignRecord) {
		return &Noted{Message: "left in place, not made by odoobot: remove " + del.cr.inst.Domain + " in Cloudflare yourself (" + err.Error() + ")"}
	}
	return err
}

// dropDatabase drops the database; an imported instance's, which carries
// no odoobot marker, through DropAdopted, since the store vouches for it.
func (del *deletion) dropDatabase(ctx context.Context) error {
	if del.adopted() {
		if err := del.cr.c.cfg.Databases.DropAdopted(ctx, del.cr.inst.Internal); err != nil {
			return err
		}
	}
	return del.cr.dropDatabase(ctx)
}

// finalBackup backs the instance up while its database is there. A
// delete run again after its database was dropped has nothing left to
// back up: the first run's final backup stands. If the backup fails,
// the instance goes back to the state it had, untouched.
func (del *deletion) finalBackup(ctx context.Context) error {
	inst := del.cr.inst
	ok, err := del.d.pg.Exists(ctx, inst.Internal)
	if err != nil {
		return del.keep(ctx, fmt.Errorf("backup: %w", err))
	}
	if !ok {
		// Nothing to back up: say so rather than show a backup that was
		// not taken, and go on removing the rest.
		msg := "no final backup: database " + inst.Internal + " is already gone"
		if list, err := del.d.Backups(ctx, inst.Name); err == nil {
			for _, b := range list {
				if b.Reason == ReasonFinal {
					msg += "; the final backup " + b.ID + " of an earlier delete stands"
					break
				}
			}
		}
		return &Noted{Message: msg}
	}
	b := &backupRun{d: del.d, inst: inst, paths: del.cr.paths, reason: ReasonFinal, by: del.by}
	if _, err := b.take(ctx); err != nil {
		return del.keep(ctx, err)
	}
	return nil
}

// keep puts the instance back in its state before the delete, when that
// was not already deleting, and returns err.
func (del *deletion) keep(ctx context.Context, err error) error {
	if del.prev != StateDeleting {
		if serr := del.d.cfg.Store.SetState(context.WithoutCancel(ctx), del.cr.inst.Name, del.prev); serr != nil {
			return errors.Join(err, serr)
		}
	}
	return err
}

// removeCertificate removes the certificate through its issuer, when the
// mode has one, and the instance's certificate directory.
func (del *deletion) removeCertificate(ctx context.Context) error {
	if err := del.cr.removeCertificate(ctx); err != nil {
		return err
	}
	if err := del.d.cfg.Files.RemoveCertDir(ctx, del.cr.inst); err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	return nil
}

// forget releases the store row and the ports, and rewrites the
// tracking export without the instance.
func (del *deletion) forget(ctx context.Context) error {
	if err := del.d.cfg.Store.ReleaseInstance(ctx, del.cr.inst.Name); err != nil {
		return err
	}
	return del.d.exportTracking(ctx)
}
