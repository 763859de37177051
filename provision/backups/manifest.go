// Package backups is the backups driver: it keeps the instances'
// backups in BACKUP_DIR (Dir serves provision.BackupStore) and owns their
// mechanics: the backup directory and its manifest, checksum verification
// and its recorded outcome, the retention's arithmetic, the filestore
// archive (tar.gz, walked without following a tenant's links) and the
// free-space estimate. provision's jobs (backup, restore, clone,
// upgrade, delete) decide what to back up and when, and own the types
// (provision.Manifest, BackupInfo, Retention); PostgreSQL's dumps are
// provision/postgres's.
//
// A backup is a directory named by its id (a UTC timestamp,
// provision.IDLayout, with "-N" appended when two are taken in the same
// second) holding ManifestName and the files the manifest lists with
// their sizes and SHA-256 checksums: provision.DumpName, usually
// provision.FilestoreName and provision.ConfName. A directory without a
// readable manifest is not a backup.
package backups

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"odoobot/provision"
)

// ManifestName is the file in a backup's directory that holds its
// provision.Manifest, as JSON; it is written last.
const ManifestName = provision.ManifestName

// List returns the backups in dir (one instance's backup directory),
// newest first (by id), each read as Read does. Hidden entries (a backup
// being made) and directories without a readable manifest are left out;
// a dir that does not exist has none.
func List(dir string) ([]provision.BackupInfo, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list backups: %w", err)
	}
	var out []provision.BackupInfo
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := Read(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // not a backup: no manifest
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out, nil
}

// Read reads the manifest of the backup in dir and checks that its files
// are there with the recorded sizes: Intact false, with Problem saying
// which file is missing or resized, when one is not. It fails only when
// the manifest cannot be read.
func Read(dir string) (provision.BackupInfo, error) {
	raw, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return provision.BackupInfo{}, err
	}
	var m provision.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return provision.BackupInfo{}, fmt.Errorf("backup manifest %s: %w", dir, err)
	}
	b := provision.BackupInfo{Manifest: m, Dir: dir, Intact: true}
	for _, f := range m.Files {
		st, err := os.Stat(filepath.Join(dir, f.Name))
		switch {
		case err != nil:
			b.Intact, b.Problem, b.Damaged = false, f.Name+" is missing", f.Name
		case st.Size() != f.Size:
			b.Intact, b.Problem, b.Damaged = false, fmt.Sprintf("%s is %d bytes, the manifest says %d", f.Name, st.Size(), f.Size), f.Name
		}
	}
	return b, nil
}

// Verify checks every file of the backup against the manifest's size
// and SHA-256, and that the manifest lists a provision.DumpName; the error matches
// provision.ErrBackupCorrupt and names the file and the backup when one differs.
func Verify(b provision.BackupInfo) error {
	if err := verify(b); err != nil {
		return err
	}
	return nil
}

// verify is Verify returning a *corruptFile.
func verify(b provision.BackupInfo) *corruptFile {
	if _, ok := b.File(provision.DumpName); !ok {
		return &corruptFile{id: b.ID, name: provision.DumpName, why: "missing from the manifest"}
	}
	for _, f := range b.Files {
		got, err := HashFile(b.Dir, f.Name)
		if err != nil {
			return &corruptFile{id: b.ID, name: f.Name, why: err.Error()}
		}
		if got.Size != f.Size || got.SHA256 != f.SHA256 {
			return &corruptFile{id: b.ID, name: f.Name, why: fmt.Sprintf("checksum mismatch (sha256 %s, the manifest says %s)", short(got.SHA256), short(f.SHA256))}
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

// HashFile reads dir/name and returns its manifest entry: name, size and
// SHA-256 (hex). The error is the file system's, naming the path.
func HashFile(dir, name string) (provision.BackupFile, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return provision.BackupFile{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return provision.BackupFile{}, err
	}
	return provision.BackupFile{Name: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// corruptFile is the damage Verify found: which file, and why.
type corruptFile struct {
	id, name, why string
}

func (c *corruptFile) Error() string {
	return fmt.Sprintf("%s: %s of backup %s: %s", provision.ErrBackupCorrupt, c.name, c.id, c.why)
}

func (c *corruptFile) Unwrap() error { return provision.ErrBackupCorrupt }
