package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"odoobot/internal/app"
	"odoobot/internal/testenv"
)

// TestHostileTenantDatabase: a tenant plants, through its own role's
// credentials (from its odoo.conf, as its Odoo admin would with a server
// action), triggers on res_users and ir_config_parameter, views of those
// names in a schema named like odoobot's role, an operator shadowing
// pg_catalog's, and a CHECK constraint that does RESET ROLE, all trying
// to grant it its neighbour's role, create a login role holding
// odoobot's, give it CREATEDB and write odoobot's state database. Then
// odoobot runs backup, restore, clone and reset-admin on it; the tenant
// changes its own role's password, and odoobot runs reset-admin again,
// then deletes the clone and the tenant. Each succeeds, and no role is
// created, no membership or right changes, and odoobot's state database
// is untouched.
func TestHostileTenantDatabase(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	env.withBackupDir(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	victim := createReady(t, ctx, a, uniqueName(t, "hos-v"))
	neighbour := createReady(t, ctx, a, uniqueName(t, "hos-n"))
	evil := "evil_" + randomHex(t, 4)
	t.Cleanup(func() {
		c := connectDB(t, context.Background(), a, "postgres")
		c.Exec(context.Background(), "DROP ROLE IF EXISTS "+testenv.Ident(evil))
	})

	conf := readOdooConf(t, a.Config.Layout().Paths(victim).Conf)
	asTenant := func() *pgx.Conn {
		t.Helper()
		port, _ := strconv.Atoi(conf["db_port"])
		cfg, err := pgx.ParseConfig("")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Host, cfg.Port, cfg.User, cfg.Password, cfg.Database = conf["db_host"], uint16(port), conf["db_user"], conf["db_password"], victim.Internal
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatalf("connect as the tenant %s with its odoo.conf: %v", conf["db_user"], err)
		}
		return c
	}
	if conf["db_user"] != victim.DBRole {
		t.Fatalf("odoo.conf names %q, want the instance's role %s", conf["db_user"], victim.DBRole)
	}
	c := asTenant()
	if _, err := c.Exec(ctx, testenv.Traps(victim.DBRole, neighbour.DBRole, a.Config.DBUser, a.Config.StateDBName, evil)); err != nil {
		t.Fatalf("plant the traps as the tenant: %v", err)
	}
	c.Close(ctx)

	snapshot := func() string {
		t.Helper()
		c := connectDB(t, ctx, a, "postgres")
		defer c.Close(ctx)
		names := []string{victim.DBRole, neighbour.DBRole, a.Config.DBUser, evil}
		rows, err := c.Query(ctx, `SELECT format('role %s super=%s createrole=%s createdb=%s', rolname, rolsuper, rolcreaterole, rolcreatedb)
			FROM pg_roles WHERE rolname = ANY($1)
			UNION ALL SELECT format('member %s of %s', pg_get_userbyid(member), pg_get_userbyid(roleid)) FROM pg_auth_members
			WHERE pg_get_userbyid(member) = ANY($2) OR pg_get_userbyid(roleid) = ANY($1)
			UNION ALL SELECT 'state comment ' || coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = $3
			ORDER BY 1`, names, []string{victim.DBRole, neighbour.DBRole, evil}, a.Config.StateDBName)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(got, "\n")
	}
	before := snapshot()
	unchanged := func(verb string) {
		t.Helper()
		if diff := cmp.Diff(snapshot(), before); diff != "" {
			t.Errorf("after %s, the tenant's traps changed roles, memberships or odoobot's state (-got +want):\n%s", verb, diff)
		}
	}

	r, _ := dispatch(t, ctx, a, "backup "+victim.Name)
	if f := finishes(waitFinished(t, r)); !strings.Contains(f, "backed up "+victim.Internal) {
		t.Fatalf("backup did not succeed:\n%s", r.text())
	}
	unchanged("backup")
	bl, err := a.Service.Backups(ctx, victim.Name)
	if err != nil || len(bl) == 0 {
		t.Fatalf("Backups: %v, %v", bl, err)
	}

	r, _ = dispatch(t, ctx, a, "restore "+victim.Name+" "+bl[0].ID)
	if f := finishes(confirmAndWait(t, ctx, a, r)); !strings.Contains(f, "restored "+victim.Internal) {
		t.Errorf("restore did not succeed:\n%s", r.text())
	}
	unchanged("restore")

	clone := uniqueName(t, "hos-c")
	destroyLater(t, a, clone)
	r, _ = dispatch(t, ctx, a, "clone "+victim.Name+" "+clone)
	if f := finishes(waitFinished(t, r)); strings.Contains(f, "failed") || f == "" {
		t.Errorf("clone did not succeed:\n%s", r.text())
	}
	unchanged("clone")

	resetAdmin := func() {
		t.Helper()
		r, _ := dispatch(t, ctx, a, "reset-admin "+victim.Name)
		rc, _ := dispatch(t, ctx, a, "confirm "+r.lastCode())
		if !waitFor(2*time.Minute, func() bool { return strings.Contains(rc.private(), "password:") }) {
			t.Errorf("reset-admin did not give a password:\n%s\n%s", r.text(), rc.text())
		}
	}
	resetAdmin()
	unchanged("reset-admin")

	// A role may change its own password: odoobot sets it back to the
	// one odoo.conf holds, from its own connection to postgres, and goes
	// on; the instance's own credentials work again.
	c = asTenant()
	if _, err := c.Exec(ctx, "ALTER ROLE CURRENT_USER PASSWORD 'chosen-by-the-tenant'"); err != nil {
		t.Fatalf("change the tenant's own password: %v", err)
	}
	c.Close(ctx)
	resetAdmin()
	unchanged("reset-admin after the tenant changed its password")
	asTenant().Close(ctx)

	for _, name := range []string{clone, victim.Name} {
		r, _ = dispatch(t, ctx, a, "delete "+name)
		if f := finishes(confirmAndWait(t, ctx, a, r)); f == "" || strings.Contains(f, "❌") {
			t.Fatalf("delete %s did not succeed:\n%s", name, r.text())
		}
	}
	after := snapshot()
	// The deletes took the victim's role away, as they should; nothing
	// else changed.
	var kept []string
	for _, l := range strings.Split(before, "\n") {
		if !strings.Contains(l, victim.DBRole) {
			kept = append(kept, l)
		}
	}
	if diff := cmp.Diff(after, strings.Join(kept, "\n")); diff != "" {
		t.Errorf("after delete, the tenant's traps changed roles, memberships or odoobot's state (-got +want):\n%s", diff)
	}
	if _, err := a.Store.Instance(ctx, victim.Name); err == nil {
		t.Errorf("%s is still in the store after its delete", victim.Name)
	}
}
