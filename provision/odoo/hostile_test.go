package odoo_test

import (
	"context"
	"fmt"
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
	for _, op := range []struct {
		name string
		run  func(ctx context.Context, d *odoo.Databases, db string) error
		// check says what is wrong with the database after run, "" if
		// it did its job; read runs a query there, careful of traps.
		check func(read func(q string) string) string
	}{
		{"SetAdminPassword", func(ctx context.Context, d *odoo.Databases, db string) error {
			return d.SetAdminPassword(ctx, db, "n3w-Admin-pass")
		}, func(read func(string) string) string {
			if h := read("SELECT password FROM public.res_users WHERE login = 'admin'"); !odoo.VerifyPassword("n3w-Admin-pass", h) {
				return "admin's password is " + h
			}
			return ""
		}},
		{"FinishCopy", func(ctx context.Context, d *odoo.Databases, db string) error {
			return d.FinishCopy(ctx, db, "https://victim.example.com", "http://127.0.0.1:8069", "clone:source")
		}, func(read func(string) string) string {
			if got := read("SELECT value FROM public.ir_config_parameter WHERE key = 'odoobot.template'"); got != "clone:source" {
				return "marker " + got
			}
			if read("SELECT value FROM public.ir_config_parameter WHERE key = 'database.uuid'") == "old-uuid" {
				return "database.uuid kept"
			}
			return ""
		}},
		{"Param", func(ctx context.Context, d *odoo.Databases, db string) error {
			v, err := d.Param(ctx, db, "database.is_neutralized")
			if err == nil && v != "True" {
				err = fmt.Errorf("Param = %q, want True", v)
			}
			return err
		}, nil},
		{"Drop", func(ctx context.Context, d *odoo.Databases, db string) error {
			if err := d.Drop(ctx, db); err != nil {
				return err
			}
			if ok, err := d.Exists(ctx, db); err != nil || ok {
				return fmt.Errorf("after Drop the database exists: %v, %v", ok, err)
			}
			return nil
		}, nil},
	} {
		t.Run(op.name, func(t *testing.T) {
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
			if err := op.run(ctx, d, db); err != nil {
				t.Errorf("%s: %v", op.name, err)
			} else if op.check != nil {
				if bad := op.check(func(q string) string { return readSafely(t, ctx, h.AdminURL, db, q) }); bad != "" {
					t.Errorf("%s did not do its job: %s", op.name, bad)
				}
			}
			if diff := cmp.Diff(h.Snapshot(t), before); diff != "" {
				t.Errorf("after %s, the tenant's traps changed roles, memberships or odoobot's state (-got +want):\n%s", op.name, diff)
			}
		})
	}
}

// readSafely returns the one value of query q on database db, read as
// odoobot's role with search_path pg_catalog: the traps fire for whoever
// reads carelessly.
func readSafely(t *testing.T, ctx context.Context, adminURL, db, q string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(adminURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = db
	cfg.RuntimeParams["search_path"] = "pg_catalog"
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var v string
	if err := c.QueryRow(ctx, q).Scan(&v); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return v
}
