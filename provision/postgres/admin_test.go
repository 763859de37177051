package postgres

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

	"odoobot/internal/pgdb"
	"odoobot/internal/testenv"
	"odoobot/provision"
)

// testPG is an Admin on the test server of ODOOBOT_TEST_DATABASE_URL.
func testPG(t *testing.T) (Admin, string) {
	t.Helper()
	admin := testenv.DatabaseURL(t)
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("ODOOBOT_TEST_DATABASE_URL is not a URL: %v", err)
	}
	port, _ := strconv.Atoi(u.Port())
	pw, _ := u.User.Password()
	return Admin{DB: provision.DBConn{Host: u.Hostname(), Port: port, User: u.User.Username(), Password: pw}}, admin
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

// TestPGQuotedNames runs every Admin method on databases whose
// names hold a quote, a double quote, a space and a semicolon: each is
// created, restored into, swapped, found, emptied of sessions and
// dropped under exactly its own name, and nothing else is touched.
func TestPGQuotedNames(t *testing.T) {
	ctx := context.Background()
	pg, admin := testPG(t)
	b := make([]byte, 4)
	rand.Read(b)
	live := "prod-o'k x " + hex.EncodeToString(b)
	staging := live + ` "restore"`
	aside := live + "; old"
	t.Cleanup(func() {
		for _, db := range []string{live, staging, aside} {
			if err := pg.Drop(context.Background(), db); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})

	if ok, err := pg.Exists(ctx, live); err != nil || ok {
		t.Fatalf("Exists(%q) before creation = %v, %v; want false", live, ok, err)
	}
	if _, err := pg.SQL(ctx, "CREATE DATABASE "+pgdb.Ident(live)); err != nil {
		t.Fatal(err)
	}
	if ok, err := pg.Exists(ctx, live); err != nil || !ok {
		t.Fatalf("Exists(%q) after creation = %v, %v; want true", live, ok, err)
	}
	var datname string
	if err := pg.queryRow(ctx, "SELECT datname FROM pg_database WHERE datname LIKE $1", []any{"prod-o'k x " + hex.EncodeToString(b) + "%"}, &datname); err != nil || datname != live {
		t.Fatalf("pg_database holds %q (%v), want exactly %q", datname, err, live)
	}
	if n, err := pg.Size(ctx, live); err != nil || n == 0 {
		t.Errorf("Size(%q) = %d, %v; want some bytes", live, n, err)
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
		if err := c.QueryRow(ctx, "SELECT v FROM public.t").Scan(&v); err != nil {
			t.Fatalf("read database %q: %v", db, err)
		}
		return v
	}

	if _, err := pg.path("pg_dump"); err != nil {
		testenv.Missing(t, err.Error())
	}
	file := filepath.Join(t.TempDir(), "db.dump")
	if err := pg.Dump(ctx, live, file); err != nil {
		t.Fatal(err)
	}
	if err := pg.Restore(ctx, staging, "", file); err != nil {
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
	if err := pg.Swap(ctx, live, aside, staging); err != nil {
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
	if ok, err := pg.Exists(ctx, staging); err != nil || ok {
		t.Errorf("Exists(%q) after the swap = %v, %v; want false", staging, ok, err)
	}

	conn = connectTo(t, ctx, admin, aside)
	if err := pg.Kick(ctx, aside); err != nil {
		t.Fatal(err)
	}
	if err := conn.Ping(ctx); err == nil {
		t.Errorf("a session on %q survived kick", aside)
	}
	conn.Close(ctx)

	for _, db := range []string{aside, live} {
		if err := pg.Drop(ctx, db); err != nil {
			t.Fatal(err)
		}
		if ok, err := pg.Exists(ctx, db); err != nil || ok {
			t.Errorf("Exists(%q) after drop = %v, %v; want false", db, ok, err)
		}
	}
	if err := pg.Drop(ctx, live); err != nil {
		t.Errorf("drop of a database that is gone: %v, want no error", err)
	}
}

// TestPGSQLIsOneTransaction: several statements given to SQL take
// effect together or not at all.
func TestPGSQLIsOneTransaction(t *testing.T) {
	ctx := context.Background()
	pg, _ := testPG(t)
	b := make([]byte, 4)
	rand.Read(b)
	a, renamed := "t_tx '"+hex.EncodeToString(b), "t_tx renamed "+hex.EncodeToString(b)
	t.Cleanup(func() { pg.Drop(context.Background(), a); pg.Drop(context.Background(), renamed) })
	if _, err := pg.SQL(ctx, "CREATE DATABASE "+pgdb.Ident(a)); err != nil {
		t.Fatal(err)
	}
	_, err := pg.SQL(ctx, "ALTER DATABASE "+pgdb.Ident(a)+" RENAME TO "+pgdb.Ident(renamed)+"; ALTER DATABASE "+pgdb.Ident(a+" missing")+" RENAME TO x")
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("a rename of a missing database: %v, want PostgreSQL's does not exist", err)
	}
	if ok, _ := pg.Exists(ctx, a); !ok {
		t.Errorf("the first statement of a failed SQL took effect: %q is gone", a)
	}
	if ok, _ := pg.Exists(ctx, renamed); ok {
		t.Errorf("the first statement of a failed SQL took effect: %q exists", renamed)
	}
	tag, err := pg.SQL(ctx, "ALTER DATABASE "+pgdb.Ident(a)+" RENAME TO "+pgdb.Ident(renamed))
	if err != nil || tag.String() != "ALTER DATABASE" {
		t.Errorf("a rename answered %q, %v; want ALTER DATABASE", tag, err)
	}
	if ok, _ := pg.Exists(ctx, renamed); !ok {
		t.Errorf("%q is missing after the rename", renamed)
	}
}

// TestPGErrors: failures say what failed and never show the password.
func TestPGErrors(t *testing.T) {
	ctx := context.Background()
	pg, _ := testPG(t)

	err := pg.Restore(ctx, "t_no_owner", "no such role", filepath.Join(t.TempDir(), "x.dump"))
	if err == nil || !strings.Contains(err.Error(), `create database "t_no_owner" owned by role "no such role"`) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("restore with a missing owner: %v, want it to name the database, the role and PostgreSQL's answer", err)
	}
	if ok, _ := pg.Exists(ctx, "t_no_owner"); ok {
		pg.Drop(ctx, "t_no_owner")
		t.Errorf("a refused restore left its database")
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().(*net.TCPAddr).Port
	l.Close()
	const secret = "pw-that-must-not-show"
	down := Admin{DB: provision.DBConn{Host: "127.0.0.1", Port: closed, User: "odoo", Password: secret}}
	_, err = down.Exists(ctx, "prod-acme")
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
	if err := down.Drop(ctx, "prod-acme"); err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), `drop database "prod-acme"`) {
		t.Errorf("drop on a closed port: %v, want an error naming the database, without the password", err)
	}
}

// TestPGDumpRestoreSwap dumps a real database, restores it beside
// itself and swaps the two by rename, as a restore does.
func TestPGDumpRestoreSwap(t *testing.T) {
	ctx := context.Background()
	u, err := url.Parse(testenv.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	pw, _ := u.User.Password()
	pg := Admin{DB: provision.DBConn{Host: u.Hostname(), Port: port, User: u.User.Username(), Password: pw}}
	if _, err := pg.path("pg_dump"); err != nil {
		testenv.Missing(t, err.Error())
	}
	db := strings.TrimPrefix(u.Path, "/")
	psql := func(dbname, q string) string {
		t.Helper()
		out, err := pg.run(ctx, pg.DB, "psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", dbname, "-c", q)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	psql(db, "CREATE TABLE public.t (v text); INSERT INTO public.t VALUES ('backed up')")
	file := filepath.Join(t.TempDir(), "db.dump")
	if err := pg.Dump(ctx, db, file); err != nil {
		t.Fatal(err)
	}
	psql(db, "UPDATE public.t SET v = 'changed'")
	staging, old := db+"_restore", db+"_old"
	t.Cleanup(func() { pg.Drop(ctx, staging); pg.Drop(ctx, old) })
	if err := pg.Restore(ctx, staging, "", file); err != nil {
		t.Fatal(err)
	}
	if err := pg.Swap(ctx, db, old, staging); err != nil {
		t.Fatal(err)
	}
	if got := psql(db, "SELECT v FROM public.t"); got != "backed up" {
		t.Errorf("after the swap %s holds %q", db, got)
	}
	if got := psql(old, "SELECT v FROM public.t"); got != "changed" {
		t.Errorf("after the swap %s holds %q", old, got)
	}
	if ok, _ := pg.Exists(ctx, staging); ok {
		t.Errorf("%s still exists after the swap", staging)
	}
	if err := pg.Restore(ctx, staging, "", filepath.Join(t.TempDir(), "missing.dump")); err == nil {
		t.Errorf("restore of a missing dump succeeded")
	}
	if ok, _ := pg.Exists(ctx, staging); ok {
		t.Errorf("a failed restore left %s", staging)
	}
}

// TestSetAsideAndRename: the upgrade's way back. SetAside copies a
// database whose name holds a quote and a semicolon, with a session open
// on it, to a new database owned by the role asked for and closed to
// PUBLIC (no CONNECT, no TEMPORARY); Rename puts it back under the live
// name, its content intact.
func TestSetAsideAndRename(t *testing.T) {
	ctx := context.Background()
	pg, admin := testPG(t)
	b := make([]byte, 4)
	rand.Read(b)
	live := "prod-o'k; " + hex.EncodeToString(b)
	aside := live + "_upgrade_old"
	owner := "t_aside_owner_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		for _, db := range []string{live, aside} {
			pg.Drop(context.Background(), db)
		}
		pg.SQL(context.Background(), "DROP ROLE IF EXISTS "+pgdb.Ident(owner))
	})
	if _, err := pg.SQL(ctx, "CREATE ROLE "+pgdb.Ident(owner)+" NOLOGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := pg.SQL(ctx, "CREATE DATABASE "+pgdb.Ident(live)); err != nil {
		t.Fatal(err)
	}
	conn := connectTo(t, ctx, admin, live)
	if _, err := conn.Exec(ctx, "CREATE TABLE t (v text); INSERT INTO t VALUES ('before the update')"); err != nil {
		t.Fatal(err)
	}
	// The session stays open: SetAside must end it to copy the database.
	if err := pg.SetAside(ctx, live, aside, owner); err != nil {
		t.Fatalf("SetAside: %v", err)
	}
	conn.Close(ctx)
	var gotOwner string
	var publicConnect, publicTemp bool
	err := pg.queryRow(ctx, `SELECT pg_get_userbyid(datdba),
		has_database_privilege('public', oid, 'CONNECT'), has_database_privilege('public', oid, 'TEMPORARY')
		FROM pg_database WHERE datname = $1`, []any{aside}, &gotOwner, &publicConnect, &publicTemp)
	if err != nil {
		t.Fatalf("look up %q: %v", aside, err)
	}
	if gotOwner != owner || publicConnect || publicTemp {
		t.Errorf("database set aside: owner %q, PUBLIC may connect %v, create temporary tables %v; want owner %q, closed to PUBLIC", gotOwner, publicConnect, publicTemp, owner)
	}
	if err := pg.Drop(ctx, live); err != nil {
		t.Fatal(err)
	}
	if err := pg.Rename(ctx, aside, live); err != nil {
		t.Fatalf("Rename: %v", err)
	}
	c := connectTo(t, ctx, admin, live)
	defer c.Close(ctx)
	var v string
	if err := c.QueryRow(ctx, "SELECT v FROM public.t").Scan(&v); err != nil || v != "before the update" {
		t.Errorf("database put back holds %q (%v), want %q", v, err, "before the update")
	}
	if ok, _ := pg.Exists(ctx, aside); ok {
		t.Errorf("%q still exists after Rename", aside)
	}
	if err := pg.Rename(ctx, aside, live+"x"); err == nil || !strings.Contains(err.Error(), aside) {
		t.Errorf("Rename of a missing database: %v, want an error naming it", err)
	}
}
