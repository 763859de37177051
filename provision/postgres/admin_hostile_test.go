package postgres

import (
	"context"
	"net/url"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"odoobot/internal/testenv"
	"odoobot/provision"
	"odoobot/provision/tenant"
)

// TestHostileTenantDumpRestore: a tenant's dump carries a CHECK
// constraint whose function does RESET ROLE, then tries to grant the
// tenant a neighbour's role, create a login role holding odoobot's, give
// it CREATEDB and write odoobot's state. Dumped, then restored as a
// restore does (into the tenant's own role) and as a clone or an
// upgrade's test copy do (into another instance's role), by odoobot's
// role as production runs it (CREATEDB CREATEROLE, not a superuser),
// serially and by parallel workers (a clone's dump directory),
// nothing of it happens, and each restored database holds the data.
func TestHostileTenantDumpRestore(t *testing.T) {
	h := testenv.NewHostile(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := (Admin{}).path("pg_restore"); err != nil {
		testenv.Missing(t, err.Error())
	}
	victim, neighbour, copyRole := h.Role(t, "victim"), h.Role(t, "neighbour"), h.Role(t, "copy")
	parallelRole := h.Role(t, "pcopy")
	db := victim
	h.Database(t, db, victim)
	h.Plant(t, db, victim, neighbour)
	before := h.Snapshot(t)

	u, err := url.Parse(h.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	admin := provision.DBConn{Host: u.Hostname(), Port: port, User: h.Admin}
	admin.Password, _ = u.User.Password()
	tenants := tenant.New(tenant.Config{AdminDSN: h.AdminURL, Admin: h.Admin, ProdRoot: h.ProdRoot})
	pg := Admin{DB: admin, Login: func(ctx context.Context, db string) (provision.DBConn, error) {
		role, pw, err := tenants.Login(ctx, db)
		return provision.DBConn{Host: admin.Host, Port: admin.Port, User: role, Password: pw}, err
	}}

	file := filepath.Join(t.TempDir(), "database.dump")
	if err := pg.Dump(ctx, db, file); err != nil {
		t.Fatalf("Dump: %v", err)
	}
	if diff := cmp.Diff(h.Snapshot(t), before); diff != "" {
		t.Errorf("after Dump (-got +want):\n%s", diff)
	}
	// A clone's parallel dump (a directory, 4 workers) and restore.
	par := pg
	par.Jobs = 4
	dir := filepath.Join(t.TempDir(), "database.dump")
	if err := par.DumpCopy(ctx, db, dir); err != nil {
		t.Fatalf("DumpCopy: %v", err)
	}
	if diff := cmp.Diff(h.Snapshot(t), before); diff != "" {
		t.Errorf("after DumpCopy (-got +want):\n%s", diff)
	}
	for _, c := range []struct {
		what, db, owner, file string
		by                    Admin
	}{
		{"restore", victim + ".restore", victim, file, pg},
		{"clone", copyRole, copyRole, file, pg},
		{"parallel clone", parallelRole, parallelRole, dir, par},
	} {
		if err := c.by.Restore(ctx, c.db, c.owner, c.file); err != nil {
			t.Errorf("%s: Restore: %v", c.what, err)
			continue
		}
		if diff := cmp.Diff(h.Snapshot(t), before); diff != "" {
			t.Errorf("after the %s's Restore, the tenant's CHECK constraint changed roles, memberships or odoobot's state (-got +want):\n%s", c.what, diff)
		}
		cfg, err := pgx.ParseConfig(h.AdminURL)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Database = c.db
		cfg.RuntimeParams["search_path"] = "pg_catalog"
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		var owner string
		err = conn.QueryRow(ctx, "SELECT count(*), (SELECT pg_catalog.pg_get_userbyid(relowner) FROM pg_catalog.pg_class WHERE oid = 'public.res_users'::pg_catalog.regclass) FROM public.res_users").Scan(&n, &owner)
		conn.Close(ctx)
		if err != nil || n != 2 || owner != c.owner {
			t.Errorf("%s: the restored database has %d users owned by %q (%v); want 2, owned by %s", c.what, n, owner, err, c.owner)
		}
	}
}
