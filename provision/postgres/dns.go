package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/provision"
)

// The Store is the ledger of the DNS records odoobot made
// (provision/cloudflare.Ledger), in odoobot.dns_records.

const sqlSelectDNS = `
SELECT key, name, type, content, record_id, attempted_at, created_on, gone_at IS NOT NULL
FROM odoobot.dns_records`

// JournalDNS records e (its Key ignored) and returns its key: a create
// about to be sent (RecordID empty), or a record adopted. A RecordID
// already recorded is an error.
func (s *Store) JournalDNS(ctx context.Context, e provision.DNSEntry) (int64, error) {
	var created *time.Time
	if !e.CreatedOn.IsZero() {
		created = &e.CreatedOn
	}
	var key int64
	err := s.pool.QueryRow(ctx, `
INSERT INTO odoobot.dns_records (name, type, content, record_id, attempted_at, created_on)
VALUES ($1, $2, $3, $4, $5, $6) RETURNING key`,
		e.Name, e.Type, e.Content, e.RecordID, e.Attempted, created).Scan(&key)
	if err != nil {
		return 0, errorf("postgres: journal DNS record %s %s: %w", e.Type, e.Name, err)
	}
	return key, nil
}

// MadeDNS gives the entry key the ID and creation time of its record.
func (s *Store) MadeDNS(ctx context.Context, key int64, recordID string, createdOn time.Time) error {
	var created *time.Time
	if !createdOn.IsZero() {
		created = &createdOn
	}
	tag, err := s.pool.Exec(ctx, `UPDATE odoobot.dns_records SET record_id = $2, created_on = $3 WHERE key = $1`, key, recordID, created)
	if err != nil {
		return errorf("postgres: keep DNS record %s: %w", recordID, err)
	}
	if tag.RowsAffected() == 0 {
		return errorf("postgres: keep DNS record %s: no entry %d", recordID, key)
	}
	return nil
}

// DNSEntries returns the entries at exactly name, oldest first.
func (s *Store) DNSEntries(ctx context.Context, name string) ([]provision.DNSEntry, error) {
	return s.dnsEntries(ctx, sqlSelectDNS+` WHERE name = $1 ORDER BY attempted_at, key`, name)
}

// BuryDNS tombstones every entry at exactly name. A tombstone is never
// lifted.
func (s *Store) BuryDNS(ctx context.Context, name string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE odoobot.dns_records SET gone_at = now() WHERE name = $1 AND gone_at IS NULL`, name); err != nil {
		return errorf("postgres: tombstone the DNS records at %s: %w", name, err)
	}
	return nil
}

// ForgetDNS removes the entry key; a missing one is not an error.
func (s *Store) ForgetDNS(ctx context.Context, key int64) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM odoobot.dns_records WHERE key = $1`, key); err != nil {
		return errorf("postgres: forget DNS record entry %d: %w", key, err)
	}
	return nil
}

// BuriedDNS returns the tombstoned entries, and the TXT (challenge)
// entries journaled more than an hour ago, oldest first.
func (s *Store) BuriedDNS(ctx context.Context) ([]provision.DNSEntry, error) {
	return s.dnsEntries(ctx, sqlSelectDNS+`
WHERE gone_at IS NOT NULL OR (type = 'TXT' AND attempted_at < now() - interval '1 hour')
ORDER BY attempted_at, key`)
}

// DNSEntryCount is the number of entries, tombstones included.
func (s *Store) DNSEntryCount(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM odoobot.dns_records`).Scan(&n); err != nil {
		return 0, errorf("postgres: count DNS record entries: %w", err)
	}
	return n, nil
}

func (s *Store) dnsEntries(ctx context.Context, query string, args ...any) ([]provision.DNSEntry, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, errorf("postgres: DNS record entries: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (provision.DNSEntry, error) {
		var e provision.DNSEntry
		var created *time.Time
		err := row.Scan(&e.Key, &e.Name, &e.Type, &e.Content, &e.RecordID, &e.Attempted, &created, &e.Gone)
		if created != nil {
			e.CreatedOn = *created
		}
		return e, err
	})
	if err != nil {
		return nil, errorf("postgres: DNS record entries: %w", err)
	}
	return out, nil
}

// DNSLedger adapts the Store to the ledger interface of the Cloudflare
// driver (provision/cloudflare.Ledger), whose method names are its own.
type DNSLedger struct{ Store *Store }

// Journal is Store.JournalDNS.
func (l DNSLedger) Journal(ctx context.Context, e provision.DNSEntry) (int64, error) {
	return l.Store.JournalDNS(ctx, e)
}

// Made is Store.MadeDNS.
func (l DNSLedger) Made(ctx context.Context, key int64, recordID string, createdOn time.Time) error {
	return l.Store.MadeDNS(ctx, key, recordID, createdOn)
}

// Entries is Store.DNSEntries.
func (l DNSLedger) Entries(ctx context.Context, name string) ([]provision.DNSEntry, error) {
	return l.Store.DNSEntries(ctx, name)
}

// Bury is Store.BuryDNS.
func (l DNSLedger) Bury(ctx context.Context, name string) error { return l.Store.BuryDNS(ctx, name) }

// Forget is Store.ForgetDNS.
func (l DNSLedger) Forget(ctx context.Context, key int64) error { return l.Store.ForgetDNS(ctx, key) }

// Buried is Store.BuriedDNS.
func (l DNSLedger) Buried(ctx context.Context) ([]provision.DNSEntry, error) {
	return l.Store.BuriedDNS(ctx)
}
