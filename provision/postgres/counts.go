package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/internal/pgerr"
	"odoobot/provision"
)

// countTimeout bounds each count: a tenant may have made a counted table
// a view that never ends.
const countTimeout = 30 * time.Second

// counted are the core tables a backup records the rows of, each with
// the query that counts them (schema-qualified: the session's
// search_path is pg_catalog), and the key it is recorded under.
var counted = []struct{ key, table, query string }{
	{"res_partner", "public.res_partner", "SELECT count(*) FROM public.res_partner"},
	{"res_users", "public.res_users", "SELECT count(*) FROM public.res_users"},
	{"res_company", "public.res_company", "SELECT count(*) FROM public.res_company"},
	{"ir_attachment", "public.ir_attachment", "SELECT count(*) FROM public.ir_attachment"},
	{"ir_module_module installed", "public.ir_module_module", "SELECT count(*) FROM public.ir_module_module WHERE state = 'installed'"},
}

// connectAs opens a pgx connection to database db as c (the role that
// owns it, from Login): search_path pg_catalog, each statement bounded
// by countTimeout. Its errors never hold the password.
func (p Admin) connectAs(ctx context.Context, c provision.DBConn, db string) (*pgx.Conn, error) {
	u := url.URL{Scheme: "postgres", Host: net.JoinHostPort(c.Host, strconv.Itoa(c.Port)), Path: "/" + db, User: url.User(c.User)}
	u.RawQuery = url.Values{"sslmode": {"prefer"}, "application_name": {"odoobot"}, "connect_timeout": {"10"}}.Encode()
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		return nil, fmt.Errorf("log in to database %q as %q: invalid settings", db, c.User)
	}
	cfg.Password = c.Password
	cfg.RuntimeParams["search_path"] = "pg_catalog"
	cfg.RuntimeParams["statement_timeout"] = strconv.Itoa(int(countTimeout / time.Millisecond))
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, pgerr.Typed(fmt.Errorf("log in to database %q as %q: %w", db, c.User, err))
	}
	return conn, nil
}

// countRows counts the counted tables db has, in tx; a table db lacks,
// or whose count fails (each in a savepoint, so the others still run),
// is left out.
func countRows(ctx context.Context, tx pgx.Tx) (map[string]int64, error) {
	// The statement timeout is the session's, which a function of the
	// tenant's may change: the counts are bounded here too, as a whole.
	ctx, cancel := context.WithTimeout(ctx, time.Duration(len(counted))*countTimeout)
	defer cancel()
	rows := map[string]int64{}
	for _, c := range counted {
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", c.table).Scan(&exists); err != nil {
			return nil, err
		}
		if !exists {
			continue
		}
		sp, err := tx.Begin(ctx)
		if err != nil {
			return nil, err
		}
		var n int64
		if err := sp.QueryRow(ctx, c.query).Scan(&n); err != nil {
			if rerr := sp.Rollback(ctx); rerr != nil {
				return nil, errors.Join(err, rerr)
			}
			continue
		}
		if err := sp.Commit(ctx); err != nil {
			return nil, err
		}
		rows[c.key] = n
	}
	return rows, nil
}

// CountedDump is Dump, logged in as the role that owns db (Login): a
// read-only repeatable-read transaction of that role exports its
// snapshot, counts the core tables in it (countRows), and pg_dump
// dumps that very snapshot (--snapshot), so the counts are the dump's.
func (p Admin) CountedDump(ctx context.Context, db, file string) (map[string]int64, error) {
	c, err := p.login(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	conn, err := p.connectAs(ctx, c, db)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, pgerr.Typed(fmt.Errorf("backup: count the rows of %q: %w", db, err))
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var snapshot string
	if err := tx.QueryRow(ctx, "SELECT pg_export_snapshot()").Scan(&snapshot); err != nil {
		return nil, pgerr.Typed(fmt.Errorf("backup: export the snapshot of %q: %w", db, err))
	}
	rows, err := countRows(ctx, tx)
	if err != nil {
		return nil, pgerr.Typed(fmt.Errorf("backup: count the rows of %q: %w", db, err))
	}
	if _, err := p.run(ctx, c, "pg_dump", "-Fc", "--snapshot="+snapshot, "-f", file, "-d", db); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	return rows, os.Chmod(file, 0o600)
}

// Counts counts the core tables of db (countRows), logged in as the
// role that owns it, in a read-only transaction.
func (p Admin) Counts(ctx context.Context, db string) (map[string]int64, error) {
	c, err := p.login(ctx, db)
	if err != nil {
		return nil, err
	}
	conn, err := p.connectAs(ctx, c, db)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, pgerr.Typed(fmt.Errorf("count the rows of %q: %w", db, err))
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	rows, err := countRows(ctx, tx)
	if err != nil {
		return nil, pgerr.Typed(fmt.Errorf("count the rows of %q: %w", db, err))
	}
	return rows, nil
}
