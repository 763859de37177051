package testenv

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Hostile is a PostgreSQL cluster laid out as production lays it out,
// with a tenant that prepared traps for odoobot: odoobot's role (Admin,
// LOGIN CREATEDB CREATEROLE, not a superuser, with its state database
// State, which it owns), and instance roles (LOGIN, nothing more,
// granted to Admin) made by Role. Every name is unique to the test and
// dropped at its end.
type Hostile struct {
	super    string // the test server's URL (a superuser)
	AdminURL string // odoobot's role's URL, on database postgres
	Admin    string // odoobot's role (DB_USER)
	State    string // odoobot's state database, owned by Admin
	// Evil is the login role a trap tries to create (holding Admin).
	Evil string
	// ProdRoot holds <role>/odoo.conf for each role made by Role, as
	// odoobot writes it (root's, 0640, in a root directory 0750).
	ProdRoot string
	id       string
	roles    []string
}

// NewHostile makes odoobot's role and state database on the test server
// of ODOOBOT_TEST_DATABASE_URL.
func NewHostile(t *testing.T) *Hostile {
	t.Helper()
	super := DatabaseURL(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	id := fmt.Sprintf("%x", b)
	h := &Hostile{super: super, id: id, Admin: "odoobot_h" + id, State: "odoobot_h" + id + "_state", Evil: "evil_h" + id, ProdRoot: t.TempDir()}
	u, err := url.Parse(super)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(h.Admin, "admin-"+id)
	u.Path = "/postgres"
	h.AdminURL = u.String()
	h.Super(t, "postgres", "CREATE ROLE "+Ident(h.Admin)+" LOGIN CREATEDB CREATEROLE NOSUPERUSER PASSWORD "+literal("admin-"+id))
	t.Cleanup(func() { h.cleanup(t) })
	h.As(t, h.Admin, "postgres", "CREATE DATABASE "+Ident(h.State))
	h.As(t, h.Admin, "postgres", "REVOKE CONNECT, TEMPORARY ON DATABASE "+Ident(h.State)+" FROM PUBLIC")
	h.As(t, h.Admin, "postgres", "COMMENT ON DATABASE "+Ident(h.State)+" IS 'odoobot state'")
	return h
}

func (h *Hostile) cleanup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, h.super)
	if err != nil {
		t.Errorf("hostile cleanup: %v", err)
		return
	}
	defer c.Close(ctx)
	rows, _ := c.Query(ctx, `SELECT d.datname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba
		WHERE r.rolname = ANY($1)`, append([]string{h.Admin, h.Evil}, h.roles...))
	dbs, _ := pgx.CollectRows(rows, pgx.RowTo[string])
	for _, db := range dbs {
		c.Exec(ctx, "DROP DATABASE IF EXISTS "+Ident(db)+" WITH (FORCE)")
	}
	for _, r := range append(append([]string{h.Evil}, h.roles...), h.Admin) {
		c.Exec(ctx, "DROP ROLE IF EXISTS "+Ident(r))
	}
}

// Role makes an instance role as odoobot's tenant step does (LOGIN, no
// other right, granted to Admin) and its odoo.conf under ProdRoot.
func (h *Hostile) Role(t *testing.T, s string) string {
	t.Helper()
	role := "prod-h" + h.id + "-" + s
	pw := "pw-" + s + "-" + h.id
	h.roles = append(h.roles, role)
	h.As(t, h.Admin, "postgres", "CREATE ROLE "+Ident(role)+" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION NOBYPASSRLS PASSWORD "+literal(pw))
	h.As(t, h.Admin, "postgres", "GRANT "+Ident(role)+" TO "+Ident(h.Admin))
	dir := filepath.Join(h.ProdRoot, role)
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	conf := "[options]\ndb_host = 127.0.0.1\ndb_user = " + role + "\ndb_password = " + pw + "\n"
	if err := os.WriteFile(filepath.Join(dir, "odoo.conf"), []byte(conf), 0o640); err != nil {
		t.Fatal(err)
	}
	return role
}

// Database makes database db owned by role, closed to PUBLIC, as odoobot
// makes an instance's, holding the two tables odoobot writes
// (ir_config_parameter with odoobot's marker, res_users with "admin").
func (h *Hostile) Database(t *testing.T, db, role string) {
	t.Helper()
	h.As(t, h.Admin, "postgres", "CREATE DATABASE "+Ident(db)+" OWNER "+Ident(role))
	h.As(t, h.Admin, "postgres", "REVOKE CONNECT, TEMPORARY ON DATABASE "+Ident(db)+" FROM PUBLIC")
	h.As(t, role, db, `
CREATE TABLE public.ir_config_parameter (id serial PRIMARY KEY, key varchar NOT NULL UNIQUE, value text NOT NULL);
CREATE TABLE public.res_users (id serial PRIMARY KEY, login varchar NOT NULL UNIQUE, password varchar);
INSERT INTO public.res_users (login, password) VALUES ('admin', 'admin'), ('demo', 'demo');
INSERT INTO public.ir_config_parameter (key, value) VALUES
  ('odoobot.template', 'odoobot_tpl_hostile'), ('database.uuid', 'old-uuid'), ('database.is_neutralized', 'True')`)
}

// Plant lays, as tenant role (its own credentials, as its Odoo admin
// would with a server action), every trap of Traps in database db.
func (h *Hostile) Plant(t *testing.T, db, tenant, neighbour string) {
	t.Helper()
	h.As(t, tenant, db, Traps(tenant, neighbour, h.Admin, h.State, h.Evil))
}

// Traps is the SQL a hostile tenant runs as its own role in its own
// database (which holds Odoo's res_users and ir_config_parameter): a
// function attack() tries to escape a SET ROLE (RESET ROLE), to grant
// tenant neighbour's role, to create the login role evil holding
// admin (odoobot's role), to give tenant CREATEDB, and to write
// odoobot's state (the comment of database state); it is reached by
// triggers on res_users and ir_config_parameter, by views of those names
// in a schema named like admin (first on "$user", public), by a
// varchar = varchar operator in public (a better match than
// pg_catalog's text = text for every "key = $1"), and by a CHECK
// constraint on res_users, which rides in a dump and fires on restore.
// Each attempt swallows its failure, so that an operation run as the
// tenant still does its job. Run as the tenant itself, every attempt
// fails.
func Traps(tenant, neighbour, admin, state, evil string) string {
	return fmt.Sprintf(`
CREATE FUNCTION public.attack() RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
  BEGIN RESET ROLE; EXCEPTION WHEN others THEN NULL; END;
  BEGIN EXECUTE 'GRANT %[1]s TO %[2]s'; EXCEPTION WHEN others THEN NULL; END;
  BEGIN EXECUTE 'CREATE ROLE %[3]s LOGIN PASSWORD ''evil'' IN ROLE %[4]s'; EXCEPTION WHEN others THEN NULL; END;
  BEGIN EXECUTE 'ALTER ROLE %[2]s CREATEDB'; EXCEPTION WHEN others THEN NULL; END;
  BEGIN EXECUTE format('COMMENT ON DATABASE %[5]s IS %%L', 'pwned by ' || current_user); EXCEPTION WHEN others THEN NULL; END;
  RETURN true;
END
$f$;
CREATE FUNCTION public.trap() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN PERFORM public.attack(); RETURN NULL; END
$f$;
CREATE TRIGGER trap AFTER INSERT OR UPDATE OR DELETE ON public.res_users FOR EACH STATEMENT EXECUTE FUNCTION public.trap();
CREATE TRIGGER trap AFTER INSERT OR UPDATE OR DELETE ON public.ir_config_parameter FOR EACH STATEMENT EXECUTE FUNCTION public.trap();
ALTER TABLE public.res_users ADD CONSTRAINT trap CHECK (public.attack());
CREATE SCHEMA %[4]s;
CREATE VIEW %[4]s.ir_config_parameter AS SELECT * FROM public.ir_config_parameter WHERE public.attack();
CREATE VIEW %[4]s.res_users AS SELECT * FROM public.res_users WHERE public.attack();
CREATE FUNCTION public.trap_eq(varchar, varchar) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN PERFORM public.attack(); RETURN $1::text OPERATOR(pg_catalog.=) $2::text; END
$f$;
CREATE OPERATOR public.= (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = public.trap_eq);`,
		Ident(neighbour), Ident(tenant), Ident(evil), Ident(admin), Ident(state))
}

// Snapshot is what a trap would change: every role of the test with its
// rights, every membership a role of the test is in or grants, and the
// state database's comment.
func (h *Hostile) Snapshot(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, h.super)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var out []string
	rows, err := c.Query(ctx, `SELECT format('role %s super=%s createrole=%s createdb=%s login=%s', rolname, rolsuper, rolcreaterole, rolcreatedb, rolcanlogin)
		FROM pg_roles WHERE rolname LIKE '%' || $1 || '%' ORDER BY rolname`, h.id)
	if err != nil {
		t.Fatal(err)
	}
	r, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, r...)
	// Memberships that involve a role of the test, on either side: what
	// a trap could grant. Others' tests share the cluster and change
	// their own meanwhile.
	rows, err = c.Query(ctx, `SELECT format('member %s of %s', pg_get_userbyid(member), pg_get_userbyid(roleid))
		FROM pg_auth_members
		WHERE pg_get_userbyid(member) LIKE '%' || $1 || '%' OR pg_get_userbyid(roleid) LIKE '%' || $1 || '%'
		ORDER BY 1`, h.id)
	if err != nil {
		t.Fatal(err)
	}
	r, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, r...)
	var comment string
	if err := c.QueryRow(ctx, "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = $1", h.State).Scan(&comment); err != nil {
		t.Fatal(err)
	}
	out = append(out, "state comment "+comment)
	return strings.Join(out, "\n")
}

// As runs sql on database db logged in as role (the test server trusts
// its clients, or role's password is not needed).
func (h *Hostile) As(t *testing.T, role, db, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := pgx.ParseConfig(h.super)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = db
	if role != "" {
		cfg.User = role
		if role == h.Admin {
			cfg.Password = "admin-" + h.id
		}
	}
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect to %s as %s: %v", db, role, err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql); err != nil {
		t.Fatalf("as %s on %s: %v\n%s", role, db, err, sql)
	}
}

// Super runs sql on database db as the test server's superuser.
func (h *Hostile) Super(t *testing.T, db, sql string) { t.Helper(); h.As(t, "", db, sql) }

// Ident quotes an SQL identifier.
func Ident(s string) string { return pgx.Identifier{s}.Sanitize() }

func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
