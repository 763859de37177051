package provision

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"odoobot/internal/testenv"
)

// testPGTools is a pgTools on the test server of ODOOBOT_TEST_DATABASE_URL.
func testPGTools(t *testing.T) (pgTools, string) {
	t.Helper()
	admin := testenv.DatabaseURL(t)
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("ODOOBOT_TEST_DATABASE_URL is not a URL: %v", err)
	}
	port, _ := strconv.Atoi(u.Port())
	pw, _ := u.User.Password()
	return pgTools{db: DBConn{Host: u.Hostname(), Port: port, User: u.User.Username(), Password: pw}}, admin
}

// connectTo opens a session on database db of the test server.
func connectTo(t *testing.T, ctx context.Context, admin, db string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(admin)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = db
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect to database %q: %v", db, err)
	}
	return conn
}

// TestPGToolsQuotedNames runs every pgTools method on databases whose
// names hold a quote, a double quote, a space and a semicolon: each is
// created, restored into, swapped, found, emptied of sessions and
// dropped under exactly its own name, and nothing else is touched.
func TestPGToolsQuotedNames(t *testing.T) {
	ctx := context.Background()
	pg, admin := testPGTools(t)
	b := make([]byte, 4)
	rand.Read(b)
	live := "prod-o'k x " + hex.EncodeToString(b)
	staging := live + ` "restore"`
	aside := live + "; old"
	t.Cleanup(func() {
		for _, db := range []string{live, staging, aside} {
			if err := pg.drop(context.Background(), db); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})

	if ok, err := pg.exists(ctx, live); err != nil || ok {
		t.Fatalf("exists(%q) before creation = %v, %v; want false", live, ok, err)
	}
	if _, err := pg.sql(ctx, "CREATE DATABASE "+sqlIdent(live)); err != nil {
		t.Fatal(err)
	}
	if ok, err := pg.exists(ctx, live); err != nil || !ok {
		t.Fatalf("exists(%q) after creation = %v, %v; want true", live, ok, err)
	}
	var datname string
	if err := pg.queryRow(ctx, "SELECT datname FROM pg_database WHERE datname LIKE $1", []any{"prod-o'k x " + hex.EncodeToString(b) + "%"}, &datname); err != nil || datname != live {
		t.Fatalf("pg_database holds %q (%v), want exactly %q", datname, err, live)
	}
	if n, err := pg.databaseSize(ctx, live); err != nil || n == 0 {
		t.Errorf("databaseSize(%q) = %d, %v; want some bytes", live, n, err)
	}

	conn := connectTo(t, ctx, admin, live)
	if _, err := conn.Exec(ctx, "CREATE TABLE t (v text); INSERT INTO t VALUES ('backed up')"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	read := func(db string) string {
		t.Helper()
		c := connectTo(t, ctx, admin, db)
		defer c.Close(ctx)
		var v string
		if err := c.QueryRow(ctx, "SELECT v FROM t").Scan(&v); err != nil {
			t.Fatalf("read database %q: %v", db, err)
		}
		return v
	}

	if _, err := pg.path("pg_dump"); err != nil {
		testenv.Missing(t, err.Error())
	}
	file := filepath.Join(t.TempDir(), "db.dump")
	if err := pg.dump(ctx, live, file); err != nil {
		t.Fatal(err)
	}
	if err := pg.restore(ctx, staging, "", file); err != nil {
		t.Fatal(err)
	}
	if got := read(staging); got != "backed up" {
		t.Errorf("restored %q holds %q, want %q", staging, got, "backed up")
	}
	conn = connectTo(t, ctx, admin, live)
	if _, err := conn.Exec(ctx, "UPDATE t SET v = 'changed'"); err != nil {
		t.Fatal(err)
	}

	// The session left open on live is ended by swap's kick.
	if err := pg.swap(ctx, live, aside, staging); err != nil {
		t.Fatal(err)
	}
	if err := conn.Ping(ctx); err == nil {
		t.Errorf("a session on %q survived the swap", live)
	}
	conn.Close(ctx)
	if got := read(live); got != "backed up" {
		t.Errorf("after the swap %q holds %q, want the restored %q", live, got, "backed up")
	}
	if got := read(aside); got != "changed" {
		t.Errorf("after the swap %q holds %q, want the replaced %q", aside, got, "changed")
	}
	if ok, err := pg.exists(ctx, staging); err != nil || ok {
		t.Errorf("exists(%q) after the swap = %v, %v; want false", staging, ok, err)
	}

	conn = connectTo(t, ctx, admin, aside)
	if err := pg.kick(ctx, aside); err != nil {
		t.Fatal(err)
	}
	if err := conn.Ping(ctx); err == nil {
		t.Errorf("a session on %q survived kick", aside)
	}
	conn.Close(ctx)

	for _, db := range []string{aside, live} {
		if err := pg.drop(ctx, db); err != nil {
			t.Fatal(err)
		}
		if ok, err := pg.exists(ctx, db); err != nil || ok {
			t.Errorf("exists(%q) after drop = %v, %v; want false", db, ok, err)
		}
	}
	if err := pg.drop(ctx, live); err != nil {
		t.Errorf("drop of a database that is gone: %v, want no error", err)
	}
}

// TestPGToolsSQLIsOneTransaction: several statements given to sql take
// effect together or not at all.
func TestPGToolsSQLIsOneTransaction(t *testing.T) {
	ctx := context.Background()
	pg, _ := testPGTools(t)
	b := make([]byte, 4)
	rand.Read(b)
	a, renamed := "t_tx '"+hex.EncodeToString(b), "t_tx renamed "+hex.EncodeToString(b)
	t.Cleanup(func() { pg.drop(context.Background(), a); pg.drop(context.Background(), renamed) })
	if _, err := pg.sql(ctx, "CREATE DATABASE "+sqlIdent(a)); err != nil {
		t.Fatal(err)
	}
	_, err := pg.sql(ctx, "ALTER DATABASE "+sqlIdent(a)+" RENAME TO "+sqlIdent(renamed)+"; ALTER DATABASE "+sqlIdent(a+" missing")+" RENAME TO x")
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("a rename of a missing database: %v, want PostgreSQL's does not exist", err)
	}
	if ok, _ := pg.exists(ctx, a); !ok {
		t.Errorf("the first statement of a failed sql took effect: %q is gone", a)
	}
	if ok, _ := pg.exists(ctx, renamed); ok {
		t.Errorf("the first statement of a failed sql took effect: %q exists", renamed)
	}
	tag, err := pg.sql(ctx, "ALTER DATABASE "+sqlIdent(a)+" RENAME TO "+sqlIdent(renamed))
	if err != nil || tag.String() != "ALTER DATABASE" {
		t.Errorf("a rename answered %q, %v; want ALTER DATABASE", tag, err)
	}
	if ok, _ := pg.exists(ctx, renamed); !ok {
		t.Errorf("%q is missing after the rename", renamed)
	}
}

// TestPGToolsErrors: failures say what failed and never show the password.
func TestPGToolsErrors(t *testing.T) {
	ctx := context.Background()
	pg, _ := testPGTools(t)

	err := pg.restore(ctx, "t_no_owner", "no such role", filepath.Join(t.TempDir(), "x.dump"))
	if err == nil || !strings.Contains(err.Error(), `create database "t_no_owner" owned by role "no such role"`) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("restore with a missing owner: %v, want it to name the database, the role and PostgreSQL's answer", err)
	}
	if ok, _ := pg.exists(ctx, "t_no_owner"); ok {
		pg.drop(ctx, "t_no_owner")
		t.Errorf("a refused restore left its database")
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().(*net.TCPAddr).Port
	l.Close()
	const secret = "pw-that-must-not-show"
	down := pgTools{db: DBConn{Host: "127.0.0.1", Port: closed, User: "odoo", Password: secret}}
	_, err = down.exists(ctx, "prod-acme")
	if err == nil {
		t.Fatalf("exists on a closed port succeeded")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("the error shows the password: %v", err)
	}
	for _, want := range []string{`database "prod-acme"`, "connect to PostgreSQL", strconv.Itoa(closed)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if err := down.drop(ctx, "prod-acme"); err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), `drop database "prod-acme"`) {
		t.Errorf("drop on a closed port: %v, want an error naming the database, without the password", err)
	}
}
