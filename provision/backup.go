package provision

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"
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

// Backup reasons, as the manifest records them. Retention counts safety
// and final backups apart from the others.
const (
	ReasonManual    = "manual"    // asked for with backup NAME
	ReasonScheduled = "scheduled" // the daily backup
	ReasonSafety    = "safety"    // taken before a restore
	ReasonFinal     = "final"     // taken before a delete
)

// The files of a backup, as its manifest lists them.
const (
	DumpName      = "database.dump"    // pg_dump -Fc of the database; every backup has one
	FilestoreName = "filestore.tar.gz" // the filestore as a tar.gz
	ConfName      = "odoo.conf"        // a copy of the instance's odoo.conf
)

// IDLayout is the UTC timestamp a backup's id starts with (time.Format
// layout); "-N" is appended when two are taken in the same second.
const IDLayout = "20060102T150405Z"

// BackupFile is one file of a backup, as the manifest records it.
type BackupFile struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Manifest describes one backup: what it is of, why and when it was
// taken, and its files with their sizes and SHA-256 checksums. The
// backups driver keeps it as JSON beside the files, under these field
// names.
type Manifest struct {
	Format      int       `json:"format"`
	ID          string    `json:"id"` // the backup's id, a UTC timestamp (IDLayout)
	Instance    string    `json:"instance"`
	Database    string    `json:"database"`
	Reason      string    `json:"reason"`
	RequestedBy string    `json:"requested_by"`
	CreatedAt   time.Time `json:"created_at"`
	OdooVersion string    `json:"odoo_version"`
	// OdooRelease is the Odoo commit of the release the instance runs,
	// as it recorded it; "unknown" for an instance that records none.
	OdooRelease string `json:"odoo_release"`
	// Release is the instance's recorded release in full: key,
	// repository, commit, interpreter, dependency mode; absent for an
	// instance that records none.
	Release    *ReleaseRecord `json:"release,omitempty"`
	BotVersion string         `json:"odoobot_version"`
	Files      []BackupFile   `json:"files"`
	// What a new server needs to serve the instance again from this
	// backup alone: its domain, how it is served, the instance it is a
	// staging copy of, and the modules it was made with (the server's
	// configuration then). Absent in backups of earlier versions.
	Domain    string   `json:"domain,omitempty"`
	SSLMode   SSLMode  `json:"ssl_mode,omitempty"`
	StagingOf string   `json:"staging_of,omitempty"`
	Modules   []string `json:"modules,omitempty"`
	// Counts is what the instance held when the backup was taken: rows
	// of a few core tables, read by its own database role in the dump's
	// own snapshot, and the files of the filestore as archived. A
	// restore drill compares the restored copy with it. Nil in backups
	// of earlier versions (a drill then compares nothing).
	Counts *DataCounts `json:"counts,omitempty"`
	// DatabaseBytes is the database's size (pg_database_size) when the
	// backup was taken, what a drill's restore is counted for; 0 in
	// backups of earlier versions.
	DatabaseBytes uint64 `json:"database_bytes,omitempty"`
}

// DataCounts is what a backup recorded of an instance's data, and what
// a restore drill finds in the restored copy.
type DataCounts struct {
	// Rows are row counts by table (DatabaseDumps.CountedDump names
	// them: res_partner, res_users, res_company, ir_attachment, and
	// "ir_module_module installed"); a table the database lacks, or
	// that could not be counted, is left out.
	Rows map[string]int64 `json:"rows"`
	// FilestoreFiles and FilestoreBytes are the regular files of the
	// filestore's archive and their bytes.
	FilestoreFiles int64 `json:"filestore_files"`
	FilestoreBytes int64 `json:"filestore_bytes"`
}

// File returns the manifest's entry for name.
func (m Manifest) File(name string) (BackupFile, bool) {
	for _, f := range m.Files {
		if f.Name == name {
			return f, true
		}
	}
	return BackupFile{}, false
}

// Size is the sum of the files' sizes.
func (m Manifest) Size() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// BackupInfo is a backup as listed: its manifest, its directory, and
// whether it is intact. Reading a backup only checks that every file is
// present with the recorded size; listing verifies every checksum, or
// reuses a verification that still stands, and says when in VerifiedAt.
type BackupInfo struct {
	Manifest
	Dir     string
	Intact  bool
	Problem string // why it is not intact
	// Damaged names the file that does not match the manifest; empty
	// when Intact.
	Damaged string
	// VerifiedAt is when every checksum was last found to match (or,
	// when Damaged, found not to); zero when the listing did not verify.
	VerifiedAt time.Time
}

// Retention says how many backups of an instance are kept. Manual and
// scheduled backups follow Odoo.sh's grandfather-father-son scheme: the
// newest backup of each of the Daily most recent days that have one, of
// each of the Weekly most recent ISO weeks, and of each of the Monthly
// most recent months (UTC); a backup may count for several. A restore's
// safety backups and a delete's final backups have counts of their own:
// the newest Safety and the newest Final are kept. Nothing is kept
// without limit.
type Retention struct {
	Daily, Weekly, Monthly int
	Safety, Final          int
}

// DefaultRetention is Odoo.sh's: 7 daily, 4 weekly, 3 monthly; and 5
// safety and 3 final backups.
func DefaultRetention() Retention {
	return Retention{Daily: 7, Weekly: 4, Monthly: 3, Safety: 5, Final: 3}
}

// Validate says what is wrong with r: at least one daily backup (the
// newest is always kept), one safety and one final backup; no negative
// count.
func (r Retention) Validate() error {
	if r.Daily < 1 || r.Weekly < 0 || r.Monthly < 0 || r.Safety < 1 || r.Final < 1 {
		return fmt.Errorf("backup retention %+v: keep at least 1 daily, 1 safety and 1 final backup, and 0 or more weekly and monthly ones", r)
	}
	return nil
}

// BackupConfig says where backups go and how they are made.
type BackupConfig struct {
	// Dir is BACKUP_DIR; an instance's backups are <Dir>/prod-NAME/<id>/.
	// Required.
	Dir string
	// Retention says which backups of an instance are kept after each
	// new one; the zero value means DefaultRetention.
	Retention Retention
	// BotVersion is recorded in manifests; when empty, the module version
	// from the binary's build information.
	BotVersion string
	// Store keeps the backups in Dir (provision/backups). Required.
	Store BackupStore
	// Postgres dumps, restores, sets aside and swaps databases
	// (provision/postgres's Admin). Required.
	Postgres Postgres
	// Offsite, when set, keeps a copy of every backup away from the
	// server (provision/offsite): each backup is pushed once sealed, the
	// retention applies there too, and a restore fetches a backup no
	// longer kept here.
	Offsite Offsite
	// PointInTime, when set, restores an instance's database to a time
	// from the cluster's continuous WAL archive (provision/pitr).
	PointInTime PointInTime
}

// ErrBackupNotFound is returned for a backup id an instance does not have.
var ErrBackupNotFound = errors.New("backup not found")

// ErrBackupCorrupt is returned when a backup's files do not match its
// manifest.
var ErrBackupCorrupt = errors.New("backup does not match its manifest")

// ErrBackupNoSpace is returned, before anything is written, when the
// file system of BACKUP_DIR has less free space than a backup is
// estimated to need.
var ErrBackupNoSpace = errors.New("not enough free space for the backup")

// Backup queues a backup of the instance: a pg_dump -Fc of its database,
// its filestore as a tar.gz and its odoo.conf, with a manifest of sizes
// and SHA-256 checksums, into <Dir>/prod-NAME/<UTC timestamp>/; then the
// backups the retention does not keep are removed. A backup appears in the
// listing only once complete; a failed one leaves nothing. Refusals (no
// such instance, busy) come back here.
func (s *Service) Backup(ctx context.Context, req JobRequest) (*Task, error) {
	return s.backup(ctx, req, ReasonManual)
}

func (s *Service) backup(ctx context.Context, req JobRequest, reason string) (*Task, error) {
	inst, err := s.lookup(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	b := &backupRun{d: s, inst: inst, reason: reason, by: req.By}
	return s.submit(ctx, s.jobPlan(JobBackup, inst, map[string]string{"reason": reason}, []Step{
		{StepDump, b.dump, b.discard},
		{StepFilestore, b.filestore, nil},
		{StepConfig, b.config, nil},
		{StepManifest, b.seal, nil},
		{StepRetention, b.retain, nil},
		{StepOffsite, b.pushNew, nil},
	}, StepManifest), req, nil)
}

// BackupAll backs up every ready instance, one after the other, waiting
// for each: the scheduled daily backup. An instance busy with another
// job is not backed up, and its error says so; the others still are. It
// returns the errors joined.
func (s *Service) BackupAll(ctx context.Context, by string) error {
	all, err := s.cfg.Store.Instances(ctx)
	if err != nil {
		return fmt.Errorf("provision: scheduled backup: %w", err)
	}
	var errs []error
	for _, inst := range all {
		if inst.State != StateReady {
			continue
		}
		t, err := s.backup(ctx, JobRequest{Name: inst.Name, By: by}, ReasonScheduled)
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
// verified against its manifest's SHA-256 checksums (BackupStore.List):
// a verification recorded beside the backup is reused while the files
// keep their size and modification time and it is recent, otherwise the
// checksums are computed again and the outcome recorded.
// A backup whose files do not match is listed with Intact false and
// Damaged naming the file. It works for a deleted instance too: its
// backups outlive it.
func (s *Service) Backups(ctx context.Context, name string) ([]BackupInfo, error) {
	if err := s.cfg.Rules.Check(name); err != nil {
		return nil, err
	}
	list, err := s.backups.List(ctx, InternalName(name), s.cfg.Now())
	if err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	return list, nil
}

// VerifyBackup checks every file of the backup against the manifest's
// size and SHA-256; the error matches ErrBackupCorrupt when one differs.
func (s *Service) VerifyBackup(b BackupInfo) error { return s.backups.Verify(b) }

// backupRun is one backup being made: a draft, hidden until sealed.
type backupRun struct {
	d    *Service
	inst Instance
	// paths are the instance's; the steps reach its files through
	// Files, which derives them.
	paths  Paths
	reason string
	by     string
	// protect is a backup retention must not remove: the one a restore
	// is about to restore.
	protect string

	id    string
	draft BackupDraft
	// counts and dbSize are what the manifest records of the data.
	counts DataCounts
	dbSize uint64
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
	draft, err := b.d.backups.Begin(b.inst.Internal, b.d.cfg.Now())
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	b.draft, b.id = draft, draft.ID()
	rows, err := b.d.pg.CountedDump(ctx, b.inst.Internal, draft.Path(DumpName))
	if err != nil {
		return err
	}
	b.counts.Rows = rows
	if err := draft.Add(DumpName); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// checkSpace measures the instance's database (pg_database_size) and
// has the backup store refuse the backup, with the numbers, when
// BACKUP_DIR's file system lacks the space it is estimated to need. It
// runs before the backup writes anything.
func (b *backupRun) checkSpace(ctx context.Context) error {
	dbSize, err := b.d.pg.Size(ctx, b.inst.Internal)
	if err != nil {
		return fmt.Errorf("backup: size of database %s: %w", b.inst.Internal, err)
	}
	b.dbSize = dbSize
	err = b.d.cfg.Files.ReadFilestore(ctx, b.inst, func(filestore fs.FS) error {
		return b.d.backups.Room(b.inst.Internal, dbSize, filestore)
	})
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// filestore archives the instance's filestore (an empty archive when the
// instance has none yet) through the tree driver's read-only view, which
// follows no link.
func (b *backupRun) filestore(ctx context.Context) error {
	err := b.d.cfg.Files.ReadFilestore(ctx, b.inst, func(filestore fs.FS) error {
		counted := &countingFS{fsys: filestore}
		if err := b.draft.Archive(ctx, counted, FilestoreName); err != nil {
			return err
		}
		b.counts.FilestoreFiles, b.counts.FilestoreBytes = counted.files, counted.bytes
		return nil
	})
	if err != nil {
		return fmt.Errorf("backup: filestore: %w", err)
	}
	return nil
}

// config copies odoo.conf (mode 0600: it holds the master password), as
// the tree driver reads it (never through a link, at most 1 MiB); a
// missing odoo.conf is left out of the backup.
func (b *backupRun) config(ctx context.Context) error {
	conf, err := b.d.cfg.Files.ReadConf(ctx, b.inst, ConfLive)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("backup: odoo.conf: %w", err)
	}
	if err := b.draft.Write(ConfName, conf.Raw); err != nil {
		return fmt.Errorf("backup: odoo.conf: %w", err)
	}
	return nil
}

// seal writes the manifest and puts the backup in place: from then on
// it is listed.
func (b *backupRun) seal(ctx context.Context) error {
	m := Manifest{
		Format: 1, Instance: b.inst.Name, Database: b.inst.Internal, Reason: b.reason,
		RequestedBy: b.by, CreatedAt: b.d.cfg.Now().UTC(), OdooVersion: b.d.cfg.Odoo.Version,
		BotVersion: b.d.bcfg.BotVersion,
		Domain:     b.inst.Domain, SSLMode: b.inst.SSLMode, StagingOf: b.inst.StagingOf, Modules: b.d.cfg.Odoo.Modules,
	}
	// What the instance runs, as it recorded it: never the release
	// builder's idea of the branch's head now.
	if b.counts.Rows != nil {
		c := b.counts
		m.Counts = &c
	}
	m.DatabaseBytes = b.dbSize
	m.OdooRelease = "unknown"
	if rel := b.inst.Release; rel.Known() {
		m.OdooRelease, m.Release = rel.Commit, &rel
	}
	if err := b.draft.Seal(m); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	b.d.NudgeOffsite()
	return nil
}

// discard removes a backup that did not complete.
func (b *backupRun) discard(ctx context.Context) error {
	if b.draft == nil {
		return nil
	}
	return b.draft.Discard()
}

// retain removes the backups the retention does not keep (never
// b.protect nor this backup) and any backup left half-made.
func (b *backupRun) retain(ctx context.Context) error {
	var keep []string
	for _, id := range []string{b.protect, b.id} {
		if id != "" {
			keep = append(keep, id)
		}
	}
	if err := b.d.backups.Prune(b.inst.Internal, b.d.bcfg.Retention, keep...); err != nil {
		// The backup stands: a retention that could not remove old
		// backups is said, and the next backup tries again.
		return &Noted{Message: "the backup stands; old backups could not all be removed, the next backup tries again: " + err.Error()}
	}
	return nil
}

// recoverBackup ends a backup a stopped odoobot left open: once sealed
// (its manifest step started and no half-made backup left) the backup
// stands and the retention is applied; before, the half-made backup is
// removed.
func (s *Service) recoverBackup(ctx context.Context, job Job, rec recorded, emit emitFunc) (recovery, error) {
	internal := InternalName(job.Instance)
	removed, err := s.backups.Abandon(internal)
	if err != nil {
		return recovery{}, fmt.Errorf("remove a half-made backup: %w", err)
	}
	if rec.Started(StepManifest) && removed == 0 && !rec.rollingBack {
		err := runStep(ctx, emit, StepRetention, func(context.Context) error {
			return s.backups.Prune(internal, s.bcfg.Retention)
		})
		if err == nil && s.bcfg.Offsite != nil {
			b := &backupRun{d: s, inst: Instance{Name: job.Instance, Internal: internal}}
			err = runStep(ctx, emit, StepOffsite, b.pushNew)
		}
		return recovery{finished: true}, err
	}
	var res recovery
	if removed > 0 {
		res.undone = []string{string(StepDump)}
	}
	return res, nil
}
