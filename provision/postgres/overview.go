package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/provision"
)

const sqlLastSucceeded = `
SELECT instance, max(finished_at) FROM odoobot.jobs
WHERE kind = $1 AND state = 'succeeded' AND finished_at IS NOT NULL
GROUP BY instance`

// LastSucceeded returns, for every instance that has one, when its
// newest job of kind that succeeded ended (a backup job: its last good
// backup), in one query whatever the number of instances.
func (s *Store) LastSucceeded(ctx context.Context, kind provision.JobKind) (map[string]time.Time, error) {
	rows, err := s.pool.Query(ctx, sqlLastSucceeded, string(kind))
	if err != nil {
		return nil, errorf("postgres: last succeeded %s jobs: %w", kind, err)
	}
	out := map[string]time.Time{}
	var name string
	var at time.Time
	_, err = pgx.ForEachRow(rows, []any{&name, &at}, func() error {
		out[name] = at
		return nil
	})
	if err != nil {
		return nil, errorf("postgres: last succeeded %s jobs: %w", kind, err)
	}
	return out, nil
}
