package odoo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/internal/pgerr"
)

// FinishCopy does to db, a copy of another instance's database, what
// Odoo's duplicate does: a new database.uuid, database.secret and
// database.create_date, no database.enterprise_code, web.base.url =
// baseURL frozen, report.url = reportURL (when set); and it marks db as
// odoobot's with marker (the value of odoobot.template), so that Drop
// takes it. One transaction, as db's own role (Tenant).
func (d *Databases) FinishCopy(ctx context.Context, db, baseURL, reportURL, marker string) (err error) {
	defer pgerr.Type(&err)
	conn, err := d.asTenant(ctx, db)
	if err != nil {
		return fmt.Errorf("odoo: finish the copy %s: %w", db, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		return newIdentity(ctx, tx, baseURL, reportURL, marker)
	})
	if err != nil {
		return fmt.Errorf("odoo: finish the copy %s: %w", db, err)
	}
	return nil
}

// Param returns db's ir_config_parameter key; "" when it has none. It
// is read as db's own role (Tenant).
func (d *Databases) Param(ctx context.Context, db, key string) (_ string, err error) {
	defer pgerr.Type(&err)
	conn, err := d.asTenant(ctx, db)
	if err != nil {
		return "", fmt.Errorf("odoo: read %s of %s: %w", key, db, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var v string
	err = conn.QueryRow(ctx, "SELECT value FROM public.ir_config_parameter WHERE key = $1", key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("odoo: read %s of %s: %w", key, db, err)
	}
	return v, nil
}

// newIdentity gives the database of tx, a copy, what Odoo's duplicate
// gives one: a new database.uuid, database.secret and
// database.create_date, no database.enterprise_code; and web.base.url =
// baseURL frozen, report.url = reportURL (when set), and odoobot's marker
// (the value of odoobot.template), written last.
func newIdentity(ctx context.Context, tx pgx.Tx, baseURL, reportURL, marker string) error {
	if _, err := tx.Exec(ctx, "DELETE FROM public.ir_config_parameter WHERE key = 'database.enterprise_code'"); err != nil {
		return err
	}
	params := [][2]string{
		{"database.uuid", newUUID()},
		{"database.secret", newUUID()},
		{"database.create_date", time.Now().UTC().Format("2006-01-02 15:04:05")},
		{"web.base.url", baseURL},
		{"web.base.url.freeze", "True"},
	}
	if reportURL != "" {
		params = append(params, [2]string{"report.url", reportURL})
	}
	params = append(params, [2]string{markerKey, marker})
	for _, p := range params {
		if err := setParam(ctx, tx, p[0], p[1]); err != nil {
			return fmt.Errorf("set %s: %w", p[0], err)
		}
	}
	return nil
}
