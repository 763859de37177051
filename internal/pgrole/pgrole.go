// Package pgrole holds the PostgreSQL role primitives every part of
// odoobot that gives an instance a role, or logs in as one, shares
// (provision/tenant, provision/odoo): the search_path of a connection
// into an instance's database, making a login role, its password and the
// SCRAM verifier sent in its place, and the error of a role that is not
// odoobot's to log in as. It knows nothing of instances or hosts.
package pgrole

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// SafeSearchPath is the search_path of every connection odoobot opens
// into an instance's database, sent as a startup parameter (which
// outranks ALTER ROLE … SET and ALTER DATABASE … SET): no table, view,
// function, operator or type a tenant made can stand in for one odoobot
// names, and odoobot names its tables with their schema.
const SafeSearchPath = "pg_catalog"

// ErrForeignRole is the error of a connection asked for into a database
// whose owner is neither odoobot's role nor a role odoobot made for an
// instance: odoobot does not log in to it, and does not take it for its
// own.
var ErrForeignRole = errors.New("not a role odoobot made for an instance: its database is not odoobot's to log in to")

// LoginRole makes role name, or takes the existing one, able to log in
// with password (stored as its SCRAM verifier, never in clear), with no
// right to create databases or roles, and grants it to admin (odoobot's
// role), which keeps access to what it owns. It reports whether it
// created the role. A new role is also NOSUPERUSER, NOREPLICATION and
// NOBYPASSRLS; an existing one is not told so, which PostgreSQL allows
// only a superuser even when nothing changes, and which only a superuser
// can have given it: such a role fails here, as it should. conn is a
// connection as a role with CREATEROLE.
func LoginRole(ctx context.Context, conn *pgx.Conn, name, password, admin string) (created bool, err error) {
	verifier, err := SCRAMVerifier(password)
	if err != nil {
		return false, err
	}
	exists, err := RoleExists(ctx, conn, name)
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
	if _, err := conn.Exec(ctx, verb+" ROLE "+Ident(name)+attrs+" PASSWORD "+Literal(verifier)); err != nil {
		return false, fmt.Errorf("%s role %s (odoobot's role needs CREATEROLE): %w", strings.ToLower(verb), name, err)
	}
	if _, err := conn.Exec(ctx, "GRANT "+Ident(name)+" TO "+Ident(admin)); err != nil {
		return false, fmt.Errorf("grant role %s to %s: %w", name, admin, err)
	}
	return !exists, nil
}

// RoleExists reports whether PostgreSQL role name exists.
func RoleExists(ctx context.Context, conn *pgx.Conn, name string) (bool, error) {
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", name).Scan(&ok); err != nil {
		return false, fmt.Errorf("look up role %s: %w", name, err)
	}
	return ok, nil
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
		return "", fmt.Errorf("pgrole: scram salt: %w", err)
	}
	return scramVerifier(password, salt)
}

func scramVerifier(password string, salt []byte) (string, error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, scramIterations, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("pgrole: scram: %w", err)
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

// Ident quotes s as an SQL identifier.
func Ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// Literal quotes s as an SQL string literal (standard_conforming_strings
// on, PostgreSQL's default since 9.1).
func Literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
