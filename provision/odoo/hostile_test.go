package odoo_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"odoobot/internal/testenv"
	"odoobot/provision/odoo"
	"odoobot/provision/tenant"
)

// TestHostileTenantDatabase: a tenant that planted, as its own role,
// triggers on res_users and ir_config_parameter, views of those names in
// a schema named like odoobot's role, an operator that shadows
// pg_catalog's for "key = $1", and a CHECK constraint that does RESET
// ROLE, all trying to grant it a neighbour's role, create a login role
// holding odoobot's, give it CREATEDB and write odoobot's state, gains
// none of it when odoobot (a non-superuser with CREATEDB CREATEROLE, as
// in production) then runs reset-admin's SetAdminPassword, a clone's
// FinishCopy, Param and Drop (whose marker read serves delete, rollbacks
// and clone recovery) on its database; and each still does its job.
func TestHostileTenantDatabase(t *testing.T) {
	h := testenv.NewHostile(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	victim, neighbour := h.Role(t, "victim"), h.Role(t, "neighbour")
	db := victim
	h.Database(t, db, victim)
	h.Plant(t, db, victim, neighbour)
	before := h.Snapshot(t)

	tenants := tenant.New(tenant.Config{AdminDSN: h.AdminURL, Admin: h.Admin, ProdRoot: h.ProdRoot})
	d := odoo.NewDatabases(odoo.DatabaseConfig{AdminDSN: h.AdminURL, Owner: h.Admin, Tenant: tenants.Connect})
	defer d.Close()
	unchanged := func(after string) {
		t.Helper()
		if diff := cmp.Diff(h.Snapshot(t), before); diff != "" {
			t.Errorf("after %s, the tenant's traps changed roles, memberships or odoobot's state (-got +want):\n%s", after, diff)
		}
	}
	read := func(q string, args ...any) string {
		t.Helper()
		cfg, err := pgx.ParseConfig(h.AdminURL)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Database = db
		cfg.RuntimeParams["search_path"] = "pg_catalog" // the traps fire for whoever reads carelessly
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		var v string
		if err := c.QueryRow(ctx, q, args...).Scan(&v); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return v
	}

	if err := d.SetAdminPassword(ctx, db, "n3w-Admin-pass"); err != nil {
		t.Errorf("SetAdminPassword: %v", err)
	} else if h := read("SELECT password FROM public.res_users WHERE login = 'admin'"); !odoo.VerifyPassword("n3w-Admin-pass", h) {
		t.Errorf("SetAdminPassword left admin's password %q", h)
	}
	unchanged("SetAdminPassword")

	if err := d.FinishCopy(ctx, db, "https://victim.example.com", "http://127.0.0.1:8069", "clone:source"); err != nil {
		t.Errorf("FinishCopy: %v", err)
	} else {
		if got := read("SELECT value FROM public.ir_config_parameter WHERE key = 'odoobot.template'"); got != "clone:source" {
			t.Errorf("FinishCopy: marker %q", got)
		}
		if got := read("SELECT value FROM public.ir_config_parameter WHERE key = 'database.uuid'"); got == "old-uuid" {
			t.Errorf("FinishCopy kept database.uuid")
		}
	}
	unchanged("FinishCopy")

	if v, err := d.Param(ctx, db, "database.is_neutralized"); err != nil || v != "True" {
		t.Errorf("Param = %q, %v; want True", v, err)
	}
	unchanged("Param")

	if err := d.Drop(ctx, db); err != nil {
		t.Errorf("Drop: %v", err)
	}
	if ok, err := d.Exists(ctx, db); err != nil || ok {
		t.Errorf("after Drop, the database exists: %v, %v", ok, err)
	}
	unchanged("Drop")
}
