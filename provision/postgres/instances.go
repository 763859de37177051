package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/provision"
)

// maxPortConflicts bounds how often one reservation retries a port that a
// concurrent reservation took first.
const maxPortConflicts = 20

// portPage is how many free-port candidates are read at a time.
const portPage = 64

// ErrPortTaken is returned by ImportInstance when a port it records is
// already held by another instance.
var ErrPortTaken = errors.New("port already taken")

// portLockKey is the key of the transaction advisory lock that queues
// reservations while they choose ports. Without it, concurrent
// reservations all aim at the same lowest port and most of them lose it;
// with it, each sees the ports committed before it. The constraints on
// odoobot.ports remain the guarantee; the lock only avoids the contention.
const portLockKey int64 = 0x6f646f6f706f7274 // "odooport"

const (
	sqlLockPorts = `SELECT pg_advisory_xact_lock($1)`

	sqlInsertInstance = `
INSERT INTO odoobot.instances (name, domain, internal, unit, ssl_mode, state, created_by, created_at, system_user, db_role, staging_of)
VALUES ($1, $2, $3, $4, $5, $6, $7, coalesce($8, now()), $9, $10, $11)
RETURNING created_at`

	// sqlFreePorts lists, lowest first, the ports of a range after $4 that
	// no instance holds.
	sqlFreePorts = `
SELECT p FROM generate_series($1::integer, $2::integer) AS p
WHERE p > $4
  AND NOT EXISTS (SELECT 1 FROM odoobot.ports WHERE kind = $3 AND port = p)
ORDER BY p
LIMIT $5`

	sqlInsertPort = `INSERT INTO odoobot.ports (kind, port, instance) VALUES ($1, $2, $3)`

	sqlPortHolder = `SELECT instance FROM odoobot.ports WHERE kind = $1 AND port = $2`

	sqlSetInstancePorts = `
UPDATE odoobot.instances SET http_port = $2, gevent_port = $3, updated_at = now()
WHERE name = $1`

	sqlSelectInstance = `
SELECT name, domain, internal, unit, ssl_mode, coalesce(http_port, 0), coalesce(gevent_port, 0),
       state, created_at, created_by, system_user, db_role, staging_of,
       release_key, release_repo, release_commit, release_python, release_deps,
       stopped_by, coalesce(stopped_at, 'epoch'),
       coalesce(maintenance_until, 'epoch'), maintenance_by, maintenance_reason
FROM odoobot.instances`

	sqlSetState = `UPDATE odoobot.instances SET state = $2, updated_at = now() WHERE name = $1`

	sqlDeleteInstance = `DELETE FROM odoobot.instances WHERE name = $1`

	sqlTakenPorts = `SELECT instance, kind, port FROM odoobot.ports ORDER BY kind, port`
)

// ReserveInstance records inst in state creating and takes, in the same
// transaction, the lowest free port of the http range and of the gevent
// range. A port is free when no instance holds it and inUse(port) reports
// false (inUse probes the host; nil means no port is in use).
//
// The ports table's constraints make a double allocation impossible;
// reservations queue on an advisory lock while they choose ports, and a
// port lost anyway (to a writer that does not take the lock) is retried
// with the next one. A
// name, domain or internal name already recorded gives a
// *provision.NameError with rule "taken" (errors.Is ErrInstanceExists). A
// range with no free port gives an error matching ErrPortsExhausted that
// names the range; nothing is recorded then. The returned Instance carries
// the ports, the state and the creation time.
func (s *Store) ReserveInstance(ctx context.Context, inst provision.Instance, http, gevent provision.PortRange, inUse func(port int) bool) (provision.Instance, error) {
	for _, r := range []provision.PortRange{http, gevent} {
		if r.First < 1 || r.Last > 65535 || r.First > r.Last {
			return provision.Instance{}, errorf("postgres: reserve instance: invalid port range %s", r)
		}
	}
	if inUse == nil {
		inUse = func(int) bool { return false }
	}
	busy := map[int]bool{} // ports the host reported in use, probed once
	probe := func(p int) bool {
		b, ok := busy[p]
		if !ok {
			b = inUse(p)
			busy[p] = b
		}
		return b
	}
	inst.State = provision.StateCreating
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := insertInstance(ctx, tx, &inst); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlLockPorts, portLockKey); err != nil {
			return err
		}
		var err error
		if inst.Ports.HTTP, err = claimPort(ctx, tx, inst.Name, provision.PortHTTP, http, probe); err != nil {
			return err
		}
		if inst.Ports.Gevent, err = claimPort(ctx, tx, inst.Name, provision.PortGevent, gevent, probe); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, sqlSetInstancePorts, inst.Name, inst.Ports.HTTP, inst.Ports.Gevent)
		return err
	})
	if err != nil {
		return provision.Instance{}, errorf("postgres: reserve instance: %w", err)
	}
	s.log.Info("reserved instance", "instance", inst.Name, "http_port", inst.Ports.HTTP, "gevent_port", inst.Ports.Gevent)
	return inst, nil
}

// insertInstance inserts the instance row (without ports) and sets
// inst.CreatedAt. A unique violation becomes a "taken" NameError.
func insertInstance(ctx context.Context, tx pgx.Tx, inst *provision.Instance) error {
	var createdAt *time.Time
	if !inst.CreatedAt.IsZero() {
		createdAt = &inst.CreatedAt
	}
	err := tx.QueryRow(ctx, sqlInsertInstance,
		inst.Name, inst.Domain, inst.Internal, inst.Unit, string(inst.SSLMode), string(inst.State), inst.CreatedBy, createdAt,
		inst.User, inst.DBRole, inst.StagingOf,
	).Scan(&inst.CreatedAt)
	if c, ok := isUniqueViolation(err); ok {
		reason := fmt.Sprintf("an instance named %s already exists; choose another name", inst.Name)
		switch c {
		case "instances_domain_key":
			reason = fmt.Sprintf("the domain %s is already used by an instance; choose another name", inst.Domain)
		case "instances_internal_key":
			reason = fmt.Sprintf("%s is already used by an instance; choose another name", inst.Internal)
		}
		return &provision.NameError{Name: inst.Name, Rule: provision.RuleTaken, Reason: reason}
	}
	return err
}

// claimPort takes the lowest free port of r for the instance, inside tx.
// Each attempt runs in a savepoint, so losing a port to a concurrent
// transaction (a unique violation) leaves tx usable.
func claimPort(ctx context.Context, tx pgx.Tx, instance string, kind provision.PortKind, r provision.PortRange, inUse func(int) bool) (int, error) {
	conflicts := 0
	after := r.First - 1 // candidates are read after this port
	for {
		rows, err := tx.Query(ctx, sqlFreePorts, r.First, r.Last, string(kind), after, portPage)
		if err != nil {
			return 0, err
		}
		candidates, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return 0, err
		}
		if len(candidates) == 0 {
			return 0, fmt.Errorf("%w %s (%s)", provision.ErrPortsExhausted, r, kind)
		}
		lost := false
		for _, c := range candidates {
			p := int(c)
			after = p
			if inUse(p) {
				continue
			}
			err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
				_, err := sp.Exec(ctx, sqlInsertPort, string(kind), p, instance)
				return err
			})
			if err == nil {
				return p, nil
			}
			if _, ok := isUniqueViolation(err); !ok {
				return 0, err
			}
			conflicts++
			if conflicts >= maxPortConflicts {
				return 0, fmt.Errorf("%s port: gave up after %d conflicts with concurrent reservations", kind, conflicts)
			}
			lost = true
			break
		}
		if lost {
			// Read again from the start: the committed state has moved
			// and a lower port may have been released meanwhile.
			after = r.First - 1
		}
	}
}

// ImportInstance records an instance that already exists on the host, with
// its given ports, state (ready when empty) and creation time (now when
// zero). A name, domain or internal name already recorded gives a
// "taken" NameError (errors.Is ErrInstanceExists); a port already held
// gives an error matching ErrPortTaken that names its holder. Nothing is
// recorded on error.
func (s *Store) ImportInstance(ctx context.Context, inst provision.Instance) error {
	if inst.State == "" {
		inst.State = provision.StateReady
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := insertInstance(ctx, tx, &inst); err != nil {
			return err
		}
		for _, p := range []struct {
			kind provision.PortKind
			port int
		}{{provision.PortHTTP, inst.Ports.HTTP}, {provision.PortGevent, inst.Ports.Gevent}} {
			if p.port == 0 {
				continue
			}
			err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
				_, err := sp.Exec(ctx, sqlInsertPort, string(p.kind), p.port, inst.Name)
				return err
			})
			if _, ok := isUniqueViolation(err); ok {
				var holder string
				if qerr := tx.QueryRow(ctx, sqlPortHolder, string(p.kind), p.port).Scan(&holder); qerr != nil {
					holder = "another instance"
				}
				return fmt.Errorf("%s port %d held by %s: %w", p.kind, p.port, holder, ErrPortTaken)
			}
			if err != nil {
				return err
			}
		}
		var http, gevent *int
		if inst.Ports.HTTP != 0 {
			http = &inst.Ports.HTTP
		}
		if inst.Ports.Gevent != 0 {
			gevent = &inst.Ports.Gevent
		}
		_, err := tx.Exec(ctx, sqlSetInstancePorts, inst.Name, http, gevent)
		return err
	})
	if err != nil {
		return errorf("postgres: import instance %s: %w", inst.Name, err)
	}
	return nil
}

// Instance returns the named instance, or an error matching
// provision.ErrInstanceNotFound.
func (s *Store) Instance(ctx context.Context, name string) (provision.Instance, error) {
	rows, err := s.pool.Query(ctx, sqlSelectInstance+` WHERE name = $1`, name)
	if err != nil {
		return provision.Instance{}, errorf("postgres: instance %s: %w", name, err)
	}
	inst, err := pgx.CollectExactlyOneRow(rows, scanInstance)
	if errors.Is(err, pgx.ErrNoRows) {
		return provision.Instance{}, errorf("postgres: instance %s: %w", name, provision.ErrInstanceNotFound)
	}
	if err != nil {
		return provision.Instance{}, errorf("postgres: instance %s: %w", name, err)
	}
	return inst, nil
}

// Instances returns every recorded instance, ordered by name.
func (s *Store) Instances(ctx context.Context) ([]provision.Instance, error) {
	rows, err := s.pool.Query(ctx, sqlSelectInstance+` ORDER BY name`)
	if err != nil {
		return nil, errorf("postgres: instances: %w", err)
	}
	insts, err := pgx.CollectRows(rows, scanInstance)
	if err != nil {
		return nil, errorf("postgres: instances: %w", err)
	}
	return insts, nil
}

func scanInstance(row pgx.CollectableRow) (provision.Instance, error) {
	var inst provision.Instance
	var mode, state string
	err := row.Scan(&inst.Name, &inst.Domain, &inst.Internal, &inst.Unit, &mode,
		&inst.Ports.HTTP, &inst.Ports.Gevent, &state, &inst.CreatedAt, &inst.CreatedBy, &inst.User, &inst.DBRole, &inst.StagingOf,
		&inst.Release.Key, &inst.Release.Repo, &inst.Release.Commit, &inst.Release.Python, &inst.Release.Deps,
		&inst.StoppedBy, &inst.StoppedAt,
		&inst.Maintenance.Until, &inst.Maintenance.By, &inst.Maintenance.Reason)
	if inst.StoppedBy == "" {
		inst.StoppedAt = time.Time{}
	}
	if inst.Maintenance.By == "" {
		inst.Maintenance = provision.Maintenance{}
	}
	inst.SSLMode = provision.SSLMode(mode)
	inst.State = provision.State(state)
	return inst, err
}

// SetTenant records the system user and database role instance name
// runs as, or returns an error matching provision.ErrInstanceNotFound.
func (s *Store) SetTenant(ctx context.Context, name, user, role string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE odoobot.instances SET system_user = $2, db_role = $3, updated_at = now() WHERE name = $1`, name, user, role)
	if err != nil {
		return errorf("postgres: set the user and role of %s: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return errorf("postgres: set the user and role of %s: %w", name, provision.ErrInstanceNotFound)
	}
	return nil
}

// SetStopped records that instance name was stopped on purpose by by at
// at; by "" clears it (started again). An unknown instance is an error
// matching provision.ErrInstanceNotFound.
func (s *Store) SetStopped(ctx context.Context, name, by string, at time.Time) error {
	var when *time.Time
	if by != "" {
		when = &at
	}
	tag, err := s.pool.Exec(ctx, `UPDATE odoobot.instances SET stopped_by = $2, stopped_at = $3, updated_at = now() WHERE name = $1`, name, by, when)
	if err != nil {
		return errorf("postgres: record who stopped %s: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return errorf("postgres: record who stopped %s: %w", name, provision.ErrInstanceNotFound)
	}
	return nil
}

// SetMaintenance records the maintenance window m of instance name; a
// zero m ends it. An unknown instance is an error matching
// provision.ErrInstanceNotFound.
func (s *Store) SetMaintenance(ctx context.Context, name string, m provision.Maintenance) error {
	var until *time.Time
	if m.By != "" {
		until = &m.Until
	}
	tag, err := s.pool.Exec(ctx, `UPDATE odoobot.instances SET maintenance_until = $2, maintenance_by = $3, maintenance_reason = $4, updated_at = now() WHERE name = $1`,
		name, until, m.By, m.Reason)
	if err != nil {
		return errorf("postgres: record the maintenance of %s: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return errorf("postgres: record the maintenance of %s: %w", name, provision.ErrInstanceNotFound)
	}
	return nil
}

// SetRelease records the release instance name runs, or returns an
// error matching provision.ErrInstanceNotFound.
func (s *Store) SetRelease(ctx context.Context, name string, rel provision.ReleaseRecord) error {
	tag, err := s.pool.Exec(ctx, `UPDATE odoobot.instances SET release_key = $2, release_repo = $3, release_commit = $4,
       release_python = $5, release_deps = $6, updated_at = now() WHERE name = $1`,
		name, rel.Key, rel.Repo, rel.Commit, rel.Python, rel.Deps)
	if err != nil {
		return errorf("postgres: record the release of %s: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return errorf("postgres: record the release of %s: %w", name, provision.ErrInstanceNotFound)
	}
	return nil
}

// SetState changes an instance's state, or returns an error matching
// provision.ErrInstanceNotFound.
func (s *Store) SetState(ctx context.Context, name string, st provision.State) error {
	tag, err := s.pool.Exec(ctx, sqlSetState, name, string(st))
	if err != nil {
		return errorf("postgres: set state of %s: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return errorf("postgres: set state of %s: %w", name, provision.ErrInstanceNotFound)
	}
	return nil
}

// ReleaseInstance deletes the instance and its ports, which become free
// for the next reservation. Releasing an unknown instance is not an error.
func (s *Store) ReleaseInstance(ctx context.Context, name string) error {
	if _, err := s.pool.Exec(ctx, sqlDeleteInstance, name); err != nil {
		return errorf("postgres: release instance %s: %w", name, err)
	}
	return nil
}

// PortRow is one taken port, as the tracking export lists it.
type PortRow struct {
	Instance string
	Kind     provision.PortKind
	Port     int
}

// TakenPorts returns every taken port, ordered by kind (gevent before
// http) and port.
func (s *Store) TakenPorts(ctx context.Context) ([]PortRow, error) {
	rows, err := s.pool.Query(ctx, sqlTakenPorts)
	if err != nil {
		return nil, errorf("postgres: taken ports: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (PortRow, error) {
		var p PortRow
		var kind string
		err := row.Scan(&p.Instance, &kind, &p.Port)
		p.Kind = provision.PortKind(kind)
		return p, err
	})
	if err != nil {
		return nil, errorf("postgres: taken ports: %w", err)
	}
	return out, nil
}
