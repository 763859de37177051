package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"odoobot/internal/childenv"
	"odoobot/internal/pgdb"
	"odoobot/internal/pgerr"
	"odoobot/provision"
)

// Admin serves the day-two jobs' DatabaseAdmin and DatabaseDumps.
var _ provision.Postgres = Admin{}

// Admin administers the cluster's databases by name for the day-two
// jobs. It reaches PostgreSQL as DB says: SQL goes through pgx on the
// maintenance database "postgres", one connection per call; dumps and
// restores through PostgreSQL's own pg_dump and pg_restore. The password
// goes to pgx in its configuration and to the programs in PGPASSWORD,
// never on a command line or into an error. The zero Bin finds the
// programs in the newest /usr/lib/postgresql/*/bin, else on PATH.
//
// Dump and Restore log in to the instance's database as the role that
// owns it (Login), never as DB's role unless DB's role owns it, with
// search_path pg_catalog: what a tenant put in its database (a CHECK
// constraint whose function does RESET ROLE, a trigger) runs during the
// restore as the tenant, whose rights are those of its own database.
type Admin struct {
	Bin string // the directory holding pg_dump and pg_restore; "" to find them
	DB  provision.DBConn
	// Login returns the credentials that log in to database db as the
	// role that owns it, proven to work (tenant.Manager's Login, with
	// DB's server). nil logs in as DB's role: only for a host whose
	// databases odoobot's role owns itself.
	Login func(ctx context.Context, db string) (provision.DBConn, error)
	// Jobs is how many workers (-j) a copy's pg_dump and every
	// pg_restore run: 0 for the host's CPUs, at most MaxJobs; 1 for the
	// serial path (DumpCopy writes a custom-format file, pg_restore
	// runs alone).
	Jobs int
}

// MaxJobs bounds Admin's parallel workers: each is one more session of
// the instance's role and one more PostgreSQL backend doing the work.
const MaxJobs = 8

// jobs is how many workers a copy and a restore run: Jobs, else the
// host's CPUs, between 1 and MaxJobs.
func (p Admin) jobs() int {
	n := p.Jobs
	if n <= 0 {
		n = runtime.NumCPU()
	}
	return max(1, min(n, MaxJobs))
}

// login is who pg_dump and pg_restore log in to db as.
func (p Admin) login(ctx context.Context, db string) (provision.DBConn, error) {
	if p.Login == nil {
		return p.DB, nil
	}
	c, err := p.Login(ctx, db)
	if err != nil {
		return provision.DBConn{}, fmt.Errorf("log in to database %q as its owner: %w", db, err)
	}
	return c, nil
}

// path is prog in Bin, else in the newest /usr/lib/postgresql/*/bin
// that has it, else on PATH.
func (p Admin) path(prog string) (string, error) {
	if p.Bin != "" {
		return filepath.Join(p.Bin, prog), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if st, err := os.Stat(filepath.Join(d, prog)); err == nil && !st.IsDir() {
			return filepath.Join(d, prog), nil
		}
	}
	path, err := exec.LookPath(prog)
	if err != nil {
		return "", fmt.Errorf("%s not found in /usr/lib/postgresql/*/bin or PATH: install postgresql-client", prog)
	}
	return path, nil
}

// run runs prog logged in as c: its password in the child's PGPASSWORD,
// search_path pg_catalog from the connection's start (PGOPTIONS).
func (p Admin) run(ctx context.Context, c provision.DBConn, prog string, args ...string) (string, error) {
	bin, err := p.path(prog)
	if err != nil {
		return "", err
	}
	conn := []string{"-h", c.Host, "-p", strconv.Itoa(c.Port), "-U", c.User, "-w"}
	cmd := exec.CommandContext(ctx, bin, append(conn, args...)...)
	cmd.Env = childenv.Env("PGPASSWORD="+c.Password, "PGCONNECT_TIMEOUT=10", "PGAPPNAME=odoobot", "PGOPTIONS=-c search_path=pg_catalog")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		for _, pw := range []string{c.Password, p.DB.Password} {
			if pw != "" {
				msg = strings.ReplaceAll(msg, pw, "[redacted]")
			}
		}
		if len(msg) > 600 {
			msg = msg[:600] + "…"
		}
		return "", programFailure(prog, fmt.Errorf("%s: %w: %s", prog, err, msg), stderr.String())
	}
	return stdout.String(), nil
}

// programFailure is the failure of prog (pg_dump, pg_restore), err its
// error for the log, typed by what its stderr (the C locale's, as run
// runs it) says: what went wrong as pgerr says it for PostgreSQL's own
// errors, else that prog failed (broken).
func programFailure(prog string, err error, stderr string) error {
	lower := strings.ToLower(stderr)
	f := pgerr.Failure{Cause: pgerr.Other}
	switch {
	case strings.Contains(lower, "password authentication failed") || strings.Contains(lower, "no pg_hba.conf entry") ||
		missingRole.MatchString(stderr) || strings.Contains(lower, "is not permitted to log in"):
		f.Cause = pgerr.Login
	case missingDatabase.MatchString(stderr):
		f.Cause, f.Database = pgerr.MissingDatabase, missingDatabase.FindStringSubmatch(stderr)[1]
	case strings.Contains(lower, "permission denied"):
		f.Cause = pgerr.Denied
	case strings.Contains(lower, "the database system is starting up") || strings.Contains(lower, "the database system is shutting down") ||
		strings.Contains(lower, "terminating connection due to administrator command") || strings.Contains(lower, "server closed the connection unexpectedly"):
		f.Cause = pgerr.Restarting
	case strings.Contains(lower, "no space left on device") || strings.Contains(lower, "out of memory") || strings.Contains(lower, "too many clients"):
		f.Cause = pgerr.Resources
	case strings.Contains(lower, "connection refused") || strings.Contains(lower, "could not connect to server") || strings.Contains(lower, "could not translate host name"):
		f.Cause = pgerr.Unreachable
	}
	e := f.Error(err)
	if f.Cause == pgerr.Unreachable && strings.Contains(lower, "connection refused") {
		e.What = "PostgreSQL cannot be reached (connection refused)"
	}
	if f.Cause == pgerr.Other {
		e.What = prog + " failed"
		e.Hint = "the bot's log has its message"
	}
	return e
}

// missingDatabase is how PostgreSQL says, in its C locale, that a
// database does not exist.
var missingDatabase = regexp.MustCompile(`database "([^"]+)" does not exist`)

// missingRole is how PostgreSQL refuses a login as a role that does not
// exist (on a server that trusts the address).
var missingRole = regexp.MustCompile(`FATAL:\s+role "[^"]+" does not exist`)

// connect opens a pgx connection to the maintenance database "postgres"
// with the settings psql had: sslmode prefer, a 10 s connect timeout,
// application name odoobot. Its errors name the server and the role,
// never the password.
func (p Admin) connect(ctx context.Context) (*pgx.Conn, error) {
	u := url.URL{Scheme: "postgres", Host: net.JoinHostPort(p.DB.Host, strconv.Itoa(p.DB.Port)), Path: "/postgres"}
	if p.DB.Password != "" {
		u.User = url.UserPassword(p.DB.User, p.DB.Password)
	} else {
		u.User = url.User(p.DB.User)
	}
	u.RawQuery = url.Values{"sslmode": {"prefer"}, "application_name": {"odoobot"}, "connect_timeout": {"10"}}.Encode()
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		// pgx's message may quote the connection string, password and all.
		return nil, fmt.Errorf("PostgreSQL connection settings (DB_HOST %q, DB_PORT %d, DB_USER %q) are invalid: check them", p.DB.Host, p.DB.Port, p.DB.User)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		// pgconn's message names host, role and database, not the password.
		return nil, pgerr.Typed(fmt.Errorf("connect to PostgreSQL (DB_HOST, DB_PORT, DB_USER, DB_PASSWORD): %w", err))
	}
	return conn, nil
}

// withConn runs f on a new connection to the maintenance database and
// closes it.
func (p Admin) withConn(ctx context.Context, f func(*pgx.Conn) error) error {
	conn, err := p.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return pgerr.Typed(f(conn))
}

// Dump writes a custom-format dump (pg_dump -Fc) of database db to
// file, mode 0600: one consistent snapshot, taken while db serves. The
// error starts with "backup: " and carries pg_dump's message, the
// password redacted.
func (p Admin) Dump(ctx context.Context, db, file string) error {
	c, err := p.login(ctx, db)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := p.run(ctx, c, "pg_dump", "-Fc", "-f", file, "-d", db); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return os.Chmod(file, 0o600)
}

// DumpCopy writes a dump of database db to path (which must not exist)
// for a copy restored at once (a clone, an upgrade's test copy): with
// more than one worker (jobs), a directory-format dump (pg_dump -Fd -j),
// its tables written at once by that many sessions sharing one
// snapshot; with one, a custom-format file as Dump writes. Either way
// one consistent snapshot, taken while db serves, logged in as the role
// that owns db; Restore restores both. A parallel dump one of whose
// workers could not lock a table (a session asked for an exclusive lock
// on it meanwhile) is made again the serial way, which waits. The error
// starts with "backup: " as Dump's does; what a failed pg_dump wrote is
// removed.
func (p Admin) DumpCopy(ctx context.Context, db, path string) error {
	n := p.jobs()
	if n == 1 {
		if err := p.Dump(ctx, db, path); err != nil {
			_ = os.RemoveAll(path)
			return err
		}
		return nil
	}
	c, err := p.login(ctx, db)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := p.run(ctx, c, "pg_dump", "-Fd", "-j", strconv.Itoa(n), "-f", path, "-d", db); err != nil {
		_ = os.RemoveAll(path)
		if !strings.Contains(err.Error(), "could not obtain lock on relation") {
			return fmt.Errorf("backup: %w", err)
		}
		// A worker's lock was refused (NOWAIT) because a session asked
		// for an exclusive lock on a table after the leader had locked
		// it (Odoo altering a table, say): the serial dump waits for
		// it instead, as a backup's does.
		if err := p.Dump(ctx, db, path); err != nil {
			_ = os.RemoveAll(path)
			return err
		}
		return nil
	}
	return os.Chmod(path, 0o700)
}

// SQL runs stmt on the maintenance database and returns its command tag
// (e.g. "ALTER DATABASE"). Without args, stmt may hold several
// statements separated by semicolons, run in one transaction (all or
// none; CREATE and DROP DATABASE must then be alone). With args, stmt is
// one statement whose $1, $2, … are args, sent as query parameters:
// values go there, and identifiers through pgdb.Ident. The error names the
// statement's first words and carries PostgreSQL's answer.
func (p Admin) SQL(ctx context.Context, stmt string, args ...any) (pgconn.CommandTag, error) {
	return p.Exec(ctx, sqlVerb(stmt), stmt, args...)
}

// Exec is SQL whose error starts with what, which says what failed
// (e.g. `keep database "prod-acme" aside`), instead of the statement's
// first words.
func (p Admin) Exec(ctx context.Context, what, stmt string, args ...any) (pgconn.CommandTag, error) {
	var tag pgconn.CommandTag
	err := p.withConn(ctx, func(conn *pgx.Conn) error {
		var err error
		tag, err = conn.Exec(ctx, stmt, args...)
		return err
	})
	if err != nil {
		return tag, fmt.Errorf("%s: %w", what, err)
	}
	return tag, nil
}

// queryRow runs query, one statement whose $1, $2, … are args, on the
// maintenance database and scans its single row into dest.
func (p Admin) queryRow(ctx context.Context, query string, args []any, dest ...any) error {
	return p.withConn(ctx, func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, query, args...).Scan(dest...)
	})
}

// Exists reports whether database db exists (pgdb.Exists).
func (p Admin) Exists(ctx context.Context, db string) (bool, error) {
	conn, err := p.connect(ctx)
	if err != nil {
		return false, fmt.Errorf("look up database %q: %w", db, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	ok, err := pgdb.Exists(ctx, conn, db)
	return ok, pgerr.Typed(err)
}

// Kick ends every other session on database db.
func (p Admin) Kick(ctx context.Context, db string) error {
	return p.withConn(ctx, func(conn *pgx.Conn) error { return kickOn(ctx, conn, db) })
}

// kickOn ends the client sessions on db. PostgreSQL's own workers there
// (an autovacuum worker is a superuser process, which odoobot's role may
// not signal) are left alone: a rename or drop makes them exit itself.
func kickOn(ctx context.Context, conn *pgx.Conn, db string) error {
	if _, err := conn.Exec(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'", db); err != nil {
		return fmt.Errorf("end the sessions on database %q: %w", db, err)
	}
	return nil
}

// Drop drops database db, ending its client sessions first; a database
// that does not exist is no error. The error names the database.
//
// Not DROP … WITH (FORCE): it signals every process on the database,
// an autovacuum worker too (a superuser process odoobot's role may not
// signal: "permission denied", seen after an upgrade's -u all). A plain
// DROP DATABASE stops such workers itself. A client that connects again
// between the two is ended at the next of three tries.
func (p Admin) Drop(ctx context.Context, db string) error {
	var err error
	for range 3 {
		if err = p.Kick(ctx, db); err != nil {
			return fmt.Errorf("drop database %q: %w", db, err)
		}
		_, err = p.Exec(ctx, fmt.Sprintf("drop database %q", db), "DROP DATABASE IF EXISTS "+pgdb.Ident(db))
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "55006" { // object_in_use
			return err
		}
	}
	return err
}

// Restore creates database db owned by role owner ("" for DB's role),
// closed to other roles, and restores file into it logged in as owner
// (Login), so that everything in it is owner's and whatever the dump
// runs (a CHECK constraint's function, a default) runs as owner; on
// failure db is dropped again. file is a custom-format file (Dump, a
// backup's) or a dump directory (DumpCopy); pg_restore runs jobs
// workers (-j), each a session of owner logged in the same way, which
// both formats allow (a custom-format file on disk can be read at each
// table's offset).
func (p Admin) Restore(ctx context.Context, db, owner, file string) error {
	if owner == "" {
		owner = p.DB.User
	}
	if _, err := p.Exec(ctx, fmt.Sprintf("create database %q owned by role %q", db, owner),
		"CREATE DATABASE "+pgdb.Ident(db)+" OWNER "+pgdb.Ident(owner)+" TEMPLATE template0 ENCODING 'UTF8'"); err != nil {
		return err
	}
	if _, err := p.Exec(ctx, fmt.Sprintf("close database %q to other roles", db),
		"REVOKE CONNECT, TEMPORARY ON DATABASE "+pgdb.Ident(db)+" FROM PUBLIC"); err != nil {
		_ = p.Drop(context.WithoutCancel(ctx), db)
		return err
	}
	c, err := p.login(ctx, db)
	if err == nil && c.User != owner {
		err = fmt.Errorf("database %q would be restored as %q, not its owner %q", db, c.User, owner)
	}
	if err != nil {
		_ = p.Drop(context.WithoutCancel(ctx), db)
		return err
	}
	args := []string{"--no-owner", "--no-acl", "--exit-on-error"}
	if n := p.jobs(); n > 1 {
		args = append(args, "-j", strconv.Itoa(n))
	}
	if _, err := p.run(ctx, c, "pg_restore", append(args, "-d", db, file)...); err != nil {
		_ = p.Drop(context.WithoutCancel(ctx), db)
		return err
	}
	return nil
}

// Rename renames database from to to. The error names both.
func (p Admin) Rename(ctx context.Context, from, to string) error {
	_, err := p.Exec(ctx, fmt.Sprintf("rename database %q to %q", from, to), "ALTER DATABASE "+pgdb.Ident(from)+" RENAME TO "+pgdb.Ident(to))
	return err
}

// SetAside ends every other session on db and copies it, as it is, to a
// new database aside (CREATE DATABASE … TEMPLATE) owned by owner (""
// for DB's role): the upgrade's way back. A new database is open to
// PUBLIC: aside is closed to other roles, as every instance's database
// is, since putting it back makes it the live one. When the copy is
// made but cannot be closed, it is dropped again.
func (p Admin) SetAside(ctx context.Context, db, aside, owner string) error {
	if owner == "" {
		owner = p.DB.User
	}
	return p.withConn(ctx, func(conn *pgx.Conn) error {
		if err := kickOn(ctx, conn, db); err != nil {
			return err
		}
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgdb.Ident(aside)+" TEMPLATE "+pgdb.Ident(db)+" OWNER "+pgdb.Ident(owner)); err != nil {
			return fmt.Errorf("keep database %q aside: %w", db, err)
		}
		if _, err := conn.Exec(ctx, "REVOKE CONNECT, TEMPORARY ON DATABASE "+pgdb.Ident(aside)+" FROM PUBLIC"); err != nil {
			_, _ = conn.Exec(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+pgdb.Ident(aside)+" WITH (FORCE)")
			return fmt.Errorf("close database %q to other roles: %w", aside, err)
		}
		return nil
	})
}

// Swap renames databases from → aside and in → from, in one transaction, after
// ending the sessions on from: either both renames happen or neither.
func (p Admin) Swap(ctx context.Context, from, aside, in string) error {
	return p.withConn(ctx, func(conn *pgx.Conn) error {
		if err := kickOn(ctx, conn, from); err != nil {
			return err
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "ALTER DATABASE "+pgdb.Ident(from)+" RENAME TO "+pgdb.Ident(aside)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "ALTER DATABASE "+pgdb.Ident(in)+" RENAME TO "+pgdb.Ident(from))
			return err
		})
		if err != nil {
			return fmt.Errorf("swap databases (%q → %q, %q → %q): %w", from, aside, in, from, err)
		}
		return nil
	})
}

// sqlVerb is the first two words of stmt, upper-cased, to name the
// statement in an error without quoting its values.
func sqlVerb(stmt string) string {
	f := strings.Fields(stmt)
	if len(f) > 2 {
		f = f[:2]
	}
	return strings.ToUpper(strings.Join(f, " "))
}

// Size is pg_database_size of database db, in bytes.
func (p Admin) Size(ctx context.Context, db string) (uint64, error) {
	var n int64
	if err := p.queryRow(ctx, "SELECT pg_database_size($1::name)", []any{db}, &n); err != nil {
		return 0, fmt.Errorf("size of database %q: %w", db, err)
	}
	return uint64(n), nil
}
