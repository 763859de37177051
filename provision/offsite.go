package provision

import (
	"context"
	"time"
)

// ManifestName is the file in a backup's directory that holds its
// Manifest as JSON; it travels offsite with the backup's files.
const ManifestName = "manifest.json"

// Offsite keeps encrypted copies of the backups away from this server
// (provision/offsite: a restic repository). Every method is bounded by
// ctx; its errors are *Error with a kind: KindRefused for a repository
// that refuses odoobot (wrong password, no repository there),
// KindUnavailable for one that cannot be reached, KindBroken for one
// that failed what was asked (out of space, damaged).
type Offsite interface {
	// Check opens the repository: its error says why it cannot be used
	// (no repository at OFFSITE_REPOSITORY, wrong password, unreachable)
	// and which setting to fix.
	Check(ctx context.Context) error
	// Push copies sealed backup b (ManifestName and the files its
	// manifest lists, from b.Dir) to the repository as one copy tagged
	// with the backup's instance, id, reason and time (b.CreatedAt). A
	// copy appears only once complete: an interrupted push leaves none
	// (the data it sent is reused by the next).
	Push(ctx context.Context, b BackupInfo) (OffsiteCopy, error)
	// List returns the copies of the instance whose database is
	// internal, newest first; "" lists every instance's.
	List(ctx context.Context, internal string) ([]OffsiteCopy, error)
	// Fetch writes file name of copy c (ManifestName or one its manifest
	// lists) to path, a new file (mode 0600) it creates: anything at path,
	// a link included, is refused and left alone. At most limit bytes are
	// written, past which it fails and removes path; any failure removes
	// it.
	Fetch(ctx context.Context, c OffsiteCopy, name, path string, limit int64) error
	// Forget removes copies (by their Snapshot) and the data no other
	// copy uses. An id the repository does not hold is ignored, so asking
	// again after a failure is safe; none given, nothing is done.
	Forget(ctx context.Context, snapshots []string) error
}

// OffsiteCopy is one backup as the offsite repository holds it.
type OffsiteCopy struct {
	Snapshot  string    // the repository's id of the copy
	Instance  string    // the instance's internal name (its database)
	Backup    string    // the backup's id (IDLayout)
	Reason    string    // the backup's reason (ReasonManual, …)
	CreatedAt time.Time // when the backup was taken, UTC, to the second
	Host      string    // the server that pushed it (ODOOBOT_SERVER_ID, else PUBLIC_IP)
}
