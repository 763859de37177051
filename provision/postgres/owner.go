package postgres

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"odoobot/provision"
)

// ownerLockSpace is the first key of the owner locks: pg_advisory_lock(
// ownerLockSpace, owner).
const ownerLockSpace int32 = 0x6f646f6f // "odoo"

// claimOwner picks this process's owner id and takes its session lock on
// a connection of its own, held until Close: while it is held, the jobs
// this process records are known to be alive.
func (s *Store) claimOwner(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: claim job owner: %w", err)
	}
	for range 20 {
		var b [4]byte
		rand.Read(b[:])
		owner := int32(binary.BigEndian.Uint32(b[:]) & 0x7fffffff)
		if owner == 0 {
			continue
		}
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, ownerLockSpace, owner).Scan(&ok); err != nil {
			conn.Release()
			return fmt.Errorf("postgres: claim job owner: %w", err)
		}
		if ok {
			// The connection leaves the pool: it lives, with its lock,
			// until Close.
			s.owner, s.ownerConn = owner, conn.Hijack()
			return nil
		}
	}
	conn.Release()
	return fmt.Errorf("postgres: claim job owner: no free owner id")
}

// OrphanedJobs returns the open (queued or running) jobs whose process is
// gone: their owner's lock is free (or they have no owner). Jobs of live
// processes, this one included, are not returned: recovering them would
// undo work in progress.
func (s *Store) OrphanedJobs(ctx context.Context) ([]provision.Job, error) {
	open, err := s.OpenJobs(ctx)
	if err != nil || len(open) == 0 {
		return nil, err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: orphaned jobs: %w", err)
	}
	defer conn.Release()
	alive := map[int32]bool{s.owner: true}
	var out []provision.Job
	for _, j := range open {
		owner, err := s.jobOwner(ctx, conn, j.ID)
		if err != nil {
			return nil, err
		}
		if owner != 0 {
			live, known := alive[owner]
			if !known {
				if live, err = ownerAlive(ctx, conn, owner); err != nil {
					return nil, err
				}
				alive[owner] = live
			}
			if live {
				continue
			}
		}
		out = append(out, j)
	}
	return out, nil
}

func (s *Store) jobOwner(ctx context.Context, conn *pgxpool.Conn, id int64) (int32, error) {
	var owner *int32
	if err := conn.QueryRow(ctx, `SELECT owner FROM odoobot.jobs WHERE id = $1`, id).Scan(&owner); err != nil {
		return 0, fmt.Errorf("postgres: job owner: %w", err)
	}
	if owner == nil {
		return 0, nil
	}
	return *owner, nil
}

// ownerAlive reports whether some session holds owner's lock: it tries to
// take it, and gives it back at once when it could.
func ownerAlive(ctx context.Context, conn *pgxpool.Conn, owner int32) (bool, error) {
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, ownerLockSpace, owner).Scan(&got); err != nil {
		return false, fmt.Errorf("postgres: job owner: %w", err)
	}
	if got {
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1, $2)`, ownerLockSpace, owner); err != nil {
			return false, fmt.Errorf("postgres: job owner: %w", err)
		}
	}
	return !got, nil
}
