package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"odoobot/provision"
)

const (
	sqlSetOdooVersion = `UPDATE odoobot.instances SET odoo_version = $2, updated_at = now() WHERE name = $1`
	sqlOdooVersion    = `SELECT odoo_version FROM odoobot.instances WHERE name = $1`
)

// SetOdooVersion records the Odoo instance name was created on ("19.0
// community"). It wraps provision.ErrInstanceNotFound for an unknown
// instance.
func (s *Store) SetOdooVersion(ctx context.Context, name, version string) error {
	tag, err := s.pool.Exec(ctx, sqlSetOdooVersion, name, version)
	if err != nil {
		return errorf("postgres: set odoo version of %s: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return errorf("postgres: set odoo version of %s: %w", name, provision.ErrInstanceNotFound)
	}
	return nil
}

// OdooVersion returns what SetOdooVersion recorded for instance name, ""
// when nothing was (an instance made before it was recorded, or
// imported). It wraps provision.ErrInstanceNotFound for an unknown
// instance.
func (s *Store) OdooVersion(ctx context.Context, name string) (string, error) {
	var v string
	err := s.pool.QueryRow(ctx, sqlOdooVersion, name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", errorf("postgres: odoo version of %s: %w", name, provision.ErrInstanceNotFound)
	}
	if err != nil {
		return "", errorf("postgres: odoo version of %s: %w", name, err)
	}
	return v, nil
}
