package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/provision"
)

const (
	sqlInsertAudit = `
INSERT INTO odoobot.audit (at, platform, user_id, user_name, channel, command, decision, outcome, duration_ms)
VALUES (coalesce($1, now()), $2, $3, $4, $5, $6, $7, $8, $9)`

	sqlSelectAudit = `
SELECT at, platform, user_id, user_name, channel, command, decision, outcome, duration_ms
FROM odoobot.audit ORDER BY at DESC, id DESC LIMIT $1`
)

// RecordAudit appends one command attempt to the audit log; a zero At
// means now. Decision must be "allowed", "denied" or "invalid". Durations
// are stored in whole milliseconds.
func (s *Store) RecordAudit(ctx context.Context, e provision.AuditEntry) error {
	var at *time.Time
	if !e.At.IsZero() {
		at = &e.At
	}
	_, err := s.pool.Exec(ctx, sqlInsertAudit, at, e.Platform, e.UserID, e.UserName, e.Channel,
		e.Command, e.Decision, e.Outcome, e.Duration.Milliseconds())
	if err != nil {
		return errorf("postgres: record audit: %w", err)
	}
	return nil
}

// AuditSince returns the entries of the audit log q selects, oldest
// first; a Limit of zero or less is refused (an export is bounded).
func (s *Store) AuditSince(ctx context.Context, q provision.AuditQuery) ([]provision.AuditEntry, error) {
	if q.Limit <= 0 {
		return nil, errorf("postgres: audit since %s: no limit given", q.Since.Format(time.RFC3339))
	}
	rows, err := s.pool.Query(ctx, `
SELECT at, platform, user_id, user_name, channel, command, decision, outcome, duration_ms
FROM odoobot.audit
WHERE at >= $1 AND ($2 = '' OR user_id = $2 OR lower(user_name) = lower($2))
ORDER BY at, id LIMIT $3`, q.Since, q.User, q.Limit)
	if err != nil {
		return nil, errorf("postgres: audit since %s: %w", q.Since.Format(time.RFC3339), err)
	}
	out, err := pgx.CollectRows(rows, scanAudit)
	if err != nil {
		return nil, errorf("postgres: audit since %s: %w", q.Since.Format(time.RFC3339), err)
	}
	return out, nil
}

func scanAudit(row pgx.CollectableRow) (provision.AuditEntry, error) {
	var e provision.AuditEntry
	var ms int64
	err := row.Scan(&e.At, &e.Platform, &e.UserID, &e.UserName, &e.Channel, &e.Command, &e.Decision, &e.Outcome, &ms)
	e.Duration = time.Duration(ms) * time.Millisecond
	return e, err
}

// Audit returns the latest limit entries of the audit log, newest first.
// A limit of zero or less returns every entry.
func (s *Store) Audit(ctx context.Context, limit int) ([]provision.AuditEntry, error) {
	var lim *int
	if limit > 0 {
		lim = &limit
	}
	rows, err := s.pool.Query(ctx, sqlSelectAudit, lim)
	if err != nil {
		return nil, errorf("postgres: audit: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanAudit)
	if err != nil {
		return nil, errorf("postgres: audit: %w", err)
	}
	return out, nil
}
