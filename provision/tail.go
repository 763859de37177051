package provision

import "odoobot/internal/nofollow"

// The bounds of TailFile: an instance's log is written by the instance,
// so its size and its lines are whatever the tenant makes them.
const (
	// TailMaxBytes is the most TailFile reads of a file: its last MiB.
	TailMaxBytes = nofollow.MaxTailBytes
	// TailMaxLine is the longest line TailFile returns whole; a longer
	// one is cut to this many bytes and says so.
	TailMaxLine = nofollow.MaxTailLine
)

// TailFile returns the last n lines of the regular file at path, or nil
// when it cannot be read or is empty (nofollow.Tail: at most
// TailMaxBytes read, lines cut at TailMaxLine, control characters shown
// as U+FFFD, no link followed at the file or its directory, no FIFO
// blocked on).
func TailFile(path string, n int) []string { return nofollow.Tail(path, n) }

// MaxTenantFile is the most ReadTenantFile callers read of a small file
// in a tenant's tree (odoo.conf, info-instancia.txt).
const MaxTenantFile = 1 << 20

// ReadTenantFile reads the regular file at path, which sits in a
// directory a tenant may write (nofollow.ReadFile): no link followed at
// its last two elements, no FIFO blocked on, and a file larger than
// limit bytes refused with an error that says so.
func ReadTenantFile(path string, limit int64) ([]byte, error) { return nofollow.ReadFile(path, limit) }
