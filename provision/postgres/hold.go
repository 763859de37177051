package postgres

import (
	"context"
	"errors"

	"odoobot/provision"
)

// instanceLockSpace is the first key of the per-instance advisory locks:
// pg_advisory_lock(instanceLockSpace, hashtext(name)). Distinct from
// ownerLockSpace; a hash collision between two names only makes one
// wait for the other's quick verb.
const instanceLockSpace int32 = 0x696e7374 // "inst"

const (
	sqlTryInstanceLock     = `SELECT pg_try_advisory_lock($1, hashtext($2))`
	sqlTryInstanceXactLock = `SELECT pg_try_advisory_xact_lock($1, hashtext($2))`
	sqlInstanceUnlock      = `SELECT pg_advisory_unlock($1, hashtext($2))`
)

// ErrInstanceHeld is matched (with provision.ErrInstanceBusy) by the
// refusal of HoldInstance and CreateJob while another command holds the
// instance.
var ErrInstanceHeld = errors.New("another command is acting on it")

// HoldInstance holds instance name for a quick verb (restart, stop,
// start, reset-admin) until release is called: no job can be created on
// it meanwhile (CreateJob takes the same lock), and no other quick verb
// can hold it, in this process or any other sharing the state database.
// It is refused, holding nothing, with an error matching
// provision.ErrInstanceBusy, when another command holds the instance or
// a job is open on it. The hold lives on a connection of its own, so it
// ends with the process if release is never called. release is
// idempotent.
func (s *Store) HoldInstance(ctx context.Context, name string) (release func(), err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, errorf("postgres: hold %s: %w", name, err)
	}
	var got bool
	if err := conn.QueryRow(ctx, sqlTryInstanceLock, instanceLockSpace, name).Scan(&got); err != nil {
		conn.Release()
		return nil, errorf("postgres: hold %s: %w", name, err)
	}
	if !got {
		conn.Release()
		return nil, errorf("postgres: hold %s: %w: %w", name, ErrInstanceHeld, provision.ErrInstanceBusy)
	}
	released := false
	release = func() {
		if released {
			return
		}
		released = true
		// A failed unlock closes the connection, which ends the hold.
		if _, err := conn.Exec(context.WithoutCancel(ctx), sqlInstanceUnlock, instanceLockSpace, name); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
		conn.Release()
	}
	if j, open, err := s.ActiveJob(ctx, name); err != nil {
		release()
		return nil, err
	} else if open {
		release()
		return nil, errorf("postgres: hold %s: %s job #%d is %s on it: %w", name, j.Kind, j.ID, j.State, provision.ErrInstanceBusy)
	}
	return release, nil
}
