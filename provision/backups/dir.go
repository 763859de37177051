package backups

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"odoobot/internal/nofollow"
	"odoobot/provision"
)

// Dir serves the day-two jobs' BackupStore.
var (
	_ provision.BackupStore = (*Dir)(nil)
	_ provision.BackupDraft = (*draft)(nil)
)

// Dir is BACKUP_DIR: an instance's backups are Root/prod-NAME/<id>/, a
// backup being made is Root/prod-NAME/.<id>.partial/ until sealed.
type Dir struct {
	// Root is BACKUP_DIR. Required.
	Root string
	// FreeSpace measures the free space of Root's file system before
	// each backup; nil means StatfsFree. Tests give a small fake one.
	FreeSpace FreeSpaceFunc
}

// instance is the directory of instance internal's backups.
func (d *Dir) instance(internal string) string { return filepath.Join(d.Root, internal) }

// Begin makes the backup's hidden directory (and the instance's, mode
// 0700, when it is the first), its id from now: IDLayout in UTC, "-N"
// appended while a backup, finished or not, holds the id.
func (d *Dir) Begin(internal string, now time.Time) (provision.BackupDraft, error) {
	dir := d.instance(internal)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	base := now.UTC().Format(provision.IDLayout)
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
			return nil, err
		}
		return &draft{dir: dir, id: id, partial: partial}, nil
	}
}

// BeginAs makes the hidden directory of backup id of the instance; an
// id a backup holds, finished or not, is refused (fs.ErrExist). id is
// one name, never a path: the caller checked it.
func (d *Dir) BeginAs(internal, id string) (provision.BackupDraft, error) {
	if !provision.IsBackupID(id) {
		return nil, fmt.Errorf("backups: %q is not a backup id", id)
	}
	dir := d.instance(internal)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(filepath.Join(dir, id)); err == nil {
		return nil, fmt.Errorf("backups: backup %s of %s: %w", id, internal, fs.ErrExist)
	}
	partial := filepath.Join(dir, "."+id+".partial")
	if err := os.Mkdir(partial, 0o700); err != nil {
		return nil, err
	}
	return &draft{dir: dir, id: id, partial: partial}, nil
}

// Instances lists the directories of Root named as an instance's
// database (prod-NAME); a link or a file there is not one.
func (d *Dir) Instances() ([]string, error) {
	entries, err := os.ReadDir(d.Root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && provision.IsInternalName(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// Remove removes backup id of the instance. id is one name, never a
// path: the caller checked it.
func (d *Dir) Remove(internal, id string) error {
	if !provision.IsBackupID(id) {
		return fmt.Errorf("backups: %q is not a backup id", id)
	}
	return os.RemoveAll(filepath.Join(d.instance(internal), id))
}

// List is the instance's backups (List) each checked as of now (Check).
func (d *Dir) List(ctx context.Context, internal string, now time.Time) ([]provision.BackupInfo, error) {
	list, err := List(d.instance(internal))
	if err != nil {
		return nil, err
	}
	for i := range list {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		list[i] = Check(list[i], now)
	}
	return list, nil
}

// Read reads backup id of the instance (Read). id is one name, never a
// path: the caller checked it.
func (d *Dir) Read(internal, id string) (provision.BackupInfo, error) {
	return Read(filepath.Join(d.instance(internal), id))
}

// Verify hashes every file of b (Verify).
func (d *Dir) Verify(b provision.BackupInfo) error { return Verify(b) }

// Prune removes the instance's backups r does not keep (Prune), never
// those whose id is in keep, and every hidden directory a backup that
// never completed left.
func (d *Dir) Prune(internal string, r provision.Retention, keep ...string) error {
	dir := d.instance(internal)
	if _, err := d.Abandon(internal); err != nil {
		return err
	}
	list, err := List(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, old := range Prune(r, list) {
		if slices.Contains(keep, old.ID) {
			continue
		}
		if err := os.RemoveAll(old.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Abandon removes the instance's backups left half-made.
func (d *Dir) Abandon(internal string) (int, error) {
	dir := d.instance(internal)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	removed := 0
	var errs []error
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") && strings.HasSuffix(e.Name(), ".partial") {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				errs = append(errs, err)
				continue
			}
			removed++
		}
	}
	return removed, errors.Join(errs...)
}

// Room estimates the backup (Estimate of dbSize and of the size of the
// files in filestore, TreeSize) and refuses it, with the numbers and
// what to do, when Root's file system has less free space.
func (d *Dir) Room(internal string, dbSize uint64, filestore fs.FS) error {
	fsSize, err := TreeSize(filestore)
	if err != nil {
		return fmt.Errorf("size of the filestore of %s: %w", internal, err)
	}
	freeSpace := d.FreeSpace
	if freeSpace == nil {
		freeSpace = StatfsFree
	}
	free, err := freeSpace(d.Root)
	if err != nil {
		return err
	}
	need := Estimate(dbSize, fsSize)
	if free < need {
		return fmt.Errorf("%w: a backup of %s needs about %s (database %s, filestore %s, and a margin) but %s has %s free: free space there, remove old backups, or point BACKUP_DIR at a larger disk",
			provision.ErrBackupNoSpace, internal, provision.ByteSize(need), provision.ByteSize(dbSize), provision.ByteSize(fsSize), d.Root, provision.ByteSize(free))
	}
	return nil
}

// OpenFilestore opens b's FilestoreName, as WriteTarGz wrote it.
func (d *Dir) OpenFilestore(b provision.BackupInfo) (io.ReadCloser, error) {
	return os.Open(filepath.Join(b.Dir, provision.FilestoreName))
}

// draft is a backup being made in its hidden directory.
type draft struct {
	dir, id string
	partial string // "" once sealed or discarded
	files   []provision.BackupFile
}

func (b *draft) ID() string { return b.id }

func (b *draft) Path(name string) string { return filepath.Join(b.partial, name) }

func (b *draft) Add(name string) error {
	f, err := HashFile(b.partial, name)
	if err != nil {
		return fmt.Errorf("checksum %s: %w", name, err)
	}
	b.files = append(b.files, f)
	return nil
}

// Read reads file name of the draft, never through a link.
func (b *draft) Read(name string, limit int64) ([]byte, error) {
	return nofollow.ReadFile(b.Path(name), limit)
}

func (b *draft) Write(name string, raw []byte) error {
	if err := os.WriteFile(b.Path(name), raw, 0o600); err != nil {
		return err
	}
	return b.Add(name)
}

func (b *draft) Archive(ctx context.Context, src fs.FS, name string) error {
	if err := WriteTarGz(ctx, src, b.Path(name)); err != nil {
		return err
	}
	return b.Add(name)
}

// Seal writes the manifest (mode 0600), flushes the directory to disk
// and renames it into place, then records it verified as of
// m.CreatedAt: every checksum was just computed from the files written.
func (b *draft) Seal(m provision.Manifest) error {
	m.ID, m.Files = b.id, b.files
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	if err := os.WriteFile(b.Path(ManifestName), append(raw, '\n'), 0o600); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	if err := SyncDir(b.partial); err != nil {
		return err
	}
	final := filepath.Join(b.dir, b.id)
	if err := os.Rename(b.partial, final); err != nil {
		return err
	}
	b.partial = ""
	_ = MarkVerified(provision.BackupInfo{Manifest: m, Dir: final, Intact: true}, m.CreatedAt)
	return nil
}

func (b *draft) Discard() error {
	if b.partial == "" {
		return nil
	}
	err := os.RemoveAll(b.partial)
	b.partial = ""
	return err
}
