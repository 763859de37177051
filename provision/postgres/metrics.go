package postgres

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/provision"
)

// MaxMarkers bounds the markers one graph reads.
const MaxMarkers = 500

const (
	sqlInsertSample = `
INSERT INTO odoobot.instance_samples (instance, at, memory_bytes, cpu_nsec, response_us)
VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`

	sqlInsertHostSample = `
INSERT INTO odoobot.host_samples (at, mem_total, mem_used, disk_total, disk_free)
VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`

	sqlPruneSamples     = `DELETE FROM odoobot.instance_samples WHERE at < $1`
	sqlPruneHostSamples = `DELETE FROM odoobot.host_samples WHERE at < $1`

	// The rows of one instance beyond its newest $2.
	sqlCapSamples = `
DELETE FROM odoobot.instance_samples WHERE instance = $1 AND at < (
    SELECT at FROM odoobot.instance_samples WHERE instance = $1
    ORDER BY at DESC OFFSET $2 - 1 LIMIT 1)`

	sqlCapHostSamples = `
DELETE FROM odoobot.host_samples WHERE at < (
    SELECT at FROM odoobot.host_samples ORDER BY at DESC OFFSET $1 - 1 LIMIT 1)`

	sqlSelectSamples = `
SELECT instance, at, memory_bytes, cpu_nsec, response_us
FROM odoobot.instance_samples WHERE instance = $1 AND at >= $2
ORDER BY at LIMIT $3`

	sqlSelectHostSamples = `
SELECT at, mem_total, mem_used, disk_total, disk_free
FROM odoobot.host_samples WHERE at >= $1 ORDER BY at LIMIT $2`

	sqlSelectMemory = `
SELECT instance, date_bin($2::interval, at, 'epoch'::timestamptz) AS bucket, avg(memory_bytes)::bigint
FROM odoobot.instance_samples
WHERE at >= $1 AND memory_bytes IS NOT NULL
GROUP BY instance, bucket ORDER BY bucket, instance LIMIT $3`

	sqlSelectJobMarkers = `
SELECT finished_at, kind FROM odoobot.jobs
WHERE instance = $1 AND state = 'succeeded' AND finished_at >= $2
  AND kind IN ('backup', 'create', 'upgrade', 'rebuild', 'restore')
ORDER BY finished_at LIMIT $3`

	sqlSelectRestarts = `
SELECT at, command FROM odoobot.audit
WHERE at >= $1 AND decision = 'allowed' AND outcome = 'ok' AND command ~* '^\s*(/odoo\s+)?restart\s'
ORDER BY at LIMIT $2`
)

// SampleLimits bound what AddSamples keeps.
type SampleLimits struct {
	Keep       time.Duration // rows older than this are deleted (7 days)
	MaxPerHost int           // host rows kept at most, newest first
	MaxPerInst int           // rows kept at most per instance, newest first
}

// AddSamples records one sampling round, host may be nil, then deletes
// the rows older than lim.Keep before at and, for the host and each
// instance of samples, the rows beyond the newest lim.MaxPerHost and
// lim.MaxPerInst: the tables stay bounded whatever the sampling rate.
// A row already recorded for the same instance and time is kept as it
// is.
func (s *Store) AddSamples(ctx context.Context, at time.Time, host *provision.HostSample, samples []provision.Sample, lim SampleLimits) error {
	if lim.Keep <= 0 || lim.MaxPerHost <= 0 || lim.MaxPerInst <= 0 {
		return errorf("postgres: add samples: limits must be positive (%+v)", lim)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if host != nil {
			if _, err := tx.Exec(ctx, sqlInsertHostSample, host.At, int64(host.MemTotal), int64(host.MemUsed), int64(host.DiskTotal), int64(host.DiskFree)); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, sqlCapHostSamples, lim.MaxPerHost); err != nil {
				return err
			}
		}
		for _, smp := range samples {
			var us *int64
			if smp.Response != nil {
				v := smp.Response.Microseconds()
				us = &v
			}
			if _, err := tx.Exec(ctx, sqlInsertSample, smp.Instance, smp.At, smp.MemoryBytes, smp.CPUNanos, us); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, sqlCapSamples, smp.Instance, lim.MaxPerInst); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, sqlPruneSamples, at.Add(-lim.Keep)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, sqlPruneHostSamples, at.Add(-lim.Keep))
		return err
	})
	if err != nil {
		return errorf("postgres: add samples: %w", err)
	}
	return nil
}

// Samples returns instance's samples taken at or after since, oldest
// first, at most limit of them.
func (s *Store) Samples(ctx context.Context, instance string, since time.Time, limit int) ([]provision.Sample, error) {
	rows, err := s.pool.Query(ctx, sqlSelectSamples, instance, since, limit)
	if err != nil {
		return nil, errorf("postgres: samples of %s: %w", instance, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (provision.Sample, error) {
		var smp provision.Sample
		var us *int64
		err := row.Scan(&smp.Instance, &smp.At, &smp.MemoryBytes, &smp.CPUNanos, &us)
		if us != nil {
			d := time.Duration(*us) * time.Microsecond
			smp.Response = &d
		}
		return smp, err
	})
	if err != nil {
		return nil, errorf("postgres: samples of %s: %w", instance, err)
	}
	return out, nil
}

// HostSamples returns the host's samples taken at or after since,
// oldest first, at most limit of them.
func (s *Store) HostSamples(ctx context.Context, since time.Time, limit int) ([]provision.HostSample, error) {
	rows, err := s.pool.Query(ctx, sqlSelectHostSamples, since, limit)
	if err != nil {
		return nil, errorf("postgres: host samples: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (provision.HostSample, error) {
		var h provision.HostSample
		var total, used, disk, free int64
		err := row.Scan(&h.At, &total, &used, &disk, &free)
		h.MemTotal, h.MemUsed, h.DiskTotal, h.DiskFree = uint64(total), uint64(used), uint64(disk), uint64(free)
		return h, err
	})
	if err != nil {
		return nil, errorf("postgres: host samples: %w", err)
	}
	return out, nil
}

// MemoryByInstance returns every instance's mean memory per bucket of
// time since since, oldest bucket first, at most limit points.
func (s *Store) MemoryByInstance(ctx context.Context, since time.Time, bucket time.Duration, limit int) ([]provision.MemoryPoint, error) {
	if bucket < time.Second {
		return nil, errorf("postgres: memory by instance: bucket %s is under a second", bucket)
	}
	rows, err := s.pool.Query(ctx, sqlSelectMemory, since, bucket, limit)
	if err != nil {
		return nil, errorf("postgres: memory by instance: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (provision.MemoryPoint, error) {
		var p provision.MemoryPoint
		err := row.Scan(&p.Instance, &p.At, &p.MemoryBytes)
		return p, err
	})
	if err != nil {
		return nil, errorf("postgres: memory by instance: %w", err)
	}
	return out, nil
}

// restartCommand is an audited restart: "restart NAME", after the slash
// command's name or not.
var restartCommand = regexp.MustCompile(`^(?i)\s*(?:/odoo\s+)?restart\s+(\S+)\s*$`)

// Markers returns what happened to instance since since, oldest first,
// from the records odoobot keeps: its jobs that succeeded (a backup; a
// creation, upgrade, rebuild or restore is a deploy) and the restarts
// its audit log holds as allowed and ok. At most MaxMarkers of each.
func (s *Store) Markers(ctx context.Context, instance string, since time.Time) ([]provision.Marker, error) {
	rows, err := s.pool.Query(ctx, sqlSelectJobMarkers, instance, since, MaxMarkers)
	if err != nil {
		return nil, errorf("postgres: markers of %s: %w", instance, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (provision.Marker, error) {
		var m provision.Marker
		var kind string
		err := row.Scan(&m.At, &kind)
		m.Kind = provision.MarkDeploy
		if kind == string(provision.JobBackup) {
			m.Kind = provision.MarkBackup
		}
		return m, err
	})
	if err != nil {
		return nil, errorf("postgres: markers of %s: %w", instance, err)
	}
	rows, err = s.pool.Query(ctx, sqlSelectRestarts, since, MaxMarkers)
	if err != nil {
		return nil, errorf("postgres: restarts of %s: %w", instance, err)
	}
	var at time.Time
	var command string
	_, err = pgx.ForEachRow(rows, []any{&at, &command}, func() error {
		if m := restartCommand.FindStringSubmatch(command); m != nil && strings.EqualFold(m[1], instance) {
			out = append(out, provision.Marker{At: at, Kind: provision.MarkRestart})
		}
		return nil
	})
	if err != nil {
		return nil, errorf("postgres: restarts of %s: %w", instance, err)
	}
	slices.SortStableFunc(out, func(a, b provision.Marker) int { return a.At.Compare(b.At) })
	return out, nil
}
