package odoo

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"odoobot/internal/pgerr"
)

// MinHashRounds is the number of PBKDF2-SHA512 rounds Odoo 17 and 19 hash
// a user's password with at least (res_users.py's MIN_ROUNDS); a database
// whose password.hashing.rounds parameter asks for more gets more.
const MinHashRounds = 600_000

// ab64 is passlib's "adapted base64": the standard alphabet with "." for
// "+", and no padding.
var ab64 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789./").WithPadding(base64.NoPadding)

// HashPassword hashes password as Odoo stores it in res_users.password:
// passlib's pbkdf2_sha512, "$pbkdf2-sha512$<rounds>$<salt>$<checksum>",
// with a random 16-byte salt and a 64-byte checksum, both in passlib's
// adapted base64. rounds below MinHashRounds are raised to it.
func HashPassword(password string, rounds int) (string, error) {
	rounds = max(rounds, MinHashRounds)
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("odoo: hash password: %w", err)
	}
	sum, err := pbkdf2.Key(sha512.New, password, salt, rounds, sha512.Size)
	if err != nil {
		return "", fmt.Errorf("odoo: hash password: %w", err)
	}
	return "$pbkdf2-sha512$" + strconv.Itoa(rounds) + "$" + ab64.EncodeToString(salt) + "$" + ab64.EncodeToString(sum), nil
}

// VerifyPassword reports whether password matches hash, a pbkdf2_sha512
// hash as HashPassword (or Odoo) writes it. A hash in another format does
// not match.
func VerifyPassword(password, hash string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 5 || parts[0] != "" || parts[1] != "pbkdf2-sha512" {
		return false
	}
	rounds, err := strconv.Atoi(parts[2])
	if err != nil || rounds < 1 {
		return false
	}
	salt, err1 := ab64.DecodeString(parts[3])
	want, err2 := ab64.DecodeString(parts[4])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got, err := pbkdf2.Key(sha512.New, password, salt, rounds, len(want))
	if err != nil {
		return false
	}
	return string(got) == string(want)
}

// adminLogin is the login of the user Odoo's database creation makes.
const adminLogin = "admin"

// SetAdminPassword sets the password of database db's "admin" user, hashed
// as Odoo hashes it (HashPassword, with the database's
// password.hashing.rounds when it asks for more than MinHashRounds), so
// that the password Odoo's database creation left ("admin") no longer
// signs in. The password itself is neither logged nor kept. It fails when
// db has no user "admin". It runs as db's own role (Tenant), so a trigger
// the tenant put on res_users runs as the tenant.
func (d *Databases) SetAdminPassword(ctx context.Context, db, password string) (err error) {
	defer pgerr.Type(&err)
	if password == "" {
		return errors.New("odoo: set admin password: empty password")
	}
	conn, err := d.asTenant(ctx, db)
	if err != nil {
		return fmt.Errorf("odoo: set admin password of %s: %w", db, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	hash, err := HashPassword(password, 0)
	if err != nil {
		return err
	}
	if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error { return setAdminHash(ctx, tx, password, hash) }); err != nil {
		return fmt.Errorf("odoo: set admin password of %s: %w", db, err)
	}
	d.log.Info("admin password set", "database", db)
	return nil
}

// setAdminHash stores hash, made by HashPassword from password, as the
// "admin" user's password in tx's database. When the database asks for
// more rounds than hash has (password.hashing.rounds), password is hashed
// again with them.
func setAdminHash(ctx context.Context, tx pgx.Tx, password, hash string) error {
	var v string
	err := tx.QueryRow(ctx, "SELECT value FROM public.ir_config_parameter WHERE key = 'password.hashing.rounds'").Scan(&v)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("read password.hashing.rounds: %w", err)
	}
	if rounds, _ := strconv.Atoi(strings.TrimSpace(v)); rounds > MinHashRounds {
		if hash, err = HashPassword(password, rounds); err != nil {
			return err
		}
	}
	tag, err := tx.Exec(ctx, "UPDATE public.res_users SET password = $1 WHERE login = $2", hash, adminLogin)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("no user with login %q", adminLogin)
	}
	return nil
}
