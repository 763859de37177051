package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// PointInTime restores one database of the cluster as it was at a given
// time, from the cluster's continuous WAL archive (provision/pitr,
// pgBackRest).
type PointInTime interface {
	// Window returns the earliest time a restore can reach (the end of
	// the oldest base backup); an error when there is none.
	Window(ctx context.Context) (time.Time, error)
	// SwitchWAL closes the current WAL segment and waits until it is
	// archived, so that the recent past can be reached.
	SwitchWAL(ctx context.Context, timeout time.Duration) error
	// Extract restores database db as of at into a scratch cluster,
	// dumps it (pg_dump -Fc, logged in as the role that owns db) into
	// Reached.Dump, and stops and removes the scratch cluster, whatever
	// happens. It refuses, with an error matching ErrPointInTime that
	// gives the numbers, when the scratch directory lacks the space a
	// database of dbSize bytes needs. It returns the time reached.
	Extract(ctx context.Context, db string, at time.Time, dbSize uint64) (Reached, error)
	// Clean removes what a restore of db to a time left: its scratch
	// cluster (stopped first) and its dump. Nothing left is no error.
	Clean(ctx context.Context, db string) error
	// Status says whether the cluster archives and how far behind.
	Status(ctx context.Context) (ArchiveStatus, error)
}

// Reached is where a restore to a time stopped replaying.
type Reached struct {
	// Target is the time asked for.
	Target time.Time
	// LastTransaction is the commit time of the last transaction
	// replayed: the restored database is as it was then.
	LastTransaction time.Time
	// Stopped is PostgreSQL's line saying where recovery stopped
	// ("recovery stopping before commit of transaction …").
	Stopped string
	// Dump is the custom-format dump of the database as restored; Clean
	// removes it.
	Dump string
}

// ArchiveStatus is the cluster's WAL archiving as PostgreSQL's archiver
// and pgBackRest report it.
type ArchiveStatus struct {
	On           bool      // archive_mode on, archive_command pgBackRest's
	Timeout      string    // archive_timeout
	LastWAL      string    // the last WAL segment archived
	LastArchived time.Time // when
	FailedWAL    string    // the last segment whose archiving failed
	LastFailed   time.Time // when
	Repository   string    // pgBackRest's status of the stanza ("ok")
	Backups      int       // base backups in the repository
	Earliest     time.Time // the earliest time a restore can reach
	NewestBackup time.Time // the end of the newest base backup
}

// ErrPointInTime is returned when a restore to a time is refused: no
// archive, a time outside what it holds, no room.
var ErrPointInTime = errors.New("point-in-time restore refused")

// Summary says in one line whether the cluster archives and how far
// behind, as of now: the last WAL segment archived and how long ago, a
// failure since, the base backups and the earliest time a restore
// reaches.
func (s ArchiveStatus) Summary(now time.Time) string {
	if !s.On {
		return "off: the cluster does not archive its WAL to pgBackRest (run odoobot setup)"
	}
	var b strings.Builder
	b.WriteString("on (archive_timeout " + s.Timeout + ")")
	if s.LastArchived.IsZero() {
		b.WriteString(", nothing archived yet")
	} else {
		fmt.Fprintf(&b, ", last WAL archived %s UTC (%s ago)", s.LastArchived.UTC().Format(time.DateTime), now.Sub(s.LastArchived).Round(time.Second))
	}
	if s.LastFailed.After(s.LastArchived) {
		fmt.Fprintf(&b, ", FAILING since %s UTC (segment %s)", s.LastFailed.UTC().Format(time.DateTime), s.FailedWAL)
	}
	fmt.Fprintf(&b, "; %d base backups", s.Backups)
	if s.Backups > 0 {
		fmt.Fprintf(&b, ", newest %s UTC, restorable from %s UTC", s.NewestBackup.UTC().Format(time.DateTime), s.Earliest.UTC().Format(time.DateTime))
	}
	if s.Repository != "" && s.Repository != "ok" {
		b.WriteString("; repository: " + s.Repository)
	}
	return b.String()
}
