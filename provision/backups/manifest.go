// Package backup is the machinery of odoobot's backups, which knows
// nothing of instances: the backup directory and its manifest, checksum
// verification and its recorded outcome, the retention rules, the
// filestore archive, the free-space estimate, and PostgreSQL's dump,
// restore and database statements. provision's jobs (backup, restore,
// clone, upgrade, delete) decide what to back up and when; this package
// says how.
//
// A backup is a directory named by its id (a UTC timestamp, IDLayout,
// with "-N" appended when two are taken in the same second) holding
// ManifestName and the files the manifest lists with their sizes and
// SHA-256 checksums: DumpName, usually FilestoreName and ConfName. A
// directory without a readable manifest is not a backup.
package backup

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
	"time"
)

// The files of a backup directory.
const (
	ManifestName  = "manifest.json"    // the Manifest; written last
	DumpName      = "database.dump"    // pg_dump -Fc of the database; every backup has one
	FilestoreName = "filestore.tar.gz" // the filestore (WriteTarGz)
	ConfName      = "odoo.conf"        // a copy of the instance's odoo.conf
)

// IDLayout is the UTC timestamp a backup's id starts with (time.Format
// layout).
const IDLayout = "20060102T150405Z"

// Backup reasons, as the manifest records them. Retention counts safety
// and final backups apart from the others.
const (
	ReasonManual    = "manual"    // asked for with backup NAME
	ReasonScheduled = "scheduled" // the daily backup
	ReasonSafety    = "safety"    // taken before a restore
	ReasonFinal     = "final"     // taken before a delete
)

// ReleaseRecord is the release an instance runs, as odoobot records it in
// its store and in each backup's manifest: set when the instance's
// creation (or clone) ends, never changed afterwards. The zero value is an
// instance that records none (imported from API-DEV, or made before
// releases were recorded); it shows as "unknown".
type ReleaseRecord struct {
	Key    string `json:"key"`    // the release's key in the cache
	Repo   string `json:"repo"`   // the Odoo repository, credentials redacted
	Commit string `json:"commit"` // the Odoo commit, 40 hex digits
	Python string `json:"python"` // the interpreter the venv was made from
	Deps   string `json:"deps"`   // "debian" or "pip"
}

// Known reports whether the instance records its release.
func (r ReleaseRecord) Known() bool { return r.Key != "" }

// ShortCommit is the commit's first 12 hex digits, "unknown" when none
// is recorded.
func (r ReleaseRecord) ShortCommit() string {
	switch {
	case r.Commit == "":
		return "unknown"
	case len(r.Commit) > 12:
		return r.Commit[:12]
	}
	return r.Commit
}

// Source is "repository@commit", "unknown" when none is recorded.
func (r ReleaseRecord) Source() string {
	if !r.Known() {
		return "unknown"
	}
	return r.Repo + "@" + r.Commit
}

// File is one file of a backup, as the manifest records it.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Manifest describes one backup: ManifestName in its directory.
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
	Files      []File         `json:"files"`
}

// File returns the manifest's entry for name.
func (m Manifest) File(name string) (File, bool) {
	for _, f := range m.Files {
		if f.Name == name {
			return f, true
		}
	}
	return File{}, false
}

// Size is the sum of the files' sizes.
func (m Manifest) Size() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// Info is a backup as listed: its manifest, its directory, and whether
// it is intact. Read and List only check that every file is present with
// the recorded size; Check verifies every checksum, or reuses a
// verification that still stands, and says when in VerifiedAt; Verify
// verifies every checksum again.
type Info struct {
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

// ErrCorrupt is returned when a backup's files do not match its
// manifest.
var ErrCorrupt = errors.New("backup does not match its manifest")

// List returns the backups in dir (one instance's backup directory),
// newest first (by id), each read as Read does. Hidden entries (a backup
// being made) and directories without a readable manifest are left out;
// a dir that does not exist has none.
func List(dir string) ([]Info, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list backups: %w", err)
	}
	var out []Info
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
func Read(dir string) (Info, error) {
	raw, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return Info{}, err
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return Info{}, fmt.Errorf("backup manifest %s: %w", dir, err)
	}
	b := Info{Manifest: m, Dir: dir, Intact: true}
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

// Verify checks every file of the backup against the manifest's size
// and SHA-256, and that the manifest lists a DumpName; the error matches
// ErrCorrupt and names the file and the backup when one differs.
func Verify(b Info) error {
	if err := verify(b); err != nil {
		return err
	}
	return nil
}

// verify is Verify returning a *corruptFile.
func verify(b Info) *corruptFile {
	if _, ok := b.File(DumpName); !ok {
		return &corruptFile{id: b.ID, name: DumpName, why: "missing from the manifest"}
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
func HashFile(dir, name string) (File, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return File{}, err
	}
	return File{Name: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// corruptFile is the damage Verify found: which file, and why.
type corruptFile struct {
	id, name, why string
}

func (c *corruptFile) Error() string {
	return fmt.Sprintf("%s: %s of backup %s: %s", ErrCorrupt, c.name, c.id, c.why)
}

func (c *corruptFile) Unwrap() error { return ErrCorrupt }
