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
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
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
	created, err := LoginRole(ctx, conn, name, password, m.cfg.Admin)
	if err != nil {
		return fmt.Errorf("tenant: %w", err)
	}
	m.remember(name, password)
	if created {
		m.log.Info("database role created", "role", name)
	}
	return nil
}

// LoginRole makes role name, or takes the existing one, able to log in
// with password (stored as its SCRAM verifier, never in clear), with no
// right to create databases or roles, and grants it to admin (odoobot's
// role), which keeps access to what it owns. It reports whether it
// created the role. A new role is also NOSUPERUSER, NOREPLICATION and
// NOBYPASSRLS; an existing one is not told so, which PostgreSQL allows
// only a superuser even when nothing changes, and which only a superuser
// can have given it: such a role fails here, as it should.
func LoginRole(ctx context.Context, conn *pgx.Conn, name, password, admin string) (created bool, err error) {
	verifier, err := SCRAMVerifier(password)
	if err != nil {
		return false, err
	}
	exists, err := roleExists(ctx, conn, name)
	if err != nil {
		return false, err
	}
	// INHERIT: a role that is a member of nothing inherits nothing but
	// pg_database_owner's rights in its own database (CREATE on schema
	// public), which NOINHERIT would take away.
	verb, attrs := "ALTER", " LOGIN NOCREATEDB NOCREATEROLE INHERIT"
	if !exists {
		verb, attrs = "CREATE", " LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION NOBYPASSRLS"
	}
	if _, err := conn.Exec(ctx, verb+" ROLE "+ident(name)+attrs+" PASSWORD "+literal(verifier)); err != nil {
		return false, fmt.Errorf("%s role %s (odoobot's role needs CREATEROLE): %w", strings.ToLower(verb), name, err)
	}
	if _, err := conn.Exec(ctx, "GRANT "+ident(name)+" TO "+ident(admin)); err != nil {
		return false, fmt.Errorf("grant role %s to %s: %w", name, admin, err)
	}
	return !exists, nil
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
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", name).Scan(&ok); err != nil {
		return false, fmt.Errorf("tenant: look up role %s: %w", name, err)
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

// NewPassword returns a random database password: 24 random bytes,
// base64url (no character odoo.conf or a connection string would need
// escaped).
func NewPassword() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// scramIterations is PostgreSQL's default scram_iterations.
const scramIterations = 4096

// SCRAMVerifier returns password as PostgreSQL stores it with
// password_encryption = scram-sha-256 (RFC 5803 form), with a random
// salt: "SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>". PostgreSQL
// takes such a string in CREATE/ALTER ROLE … PASSWORD as the verifier
// itself, so the clear password never reaches the server.
func SCRAMVerifier(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return scramVerifier(password, salt)
}

// SCRAMVerifierWithSalt is SCRAMVerifier with a given salt (base64), for
// checking against published examples.
func SCRAMVerifierWithSalt(password, salt64 string) (string, error) {
	salt, err := base64.StdEncoding.DecodeString(salt64)
	if err != nil {
		return "", fmt.Errorf("tenant: scram salt: %w", err)
	}
	return scramVerifier(password, salt)
}

func scramVerifier(password string, salt []byte) (string, error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, scramIterations, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("tenant: scram: %w", err)
	}
	clientKey := hmacSHA256(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	serverKey := hmacSHA256(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", scramIterations, b64(salt), b64(storedKey[:]), b64(serverKey)), nil
}

func hmacSHA256(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

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
