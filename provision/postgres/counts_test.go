package postgres

import (
	"context"
	"net/url"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/internal/testenv"
	"odoobot/provision"
	"odoobot/provision/tenant"
)

// TestCountedDumpCountsAsTheOwner: a backup's counts are read logged in
// as the role that owns the database, never odoobot's: a table that
// shows rows only to its owner is counted as the owner sees it. A count
// that fails (a view dividing by zero) is left out and the others
// still stand; a table the database lacks is left out. A drill's Counts
// of the restored copy, as its owner, gives the same.
func TestCountedDumpCountsAsTheOwner(t *testing.T) {
	h := testenv.NewHostile(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := (Admin{}).path("pg_dump"); err != nil {
		testenv.Missing(t, err.Error())
	}
	owner := h.Role(t, "counted")
	db := owner
	h.Database(t, db, owner)
	h.As(t, owner, db, `
CREATE TABLE public.res_partner (id serial PRIMARY KEY, name text);
INSERT INTO public.res_partner (name) SELECT 'p' || g FROM generate_series(1, 7) g;
CREATE VIEW public.res_company AS SELECT 1 AS id WHERE current_user = `+"'"+owner+"'"+`;
CREATE VIEW public.ir_attachment AS SELECT id FROM public.res_partner WHERE 1 / (id - id) = 1;
CREATE TABLE public.ir_module_module (id serial PRIMARY KEY, name text, state text);
INSERT INTO public.ir_module_module (name, state) VALUES ('base', 'installed'), ('web', 'installed'), ('sale', 'uninstalled');`)

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
	got, err := pg.CountedDump(ctx, db, file)
	if err != nil {
		t.Fatalf("CountedDump: %v", err)
	}
	want := map[string]int64{"res_partner": 7, "res_users": 2, "res_company": 1, "ir_module_module installed": 2}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	copyDB := db + "_drill"
	t.Cleanup(func() { pg.Drop(context.Background(), copyDB) })
	if err := pg.Restore(ctx, copyDB, owner, file); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	again, err := pg.Counts(ctx, copyDB)
	if err != nil {
		t.Fatalf("Counts: %v", err)
	}
	if diff := cmp.Diff(want, again); diff != "" {
		t.Errorf("counts of the restored copy (-want +got):\n%s", diff)
	}
}
