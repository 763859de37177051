package postgres

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"odoobot/provision"
)

// Job ownership.
//
// Every Store is one owner: a random id written into the jobs it creates
// (odoobot.jobs.owner), a row of odoobot.job_owners naming its process
// and holding a lease, and the session advisory lock (ownerLockSpace, id)
// held on a connection of its own. Recovery must roll back the open jobs
// of a process that stopped, and never those of a live one; an owner's
// open jobs are orphans when:
//
//  1. its row is closed: Close marks it before returning, so a stopped
//     Store's jobs are orphans at once, whatever the server has done yet
//     with its connection; or
//  2. nobody holds its lock, and
//     - its process runs on this host (same boot and PID namespace) and
//     is gone: checked in /proc, exactly, the moment it died; or
//     - its process is elsewhere and its lease has expired: only time
//     tells about a process one cannot see; or
//     - it has no row (an owner from before the rows existed).
//
// A free lock alone proves nothing: a PostgreSQL restart, or a connection
// the server ended, frees the lock of a live process. So the live owner
// watches its connection and, when it dies, connects again with backoff,
// takes the lock again and renews the lease (it is re-proved); meanwhile
// its process is alive (same host) or its lease runs (elsewhere), which
// keeps its jobs its own. The lease (Options.OwnerLease, 90 s by
// default) is renewed every sixth of it, so it outlives a restart of
// PostgreSQL.

// ownerLockSpace is the first key of the owner locks: pg_advisory_lock(
// ownerLockSpace, owner).
const ownerLockSpace int32 = 0x6f646f6f // "odoo"

const (
	sqlTryOwnerLock = `SELECT pg_try_advisory_lock($1, $2)`
	sqlOwnerUnlock  = `SELECT pg_advisory_unlock($1, $2)`

	sqlInsertOwner = `
INSERT INTO odoobot.job_owners (id, host, pid, pid_start, lease_until)
VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
ON CONFLICT (id) DO NOTHING`

	sqlRenewOwner = `
UPDATE odoobot.job_owners SET lease_until = now() + make_interval(secs => $2)
WHERE id = $1 AND closed_at IS NULL`

	sqlCloseOwner = `UPDATE odoobot.job_owners SET closed_at = now() WHERE id = $1 AND closed_at IS NULL`

	sqlSelectOwner = `
SELECT host, pid, pid_start, closed_at IS NOT NULL, lease_until < now()
FROM odoobot.job_owners WHERE id = $1`

	// Rows of owners that are done with (closed, or silent for a day)
	// and have no open job are of no more use.
	sqlPruneOwners = `
DELETE FROM odoobot.job_owners o
WHERE (o.closed_at IS NOT NULL OR o.lease_until < now() - interval '1 day')
  AND NOT EXISTS (SELECT 1 FROM odoobot.jobs j WHERE j.owner = o.id AND j.state IN ('queued', 'running'))`
)

// defaultOwnerLease is how long an owner's lease runs after a renewal
// when Options.OwnerLease is zero: long enough to ride out a restart of
// PostgreSQL.
const defaultOwnerLease = 90 * time.Second

// claimOwner picks this process's owner id, records it with its process
// and lease, and takes its lock on a connection of its own; then it
// starts keeping them (keepOwnership) until Close.
func (s *Store) claimOwner(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, sqlPruneOwners); err != nil {
		return errorf("postgres: claim job owner: prune old owners: %w", err)
	}
	conn, err := s.ownerConnect(ctx)
	if err != nil {
		return errorf("postgres: claim job owner: %w", err)
	}
	for range 20 {
		var b [4]byte
		rand.Read(b[:])
		owner := int32(binary.BigEndian.Uint32(b[:]) & 0x7fffffff)
		if owner == 0 {
			continue
		}
		var ok bool
		if err := conn.QueryRow(ctx, sqlTryOwnerLock, ownerLockSpace, owner).Scan(&ok); err != nil {
			conn.Close(context.WithoutCancel(ctx))
			return errorf("postgres: claim job owner: %w", err)
		}
		if !ok {
			continue
		}
		tag, err := conn.Exec(ctx, sqlInsertOwner, owner, s.proc.Host, s.proc.PID, int64(s.proc.Start), s.lease.Seconds())
		if err != nil {
			conn.Close(context.WithoutCancel(ctx))
			return errorf("postgres: claim job owner: record owner: %w", err)
		}
		if tag.RowsAffected() == 0 {
			// The id is another owner's, closed or gone: pick another.
			if _, err := conn.Exec(ctx, sqlOwnerUnlock, ownerLockSpace, owner); err != nil {
				conn.Close(context.WithoutCancel(ctx))
				return errorf("postgres: claim job owner: %w", err)
			}
			continue
		}
		s.owner, s.ownerConn = owner, conn
		kctx, stop := context.WithCancel(context.Background())
		s.stopKeeper, s.keeperDone = stop, make(chan struct{})
		go s.keepOwnership(kctx)
		return nil
	}
	conn.Close(context.WithoutCancel(ctx))
	return errors.New("postgres: claim job owner: no free owner id after 20 tries")
}

// ownerConnect opens a connection outside the pool, with the pool's
// settings, to hold the owner's lock.
func (s *Store) ownerConnect(ctx context.Context) (*pgx.Conn, error) {
	return pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
}

// keepOwnership watches the connection holding the owner's lock and
// renews the lease every sixth of it. When the connection dies (a
// PostgreSQL restart, a connection the server ended), it proves the
// ownership again: a new connection, the lock, the lease; it tries again
// with backoff until that works or Close stops it.
func (s *Store) keepOwnership(ctx context.Context) {
	defer close(s.keeperDone)
	every := s.lease / 6
	for {
		conn := s.ownerConn
		err := errOwnerConnLost
		if conn != nil {
			// Nothing is ever notified: this waits for the connection to
			// fail, or for the time to renew.
			wctx, cancel := context.WithTimeout(ctx, every)
			err = conn.PgConn().WaitForNotification(wctx)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err == nil || (pgconn.Timeout(err) && !conn.IsClosed()) {
				err = s.renewLease(ctx, conn)
				if err == nil {
					continue
				}
			}
			s.log.Warn("job ownership: the connection holding it failed; proving it again", "owner", s.owner, "err", err)
			conn.Close(context.Background())
			s.ownerConn = nil
		}
		if !s.reprove(ctx) {
			return
		}
	}
}

var errOwnerConnLost = errors.New("no connection holds the owner's lock")

// renewLease extends the owner's lease from now, on conn.
func (s *Store) renewLease(ctx context.Context, conn *pgx.Conn) error {
	rctx, cancel := context.WithTimeout(ctx, s.lease/6)
	defer cancel()
	if _, err := conn.Exec(rctx, sqlRenewOwner, s.owner, s.lease.Seconds()); err != nil {
		return fmt.Errorf("renew the lease: %w", err)
	}
	return nil
}

// reprove connects again, takes the owner's lock and renews the lease,
// trying again with backoff (100 ms doubling to 10 s) until that works
// (true) or ctx ends (false). The lock may still be held by the dead
// connection's session, until the server notices: that is tried again
// too.
func (s *Store) reprove(ctx context.Context) bool {
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := s.tryReprove(ctx)
		if err == nil {
			s.log.Info("job ownership proved again", "owner", s.owner, "attempts", attempt)
			return true
		}
		if attempt == 1 || attempt%10 == 0 {
			s.log.Warn("job ownership: not proved yet; trying again", "owner", s.owner, "attempts", attempt, "err", err)
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}

func (s *Store) tryReprove(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := s.ownerConnect(cctx)
	if err != nil {
		return err
	}
	var ok bool
	if err := conn.QueryRow(cctx, sqlTryOwnerLock, ownerLockSpace, s.owner).Scan(&ok); err != nil {
		conn.Close(context.Background())
		return err
	}
	if !ok {
		conn.Close(context.Background())
		return errors.New("the owner's lock is still held, by the session that was lost")
	}
	if err := s.renewLease(cctx, conn); err != nil {
		conn.Close(context.Background())
		return err
	}
	s.ownerConn = conn
	return nil
}

// releaseOwner stops keeping the ownership and gives it up before
// returning: the owner's row is marked closed (its open jobs are orphans
// from then on) and its lock unlocked, then the connection is closed.
func (s *Store) releaseOwner() {
	if s.stopKeeper == nil {
		return
	}
	s.stopKeeper()
	<-s.keeperDone
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.pool.Exec(ctx, sqlCloseOwner, s.owner); err != nil {
		// The process is stopping: its lock goes with its connection, and
		// its jobs are judged by its process or its lease.
		s.log.Warn("job ownership: could not mark the owner closed", "owner", s.owner, "err", err)
	}
	if conn := s.ownerConn; conn != nil {
		if _, err := conn.Exec(ctx, sqlOwnerUnlock, ownerLockSpace, s.owner); err != nil {
			s.log.Warn("job ownership: could not unlock", "owner", s.owner, "err", err)
		}
		conn.Close(ctx)
		s.ownerConn = nil
	}
}

// OrphanedJobs returns the open (queued or running) jobs whose process is
// gone (see the rule at the top of this file), and those with no owner.
// Jobs of live processes, this one included, are not returned: recovering
// them would undo work in progress.
func (s *Store) OrphanedJobs(ctx context.Context) ([]provision.Job, error) {
	open, err := s.OpenJobs(ctx)
	if err != nil || len(open) == 0 {
		return nil, err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, errorf("postgres: orphaned jobs: %w", err)
	}
	defer conn.Release()
	gone := map[int32]bool{s.owner: false}
	var out []provision.Job
	for _, j := range open {
		owner, err := s.jobOwner(ctx, conn.Conn(), j.ID)
		if err != nil {
			return nil, err
		}
		if owner != 0 {
			g, known := gone[owner]
			if !known {
				if g, err = s.ownerGone(ctx, conn.Conn(), owner); err != nil {
					return nil, err
				}
				gone[owner] = g
			}
			if !g {
				continue
			}
		}
		out = append(out, j)
	}
	return out, nil
}

func (s *Store) jobOwner(ctx context.Context, conn *pgx.Conn, id int64) (int32, error) {
	var owner *int32
	if err := conn.QueryRow(ctx, `SELECT owner FROM odoobot.jobs WHERE id = $1`, id).Scan(&owner); err != nil {
		return 0, errorf("postgres: job owner: %w", err)
	}
	if owner == nil {
		return 0, nil
	}
	return *owner, nil
}

// ownerGone applies the rule at the top of this file to one owner.
func (s *Store) ownerGone(ctx context.Context, conn *pgx.Conn, owner int32) (bool, error) {
	var proc Process
	var start int64
	var closed, expired bool
	err := conn.QueryRow(ctx, sqlSelectOwner, owner).Scan(&proc.Host, &proc.PID, &start, &closed, &expired)
	found := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return false, errorf("postgres: job owner %d: %w", owner, err)
	}
	proc.Start = uint64(start)
	if found && closed {
		return true, nil
	}
	locked, err := ownerLocked(ctx, conn, owner)
	if err != nil || locked {
		return false, err
	}
	if !found {
		return true, nil
	}
	if alive, known := proc.Alive(s.proc); known {
		return !alive, nil
	}
	return expired, nil
}

// ownerLocked reports whether some session holds owner's lock: it tries
// to take it, and gives it back at once when it could.
func ownerLocked(ctx context.Context, conn *pgx.Conn, owner int32) (bool, error) {
	var got bool
	if err := conn.QueryRow(ctx, sqlTryOwnerLock, ownerLockSpace, owner).Scan(&got); err != nil {
		return false, errorf("postgres: job owner %d: %w", owner, err)
	}
	if got {
		if _, err := conn.Exec(ctx, sqlOwnerUnlock, ownerLockSpace, owner); err != nil {
			// A pooled connection must not keep someone's lock: closed,
			// it leaves the pool and the lock with it.
			conn.Close(context.WithoutCancel(ctx))
			return false, errorf("postgres: job owner %d: %w", owner, err)
		}
	}
	return !got, nil
}
