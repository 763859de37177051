package provision

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"odoobot/internal/childenv"
)

// DefaultBackupAt is the time of day, UTC, of the scheduled daily backup
// of every instance: 03:00. It stands until the configuration has a
// BACKUP_TIME variable.
const DefaultBackupAt = 3 * time.Hour

// The steps of backup, restore and delete jobs. Steps shared with a
// creation (database, files, service, nginx, certificate, dns) keep the
// creation's names.
const (
	StepDump       StepName = "dump"          // pg_dump -Fc of the database
	StepFilestore  StepName = "filestore"     // the filestore as a tar.gz
	StepConfig     StepName = "config"        // a copy of odoo.conf
	StepManifest   StepName = "manifest"      // sizes and checksums; the backup becomes visible
	StepRetention  StepName = "retention"     // the oldest backups beyond the limit removed
	StepCheck      StepName = "verify-backup" // the chosen backup's checksums
	StepSafety     StepName = "safety-backup" // a backup of the instance as it is, before a restore
	StepPrepare    StepName = "prepare"       // database and filestore restored beside the live ones
	StepSwap       StepName = "swap"          // service stopped, live and restored swapped by rename
	StepStart      StepName = "start"         // service started, health checked
	StepCleanup    StepName = "cleanup"       // the replaced database and filestore dropped
	StepFinalCopy  StepName = "backup"        // a delete's final backup
	StepForget     StepName = "tracking"      // store row, ports and tracking lines
	backupManifest          = "manifest.json"
	backupDump              = "database.dump"
	backupFiles             = "filestore.tar.gz"
	backupConf              = "odoo.conf"
)

// Backup reasons, as the manifest records them.
const (
	ReasonManual    = "manual"    // asked for with backup NAME
	ReasonScheduled = "scheduled" // the daily backup
	ReasonSafety    = "safety"    // taken before a restore
	ReasonFinal     = "final"     // taken before a delete
)

// BackupConfig says where backups go and how they are made.
type BackupConfig struct {
	// Dir is BACKUP_DIR; an instance's backups are <Dir>/prod-NAME/<id>/.
	// Required.
	Dir string
	// Retention says which backups of an instance are kept after each
	// new one; the zero value means DefaultRetention.
	Retention Retention
	// PGBin is the directory holding pg_dump, pg_restore and psql; when
	// empty, the newest /usr/lib/postgresql/*/bin, else PATH.
	PGBin string
	// BotVersion is recorded in manifests; when empty, the module version
	// from the binary's build information.
	BotVersion string
	// FreeSpace measures the free space of Dir's file system before each
	// backup; nil means StatfsFree. Tests give a small fake one.
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
	pg   pgTools
}

// DayTwo returns the day-two verbs on c's configuration, with backups
// made as cfg says.
func (c *Creator) DayTwo(cfg BackupConfig) *DayTwo {
	if cfg.Retention == (Retention{}) {
		cfg.Retention = DefaultRetention()
	}
	if cfg.BotVersion == "" {
		cfg.BotVersion = "(unknown)"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
			cfg.BotVersion = bi.Main.Version
		}
	}
	return &DayTwo{Creator: c, bcfg: cfg, pg: pgTools{bin: cfg.PGBin, db: c.cfg.DB}}
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

// BackupFile is one file of a backup, as the manifest records it.
type BackupFile struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Manifest describes one backup: manifest.json in its directory.
type Manifest struct {
	Format      int       `json:"format"`
	ID          string    `json:"id"` // the directory's name, a UTC timestamp
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
// whether it is intact. Backups (the listing) verifies every checksum,
// or reuses a verification that still stands, and says when in
// VerifiedAt; elsewhere Intact only means every file is present with the
// recorded size. A restore verifies every checksum again.
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

	problemFile string // the file a size check found missing or resized
}

// ErrBackupNotFound is returned for a backup id an instance does not have.
var ErrBackupNotFound = errors.New("backup not found")

// ErrBackupCorrupt is returned when a backup's files do not match its
// manifest.
var ErrBackupCorrupt = errors.New("backup does not match its manifest")

func (d *DayTwo) instanceDir(internal string) string {
	return filepath.Join(d.bcfg.Dir, internal)
}

// jobLog is the log of a day-two job, beside the creation log:
// <LogDir>/<kind>-prod-NAME.log.
func (d *DayTwo) jobLog(kind JobKind, inst Instance) string {
	return filepath.Join(filepath.Dir(d.cfg.Layout.Paths(inst).CreateLog), string(kind)+"-"+inst.Internal+".log")
}

func (d *DayTwo) lookup(ctx context.Context, name string) (Instance, error) {
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
// verified against its manifest's SHA-256 checksums: a verification
// recorded in the backup's directory is reused while the files keep
// their size and modification time and it is younger than VerifyMaxAge,
// otherwise the checksums are computed again and the outcome recorded.
// A backup whose files do not match is listed with Intact false and
// Damaged naming the file. It works for a deleted instance too: its
// backups outlive it.
func (d *DayTwo) Backups(ctx context.Context, name string) ([]BackupInfo, error) {
	if err := d.cfg.Rules.Check(name); err != nil {
		return nil, err
	}
	list, err := listBackups(d.instanceDir(InternalName(name)))
	if err != nil {
		return nil, err
	}
	for i := range list {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		list[i] = checkBackup(list[i], d.cfg.Now())
	}
	return list, nil
}

func listBackups(dir string) ([]BackupInfo, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("provision: list backups: %w", err)
	}
	var out []BackupInfo
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := readBackup(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // not a backup: no manifest
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out, nil
}

// readBackup reads a backup's manifest and checks its files' sizes.
func readBackup(dir string) (BackupInfo, error) {
	raw, err := os.ReadFile(filepath.Join(dir, backupManifest))
	if err != nil {
		return BackupInfo{}, err
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return BackupInfo{}, fmt.Errorf("provision: backup manifest %s: %w", dir, err)
	}
	b := BackupInfo{Manifest: m, Dir: dir, Intact: true}
	for _, f := range m.Files {
		st, err := os.Stat(filepath.Join(dir, f.Name))
		switch {
		case err != nil:
			b.Intact, b.Problem, b.problemFile = false, f.Name+" is missing", f.Name
		case st.Size() != f.Size:
			b.Intact, b.Problem, b.problemFile = false, fmt.Sprintf("%s is %d bytes, the manifest says %d", f.Name, st.Size(), f.Size), f.Name
		}
	}
	return b, nil
}

// VerifyBackup checks every file of the backup against the manifest's
// size and SHA-256; the error matches ErrBackupCorrupt when one differs.
func VerifyBackup(b BackupInfo) error {
	if err := verifyBackup(b); err != nil {
		return err
	}
	return nil
}

// verifyBackup is VerifyBackup returning a *corruptFile.
func verifyBackup(b BackupInfo) *corruptFile {
	if _, ok := b.File(backupDump); !ok {
		return &corruptFile{id: b.ID, name: backupDump, why: "missing from the manifest"}
	}
	for _, f := range b.Files {
		size, sum, err := hashFile(filepath.Join(b.Dir, f.Name))
		if err != nil {
			return &corruptFile{id: b.ID, name: f.Name, why: err.Error()}
		}
		if size != f.Size || sum != f.SHA256 {
			return &corruptFile{id: b.ID, name: f.Name, why: fmt.Sprintf("checksum mismatch (sha256 %s, the manifest says %s)", short(sum), short(f.SHA256))}
		}
	}
	return nil
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func hashFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

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
	base := b.d.cfg.Now().UTC().Format("20060102T150405Z")
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

func (b *backupRun) record(name string) error {
	size, sum, err := hashFile(filepath.Join(b.partial, name))
	if err != nil {
		return fmt.Errorf("backup: checksum %s: %w", name, err)
	}
	b.files = append(b.files, BackupFile{Name: name, Size: size, SHA256: sum})
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
	if err := b.d.pg.dump(ctx, b.inst.Internal, filepath.Join(b.partial, backupDump)); err != nil {
		return err
	}
	return b.record(backupDump)
}

// filestore archives <DataDir>/filestore/prod-NAME (an empty archive when
// the instance has none yet).
func (b *backupRun) filestore(ctx context.Context) error {
	src := filepath.Join(b.paths.DataDir, "filestore", b.inst.Internal)
	if err := writeTarGz(ctx, src, filepath.Join(b.partial, backupFiles)); err != nil {
		return fmt.Errorf("backup: filestore: %w", err)
	}
	return b.record(backupFiles)
}

// config copies odoo.conf (mode 0600: it holds the master password); a
// missing odoo.conf is left out of the backup.
func (b *backupRun) config(ctx context.Context) error {
	raw, err := os.ReadFile(b.paths.Conf)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("backup: odoo.conf: %w", err)
	}
	if err := os.WriteFile(filepath.Join(b.partial, backupConf), raw, 0o600); err != nil {
		return fmt.Errorf("backup: odoo.conf: %w", err)
	}
	return b.record(backupConf)
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
	if err := os.WriteFile(filepath.Join(b.partial, backupManifest), append(raw, '\n'), 0o600); err != nil {
		return fmt.Errorf("backup: manifest: %w", err)
	}
	if err := syncDir(b.partial); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	final := filepath.Join(filepath.Dir(b.partial), b.id)
	if err := os.Rename(b.partial, final); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	b.partial = ""
	// Every checksum was computed from the files just written: the backup
	// is verified as of now.
	info := BackupInfo{Manifest: m, Dir: final, Intact: true}
	if st, ok := stamps(info); ok {
		_ = recordVerification(info, verification{At: m.CreatedAt, Files: st})
	}
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
	list, err := listBackups(dir)
	if err != nil {
		return err
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

func syncDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range append(entries, nil) {
		p := dir
		if e != nil {
			p = filepath.Join(dir, e.Name())
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// writeTarGz archives the tree under src (directories and regular files,
// paths relative to src) into dst; a missing src gives an empty archive.
func writeTarGz(ctx context.Context, src, dst string) (err error) {
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	gz := gzip.NewWriter(out)
	tw := tar.NewWriter(gz)
	err = filepath.WalkDir(src, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			if path == src && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rel, err := filepath.Rel(src, path)
		if err != nil || rel == "." {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		if !info.Mode().IsDir() && !info.Mode().IsRegular() {
			return nil
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if info.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.IsDir() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.CopyN(tw, f, hdr.Size)
		return err
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	return out.Sync()
}

// extractTarGz unpacks src into dst (created), owning every entry by
// uid:gid; entries escaping dst, links and devices are refused.
func extractTarGz(ctx context.Context, src, dst string, uid, gid int) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	gz, err := gzip.NewReader(in)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o750); err != nil {
		return err
	}
	if err := os.Lchown(dst, uid, gid); err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.FromSlash(strings.TrimSuffix(hdr.Name, "/"))
		if !filepath.IsLocal(name) {
			return fmt.Errorf("archive entry %q escapes the filestore", hdr.Name)
		}
		path := filepath.Join(dst, name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, 0o750); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
				return err
			}
			f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, fs.FileMode(hdr.Mode).Perm())
			if err != nil {
				return err
			}
			_, err = io.CopyN(f, tr, hdr.Size)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("archive entry %q: type %c is not a file or a directory", hdr.Name, hdr.Typeflag)
		}
		if err := os.Lchown(path, uid, gid); err != nil {
			return err
		}
	}
}

// pgTools reaches PostgreSQL with the instances' connection settings:
// SQL goes through pgx on the maintenance database "postgres", dumps and
// restores through PostgreSQL's own pg_dump and pg_restore. The password
// goes to pgx in its configuration and to the programs in PGPASSWORD,
// never on a command line or into an error.
type pgTools struct {
	bin string
	db  DBConn
}

func (p pgTools) path(prog string) (string, error) {
	if p.bin != "" {
		return filepath.Join(p.bin, prog), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if st, err := os.Stat(filepath.Join(d, prog)); err == nil && !st.IsDir() {
			return filepath.Join(d, prog), nil
		}
	}
	path, err := exec.LookPath(prog)
	if err != nil {
		return "", fmt.Errorf("%s not found in /usr/lib/postgresql/*/bin or PATH: install postgresql-client", prog)
	}
	return path, nil
}

func (p pgTools) run(ctx context.Context, prog string, args ...string) (string, error) {
	bin, err := p.path(prog)
	if err != nil {
		return "", err
	}
	conn := []string{"-h", p.db.Host, "-p", strconv.Itoa(p.db.Port), "-U", p.db.User, "-w"}
	cmd := exec.CommandContext(ctx, bin, append(conn, args...)...)
	cmd.Env = childenv.Env("PGPASSWORD="+p.db.Password, "PGCONNECT_TIMEOUT=10", "PGAPPNAME=odoobot")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if p.db.Password != "" {
			msg = strings.ReplaceAll(msg, p.db.Password, "[redacted]")
		}
		if len(msg) > 600 {
			msg = msg[:600] + "…"
		}
		return "", fmt.Errorf("%s: %w: %s", prog, err, msg)
	}
	return stdout.String(), nil
}

// connect opens a pgx connection to the maintenance database "postgres"
// with the settings psql had: sslmode prefer, a 10 s connect timeout,
// application name odoobot. Its errors name the server and the role,
// never the password.
func (p pgTools) connect(ctx context.Context) (*pgx.Conn, error) {
	u := url.URL{Scheme: "postgres", Host: net.JoinHostPort(p.db.Host, strconv.Itoa(p.db.Port)), Path: "/postgres"}
	if p.db.Password != "" {
		u.User = url.UserPassword(p.db.User, p.db.Password)
	} else {
		u.User = url.User(p.db.User)
	}
	u.RawQuery = url.Values{"sslmode": {"prefer"}, "application_name": {"odoobot"}, "connect_timeout": {"10"}}.Encode()
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		// pgx's message may quote the connection string, password and all.
		return nil, fmt.Errorf("PostgreSQL connection settings (DB_HOST %q, DB_PORT %d, DB_USER %q) are invalid: check them", p.db.Host, p.db.Port, p.db.User)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		// pgconn's message names host, role and database, not the password.
		return nil, fmt.Errorf("connect to PostgreSQL (DB_HOST, DB_PORT, DB_USER, DB_PASSWORD): %w", err)
	}
	return conn, nil
}

// withConn runs f on a new connection to the maintenance database and
// closes it.
func (p pgTools) withConn(ctx context.Context, f func(*pgx.Conn) error) error {
	conn, err := p.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return f(conn)
}

// dump writes a custom-format dump of db to file.
func (p pgTools) dump(ctx context.Context, db, file string) error {
	if _, err := p.run(ctx, "pg_dump", "-Fc", "-f", file, "-d", db); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return os.Chmod(file, 0o600)
}

// sql runs stmt on the maintenance database and returns its command tag
// (e.g. "ALTER DATABASE"). Without args, stmt may hold several
// statements separated by semicolons, run in one transaction (all or
// none; CREATE and DROP DATABASE must then be alone). With args, stmt is
// one statement whose $1, $2, … are args, sent as query parameters:
// values go there, and identifiers through sqlIdent. The error names the
// statement's first words and carries PostgreSQL's answer.
func (p pgTools) sql(ctx context.Context, stmt string, args ...any) (pgconn.CommandTag, error) {
	return p.exec(ctx, sqlVerb(stmt), stmt, args...)
}

// exec is sql whose error starts with what, which says what failed.
func (p pgTools) exec(ctx context.Context, what, stmt string, args ...any) (pgconn.CommandTag, error) {
	var tag pgconn.CommandTag
	err := p.withConn(ctx, func(conn *pgx.Conn) error {
		var err error
		tag, err = conn.Exec(ctx, stmt, args...)
		return err
	})
	if err != nil {
		return tag, fmt.Errorf("%s: %w", what, err)
	}
	return tag, nil
}

// queryRow runs query, one statement whose $1, $2, … are args, on the
// maintenance database and scans its single row into dest.
func (p pgTools) queryRow(ctx context.Context, query string, args []any, dest ...any) error {
	return p.withConn(ctx, func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, query, args...).Scan(dest...)
	})
}

// exists reports whether database db exists.
func (p pgTools) exists(ctx context.Context, db string) (bool, error) {
	var ok bool
	if err := p.queryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", []any{db}, &ok); err != nil {
		return false, fmt.Errorf("look up database %q: %w", db, err)
	}
	return ok, nil
}

// kick ends the other sessions on db.
func (p pgTools) kick(ctx context.Context, db string) error {
	return p.withConn(ctx, func(conn *pgx.Conn) error { return kickOn(ctx, conn, db) })
}

func kickOn(ctx context.Context, conn *pgx.Conn, db string) error {
	if _, err := conn.Exec(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", db); err != nil {
		return fmt.Errorf("end the sessions on database %q: %w", db, err)
	}
	return nil
}

// drop drops database db, ending its sessions; a database that does not
// exist is no error.
func (p pgTools) drop(ctx context.Context, db string) error {
	_, err := p.exec(ctx, fmt.Sprintf("drop database %q", db), "DROP DATABASE IF EXISTS "+sqlIdent(db)+" WITH (FORCE)")
	return err
}

// restore creates db owned by role owner ("" for the connecting role),
// closed to other roles, and restores file into it as owner, so that
// everything in it is owner's; on failure db is dropped again.
func (p pgTools) restore(ctx context.Context, db, owner, file string) error {
	if owner == "" {
		owner = p.db.User
	}
	if _, err := p.exec(ctx, fmt.Sprintf("create database %q owned by role %q", db, owner),
		"CREATE DATABASE "+sqlIdent(db)+" OWNER "+sqlIdent(owner)+" TEMPLATE template0 ENCODING 'UTF8'"); err != nil {
		return err
	}
	if _, err := p.exec(ctx, fmt.Sprintf("close database %q to other roles", db),
		"REVOKE CONNECT, TEMPORARY ON DATABASE "+sqlIdent(db)+" FROM PUBLIC"); err != nil {
		_ = p.drop(context.WithoutCancel(ctx), db)
		return err
	}
	if _, err := p.run(ctx, "pg_restore", "--no-owner", "--no-acl", "--role="+owner, "--exit-on-error", "-d", db, file); err != nil {
		_ = p.drop(context.WithoutCancel(ctx), db)
		return err
	}
	return nil
}

// swap renames from → aside and in → from, in one transaction, after
// ending the sessions on from: either both renames happen or neither.
func (p pgTools) swap(ctx context.Context, from, aside, in string) error {
	return p.withConn(ctx, func(conn *pgx.Conn) error {
		if err := kickOn(ctx, conn, from); err != nil {
			return err
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "ALTER DATABASE "+sqlIdent(from)+" RENAME TO "+sqlIdent(aside)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "ALTER DATABASE "+sqlIdent(in)+" RENAME TO "+sqlIdent(from))
			return err
		})
		if err != nil {
			return fmt.Errorf("swap databases (%q → %q, %q → %q): %w", from, aside, in, from, err)
		}
		return nil
	})
}

// sqlIdent quotes s as an SQL identifier (a database or role name).
func sqlIdent(s string) string { return pgx.Identifier{s}.Sanitize() }

// sqlVerb is the first two words of stmt, upper-cased, to name the
// statement in an error without quoting its values.
func sqlVerb(stmt string) string {
	f := strings.Fields(stmt)
	if len(f) > 2 {
		f = f[:2]
	}
	return strings.ToUpper(strings.Join(f, " "))
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

// Recover is Creator.Recover that also rolls back a restore or an
// upgrade that a stopped odoobot left half-done.
func (d *DayTwo) Recover(ctx context.Context, subscribe func(Job) []Subscriber) ([]Job, error) {
	return d.recoverWith(ctx, subscribe, map[JobKind]recoverer{JobRestore: d.recoverRestore, JobUpgrade: d.recoverUpgrade})
}

// recoverRestore puts back what a restore interrupted by a crash had
// swapped, reading where it stopped from what is on the host:
//
//   - the databases were swapped when the staging database is gone and
//     prod-NAME_old exists (both renames happen in one transaction);
//   - the filestores were swapped, after the databases, when the old one
//     is aside and the live or the staging one has moved;
//
// then drops what was staged and starts the service again.
func (d *DayTwo) recoverRestore(ctx context.Context, job Job) ([]string, error) {
	inst, err := d.cfg.Store.Instance(ctx, job.Instance)
	if errors.Is(err, ErrInstanceNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r := d.restoreRun(inst, BackupInfo{}, job.RequestedBy)
	staged, err := d.cfg.Databases.Exists(ctx, r.stagingDB)
	if err != nil {
		return nil, err
	}
	old, err := d.cfg.Databases.Exists(ctx, r.oldDB)
	if err != nil {
		return nil, err
	}
	exists := func(p string) bool { _, err := os.Lstat(p); return err == nil }
	r.dbSwapped = !staged && old
	r.fsSwapped = r.dbSwapped && exists(r.fsOld) && (!exists(r.fsLive) || !exists(r.fsStaging))
	r.hadFilestore = r.fsSwapped
	r.stopped, r.wasRunning = true, true
	var undone []string
	if r.dbSwapped {
		if err := r.unswap(ctx); err != nil {
			return undone, err
		}
		undone = append(undone, string(StepSwap))
	}
	if err := r.unprepare(ctx); err != nil {
		return undone, err
	}
	undone = append(undone, string(StepPrepare))
	if !r.dbSwapped {
		// Never swapped: the service may only have been stopped.
		if st, err := d.cfg.Services.Status(ctx, inst.Unit); err == nil && !st.Running() {
			if err := r.start(ctx); err != nil {
				return undone, err
			}
		}
	}
	return undone, nil
}

// findBackup returns the instance's backup id, if it looks intact.
func (d *DayTwo) findBackup(inst Instance, id string) (BackupInfo, error) {
	if id == "" || !filepath.IsLocal(id) || strings.ContainsAny(id, `/\`) || strings.HasPrefix(id, ".") {
		return BackupInfo{}, fmt.Errorf("%w: %q is not a backup id; see backups %s", ErrBackupNotFound, id, inst.Name)
	}
	b, err := readBackup(filepath.Join(d.instanceDir(inst.Internal), id))
	if err != nil {
		return BackupInfo{}, fmt.Errorf("%w: %s has no backup %q; see backups %s", ErrBackupNotFound, inst.Name, id, inst.Name)
	}
	if !b.Intact {
		return BackupInfo{}, fmt.Errorf("%w: %s", ErrBackupCorrupt, b.Problem)
	}
	return b, nil
}

// restoreRun names where one restore of inst stages and sets aside its
// database and filestore.
func (d *DayTwo) restoreRun(inst Instance, b BackupInfo, by string) *restoreRun {
	r := &restoreRun{d: d, inst: inst, paths: d.cfg.Layout.Paths(inst), backup: b, by: by}
	r.stagingDB, r.oldDB = inst.Internal+RestoreStagingSuffix, inst.Internal+RestoreOldSuffix
	fs := filepath.Join(r.paths.DataDir, "filestore")
	r.fsLive, r.fsStaging, r.fsOld = filepath.Join(fs, inst.Internal), filepath.Join(fs, "."+inst.Internal+".restore"), filepath.Join(fs, "."+inst.Internal+".old")
	return r
}

// restoreRun is one restore; the flags say what to put back on failure.
type restoreRun struct {
	d      *DayTwo
	inst   Instance
	paths  Paths
	backup BackupInfo
	by     string

	stagingDB, oldDB         string
	fsLive, fsStaging, fsOld string

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
// prod-NAME_restore, the filestore in a hidden directory. Leftovers of an
// earlier restore that stopped half-way are removed first.
func (r *restoreRun) prepare(ctx context.Context) error {
	if err := r.unprepare(ctx); err != nil {
		return err
	}
	if err := r.d.pg.restore(ctx, r.stagingDB, r.inst.DBRole, filepath.Join(r.backup.Dir, backupDump)); err != nil {
		return fmt.Errorf("restore: database: %w", err)
	}
	runAs := r.d.cfg.ServiceUser
	if r.inst.User != "" {
		runAs = r.inst.User
	}
	uid, gid, err := lookupUser(runAs)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(r.fsStaging), 0o750); err != nil {
		return fmt.Errorf("restore: filestore: %w", err)
	}
	if _, ok := r.backup.File(backupFiles); ok {
		if err := extractTarGz(ctx, filepath.Join(r.backup.Dir, backupFiles), r.fsStaging, uid, gid); err != nil {
			return fmt.Errorf("restore: filestore: %w", err)
		}
	} else if err := os.MkdirAll(r.fsStaging, 0o750); err != nil {
		return fmt.Errorf("restore: filestore: %w", err)
	}
	return nil
}

func (r *restoreRun) unprepare(ctx context.Context) error {
	if err := r.d.pg.drop(ctx, r.stagingDB); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := os.RemoveAll(r.fsStaging); err != nil {
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
	if err := r.d.pg.drop(ctx, r.oldDB); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := r.d.pg.swap(ctx, r.inst.Internal, r.oldDB, r.stagingDB); err != nil {
		return fmt.Errorf("restore: swap databases: %w", err)
	}
	r.dbSwapped = true
	if err := os.RemoveAll(r.fsOld); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if _, err := os.Lstat(r.fsLive); err == nil {
		if err := os.Rename(r.fsLive, r.fsOld); err != nil {
			return fmt.Errorf("restore: swap filestores: %w", err)
		}
		r.hadFilestore = true
	}
	r.fsSwapped = true
	if err := os.Rename(r.fsStaging, r.fsLive); err != nil {
		return fmt.Errorf("restore: swap filestores: %w", err)
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
		if err := os.RemoveAll(r.fsLive); err != nil {
			errs = append(errs, err)
		} else if r.hadFilestore {
			if err := os.Rename(r.fsOld, r.fsLive); err != nil {
				errs = append(errs, err)
			}
		}
		r.fsSwapped = false
	}
	if r.dbSwapped {
		if err := r.d.pg.swap(ctx, r.inst.Internal, r.stagingDB, r.oldDB); err != nil {
			errs = append(errs, fmt.Errorf("restore: swap the databases back: %w", err))
		} else {
			r.dbSwapped = false
			if err := r.d.pg.drop(ctx, r.stagingDB); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if r.stopped && r.wasRunning && len(errs) == 0 {
		if err := r.d.cfg.Services.Start(ctx, r.inst.Unit); err != nil {
			errs = append(errs, err)
		} else if err := WaitHealthy(ctx, r.inst.Ports.HTTP, r.d.cfg.HealthTimeout, r.paths.Log); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (r *restoreRun) start(ctx context.Context) error {
	if err := r.d.cfg.Services.Start(ctx, r.inst.Unit); err != nil {
		return err
	}
	return WaitHealthy(ctx, r.inst.Ports.HTTP, r.d.cfg.HealthTimeout, r.paths.Log)
}

// cleanup drops the replaced database and filestore. The restore has
// succeeded by then, so a failure here is logged, not undone: what is
// left is removed by the next restore.
func (r *restoreRun) cleanup(ctx context.Context) error {
	if err := r.d.pg.drop(ctx, r.oldDB); err != nil {
		r.d.cfg.Logger.Warn("restore: drop the replaced database", "database", r.oldDB, "err", err)
	}
	if err := os.RemoveAll(r.fsOld); err != nil {
		r.d.cfg.Logger.Warn("restore: remove the replaced filestore", "dir", r.fsOld, "err", err)
	}
	return nil
}
