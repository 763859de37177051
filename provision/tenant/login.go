package tenant

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"odoobot/internal/pgrole"
)

// maxConf bounds what is read of an odoo.conf.
const maxConf = 1 << 20

// Connect opens a connection to database db logged in as the role that
// owns it (its pg_database owner, read on the maintenance connection),
// never as odoobot's role (Admin) unless it owns db (an instance
// imported from API-DEV and not yet isolated, whose Odoo runs as that
// role anyway). search_path is pgrole.SafeSearchPath. Whatever a tenant planted
// in db (triggers, views, functions, CHECK constraints that RESET ROLE)
// then runs as the tenant and can do only what the tenant can.
//
// The role's password is the one its instance's odoo.conf holds
// (<ProdRoot>/<role>/odoo.conf, see Password). A role whose own password
// was changed (a role may ALTER its own) is set back to odoo.conf's from
// the maintenance connection, logged, and logged in again.
func (m *Manager) Connect(ctx context.Context, db string) (*pgx.Conn, error) {
	conn, _, err := m.login(ctx, db)
	return conn, err
}

// Login is Connect for a program that logs in by itself (pg_dump,
// pg_restore): it proves the login works, closes the connection and
// returns the role and its password, for the program's PGPASSWORD, never
// its command line.
func (m *Manager) Login(ctx context.Context, db string) (role, password string, err error) {
	conn, cfg, err := m.login(ctx, db)
	if err != nil {
		return "", "", err
	}
	conn.Close(context.WithoutCancel(ctx))
	return cfg.User, cfg.Password, nil
}

func (m *Manager) login(ctx context.Context, db string) (*pgx.Conn, *pgx.ConnConfig, error) {
	owner, err := m.Owner(ctx, db)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := pgx.ParseConfig(m.cfg.AdminDSN)
	if err != nil {
		return nil, nil, errors.New("tenant: parse AdminDSN: invalid connection string")
	}
	cfg.Database = db
	cfg.RuntimeParams["search_path"] = pgrole.SafeSearchPath
	if owner == m.cfg.Admin {
		// odoobot's own database, or an instance imported from API-DEV
		// that runs as odoobot's role until it is isolated.
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("tenant: connect to %s as %s: %w", db, owner, err)
		}
		return conn, cfg, nil
	}
	pw, err := m.Password(ctx, owner)
	if err != nil {
		return nil, nil, err
	}
	cfg.User, cfg.Password = owner, pw
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "28P01" {
		// The role's password is not odoo.conf's: the tenant changed it.
		m.log.Warn("database role's password differs from its odoo.conf: set back", "role", owner)
		if rerr := m.setPassword(ctx, owner, pw); rerr != nil {
			return nil, nil, fmt.Errorf("tenant: log in to %s as %s: the role's password was changed and could not be set back: %w", db, owner, rerr)
		}
		conn, err = pgx.ConnectConfig(ctx, cfg)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("tenant: log in to %s as its role %s: %w", db, owner, err)
	}
	return conn, cfg, nil
}

// Owner returns the role that owns database db, read on the maintenance
// connection (a tenant cannot change it: ALTER DATABASE … OWNER needs
// CREATEDB).
func (m *Manager) Owner(ctx context.Context, db string) (string, error) {
	conn, err := m.connect(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var owner string
	err = conn.QueryRow(ctx, "SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_catalog.pg_database WHERE datname = $1", db).Scan(&owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("tenant: database %s does not exist", db)
	}
	if err != nil {
		return "", fmt.Errorf("tenant: look up the owner of database %s: %w", db, err)
	}
	return owner, nil
}

// Password returns instance role's password, found, first to last:
//   - in <ProdRoot>/<role>/odoo.conf when it names role as db_user: the
//     directory and the file must be root's (odoobot's user's, when it
//     is not root), neither a symbolic link nor writable by anyone else,
//     so no tenant can put a password of its choosing there;
//   - as given to EnsureRole by this process, for a creation whose
//     odoo.conf is not written yet;
//   - else, when no odoo.conf exists at all (a creation that stopped
//     before writing it), a new password is made and set on the role
//     from the maintenance connection: no Odoo runs with the old one.
//
// Only a role odoobot made for an instance has one here (granted to
// odoobot's role, LOGIN, no right to create roles or databases); any
// other is refused with pgrole.ErrForeignRole. The password is never logged
// nor put in an error.
func (m *Manager) Password(ctx context.Context, role string) (string, error) {
	if role == "" || role == "." || role == ".." || filepath.Base(role) != role || strings.ContainsRune(role, 0) {
		return "", fmt.Errorf("tenant: %q: %w", role, pgrole.ErrForeignRole)
	}
	if err := m.checkInstanceRole(ctx, role); err != nil {
		return "", err
	}
	conf := ""
	if m.cfg.ProdRoot != "" {
		conf = filepath.Join(m.cfg.ProdRoot, role, "odoo.conf")
		user, pw, err := readConf(conf)
		switch {
		case err == nil && user == role && pw != "":
			return pw, nil
		case err == nil:
			if p, ok := m.remembered(role); ok {
				return p, nil
			}
			return "", fmt.Errorf("tenant: %s names db_user %q, not %s: the instance's database role cannot be logged in as; run isolate, or fix odoo.conf", conf, user, role)
		case !errors.Is(err, os.ErrNotExist):
			return "", fmt.Errorf("tenant: read the password of role %s: %w", role, err)
		}
	}
	if p, ok := m.remembered(role); ok {
		return p, nil
	}
	// No odoo.conf: nothing runs with this role's password.
	pw, err := pgrole.NewPassword()
	if err != nil {
		return "", err
	}
	if err := m.setPassword(ctx, role, pw); err != nil {
		return "", err
	}
	m.remember(role, pw)
	m.log.Info("database role had no odoo.conf: a password of odoobot's own set", "role", role, "conf", conf)
	return pw, nil
}

// checkInstanceRole refuses a role odoobot did not make for an instance:
// one not granted to odoobot's role, or one with a right an instance
// role never has.
func (m *Manager) checkInstanceRole(ctx context.Context, role string) error {
	conn, err := m.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var ok bool
	err = conn.QueryRow(ctx, `SELECT pg_catalog.pg_has_role(current_user, oid, 'MEMBER') AND rolcanlogin
		AND NOT (rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls)
		FROM pg_catalog.pg_roles WHERE rolname = $1`, role).Scan(&ok)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("tenant: role %s does not exist: %w", role, pgrole.ErrForeignRole)
	}
	if err != nil {
		return fmt.Errorf("tenant: look up role %s: %w", role, err)
	}
	if !ok {
		return fmt.Errorf("tenant: role %s (granted to odoobot's role, LOGIN and nothing more?): %w", role, pgrole.ErrForeignRole)
	}
	return nil
}

// setPassword sets role's password on the maintenance connection, as a
// SCRAM verifier, valid without end.
func (m *Manager) setPassword(ctx context.Context, role, password string) error {
	verifier, err := pgrole.SCRAMVerifier(password)
	if err != nil {
		return err
	}
	conn, err := m.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "ALTER ROLE "+ident(role)+" PASSWORD "+literal(verifier)+" VALID UNTIL 'infinity'"); err != nil {
		return fmt.Errorf("tenant: set the password of role %s: %w", role, err)
	}
	return nil
}

func (m *Manager) remember(role, password string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pw == nil {
		m.pw = map[string]string{}
	}
	m.pw[role] = password
}

func (m *Manager) forget(role string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.pw, role)
}

func (m *Manager) remembered(role string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.pw[role]
	return p, ok
}

// readConf returns db_user and db_password of odoo.conf at path, which
// must be a regular file in a directory, neither a symbolic link, both
// owned by odoobot's user (root) and writable by no one else. A missing
// file is an error satisfying errors.Is(err, os.ErrNotExist).
func readConf(path string) (user, password string, err error) {
	dir := filepath.Dir(path)
	st, err := os.Lstat(dir)
	if err != nil {
		return "", "", err
	}
	if err := trusted(dir, st); err != nil {
		return "", "", err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return "", "", fmt.Errorf("%s is a symbolic link: refused", path)
		}
		return "", "", err
	}
	defer f.Close()
	fst, err := f.Stat()
	if err != nil {
		return "", "", err
	}
	if err := trusted(path, fst); err != nil {
		return "", "", err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxConf))
	if err != nil {
		return "", "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "db_user":
			user = strings.TrimSpace(v)
		case "db_password":
			password = strings.TrimSpace(v)
		}
	}
	return user, password, nil
}

// trusted refuses what odoobot's user does not own alone: a symbolic
// link, another kind of file than expected, another owner, a group or
// other write bit.
func trusted(path string, st os.FileInfo) error {
	sys, ok := st.Sys().(*syscall.Stat_t)
	switch {
	case !ok:
		return fmt.Errorf("%s: no owner to check", path)
	case st.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link: refused", path)
	case !st.IsDir() && !st.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file: refused", path)
	case int(sys.Uid) != os.Geteuid():
		return fmt.Errorf("%s is owned by uid %d, not odoobot's (%d): refused", path, sys.Uid, os.Geteuid())
	case st.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("%s is writable by others than its owner (%v): refused", path, st.Mode().Perm())
	}
	return nil
}
