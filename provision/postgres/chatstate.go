package postgres

import (
	"context"
	"encoding/json"
	"time"
)

const (
	sqlSaveApproval = `
INSERT INTO odoobot.approval_requests (code, expires_at, request) VALUES ($1, $2, $3)
ON CONFLICT (code) DO UPDATE SET expires_at = EXCLUDED.expires_at, request = EXCLUDED.request`
	sqlDeleteApproval = `DELETE FROM odoobot.approval_requests WHERE code = $1`
	sqlApprovals      = `SELECT code, request FROM odoobot.approval_requests ORDER BY created_at, code`

	sqlSaveAlertCard = `
INSERT INTO odoobot.alert_cards (key, card) VALUES ($1, $2)
ON CONFLICT (key) DO UPDATE SET card = EXCLUDED.card, updated_at = now()`
	sqlDeleteAlertCard = `DELETE FROM odoobot.alert_cards WHERE key = $1`
	sqlAlertCards      = `SELECT key, card FROM odoobot.alert_cards ORDER BY key`
)

// SaveApproval keeps the open approval request code until expires:
// request is its record as the dispatcher wrote it (a JSON object),
// replacing one kept under the same code.
func (s *Store) SaveApproval(ctx context.Context, code string, expires time.Time, request []byte) error {
	if !json.Valid(request) {
		return errorf("postgres: save approval request %s: the record is not JSON", code)
	}
	if _, err := s.pool.Exec(ctx, sqlSaveApproval, code, expires, json.RawMessage(request)); err != nil {
		return errorf("postgres: save approval request %s: %w", code, err)
	}
	return nil
}

// DeleteApproval forgets the approval request code (decided or
// expired); forgetting one not kept is no error.
func (s *Store) DeleteApproval(ctx context.Context, code string) error {
	if _, err := s.pool.Exec(ctx, sqlDeleteApproval, code); err != nil {
		return errorf("postgres: delete approval request %s: %w", code, err)
	}
	return nil
}

// Approvals returns the kept approval requests' records by code, expired
// ones included (their reader drops them).
func (s *Store) Approvals(ctx context.Context) (map[string][]byte, error) {
	return s.records(ctx, sqlApprovals, "approval requests")
}

// SaveAlertCard keeps the open alert card about key: card is its record
// as the alert book wrote it (a JSON object), replacing the one kept.
func (s *Store) SaveAlertCard(ctx context.Context, key string, card []byte) error {
	if !json.Valid(card) {
		return errorf("postgres: save the alert card of %s: the record is not JSON", key)
	}
	if _, err := s.pool.Exec(ctx, sqlSaveAlertCard, key, json.RawMessage(card)); err != nil {
		return errorf("postgres: save the alert card of %s: %w", key, err)
	}
	return nil
}

// DeleteAlertCard forgets the alert card about key (closed); forgetting
// one not kept is no error.
func (s *Store) DeleteAlertCard(ctx context.Context, key string) error {
	if _, err := s.pool.Exec(ctx, sqlDeleteAlertCard, key); err != nil {
		return errorf("postgres: delete the alert card of %s: %w", key, err)
	}
	return nil
}

// AlertCards returns the kept alert cards' records by key.
func (s *Store) AlertCards(ctx context.Context) (map[string][]byte, error) {
	return s.records(ctx, sqlAlertCards, "alert cards")
}

// records reads (key, jsonb) rows.
func (s *Store) records(ctx context.Context, query, what string) (map[string][]byte, error) {
	rows, err := s.pool.Query(ctx, query)
	if err != nil {
		return nil, errorf("postgres: read the kept %s: %w", what, err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var key string
		var data []byte
		if err := rows.Scan(&key, &data); err != nil {
			return nil, errorf("postgres: read the kept %s: %w", what, err)
		}
		out[key] = data
	}
	if err := rows.Err(); err != nil {
		return nil, errorf("postgres: read the kept %s: %w", what, err)
	}
	return out, nil
}
