package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"odoobot/internal/backup"
	"odoobot/internal/safefs"
)

// DefaultBackupAt is the time of day, UTC, of the scheduled daily backup
// of every instance: 03:00. It stands until the configuration has a
// BACKUP_TIME variable.
const DefaultBackupAt = 3 * time.Hour

// The steps of backup, restore and delete jobs. Steps shared with a
// creation (database, files, service, nginx, certificate, dns) keep the
// creation's names.
const (
	StepDump      StepName = "dump"          // pg_dump -Fc of the database
	StepFilestore StepName = "filestore"     // the filestore as a tar.gz
	StepConfig    StepName = "config"        // a copy of odoo.conf
	StepManifest  StepName = "manifest"      // sizes and checksums; the backup becomes visible
	StepRetention StepName = "retention"     // the oldest backups beyond the limit removed
	StepCheck     StepName = "verify-backup" // the chosen backup's checksums
	StepSafety    StepName = "safety-backup" // a backup of the instance as it is, before a restore
	StepPrepare   StepName = "prepare"       // database and filestore restored beside the live ones
	StepSwap      StepName = "swap"          // service stopped, live and restored swapped by rename
	StepStart     StepName = "start"         // service started, health checked
	StepCleanup   StepName = "cleanup"       // the replaced database and filestore dropped
	StepFinalCopy StepName = "backup"        // a delete's final backup
	StepForget    StepName = "tracking"      // store row, ports and tracking lines
)

// Backup reasons, as the manifest records them (see internal/backup).
const (
	ReasonManual    = backup.ReasonManual    // asked for with backup NAME
	ReasonScheduled = backup.ReasonScheduled // the daily backup
	ReasonSafety    = backup.ReasonSafety    // taken before a restore
	ReasonFinal     = backup.ReasonFinal     // taken before a delete
)

// The backup machinery's types, under the names the jobs' callers use.
type (
	// BackupInfo is a backup as listed (backup.Info).
	BackupInfo = backup.Info
	// BackupFile is one file of a backup, as the manifest records it
	// (backup.File).
	BackupFile = backup.File
	// Manifest describes one backup: manifest.json in its directory
	// (backup.Manifest).
	Manifest = backup.Manifest
	// Retention says how many backups of an instance are kept
	// (backup.Retention).
	Retention = backup.Retention
	// FreeSpaceFunc measures the free space of a file system
	// (backup.FreeSpaceFunc).
	FreeSpaceFunc = backup.FreeSpaceFunc
)

// BackupConfig says where backups go and how they are made.
type BackupConfig struct {
	// Dir is BACKUP_DIR; an instance's backups are <Dir>/prod-NAME/<id>/.
	// Required.
	Dir string
	// Retention says which backups of an instance are kept after each
	// new one; the zero value means backup.DefaultRetention.
	Retention Retention
	// PGBin is the directory holding pg_dump, pg_restore and psql; when
	// empty, the newest /usr/lib/postgresql/*/bin, else PATH.
	PGBin string
	// BotVersion is recorded in manifests; when empty, the module version
	// from the binary's build information.
	BotVersion string
	// FreeSpace measures the free space of Dir's file system before each
	// backup; nil means backup.StatfsFree. Tests give a small fake one.
	FreeSpace FreeSpaceFunc
}

// DayTwo runs the verbs on existing instances that are jobs: backup,
// restore and delete, and lists backups. It embeds the Creator whose
// configuration (store, runner, drivers, layout, database connection) it
// uses, so it also creates: the app wires it as the dispatcher's
// Creator, and the dispatcher finds the day-two verbs on it.
type DayTwo struct {
	*Creator
	bcfg BackupConfig
	pg   backup.PG
}

// DayTwo returns the day-two verbs on c's configuration, with backups
// made as cfg says.
func (c *Creator) DayTwo(cfg BackupConfig) *DayTwo {
	if cfg.Retention == (Retention{}) {
		cfg.Retention = backup.DefaultRetention()
	}
	if cfg.BotVersion == "" {
		cfg.BotVersion = "(unknown)"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
			cfg.BotVersion = bi.Main.Version
		}
	}
	pg := backup.PG{Bin: cfg.PGBin, DB: backup.Conn(c.cfg.DB)}
	if login := c.cfg.DBLogin; login != nil {
		pg.Login = func(ctx context.Context, db string) (backup.Conn, error) {
			l, err := login(ctx, db)
			return backup.Conn(l), err
		}
	}
	return &DayTwo{Creator: c, bcfg: cfg, pg: pg}
}

// JobRequest asks for a day-two job on one instance. Backup names the
// backup to restore (restore only).
type JobRequest struct {
	Name      string
	Backup    string
	By        string // who asked
	Subscribe []Subscriber
	ChatRef   map[string]string
	// Finished, when set, is called once the job has ended, with its final
	// record, from the worker that ran it.
	Finished func(Job)
}

// ErrBackupNotFound is returned for a backup id an instance does not have.
var ErrBackupNotFound = errors.New("backup not found")

// ErrBackupCorrupt is returned when a backup's files do not match its
// manifest (backup.ErrCorrupt).
var ErrBackupCorrupt = backup.ErrCorrupt

// ErrBackupNoSpace is returned, before anything is written, when the
// file system of BACKUP_DIR has less free space than a backup is
// estimated to need (backup.ErrNoSpace).
var ErrBackupNoSpace = backup.ErrNoSpace

func (d *DayTwo) instanceDir(internal string) string {
	return filepath.Join(d.bcfg.Dir, internal)
}

// lookup returns the named instance from the store, once its name passes
// the rules and every name its row records is the derived one (trusted):
// a job acts on nothing else.
func (d *DayTwo) lookup(ctx context.Context, name string) (Instance, error) {
	return d.lookupFor(ctx, name, trustJob)
}

// lookupFor is lookup for a verb whose interrupted job leaves the host
// otherwise (Creator.trusted).
func (d *DayTwo) lookupFor(ctx context.Context, name string, verb trustFor) (Instance, error) {
	if err := d.cfg.Rules.Check(name); err != nil {
		return Instance{}, err
	}
	inst, err := d.cfg.Store.Instance(ctx, name)
	if errors.Is(err, ErrInstanceNotFound) {
		return inst, fmt.Errorf("%w: no instance named %q; see list", ErrInstanceNotFound, name)
	}
	if err != nil {
		return inst, fmt.Errorf("provision: look up %s: %w", name, err)
	}
	if err := d.trusted(inst, verb); err != nil {
		return Instance{}, err
	}
	return inst, nil
}

// submit records a job of kind on inst and queues its steps.
func (d *DayTwo) submit(ctx context.Context, kind JobKind, inst Instance, req JobRequest, params map[string]string, steps func() []Step, before func() error) (*Task, error) {
	job, err := d.cfg.Store.CreateJob(ctx, Job{
		Kind: kind, Instance: inst.Name, State: JobQueued, RequestedBy: req.By, Params: params, ChatRef: req.ChatRef,
	})
	if err != nil {
		return nil, err
	}
	if before != nil {
		if err := before(); err != nil {
			_ = d.cfg.Store.FinishJob(context.WithoutCancel(ctx), job.ID, JobRolledBack, err.Error(), nil)
			return nil, err
		}
	}
	t := &Task{Job: job, Steps: steps(), LogPath: d.jobLog(kind, inst), Subscribe: req.Subscribe, Finished: req.Finished}
	if err := d.cfg.Runner.Submit(t); err != nil {
		_ = d.cfg.Store.FinishJob(context.WithoutCancel(ctx), job.ID, JobInterrupted, err.Error(), nil)
		return nil, err
	}
	return t, nil
}

// Backup queues a backup of the instance: a pg_dump -Fc of its database,
// its filestore as a tar.gz and its odoo.conf, with a manifest of sizes
// and SHA-256 checksums, into <Dir>/prod-NAME/<UTC timestamp>/; then the
// backups the retention does not keep are removed. A backup appears in the
// listing only once complete; a failed one leaves nothing. Refusals (no
// such instance, busy) come back here.
func (d *DayTwo) Backup(ctx context.Context, req JobRequest) (*Task, error) {
	return d.backup(ctx, req, ReasonManual)
}

func (d *DayTwo) backup(ctx context.Context, req JobRequest, reason string) (*Task, error) {
	inst, err := d.lookup(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	b := &backupRun{d: d, inst: inst, paths: d.cfg.Layout.Paths(inst), reason: reason, by: req.By}
	return d.submit(ctx, JobBackup, inst, req, map[string]string{"reason": reason}, func() []Step {
		return []Step{
			{StepDump, b.dump, b.discard},
			{StepFilestore, b.filestore, nil},
			{StepConfig, b.config, nil},
			{StepManifest, b.seal, nil},
			{StepRetention, b.retain, nil},
		}
	}, nil)
}

// BackupAll backs up every ready instance, one after the other, waiting
// for each: the scheduled daily backup. An instance busy with another
// job is not backed up, and its error says so; the others still are. It
// returns the errors joined.
func (d *DayTwo) BackupAll(ctx context.Context, by string) error {
	all, err := d.cfg.Store.Instances(ctx)
	if err != nil {
		return fmt.Errorf("provision: scheduled backup: %w", err)
	}
	var errs []error
	for _, inst := range all {
		if inst.State != StateReady {
			continue
		}
		t, err := d.backup(ctx, JobRequest{Name: inst.Name, By: by}, ReasonScheduled)
		if err != nil {
			errs = append(errs, fmt.Errorf("backup %s: %w", inst.Name, err))
			continue
		}
		if _, err := t.Wait(ctx); err != nil {
			errs = append(errs, fmt.Errorf("backup %s: %w", inst.Name, err))
		}
	}
	return errors.Join(errs...)
}

// NextDaily is the first time after now at the time of day at (UTC).
func NextDaily(now time.Time, at time.Duration) time.Time {
	now = now.UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	next := day.Add(at)
	if !next.After(now) {
		next = day.AddDate(0, 0, 1).Add(at)
	}
	return next
}

// Backups lists an instance's complete backups, newest first, each
// verified against its manifest's SHA-256 checksums (backup.Check): a
// verification recorded in the backup's directory is reused while the
// files keep their size and modification time and it is younger than
// backup.VerifyMaxAge, otherwise the checksums are computed again and the
// outcome recorded.
// A backup whose files do not match is listed with Intact false and
// Damaged naming the file. It works for a deleted instance too: its
// backups outlive it.
func (d *DayTwo) Backups(ctx context.Context, name string) ([]BackupInfo, error) {
	if err := d.cfg.Rules.Check(name); err != nil {
		return nil, err
	}
	list, err := backup.List(d.instanceDir(InternalName(name)))
	if err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	for i := range list {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		list[i] = backup.Check(list[i], d.cfg.Now())
	}
	return list, nil
}

// VerifyBackup checks every file of the backup against the manifest's
// size and SHA-256; the error matches ErrBackupCorrupt when one differs
// (backup.Verify).
func VerifyBackup(b BackupInfo) error { return backup.Verify(b) }

// backupRun is one backup being made, in a hidden directory renamed into
// place once the manifest is written.
type backupRun struct {
	d      *DayTwo
	inst   Instance
	paths  Paths
	reason string
	by     string
	// protect is a backup retention must not remove: the one a restore
	// is about to restore.
	protect string

	id, partial string
	files       []BackupFile
}

// take makes the whole backup in one call, then applies the retention:
// a safety or final backup.
func (b *backupRun) take(ctx context.Context) (string, error) {
	for _, f := range []func(context.Context) error{b.dump, b.filestore, b.config, b.seal} {
		if err := f(ctx); err != nil {
			_ = b.discard(context.WithoutCancel(ctx))
			return "", err
		}
	}
	if err := b.retain(ctx); err != nil {
		return b.id, err
	}
	return b.id, nil
}

// start picks the backup's id and makes its hidden directory.
func (b *backupRun) start() error {
	dir := b.d.instanceDir(b.inst.Internal)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	base := b.d.cfg.Now().UTC().Format(backup.IDLayout)
	for i := 0; ; i++ {
		id := base
		if i > 0 {
			id += "-" + strconv.Itoa(i)
		}
		if _, err := os.Lstat(filepath.Join(dir, id)); err == nil {
			continue
		}
		partial := filepath.Join(dir, "."+id+".partial")
		if err := os.Mkdir(partial, 0o700); errors.Is(err, fs.ErrExist) {
			continue
		} else if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		b.id, b.partial = id, partial
		return nil
	}
}

// record adds the file name, just written, to the manifest's files.
func (b *backupRun) record(name string) error {
	f, err := backup.HashFile(b.partial, name)
	if err != nil {
		return fmt.Errorf("backup: checksum %s: %w", name, err)
	}
	b.files = append(b.files, f)
	return nil
}

// dump refuses the backup, before anything is written, when BACKUP_DIR
// lacks the space it is estimated to need (checkSpace); then it runs
// pg_dump -Fc: one consistent snapshot of the database. It runs
// before the filestore is archived, so that every attachment the dump
// names is in the archive (Odoo only adds files, by checksum, while it
// runs).
func (b *backupRun) dump(ctx context.Context) error {
	if err := b.checkSpace(ctx); err != nil {
		return err
	}
	if err := b.start(); err != nil {
		return err
	}
	if err := b.d.pg.Dump(ctx, b.inst.Internal, filepath.Join(b.partial, backup.DumpName)); err != nil {
		return err
	}
	return b.record(backup.DumpName)
}

// checkSpace estimates the backup (pg_database_size of the instance's
// database and the size of its filestore, see backup.Estimate) and
// refuses it, with both numbers, when BACKUP_DIR's file system has less
// free space. It runs before the backup writes anything.
func (b *backupRun) checkSpace(ctx context.Context) error {
	dbSize, err := b.d.pg.Size(ctx, b.inst.Internal)
	if err != nil {
		return fmt.Errorf("backup: size of database %s: %w", b.inst.Internal, err)
	}
	fsDir := filepath.Join(b.paths.DataDir, "filestore", b.inst.Internal)
	fsSize, err := backup.TreeSize(fsDir)
	if err != nil {
		return fmt.Errorf("backup: size of the filestore %s: %w", fsDir, err)
	}
	free, err := b.d.bcfg.freeSpace()(b.d.bcfg.Dir)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	need := backup.Estimate(dbSize, fsSize)
	if free < need {
		return fmt.Errorf("%w: a backup of %s needs about %s (database %s, filestore %s, and a margin) but %s has %s free: free space there, remove old backups, or point BACKUP_DIR at a larger disk",
			ErrBackupNoSpace, b.inst.Internal, backup.ByteSize(need), backup.ByteSize(dbSize), backup.ByteSize(fsSize), b.d.bcfg.Dir, backup.ByteSize(free))
	}
	return nil
}

// freeSpace is the configured FreeSpaceFunc, backup.StatfsFree by
// default.
func (c BackupConfig) freeSpace() FreeSpaceFunc {
	if c.FreeSpace != nil {
		return c.FreeSpace
	}
	return backup.StatfsFree
}

// filestore archives <DataDir>/filestore/prod-NAME (an empty archive when
// the instance has none yet), walked beneath PROD_ROOT without following
// a link (backup.WriteTarGz).
func (b *backupRun) filestore(ctx context.Context) error {
	l := b.d.cfg.Layout
	rel, err := l.beneath(filepath.Join(b.paths.DataDir, "filestore", b.inst.Internal))
	if err != nil {
		return fmt.Errorf("backup: filestore: %w", err)
	}
	if err := backup.WriteTarGz(ctx, l.ProdRoot, rel, filepath.Join(b.partial, backup.FilestoreName)); err != nil {
		return fmt.Errorf("backup: filestore: %w", err)
	}
	return b.record(backup.FilestoreName)
}

// config copies odoo.conf (mode 0600: it holds the master password),
// opened beneath PROD_ROOT without following a link and read up to
// maxConfSize; a missing odoo.conf is left out of the backup.
func (b *backupRun) config(ctx context.Context) error {
	raw, err := b.d.cfg.Layout.readConf(b.paths.Conf)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("backup: odoo.conf: %w", err)
	}
	if err := os.WriteFile(filepath.Join(b.partial, backup.ConfName), raw, 0o600); err != nil {
		return fmt.Errorf("backup: odoo.conf: %w", err)
	}
	return b.record(backup.ConfName)
}

// seal writes the manifest and renames the directory into place: from
// then on the backup is listed.
func (b *backupRun) seal(ctx context.Context) error {
	m := Manifest{
		Format: 1, ID: b.id, Instance: b.inst.Name, Database: b.inst.Internal, Reason: b.reason,
		RequestedBy: b.by, CreatedAt: b.d.cfg.Now().UTC(), OdooVersion: b.d.cfg.Odoo.Version,
		BotVersion: b.d.bcfg.BotVersion, Files: b.files,
	}
	// What the instance runs, as it recorded it: never the release
	// builder's idea of the branch's head now.
	m.OdooRelease = "unknown"
	if rel := b.inst.Release; rel.Known() {
		m.OdooRelease, m.Release = rel.Commit, &rel
	}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("backup: manifest: %w", err)
	}
	if err := os.WriteFile(filepath.Join(b.partial, backup.ManifestName), append(raw, '\n'), 0o600); err != nil {
		return fmt.Errorf("backup: manifest: %w", err)
	}
	if err := backup.SyncDir(b.partial); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	final := filepath.Join(filepath.Dir(b.partial), b.id)
	if err := os.Rename(b.partial, final); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	b.partial = ""
	// Every checksum was computed from the files just written: the backup
	// is verified as of now.
	_ = backup.MarkVerified(BackupInfo{Manifest: m, Dir: final, Intact: true}, m.CreatedAt)
	return nil
}

// discard removes a backup that did not complete.
func (b *backupRun) discard(ctx context.Context) error {
	if b.partial == "" {
		return nil
	}
	err := os.RemoveAll(b.partial)
	b.partial = ""
	return err
}

// retain removes the backups the retention does not keep (see
// Retention.Prune; never b.protect) and any directory left by a backup
// that never completed.
func (b *backupRun) retain(ctx context.Context) error {
	dir := b.d.instanceDir(b.inst.Internal)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") && strings.HasSuffix(e.Name(), ".partial") {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
	list, err := backup.List(dir)
	if err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	var errs []error
	for _, old := range b.d.bcfg.Retention.Prune(list) {
		if old.ID == b.protect || old.ID == b.id {
			continue
		}
		if err := os.RemoveAll(old.Dir); err != nil {
			errs = append(errs, fmt.Errorf("retention: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Restore queues a restore of backup req.Backup over the instance. The
// backup must exist and look intact (checked here, so a refusal comes
// back at once); the job then verifies every checksum before anything is
// touched, takes a safety backup of the instance as it is, restores the
// database and the filestore beside the live ones, stops the service,
// swaps them in by rename, starts the service and waits for it to be
// healthy, then drops what was replaced. A failure at any point swaps
// the previous database and filestore back and restarts the service as
// it was: the instance is left as it was before.
func (d *DayTwo) Restore(ctx context.Context, req JobRequest) (*Task, error) {
	inst, err := d.lookup(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	if inst.State != StateReady {
		return nil, fmt.Errorf("%w: %s is %s, not ready", ErrServiceState, inst.Name, inst.State)
	}
	b, err := d.findBackup(inst, req.Backup)
	if err != nil {
		return nil, err
	}
	r := d.restoreRun(inst, b, req.By)
	return d.submit(ctx, JobRestore, inst, req, map[string]string{"backup": b.ID}, func() []Step {
		return []Step{
			{StepCheck, r.verify, nil},
			{StepSafety, r.safety, nil},
			{StepPrepare, r.prepare, r.unprepare},
			{StepSwap, r.swap, r.unswap},
			{StepStart, r.start, nil},
			{StepCleanup, r.cleanup, nil},
		}
	}, nil)
}

// Recover is Creator.Recover that also ends the restores, upgrades and
// isolations a stopped odoobot left open: each finished when its change
// was recorded as made, rolled back otherwise (see recoverer).
func (d *DayTwo) Recover(ctx context.Context, subscribe func(Job) []Subscriber) ([]Job, error) {
	return d.recoverWith(ctx, subscribe, map[JobKind]recoverer{
		JobRestore: d.recoverRestore, JobUpgrade: d.recoverUpgrade, JobIsolate: d.recoverIsolate,
	})
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
func (d *DayTwo) recoverRestore(ctx context.Context, job Job, rec recorded, emit emitFunc) (recovery, error) {
	inst, err := d.cfg.Store.Instance(ctx, job.Instance)
	if errors.Is(err, ErrInstanceNotFound) {
		return recovery{}, nil
	}
	if err != nil {
		return recovery{}, err
	}
	if err := d.trusted(inst, trustJob); err != nil {
		return recovery{}, err
	}
	r := d.restoreRun(inst, BackupInfo{}, job.RequestedBy)
	if rec.Committed(StepSwap, StepStart) {
		err := runStep(ctx, emit, StepStart, func(ctx context.Context) error { return d.ensureRunning(ctx, inst, r.paths) })
		if err == nil {
			err = runStep(ctx, emit, StepCleanup, r.cleanup)
		}
		return recovery{finished: true}, err
	}
	staged, err := d.cfg.Databases.Exists(ctx, r.stagingDB)
	if err != nil {
		return recovery{}, err
	}
	old, err := d.cfg.Databases.Exists(ctx, r.oldDB)
	if err != nil {
		return recovery{}, err
	}
	staging, err := d.cfg.Layout.openStaging()
	if err != nil {
		return recovery{}, err
	}
	defer staging.Close()
	exists := func(d *safefs.Dir, name string) bool { ok, err := d.Exists(name); return err == nil && ok }
	liveExists := false
	if stores, err := d.cfg.Layout.openFilestores(r.paths, -1, -1); err == nil {
		liveExists = exists(stores, inst.Internal)
		stores.Close()
	}
	r.dbSwapped = !staged && old
	r.fsSwapped = r.dbSwapped && exists(staging, r.fsOld) && (!liveExists || !exists(staging, r.fsStaging))
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
	if !r.dbSwapped {
		// Never swapped: the service may only have been stopped.
		if err := d.ensureRunning(ctx, inst, r.paths); err != nil {
			return res, err
		}
	}
	return res, nil
}

// ensureRunning starts the instance and waits for it to be healthy,
// unless its unit is running already.
func (d *DayTwo) ensureRunning(ctx context.Context, inst Instance, p Paths) error {
	if st, err := d.cfg.Services.Status(ctx, inst.Unit); err == nil && st.Running() {
		return d.checkPortOwners(inst)
	}
	return d.startHealthy(ctx, inst, p)
}

// findBackup returns the instance's backup id, if it looks intact.
func (d *DayTwo) findBackup(inst Instance, id string) (BackupInfo, error) {
	if id == "" || !filepath.IsLocal(id) || strings.ContainsAny(id, `/\`) || strings.HasPrefix(id, ".") {
		return BackupInfo{}, fmt.Errorf("%w: %q is not a backup id; see backups %s", ErrBackupNotFound, id, inst.Name)
	}
	b, err := backup.Read(filepath.Join(d.instanceDir(inst.Internal), id))
	if err != nil {
		return BackupInfo{}, fmt.Errorf("%w: %s has no backup %q; see backups %s", ErrBackupNotFound, inst.Name, id, inst.Name)
	}
	if !b.Intact {
		return BackupInfo{}, fmt.Errorf("%w: %s", ErrBackupCorrupt, b.Problem)
	}
	return b, nil
}

// restoreRun names where one restore of inst stages and sets aside its
// database and filestore: the filestores in the staging directory
// (StagingDirName), root's, outside the tenant's tree.
func (d *DayTwo) restoreRun(inst Instance, b BackupInfo, by string) *restoreRun {
	r := &restoreRun{d: d, inst: inst, paths: d.cfg.Layout.Paths(inst), backup: b, by: by}
	r.stagingDB, r.oldDB = inst.Internal+RestoreStagingSuffix, inst.Internal+RestoreOldSuffix
	r.fsStaging, r.fsOld = "restore-"+inst.Internal, "restore-"+inst.Internal+".old"
	return r
}

// restoreRun is one restore; the flags say what to put back on failure.
type restoreRun struct {
	d      *DayTwo
	inst   Instance
	paths  Paths
	backup BackupInfo
	by     string

	stagingDB, oldDB string
	// fsStaging and fsOld are names in the staging directory: the
	// filestore restored, and the live one once swapped out.
	fsStaging, fsOld string

	wasRunning, stopped  bool
	dbSwapped, fsSwapped bool
	hadFilestore         bool
}

func (r *restoreRun) verify(ctx context.Context) error {
	return VerifyBackup(r.backup)
}

func (r *restoreRun) safety(ctx context.Context) error {
	b := &backupRun{d: r.d, inst: r.inst, paths: r.paths, reason: ReasonSafety, by: r.by, protect: r.backup.ID}
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
	if err := r.d.pg.Restore(ctx, r.stagingDB, r.inst.DBRole, filepath.Join(r.backup.Dir, backup.DumpName)); err != nil {
		return fmt.Errorf("restore: database: %w", err)
	}
	runAs := r.d.cfg.ServiceUser
	if r.inst.User != "" {
		runAs = r.inst.User
	}
	uid, gid, err := r.d.lookupUser(runAs)
	if err != nil {
		return err
	}
	// Unpacked where no tenant reaches, owned by the tenant there, and
	// moved into its tree only once it is stopped (swap).
	staging, err := r.d.cfg.Layout.openStaging()
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer staging.Close()
	if _, ok := r.backup.File(backup.FilestoreName); ok {
		if err := backup.ExtractTarGz(ctx, filepath.Join(r.backup.Dir, backup.FilestoreName), filepath.Join(staging.Path(), r.fsStaging), uid, gid); err != nil {
			return fmt.Errorf("restore: filestore: %w", err)
		}
	} else {
		d, err := staging.Mkdir(r.fsStaging, 0o750)
		if err == nil {
			d.Close()
			err = staging.Chown(r.fsStaging, uid, gid)
		}
		if err != nil {
			return fmt.Errorf("restore: filestore: %w", err)
		}
	}
	return nil
}

func (r *restoreRun) unprepare(ctx context.Context) error {
	if err := r.d.pg.Drop(ctx, r.stagingDB); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	staging, err := r.d.cfg.Layout.openStaging()
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer staging.Close()
	if err := staging.RemoveAll(r.fsStaging); err != nil {
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
	// directory and the restored one comes in, each by one rename on
	// handles that no link leads astray.
	uid, gid, err := r.d.lookupUser(r.runAs())
	if err != nil {
		return err
	}
	staging, err := r.d.cfg.Layout.openStaging()
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer staging.Close()
	stores, err := r.d.cfg.Layout.openFilestores(r.paths, uid, gid)
	if err != nil {
		return fmt.Errorf("restore: swap filestores: %w", err)
	}
	defer stores.Close()
	if err := staging.RemoveAll(r.fsOld); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if ok, err := stores.Exists(r.inst.Internal); err != nil {
		return fmt.Errorf("restore: swap filestores: %w", err)
	} else if ok {
		if err := stores.Rename(r.inst.Internal, staging, r.fsOld); err != nil {
			return fmt.Errorf("restore: swap filestores: %w", err)
		}
		r.hadFilestore = true
	}
	r.fsSwapped = true
	if err := staging.Replace(r.fsStaging, stores, r.inst.Internal); err != nil {
		return fmt.Errorf("restore: swap filestores: %w", err)
	}
	return nil
}

func (r *restoreRun) runAs() string {
	if r.inst.User != "" {
		return r.inst.User
	}
	return r.d.cfg.ServiceUser
}

// unswapFilestore puts the filestore kept in the staging directory back
// in place of the restored one, on handles.
func (r *restoreRun) unswapFilestore() error {
	staging, err := r.d.cfg.Layout.openStaging()
	if err != nil {
		return err
	}
	defer staging.Close()
	stores, err := r.d.cfg.Layout.openFilestores(r.paths, -1, -1)
	if err != nil {
		return err
	}
	defer stores.Close()
	if err := stores.RemoveAll(r.inst.Internal); err != nil {
		return err
	}
	if r.hadFilestore {
		return staging.Replace(r.fsOld, stores, r.inst.Internal)
	}
	return nil
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
		if err := r.unswapFilestore(); err != nil {
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
	staging, err := r.d.cfg.Layout.openStaging()
	if err == nil {
		err = staging.RemoveAll(r.fsOld)
		staging.Close()
	}
	if err != nil {
		r.d.cfg.Logger.Warn("restore: remove the replaced filestore", "name", r.fsOld, "err", err)
	}
	return nil
}
