package provision

import (
	"context"
	"fmt"
	"time"
)

// StepReplay is a restore to a time's step that restores the cluster's
// base backup into a scratch cluster with only the instance's database,
// replays the WAL archive up to the time, and dumps the database as the
// instance's own role.
const StepReplay StepName = "replay"

// paramAt, in a restore job's parameters, is the time a restore to a
// time was asked for (RFC 3339, UTC).
const paramAt = "at"

// SwitchWALTimeout bounds the wait for the cluster's current WAL segment
// to be archived before a restore to a time of the last minutes.
const SwitchWALTimeout = 2 * time.Minute

// restoreAt queues a restore of the instance's database as it was at
// req.At, paired with the filestore of its newest intact backup taken at
// or before that time. Refused at once, changing nothing: no
// point-in-time archive, a time in the future, a time before the
// archive's first base backup, no backup at or before it for the
// filestore. The job verifies that backup, replays the archive to the
// time in a scratch cluster (StepReplay), then goes on as Restore does:
// safety backup, prepare, swap, start, cleanup, every step undone on
// failure. The job's summary says which time was reached and which
// backup the filestore came from.
func (s *Service) restoreAt(ctx context.Context, inst Instance, req JobRequest) (*Task, error) {
	pit := s.bcfg.PointInTime
	if pit == nil {
		return nil, fmt.Errorf("%w: point-in-time restores are not set up on this server (PITR_REPOSITORY, then odoobot setup)", ErrPointInTime)
	}
	at, now := req.At.UTC(), s.cfg.Now().UTC()
	if at.After(now) {
		return nil, fmt.Errorf("%w: %s is in the future (it is %s UTC now)", ErrPointInTime, at.Format(time.DateTime), now.Format(time.DateTime))
	}
	earliest, err := pit.Window(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPointInTime, err)
	}
	if at.Before(earliest) {
		return nil, fmt.Errorf("%w: %s UTC is before the archive's first base backup: the earliest time it can restore is %s UTC", ErrPointInTime, at.Format(time.DateTime), earliest.UTC().Format(time.DateTime))
	}
	b, err := s.backupAtOrBefore(ctx, inst, at)
	if err != nil {
		return nil, err
	}
	r := s.restoreRun(inst, b, req.By)
	r.at = at
	params := map[string]string{"backup": b.ID, paramAt: at.Format(time.RFC3339Nano)}
	steps := []Step{
		{StepCheck, r.verify, nil},
		{StepReplay, r.replay, r.unreplay},
		{StepSafety, r.safety, nil},
		{StepPrepare, r.prepare, r.unprepare},
		{StepSwap, r.swap, r.unswap},
		{StepStart, r.start, nil},
		{StepCleanup, r.cleanup, nil},
	}
	t, err := s.submit(ctx, s.jobPlan(JobRestore, inst, params, steps, StepCleanup), req, nil)
	if err != nil {
		return nil, err
	}
	r.task.Store(t)
	return t, nil
}

// backupAtOrBefore is the instance's newest intact backup taken at or
// before at, whose filestore a restore to at pairs with the database.
func (s *Service) backupAtOrBefore(ctx context.Context, inst Instance, at time.Time) (BackupInfo, error) {
	list, err := s.backups.List(ctx, inst.Internal, s.cfg.Now())
	if err != nil {
		return BackupInfo{}, fmt.Errorf("provision: %w", err)
	}
	for _, b := range list { // newest first
		if b.Intact && !b.CreatedAt.After(at) {
			return b, nil
		}
	}
	return BackupInfo{}, fmt.Errorf("%w: %s has no backup kept here taken at or before %s UTC, whose filestore would go with the database: see backups %s", ErrPointInTime, inst.Name, at.Format(time.DateTime), inst.Name)
}

// replay restores the database as of r.at into a scratch cluster and
// dumps it as the instance's role; prepare restores that dump.
func (r *restoreRun) replay(ctx context.Context) error {
	pit := r.d.bcfg.PointInTime
	// The last moments may still be in the current WAL segment: it is
	// closed and archived first, so that any past time can be reached.
	if err := pit.SwitchWAL(ctx, SwitchWALTimeout); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	size, err := r.d.pg.Size(ctx, r.inst.Internal)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	reached, err := pit.Extract(ctx, r.inst.Internal, r.at, size)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	r.dump = reached.Dump
	text := fmt.Sprintf("the database as of %s UTC", r.at.Format("2006-01-02 15:04:05"))
	if !reached.LastTransaction.IsZero() {
		text += fmt.Sprintf(": its last transaction replayed was committed at %s UTC", reached.LastTransaction.UTC().Format("2006-01-02 15:04:05.000"))
	}
	if reached.Stopped != "" {
		text += " (" + reached.Stopped + ")"
	}
	text += fmt.Sprintf("; the filestore is backup %s's, the last at or before that time", r.backup.ID)
	if t := r.task.Load(); t != nil {
		t.Progress(StepReplay, text)
		t.SetSummary(text)
	}
	return nil
}

// unreplay removes the scratch cluster and the dump.
func (r *restoreRun) unreplay(ctx context.Context) error {
	if pit := r.d.bcfg.PointInTime; pit != nil {
		return pit.Clean(ctx, r.inst.Internal)
	}
	return nil
}
