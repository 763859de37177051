package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Delete queues the removal of an instance, in two phases around one
// commit step, so that it ends either with nothing removed or with
// everything removed:
//
//   - undoable: the instance is marked deleting, its final backup taken,
//     its service stopped and its DNS record removed. A failure here, or
//     a crash recovered here, puts each back (the record made again, the
//     service started when it ran, the state it had); the final backup
//     stays, kept by the retention.
//   - the commit step drops the database. From then on every step is
//     idempotent and nothing is undone: the nginx site, the unit, the
//     certificate, the directory, the instance's system user and
//     database role, then the store row with its ports and the tracking
//     lines go. A failure after the commit ends the job failed, to be
//     finished by asking again (allowed for an instance in state
//     deleting); a crash after it is finished by recovery.
//
// The zone apex and other instances are never touched: the DNS driver
// refuses any name but the instance's one label, and every path and name
// derives from the instance's own. After a delete that succeeded, and
// after req.Finished, the instance's release and its templates are
// collected when no instance uses them (collectAfterDelete); the outcome
// is only logged.
func (s *Service) Delete(ctx context.Context, req JobRequest) (*Task, error) {
	inst, err := s.lookupFor(ctx, req.Name, trustDelete)
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
			s.collectAfterDelete(gctx, inst)
		}
	}
	running := "no"
	if st, err := s.cfg.Services.Status(ctx, inst.Unit); err == nil && st.Running() {
		running = "yes"
	}
	params := map[string]string{"state": string(prev), "running": running}
	del := s.deletion(inst, prev, running == "yes", req.By)
	if ok, err := s.pg.Exists(ctx, inst.Internal); err == nil && !ok {
		// Nothing to back up: the plan has no backup step, and says so.
		del.noDatabase = true
		params["backup"] = "none"
	}
	plan := s.jobPlan(JobDelete, inst, params, del.steps(), StepDatabase)
	t, err := s.submit(ctx, plan, req, func() error {
		return s.cfg.Store.SetState(ctx, inst.Name, StateDeleting)
	})
	return t, err
}

// deletion returns the delete job of inst, which was in state prev and
// whose service ran when the delete was asked.
func (s *Service) deletion(inst Instance, prev State, running bool, by string) *deletion {
	cr := &creation{c: s, inst: inst, paths: s.cfg.Layout.Paths(inst)}
	return &deletion{d: s, cr: cr, prev: prev, running: running, by: by}
}

// steps are the delete's steps: the undoable ones, the commit step
// (StepDatabase), then the ones after it (forward). When the database
// was already gone when the delete was asked, there is no backup step:
// the stop says that no final backup was taken, and its undo puts the
// state back too, so that neither the thread (no "✓ backup") nor the
// job's record (no "backup" rolled back) shows a backup that was never
// taken.
func (del *deletion) steps() []Step {
	steps := []Step{
		{StepFinalCopy, del.finalBackup, del.restoreState},
		{StepStop, del.stop, del.restart},
	}
	if del.noDatabase {
		steps = []Step{{StepStop, del.stopWithoutBackup, del.restartAndRestore}}
	}
	if del.d.cfg.DNS != nil {
		steps = append(steps, Step{StepDNS, del.deleteRecord, del.remakeRecord})
	}
	return append(steps, del.forward()...)
}

// forward are the commit step and the steps after it.
func (del *deletion) forward() []Step {
	cr := del.cr
	return []Step{
		{StepDatabase, del.dropDatabase, nil},
		{StepNginx, cr.removeSite, nil},
		{StepService, cr.removeService, nil},
		{StepCertificate, del.removeCertificate, nil},
		{StepFiles, cr.removeFiles, nil},
		{StepTenant, cr.removeTenant, nil},
		{StepForget, del.forget, nil},
	}
}

// recoverDelete ends a delete a stopped odoobot left open: once its
// commit step (the drop of the database) is recorded started, it is
// finished forward; before that, what it did is undone (the record made
// again, the service started when it ran, the state it had put back).
func (s *Service) recoverDelete(ctx context.Context, job Job, rec recorded, emit emitFunc) (recovery, error) {
	inst, err := s.cfg.Store.Instance(ctx, job.Instance)
	if errors.Is(err, ErrInstanceNotFound) {
		// The store row is the last thing a delete removes.
		return recovery{finished: true}, nil
	}
	if err != nil {
		return recovery{}, err
	}
	if err := s.trusted(inst, trustDelete); err != nil {
		return recovery{}, err
	}
	del := s.deletion(inst, State(job.Params["state"]), job.Params["running"] == "yes", job.RequestedBy)
	del.noDatabase = job.Params["backup"] == "none"
	if rec.Started(StepDatabase) {
		for _, st := range del.forward() {
			if err := runStep(ctx, emit, st.Name, st.Apply); err != nil {
				return recovery{finished: true}, err
			}
		}
		return recovery{finished: true}, nil
	}
	var res recovery
	for _, st := range slices.Backward(del.steps()) {
		if st.Undo == nil || !rec.Started(st.Name) {
			continue
		}
		if err := undoStep(ctx, emit, st.Name, st.Undo, &res.undone); err != nil {
			return res, err
		}
	}
	switch first := del.steps()[0].Name; {
	case rec.Started(first):
	case del.noDatabase:
		// Marked deleting before its first step, which did nothing:
		// put the state back, and record nothing as undone.
		if err := del.restoreState(ctx); err != nil {
			return res, fmt.Errorf("state: %w", err)
		}
	default:
		// Marked deleting before its first step: put the state back.
		if err := undoStep(ctx, emit, StepFinalCopy, del.restoreState, &res.undone); err != nil {
			return res, err
		}
	}
	return res, nil
}

// deletion is one delete job.
type deletion struct {
	d       *Service
	cr      *creation
	prev    State
	running bool // the service ran when the delete was asked
	by      string
	// noDatabase: the database was already gone when the delete was
	// asked (the job's parameter backup=none): no final backup is taken.
	noDatabase bool
}

// stopWithoutBackup stops the service and says that no final backup was
// taken, and why.
func (del *deletion) stopWithoutBackup(ctx context.Context) error {
	if err := del.stop(ctx); err != nil {
		return err
	}
	return &Noted{Message: del.noBackupMessage(ctx)}
}

// restartAndRestore undoes stopWithoutBackup and the mark: the service
// started again when it ran, the state put back.
func (del *deletion) restartAndRestore(ctx context.Context) error {
	if err := del.restart(ctx); err != nil {
		return err
	}
	return del.restoreState(ctx)
}

// noBackupMessage says that no final backup is taken, and names the
// final backup of an earlier delete when one stands.
func (del *deletion) noBackupMessage(ctx context.Context) string {
	inst := del.cr.inst
	msg := "no final backup: database " + inst.Internal + " is already gone"
	if list, err := del.d.Backups(ctx, inst.Name); err == nil {
		for _, b := range list {
			if b.Reason == ReasonFinal {
				msg += "; the final backup " + b.ID + " of an earlier delete stands"
				break
			}
		}
	}
	return msg
}

// restoreState puts the instance back in the state it had before the
// delete (nothing when that was deleting already: a delete asked again).
func (del *deletion) restoreState(ctx context.Context) error {
	if del.prev == StateDeleting || del.prev == "" {
		return nil
	}
	return del.d.cfg.Store.SetState(ctx, del.cr.inst.Name, del.prev)
}

// stop stops the instance's service.
func (del *deletion) stop(ctx context.Context) error {
	return del.d.cfg.Services.Stop(ctx, del.cr.inst.Unit)
}

// restart starts the service again when it ran before the delete, and
// waits until it answers.
func (del *deletion) restart(ctx context.Context) error {
	if !del.running {
		return nil
	}
	return del.d.ensureRunning(ctx, del.cr.inst, del.cr.paths)
}

// remakeRecord makes the instance's DNS record again; an imported
// instance's record, which the delete left in place, needs nothing.
func (del *deletion) remakeRecord(ctx context.Context) error {
	if del.adopted() {
		return nil
	}
	return del.cr.ensureRecord(ctx)
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
		return fmt.Errorf("backup: %w", err)
	}
	if !ok {
		// Gone since the delete was asked: say so rather than show a
		// backup that was not taken, and go on removing the rest.
		return &Noted{Message: del.noBackupMessage(ctx)}
	}
	b := &backupRun{d: del.d, inst: inst, paths: del.cr.paths, reason: ReasonFinal, by: del.by}
	_, err = b.take(ctx)
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
