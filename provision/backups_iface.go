package provision

import (
	"context"
	"io"
	"io/fs"
	"time"
)

// DatabaseAdmin is what the day-two jobs do to whole databases of the
// cluster, by name (provision/postgres's Admin). Names are any string:
// the driver quotes them.
type DatabaseAdmin interface {
	// Exists reports whether database db exists.
	Exists(ctx context.Context, db string) (bool, error)
	// Drop drops database db, ending its sessions first; a database that
	// does not exist is no error.
	Drop(ctx context.Context, db string) error
	// Rename renames database from to to.
	Rename(ctx context.Context, from, to string) error
	// Swap renames from to aside and in to from, in one transaction,
	// after ending the sessions on from: both renames happen or neither.
	Swap(ctx context.Context, from, aside, in string) error
	// SetAside ends the sessions on db and copies it, as it is, to a new
	// database aside owned by owner ("" for odoobot's role) and closed to
	// other roles, as every instance's database is.
	SetAside(ctx context.Context, db, aside, owner string) error
}

// DatabaseDumps dumps and restores databases (provision/postgres's
// Admin), logged in as the role that owns each, so that what a tenant
// put in its database runs with the tenant's rights only.
type DatabaseDumps interface {
	// Size is the database's size on disk, in bytes.
	Size(ctx context.Context, db string) (uint64, error)
	// Dump writes one consistent custom-format dump of db to file (mode
	// 0600), taken while db serves.
	Dump(ctx context.Context, db, file string) error
	// CountedDump is Dump, logged in as the role that owns db, which
	// also counts, in the dump's own snapshot, the rows of a few core
	// tables (DataCounts.Rows), each count bounded in time; a table db
	// lacks, or whose count fails, is left out.
	CountedDump(ctx context.Context, db, file string) (map[string]int64, error)
	// Counts counts the rows of the same tables of db, logged in as the
	// role that owns it, read only, bounded in time.
	Counts(ctx context.Context, db string) (map[string]int64, error)
	// DumpCopy writes a dump of db to path (which must not exist) for a
	// copy restored at once: one consistent snapshot, taken while db
	// serves, by parallel workers where the host has the CPUs (a dump
	// directory), else as Dump's file.
	DumpCopy(ctx context.Context, db, path string) error
	// Restore creates database db owned by owner ("" for odoobot's role),
	// closed to other roles, and restores file (Dump's or DumpCopy's)
	// into it as owner, by parallel workers where the host has the CPUs;
	// on failure db is dropped again.
	Restore(ctx context.Context, db, owner, file string) error
}

// Postgres is the PostgreSQL cluster as the day-two jobs reach it.
type Postgres interface {
	DatabaseAdmin
	DatabaseDumps
}

// BackupStore keeps the instances' backups: one directory per instance
// in BACKUP_DIR (provision/backups's Dir). A backup is listed only once
// sealed; one being made is hidden.
type BackupStore interface {
	// Begin starts a new backup of instance internal (its database
	// name), its id from now (IDLayout, "-N" appended when taken twice in
	// a second).
	Begin(internal string, now time.Time) (BackupDraft, error)
	// BeginAs starts a backup of instance internal under the given id (a
	// backup fetched back from offsite keeps its id); an id taken by a
	// backup, finished or not, is refused with an error matching
	// fs.ErrExist.
	BeginAs(internal, id string) (BackupDraft, error)
	// Instances returns the internal names that have backups here, the
	// instances deleted since included.
	Instances() ([]string, error)
	// Remove removes the instance's sealed backup id; a missing one is
	// no error.
	Remove(internal, id string) error
	// List returns the instance's complete backups, newest first, each
	// checked against its manifest as of now: a recorded verification is
	// reused while it stands, else every checksum is computed again and
	// the outcome recorded. A damaged backup is listed with Intact false
	// and Damaged naming its file. An instance without backups has none.
	List(ctx context.Context, internal string, now time.Time) ([]BackupInfo, error)
	// Read returns backup id of the instance with every file checked for
	// presence and size (not hashed); the error is the file system's when
	// it has no readable manifest.
	Read(internal, id string) (BackupInfo, error)
	// Verify checks every file of b against its manifest's size and
	// SHA-256; the error matches ErrBackupCorrupt and names the file.
	Verify(b BackupInfo) error
	// Prune removes the instance's backups r does not keep, never those
	// whose id is in keep, and any backup left half-made.
	Prune(internal string, r Retention, keep ...string) error
	// Abandon removes the instance's backups left half-made (by a job
	// that failed or whose process died) and says how many it removed.
	Abandon(internal string) (removed int, err error)
	// Room refuses, with an error matching ErrBackupNoSpace that gives
	// the numbers, a backup of a database of dbSize bytes and of the
	// filestore (BackupFiles.ReadFilestore's view) when BACKUP_DIR lacks
	// the space it is estimated to need.
	Room(internal string, dbSize uint64, filestore fs.FS) error
	// OpenFilestore opens b's filestore archive (FilestoreName, a
	// gzip-compressed tar) for reading.
	OpenFilestore(b BackupInfo) (io.ReadCloser, error)
}

// BackupDraft is one backup being made, hidden until Seal.
type BackupDraft interface {
	// ID is the backup's id.
	ID() string
	// Path is where the file name of the backup is written (pg_dump
	// writes the dump there); Add records it once written.
	Path(name string) string
	// Add records the file name, written at Path(name), with its size
	// and checksum.
	Add(name string) error
	// Read returns file name as written at Path(name), not yet recorded;
	// more than limit bytes is an error.
	Read(name string, limit int64) ([]byte, error)
	// Write writes raw as the file name (mode 0600) and records it.
	Write(name string, raw []byte) error
	// Archive writes src (BackupFiles.ReadFilestore's view of a
	// filestore: its directories and regular files, a link left out) as
	// the tar.gz file name and records it.
	Archive(ctx context.Context, src fs.FS, name string) error
	// Seal writes m, with the draft's id and recorded files, as the
	// backup's manifest and renames the backup into place: from then on
	// it is listed, and verified as of m.CreatedAt.
	Seal(m Manifest) error
	// Discard removes a draft not sealed; nothing once sealed.
	Discard() error
}
