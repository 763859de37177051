package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// Restore queues a restore of backup req.Backup over the instance. The
// backup must exist and look intact (checked here, so a refusal comes
// back at once); the job then verifies every checksum before anything is
// touched, takes a safety backup of the instance as it is, restores the
// database and the filestore beside the live ones, stops the service,
// swaps them in by rename, starts the service and waits for it to be
// healthy, then drops what was replaced. A failure at any point swaps
// the previous database and filestore back and restarts the service as
// it was: the instance is left as it was before.
//
// With req.At set instead of req.Backup, the database is restored as it
// was at that time from the cluster's WAL archive (restoreAt), with the
// filestore of the last backup at or before it.
func (s *Service) Restore(ctx context.Context, req JobRequest) (*Task, error) {
	inst, err := s.lookup(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	if inst.State != StateReady {
		return nil, fmt.Errorf("%w: %s is %s, not ready", ErrServiceState, inst.Name, inst.State)
	}
	if !req.At.IsZero() {
		return s.restoreAt(ctx, inst, req)
	}
	b, err := s.findBackup(inst, req.Backup)
	var fetched *OffsiteCopy
	if errors.Is(err, ErrBackupNotFound) && s.bcfg.Offsite != nil && IsBackupID(req.Backup) {
		// No longer kept here: the job's first step fetches it back from
		// offsite, and an undone restore removes it again.
		c, cerr := s.offsiteCopy(ctx, inst.Internal, req.Backup)
		if cerr != nil {
			return nil, fmt.Errorf("%w, nor offsite (%v)", err, cerr)
		}
		b, err, fetched = BackupInfo{Manifest: Manifest{ID: c.Backup, Database: inst.Internal}}, nil, &c
	}
	if err != nil {
		return nil, err
	}
	r := s.restoreRun(inst, b, req.By)
	params := map[string]string{"backup": b.ID}
	var steps []Step
	if fetched != nil {
		params[paramFetched] = "offsite"
		steps = append(steps, Step{StepFetch, func(ctx context.Context) error { return r.fetch(ctx, *fetched) }, r.unfetch})
	}
	steps = append(steps,
		Step{StepCheck, r.verify, nil},
		Step{StepSafety, r.safety, nil},
		Step{StepPrepare, r.prepare, r.unprepare},
		Step{StepSwap, r.swap, r.unswap},
		Step{StepStart, r.start, nil},
		Step{StepCleanup, r.cleanup, nil},
	)
	return s.submit(ctx, s.jobPlan(JobRestore, inst, params, steps, StepCleanup), req, nil)
}

// StepFetch is a restore's first step when its backup is no longer kept
// here: the backup fetched back from offsite into BACKUP_DIR.
const StepFetch StepName = "fetch"

// paramFetched, in a restore job's parameters, says its backup was
// fetched from offsite ("offsite"): undoing the restore removes it.
const paramFetched = "fetched"

// fetch brings the offsite copy back into BACKUP_DIR (Service.fetch);
// the restore then goes on from it.
func (r *restoreRun) fetch(ctx context.Context, c OffsiteCopy) error {
	b, err := r.d.fetch(ctx, c)
	if err != nil {
		return err
	}
	r.backup = b
	return nil
}

// unfetch removes the fetched backup and any half of it.
func (r *restoreRun) unfetch(context.Context) error {
	return r.d.removeFetched(r.inst.Internal, r.backup.ID)
}

// recoverRestore ends a restore a stopped odoobot left open. Once its
// swap and its start are recorded done, the instance runs on the
// restored data and may have been written to since: the restore is
// finished (the instance started if it is not running, what was
// replaced dropped), never swapped back. Before that, what it had
// swapped is put back, reading where it stopped from the host:
//
//   - the databases were swapped when the staging database is gone and
//     prod-NAME_old exists (both renames happen in one transaction);
//   - the filestores were swapped, after the databases, when the old one
//     is aside and the live or the staging one has moved;
//
// then what was staged is dropped and the service started again.
func (s *Service) recoverRestore(ctx context.Context, job Job, rec recorded, emit emitFunc) (recovery, error) {
	inst, err := s.cfg.Store.Instance(ctx, job.Instance)
	if errors.Is(err, ErrInstanceNotFound) {
		return recovery{}, nil
	}
	if err != nil {
		return recovery{}, err
	}
	if err := s.trusted(inst, trustJob); err != nil {
		return recovery{}, err
	}
	r := s.restoreRun(inst, BackupInfo{}, job.RequestedBy)
	if at, err := time.Parse(time.RFC3339Nano, job.Params[paramAt]); err == nil {
		// A restore to a time: its scratch cluster and dump go too.
		r.at = at
	}
	if rec.Committed(StepSwap, StepStart) {
		err := runStep(ctx, emit, StepStart, func(ctx context.Context) error { return s.ensureRunning(ctx, inst, r.paths) })
		if err == nil {
			err = runStep(ctx, emit, StepCleanup, r.cleanup)
		}
		return recovery{finished: true}, err
	}
	staged, err := s.cfg.Databases.Exists(ctx, r.stagingDB)
	if err != nil {
		return recovery{}, err
	}
	old, err := s.cfg.Databases.Exists(ctx, r.oldDB)
	if err != nil {
		return recovery{}, err
	}
	left, err := s.cfg.Files.RestoreLeftover(ctx, inst)
	if err != nil {
		return recovery{}, err
	}
	r.dbSwapped = !staged && old
	r.fsSwapped = r.dbSwapped && left.Replaced && (!left.Live || !left.Staged)
	r.hadFilestore = r.fsSwapped
	r.stopped, r.wasRunning = true, true
	var res recovery
	if r.dbSwapped {
		if err := undoStep(ctx, emit, StepSwap, r.unswap, &res.undone); err != nil {
			return res, err
		}
	}
	if err := undoStep(ctx, emit, StepPrepare, r.unprepare, &res.undone); err != nil {
		return res, err
	}
	if !r.at.IsZero() {
		if err := undoStep(ctx, emit, StepReplay, r.unreplay, &res.undone); err != nil {
			return res, err
		}
	}
	if !r.dbSwapped {
		// Never swapped: the service may only have been stopped.
		if err := s.ensureRunning(ctx, inst, r.paths); err != nil {
			return res, err
		}
	}
	if id := job.Params["backup"]; job.Params[paramFetched] != "" && IsBackupID(id) {
		r.backup.ID = id
		if err := undoStep(ctx, emit, StepFetch, r.unfetch, &res.undone); err != nil {
			return res, err
		}
	}
	return res, nil
}

// ensureRunning starts the instance and waits for it to be healthy,
// unless its unit is running already.
func (s *Service) ensureRunning(ctx context.Context, inst Instance, p Paths) error {
	if st, err := s.cfg.Services.Status(ctx, inst.Unit); err == nil && st.Running() {
		return s.checkPortOwners(inst)
	}
	return s.startHealthy(ctx, inst, p)
}

// findBackup returns the instance's backup id, if it looks intact.
func (s *Service) findBackup(inst Instance, id string) (BackupInfo, error) {
	if id == "" || !filepath.IsLocal(id) || strings.ContainsAny(id, `/\`) || strings.HasPrefix(id, ".") {
		return BackupInfo{}, fmt.Errorf("%w: %q is not a backup id; see backups %s", ErrBackupNotFound, id, inst.Name)
	}
	b, err := s.backups.Read(inst.Internal, id)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("%w: %s has no backup %q; see backups %s", ErrBackupNotFound, inst.Name, id, inst.Name)
	}
	if !b.Intact {
		return BackupInfo{}, fmt.Errorf("%w: %s", ErrBackupCorrupt, b.Problem)
	}
	return b, nil
}

// restoreRun names where one restore of inst stages and sets aside its
// database; the tree driver names its filestores (BackupFiles), in the
// staging directory, root's, outside the tenant's tree.
func (s *Service) restoreRun(inst Instance, b BackupInfo, by string) *restoreRun {
	r := &restoreRun{d: s, inst: inst, paths: s.cfg.Layout.Paths(inst), backup: b, by: by}
	r.stagingDB, r.oldDB = inst.Internal+RestoreStagingSuffix, inst.Internal+RestoreOldSuffix
	return r
}

// restoreRun is one restore; the flags say what to put back on failure.
type restoreRun struct {
	d      *Service
	inst   Instance
	paths  Paths
	backup BackupInfo
	by     string

	stagingDB, oldDB string

	// A restore to a time: the time, the dump its replay step made (which
	// prepare restores instead of the backup's), and its task, which
	// the replay step tells the time reached.
	at   time.Time
	dump string
	task atomic.Pointer[Task]

	wasRunning, stopped  bool
	dbSwapped, fsSwapped bool
	hadFilestore         bool
}

func (r *restoreRun) verify(ctx context.Context) error {
	return r.d.VerifyBackup(r.backup)
}

func (r *restoreRun) safety(ctx context.Context) error {
	b := &backupRun{d: r.d, inst: r.inst, reason: ReasonSafety, by: r.by, protect: r.backup.ID}
	_, err := b.take(ctx)
	return err
}

// prepare restores the backup beside the live instance: the database as
// prod-NAME_restore, the filestore in the staging directory (root's,
// outside the tenant's tree), owned by the instance's user there.
// Leftovers of an earlier restore that stopped half-way are removed
// first.
func (r *restoreRun) prepare(ctx context.Context) error {
	if err := r.unprepare(ctx); err != nil {
		return err
	}
	dump := filepath.Join(r.backup.Dir, DumpName)
	if r.dump != "" {
		dump = r.dump
	}
	if err := r.d.pg.Restore(ctx, r.stagingDB, r.inst.DBRole, dump); err != nil {
		return fmt.Errorf("restore: database: %w", err)
	}
	// Unpacked where no tenant reaches, owned by the tenant there, and
	// moved into its tree only once it is stopped (swap).
	var archive io.Reader
	if _, ok := r.backup.File(FilestoreName); ok {
		rc, err := r.d.backups.OpenFilestore(r.backup)
		if err != nil {
			return fmt.Errorf("restore: filestore: %w", err)
		}
		defer rc.Close()
		archive = rc
	}
	if err := r.d.cfg.Files.StageRestore(ctx, r.inst, r.runAs(), archive); err != nil {
		return fmt.Errorf("restore: filestore: %w", err)
	}
	return nil
}

func (r *restoreRun) unprepare(ctx context.Context) error {
	if err := r.d.pg.Drop(ctx, r.stagingDB); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := r.d.cfg.Files.DropRestore(ctx, r.inst, RestoreStaged); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return nil
}

// swap stops the service and puts the restored database and filestore
// in place of the live ones, which are kept aside until cleanup.
func (r *restoreRun) swap(ctx context.Context) error {
	st, err := r.d.cfg.Services.Status(ctx, r.inst.Unit)
	if err != nil {
		return err
	}
	r.wasRunning = st.Running()
	if err := r.d.cfg.Services.Stop(ctx, r.inst.Unit); err != nil {
		return err
	}
	r.stopped = true
	if err := r.d.pg.Drop(ctx, r.oldDB); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := r.d.pg.Swap(ctx, r.inst.Internal, r.oldDB, r.stagingDB); err != nil {
		return fmt.Errorf("restore: swap databases: %w", err)
	}
	r.dbSwapped = true
	// The instance is stopped: its filestore goes to the staging
	// directory and the restored one comes in, each by one rename.
	done, err := r.d.cfg.Files.SwapRestore(ctx, r.inst, r.runAs())
	r.fsSwapped, r.hadFilestore = done.Swapped, done.HadLive
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return nil
}

func (r *restoreRun) runAs() string {
	if r.inst.User != "" {
		return r.inst.User
	}
	return r.d.cfg.ServiceUser
}

// unswap puts the previous database and filestore back and the service
// in the state it was found in.
func (r *restoreRun) unswap(ctx context.Context) error {
	var errs []error
	if r.stopped {
		if err := r.d.cfg.Services.Stop(ctx, r.inst.Unit); err != nil {
			errs = append(errs, err)
		}
	}
	if r.fsSwapped {
		if err := r.d.cfg.Files.UnswapRestore(ctx, r.inst, r.hadFilestore); err != nil {
			errs = append(errs, fmt.Errorf("restore: put the filestore back: %w", err))
		}
		r.fsSwapped = false
	}
	if r.dbSwapped {
		if err := r.d.pg.Swap(ctx, r.inst.Internal, r.stagingDB, r.oldDB); err != nil {
			errs = append(errs, fmt.Errorf("restore: swap the databases back: %w", err))
		} else {
			r.dbSwapped = false
			if err := r.d.pg.Drop(ctx, r.stagingDB); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if r.stopped && r.wasRunning && len(errs) == 0 {
		if err := r.d.startHealthy(ctx, r.inst, r.paths); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (r *restoreRun) start(ctx context.Context) error {
	return r.d.startHealthy(ctx, r.inst, r.paths)
}

// cleanup drops the replaced database and filestore. The restore has
// succeeded by then, so a failure here is logged, not undone: what is
// left is removed by the next restore.
func (r *restoreRun) cleanup(ctx context.Context) error {
	if err := r.d.pg.Drop(ctx, r.oldDB); err != nil {
		r.d.cfg.Logger.Warn("restore: drop the replaced database", "database", r.oldDB, "err", err)
	}
	if err := r.d.cfg.Files.DropRestore(ctx, r.inst, RestoreReplaced); err != nil {
		r.d.cfg.Logger.Warn("restore: remove the replaced filestore", "instance", r.inst.Name, "err", err)
	}
	if !r.at.IsZero() {
		if err := r.unreplay(ctx); err != nil {
			r.d.cfg.Logger.Warn("restore: remove the point-in-time scratch", "instance", r.inst.Name, "err", err)
		}
	}
	return nil
}
