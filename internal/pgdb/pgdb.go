// Package pgdb is the one place odoobot asks a PostgreSQL cluster about
// its databases by name: whether one exists, creating one that does not,
// and quoting a name for a statement. It knows nothing of instances; the
// wiring (the state database), provision/postgres (the day-two jobs'
// databases) and provision/odoo (templates and their spares) use it on
// their own connections.
package pgdb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Querier runs one query returning one row: a *pgx.Conn, a pgx.Tx or a
// *pgxpool.Pool.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Exists reports whether database name exists in q's cluster. The error
// names the database.
func Exists(ctx context.Context, q Querier, name string) (bool, error) {
	var ok bool
	if err := q.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1)", name).Scan(&ok); err != nil {
		return false, fmt.Errorf("look up database %q: %w", name, err)
	}
	return ok, nil
}

// Ident quotes s as an SQL identifier (a database or role name): any
// name is safe in a statement, quotes, spaces and semicolons included.
func Ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// Ensure creates database name (UTF8, owned by the role dsn logs in as)
// on the cluster dsn reaches, unless it exists; one made meanwhile by
// another process is no error. Its errors name the server, never the
// password: an invalid dsn is reported without quoting it.
func Ensure(ctx context.Context, dsn, name string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the connection string, password and all.
		return errors.New("the PostgreSQL connection string is invalid: check DB_HOST, DB_PORT, DB_USER and DB_PASSWORD")
	}
	server := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		if inner := errors.Unwrap(err); inner != nil {
			err = inner // pgconn's ConnectError repeats the connection settings
		}
		return fmt.Errorf("connect to PostgreSQL at %s: %w", server, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	ok, err := Exists(ctx, conn, name)
	if err != nil || ok {
		return err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+Ident(name)+" ENCODING 'UTF8'"); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: made meanwhile
			return nil
		}
		return fmt.Errorf("create database %q: %w", name, err)
	}
	return nil
}
