// Package tenant gives each Odoo instance an identity of its own on the
// host: a system user its unit runs as, and a PostgreSQL role that owns
// its database and nothing else.
//
// What keeps instances apart:
//   - each instance's files belong to root with its user as group, or to
//     its user, and are closed to everyone else (the caller lays them
//     out with Lookup's ids);
//   - each role is LOGIN, member of no other role, with no right to
//     create databases or roles; the databases odoobot makes are closed
//     to PUBLIC, so a role connects only to its own database;
//   - odoobot's own role (the admin, DB_USER) is granted each role, so it
//     can create, rename, restore into and drop the instance's database
//     (PostgreSQL asks for membership in its owner); it never runs a
//     statement inside one: Connect and Login log in as the database's
//     own role, so what a tenant planted runs as the tenant; no
//     instance ever learns the admin's password.
//
// Passwords are sent to PostgreSQL as SCRAM-SHA-256 verifiers, never as
// clear text, so no server log can hold one.
package tenant

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"os/user"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"odoobot/internal/childenv"
	"odoobot/internal/pgrole"
)

// Config wires a Manager.
type Config struct {
	// AdminDSN connects to the "postgres" database as odoobot's role,
	// which needs CREATEROLE. It holds a password: it is never logged.
	AdminDSN string
	// Admin is odoobot's role (DB_USER): it is granted every instance role.
	Admin string
	// ProdRoot holds the instances' directories: an instance role's
	// password is read from <ProdRoot>/<role>/odoo.conf (Password).
	ProdRoot string
	// Useradd and Userdel are the programs that manage system users;
	// defaults "useradd" and "userdel".
	Useradd, Userdel string
	// Logger receives what was done; nil discards.
	Logger *slog.Logger
}

// Manager makes and removes instance users and roles. Safe for
// concurrent use.
type Manager struct {
	cfg Config
	log *slog.Logger
	mu  sync.Mutex
	pw  map[string]string // role → password given to EnsureRole, until odoo.conf holds it
}

// New returns a Manager for cfg.
func New(cfg Config) *Manager {
	if cfg.Useradd == "" {
		cfg.Useradd = "useradd"
	}
	if cfg.Userdel == "" {
		cfg.Userdel = "userdel"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{cfg: cfg, log: log}
}

// userPattern is what Debian's useradd accepts by default, and no more.
var userPattern = regexp.MustCompile(`^[a-z][-a-z0-9_]{0,31}$`)

// EnsureUser makes system user name, with a group of its own, no login
// shell and home (not created) home, unless it exists. It is safe to
// repeat.
func (m *Manager) EnsureUser(ctx context.Context, name, home string) error {
	if !userPattern.MatchString(name) {
		return fmt.Errorf("tenant: %q is not a system user name", name)
	}
	if UserExists(name) {
		return nil
	}
	if err := m.run(ctx, m.cfg.Useradd, "--system", "--user-group", "--no-create-home",
		"--home-dir", home, "--shell", "/usr/sbin/nologin", "--comment", "odoobot instance", name); err != nil {
		return fmt.Errorf("tenant: create system user %s: %w", name, err)
	}
	m.log.Info("system user created", "user", name)
	return nil
}

// RemoveUser removes system user name and its group; a missing user is
// not an error.
func (m *Manager) RemoveUser(ctx context.Context, name string) error {
	if !UserExists(name) {
		return nil
	}
	if err := m.run(ctx, m.cfg.Userdel, name); err != nil {
		return fmt.Errorf("tenant: remove system user %s: %w", name, err)
	}
	m.log.Info("system user removed", "user", name)
	return nil
}

// UserExists reports whether system user name exists.
func UserExists(name string) bool {
	_, err := user.Lookup(name)
	return err == nil
}

// Lookup returns the uid and gid of system user name.
func Lookup(name string) (uid, gid int, err error) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, fmt.Errorf("tenant: system user %s does not exist", name)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid, nil
}

func (m *Manager) run(ctx context.Context, prog string, args ...string) error {
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Env = childenv.Env()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", prog, err, strings.TrimSpace(out.String()))
	}
	return nil
}

// EnsureRole makes PostgreSQL role name (LOGIN, member of nothing, no
// other right) with password, or sets the password of the existing one, and
// grants it to the admin role. It is safe to repeat. The Manager keeps
// password for Connect until the role is dropped, for the database
// steps that run before the instance's odoo.conf is written.
func (m *Manager) EnsureRole(ctx context.Context, name, password string) error {
	if name == "" || password == "" {
		return errors.New("tenant: ensure role: name and password are required")
	}
	conn, err := m.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	created, err := pgrole.LoginRole(ctx, conn, name, password, m.cfg.Admin)
	if err != nil {
		return fmt.Errorf("tenant: %w", err)
	}
	m.remember(name, password)
	if created {
		m.log.Info("database role created", "role", name)
	}
	return nil
}

// DropRole drops PostgreSQL role name; a missing role is not an error.
// The role must own nothing any more: drop its database first.
func (m *Manager) DropRole(ctx context.Context, name string) error {
	conn, err := m.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if ok, err := roleExists(ctx, conn, name); err != nil || !ok {
		return err
	}
	if _, err := conn.Exec(ctx, "DROP ROLE "+ident(name)); err != nil {
		return fmt.Errorf("tenant: drop role %s: %w", name, err)
	}
	m.forget(name)
	return nil
}

// RoleExists reports whether PostgreSQL role name exists.
func (m *Manager) RoleExists(ctx context.Context, name string) (bool, error) {
	conn, err := m.connect(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return roleExists(ctx, conn, name)
}

func roleExists(ctx context.Context, conn *pgx.Conn, name string) (bool, error) {
	ok, err := pgrole.RoleExists(ctx, conn, name)
	if err != nil {
		return false, fmt.Errorf("tenant: %w", err)
	}
	return ok, nil
}

// connect opens a connection as the admin role. Errors never show the DSN.
func (m *Manager) connect(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(m.cfg.AdminDSN)
	if err != nil {
		return nil, errors.New("tenant: parse AdminDSN: invalid connection string")
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("tenant: connect to PostgreSQL: %w", err)
	}
	return conn, nil
}

func ident(s string) string { return pgrole.Ident(s) }

func literal(s string) string { return pgrole.Literal(s) }

// Check verifies that the admin role may do what instances need of it:
// create databases and roles. Its error says how to grant what is
// missing.
func (m *Manager) Check(ctx context.Context) error {
	conn, err := m.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var super, createdb, createrole bool
	if err := conn.QueryRow(ctx, "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user").Scan(&super, &createdb, &createrole); err != nil {
		return fmt.Errorf("tenant: check odoobot's role: %w", err)
	}
	if super || (createdb && createrole) {
		return nil
	}
	return fmt.Errorf("tenant: PostgreSQL role %s needs CREATEDB and CREATEROLE (each instance gets a database and a role of its own): run, as postgres, ALTER ROLE %s CREATEDB CREATEROLE", m.cfg.Admin, ident(m.cfg.Admin))
}
