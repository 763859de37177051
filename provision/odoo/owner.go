package odoo

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"odoobot/internal/pgerr"
)

// giveObjectsSQL hands every object in schema public of the current
// database that role $1 does not own to it: tables, views, materialized
// views, foreign tables, free-standing sequences (those of a column
// follow their table), routines and free-standing types; the members of
// extensions stay as they are.
const giveObjectsSQL = `
DO $$
DECLARE
    target text := current_setting('odoobot.owner');
    r record;
BEGIN
    FOR r IN
        SELECT c.oid::regclass::text AS obj,
               CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                              WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS kind
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
          AND pg_get_userbyid(c.relowner) <> target
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype IN ('e', 'a', 'i'))
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO %I', r.kind, r.obj, target);
    END LOOP;
    FOR r IN
        SELECT p.oid::regprocedure::text AS obj
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> target
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                          AND d.objid = p.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('ALTER ROUTINE %s OWNER TO %I', r.obj, target);
    END LOOP;
    FOR r IN
        SELECT t.oid::regtype::text AS obj
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'r', 'm')
          AND pg_get_userbyid(t.typowner) <> target
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                          AND d.objid = t.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('ALTER TYPE %s OWNER TO %I', r.obj, target);
    END LOOP;
END
$$`

// GiveTo makes role the owner of database db and of everything in its
// schema public, and closes db to other roles when closed is set (opens
// it to PUBLIC again otherwise). It returns the database's previous
// owner, so that a caller can give it back. It is for a database that
// odoobot did not make with its own role: an imported instance moved to
// a role of its own (and back, on failure). odoobot's role must be a
// member of the current owners and of role (it is of every role it
// made); the error says so otherwise. All or nothing: the objects move in
// one transaction.
func (d *Databases) GiveTo(ctx context.Context, db, role string, closed bool) (previous string, err error) {
	defer pgerr.Type(&err)
	admin, err := d.connect(ctx, "")
	if err != nil {
		return "", fmt.Errorf("odoo: give %s to %s: %w", db, role, err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	if err := admin.QueryRow(ctx, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", db).Scan(&previous); err != nil {
		return "", fmt.Errorf("odoo: give %s to %s: look up its owner: %w", db, role, err)
	}
	conn, err := d.connectSafe(ctx, db)
	if err != nil {
		return "", fmt.Errorf("odoo: give %s to %s: %w", db, role, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_catalog.set_config('odoobot.owner', $1, true)", role); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, giveObjectsSQL); err != nil {
			return fmt.Errorf("its objects (odoobot's role must be a member of their owner and of %s): %w", role, err)
		}
		if _, err := tx.Exec(ctx, "ALTER DATABASE "+ident(db)+" OWNER TO "+ident(role)); err != nil {
			return err
		}
		grant := "GRANT CONNECT, TEMPORARY ON DATABASE " + ident(db) + " TO PUBLIC"
		if closed {
			grant = "REVOKE CONNECT, TEMPORARY ON DATABASE " + ident(db) + " FROM PUBLIC"
		}
		_, err := tx.Exec(ctx, grant)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("odoo: give %s to %s: %w", db, role, err)
	}
	return previous, nil
}
