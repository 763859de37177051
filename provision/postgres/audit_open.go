package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/provision"
)

const (
	sqlOpenAudit = `
INSERT INTO odoobot.audit (at, platform, user_id, user_name, channel, command, decision, outcome, duration_ms)
VALUES (coalesce($1, now()), $2, $3, $4, $5, $6, $7, $8, 0)
RETURNING id`

	sqlCloseAudit = `
UPDATE odoobot.audit SET outcome = $2, duration_ms = $3 WHERE id = $1 RETURNING id`
)

// OpenAudit appends the entry of a command about to run, before it runs,
// and returns the entry's id for CloseAudit. e.Outcome is what the entry
// says until it is closed (the dispatcher writes "running"); e.Duration
// is ignored. An error means nothing was written: the caller must not
// run the command.
func (s *Store) OpenAudit(ctx context.Context, e provision.AuditEntry) (int64, error) {
	var at *time.Time
	if !e.At.IsZero() {
		at = &e.At
	}
	var id int64
	err := s.pool.QueryRow(ctx, sqlOpenAudit, at, e.Platform, e.UserID, e.UserName, e.Channel,
		e.Command, e.Decision, e.Outcome).Scan(&id)
	if err != nil {
		return 0, errorf("postgres: open audit entry: %w", err)
	}
	return id, nil
}

// CloseAudit writes the outcome and duration (whole milliseconds) of the
// entry OpenAudit returned id for. An id with no entry is an error.
func (s *Store) CloseAudit(ctx context.Context, id int64, outcome string, d time.Duration) error {
	err := s.pool.QueryRow(ctx, sqlCloseAudit, id, outcome, d.Milliseconds()).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return errorf("postgres: close audit entry %d: no such entry", id)
	}
	if err != nil {
		return errorf("postgres: close audit entry %d: %w", id, err)
	}
	return nil
}
