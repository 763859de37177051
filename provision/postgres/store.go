// Package postgres is odoobot's PostgreSQL driver. It holds the state
// store (Store): instances and their ports, jobs and their events, and
// the audit log, in the PostgreSQL schema "odoobot", created and migrated
// by Open from SQL files embedded in the binary. And it administers the
// cluster's databases for the day-two jobs (Admin, serving
// provision.Postgres): existence, size, drop, rename, swap, set aside,
// and dumps and restores logged in as the role that owns each database.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationLockKey is the key of the session advisory lock held while
// migrating, so that concurrent starts of odoobot migrate one at a time.
const migrationLockKey int64 = 0x6f646f6f626f74 // "odoobot"

const (
	sqlLock      = `SELECT pg_advisory_lock($1)`
	sqlUnlock    = `SELECT pg_advisory_unlock($1)`
	sqlBootstrap = `
CREATE SCHEMA IF NOT EXISTS odoobot;
CREATE TABLE IF NOT EXISTS odoobot.schema_migrations (
    version    integer     PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);`
	sqlAppliedVersions = `SELECT version FROM odoobot.schema_migrations`
	sqlRecordVersion   = `INSERT INTO odoobot.schema_migrations (version) VALUES ($1)`
)

// Store is the state store. It is safe for concurrent use; every method
// takes the caller's context. Build it with Open, release it with Close.
type Store struct {
	pool *pgxpool.Pool
	log  *slog.Logger

	// owner identifies this Store's jobs (see owner.go); its advisory lock
	// is held on ownerConn, which only the keeper goroutine touches until
	// releaseOwner has stopped it.
	owner      int32
	ownerConn  *pgx.Conn
	proc       Process
	lease      time.Duration
	stopKeeper context.CancelFunc
	keeperDone chan struct{}
	closeOnce  sync.Once
}

// Options tune a Store; the zero value is the production setting.
type Options struct {
	// Logger hears migrations and the keeping of job ownership; nil
	// discards.
	Logger *slog.Logger
	// OwnerLease is how long this Store's jobs stay its own after it last
	// renewed its lease, for a process that cannot see this one (another
	// host): see owner.go. It is renewed every sixth of it. Zero means 90
	// seconds, which rides out a restart of PostgreSQL.
	OwnerLease time.Duration
	// Process is the process this Store records as its jobs' owner; zero
	// means this one (ThisProcess). Tests set another to play a process
	// elsewhere.
	Process Process
}

// Open connects to the PostgreSQL database at dsn (a URL or key=value
// string, as pgxpool accepts) and brings the odoobot schema up to date.
// Concurrent Opens against one database are safe: migrations run under an
// advisory lock, each in its own transaction. It is OpenWith with the
// production options.
func Open(ctx context.Context, dsn string, log *slog.Logger) (*Store, error) {
	return OpenWith(ctx, dsn, Options{Logger: log})
}

// OpenWith is Open with options. The Store owns the jobs it creates from
// here until Close (see owner.go).
func OpenWith(ctx context.Context, dsn string, opt Options) (*Store, error) {
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opt.OwnerLease <= 0 {
		opt.OwnerLease = defaultOwnerLease
	}
	if opt.Process == (Process{}) {
		opt.Process = ThisProcess()
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errorf("postgres: open: parse dsn: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, errorf("postgres: open: %w", err)
	}
	s := &Store{pool: pool, log: log, proc: opt.Process, lease: opt.OwnerLease}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := s.claimOwner(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close gives up the Store's job ownership, then closes every connection.
// When it returns, the jobs this Store left open are orphans to every
// other Store (recovery rolls them back). The Store is unusable
// afterwards; closing it again does nothing.
func (s *Store) Close() {
	s.closeOnce.Do(func() {
		s.releaseOwner()
		s.pool.Close()
	})
}

// Pool returns the connection pool, for the few callers that need raw SQL
// on the same database (e.g. database cloning). Callers must not close it.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// migration is one embedded SQL file.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations, ordered by version. A file
// is named NNNN_description.sql; versions must be unique.
func migrations() ([]migration, error) {
	files, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	seen := map[int]string{}
	for _, f := range files {
		base := path.Base(f)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive version and an underscore", base)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", other, base, v)
		}
		seen[v] = base
		b, err := migrationFS.ReadFile(f)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// migrate applies the embedded migrations not yet recorded in
// odoobot.schema_migrations, holding the advisory lock on one dedicated
// connection for the whole run.
func (s *Store) migrate(ctx context.Context) (err error) {
	ms, err := migrations()
	if err != nil {
		return errorf("postgres: migrate: %w", err)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return errorf("postgres: migrate: acquire connection: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, sqlLock, migrationLockKey); err != nil {
		return errorf("postgres: migrate: take advisory lock: %w", err)
	}
	defer func() {
		// The unlock must happen even when ctx is done; a connection whose
		// unlock failed is closed, which releases the lock with it.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, uerr := conn.Exec(uctx, sqlUnlock, migrationLockKey); uerr != nil {
			_ = conn.Conn().Close(uctx)
			if err == nil {
				err = errorf("postgres: migrate: release advisory lock: %w", uerr)
			}
		}
	}()

	if _, err := conn.Exec(ctx, sqlBootstrap); err != nil {
		return errorf("postgres: migrate: create schema: %w", err)
	}
	rows, err := conn.Query(ctx, sqlAppliedVersions)
	if err != nil {
		return errorf("postgres: migrate: read applied versions: %w", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return errorf("postgres: migrate: read applied versions: %w", err)
	}
	applied := map[int]bool{}
	for _, v := range versions {
		applied[int(v)] = true
	}
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		if err := applyMigration(ctx, conn.Conn(), m); err != nil {
			return err
		}
		s.log.Info("applied migration", "version", m.version, "file", m.name)
	}
	return nil
}

// applyMigration runs one migration and records it, in one transaction.
func applyMigration(ctx context.Context, conn *pgx.Conn, m migration) error {
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// No arguments: the simple protocol runs every statement of the file.
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, sqlRecordVersion, m.version)
		return err
	})
	if err != nil {
		return errorf("postgres: migrate: apply %s: %w", m.name, err)
	}
	return nil
}

// isUniqueViolation reports whether err is a unique violation (SQLSTATE
// 23505) and, if so, the name of the violated constraint.
func isUniqueViolation(err error) (constraint string, ok bool) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return pgErr.ConstraintName, true
	}
	return "", false
}

// isForeignKeyViolation reports whether err is SQLSTATE 23503.
func isForeignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}
