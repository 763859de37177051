package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/internal/app"
	"odoobot/provision"
)

// A hostile tenant's traps, planted through Odoo itself: the tenant's own
// admin runs a server action whose Python calls env.cr.execute, as any
// client's administrator may. The traps wait for odoobot to act in the
// tenant's database as someone else than the tenant, and then try to
// create a login role inside odoobot's role, to grant the tenant a
// neighbour's role and odoobot's own, and log who they ran as:
//
//   - triggers on res_users and ir_config_parameter (reset-admin, a
//     copy's new identity);
//   - a schema named like odoobot's role, first on the default
//     search_path ("$user", public), whose views res_users and
//     ir_config_parameter shadow Odoo's tables for an unqualified read;
//   - a CHECK constraint on res_partner whose function says RESET ROLE
//     before it springs: it rides in every dump and fires while a restore
//     or a clone loads the rows.
//
// Every trap swallows its own errors, as an attacker's would, so that
// odoobot's work goes on and only the audit can tell.

// hostileTraps is what requireTrapsIdle compares with.
type hostileTraps struct {
	tenant, neighbour, dbUser string
	trapRole                  string
	odoobotMembers            []string // the members of odoobot's role when the traps were laid
}

// plantTrapsThroughOdoo lays the traps in tenant's database, logged in
// to its Odoo as admin with password pw.
func plantTrapsThroughOdoo(t *testing.T, ctx context.Context, a *app.App, tenant provision.Instance, neighbour, pw string) *hostileTraps {
	t.Helper()
	h := &hostileTraps{tenant: tenant.DBRole, neighbour: neighbour, dbUser: a.Config.DBUser, trapRole: "trap_" + strings.ReplaceAll(tenant.Name, "-", "_")}
	if h.tenant == "" || h.neighbour == "" {
		t.Fatalf("no role to aim at: the tenant's %q, the neighbour's %q", h.tenant, h.neighbour)
	}
	h.odoobotMembers = roleMembers(t, ctx, a, h.dbUser)
	t.Cleanup(func() { h.disarm(t, a) })
	lit := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	ident := func(s string) string { return pgx.Identifier{s}.Sanitize() }
	spring := fmt.Sprintf(`
CREATE TABLE IF NOT EXISTS public.odoobot_trap_log (who text, at timestamptz DEFAULT now());
GRANT ALL ON public.odoobot_trap_log TO PUBLIC;
CREATE OR REPLACE FUNCTION public.odoobot_trap() RETURNS boolean LANGUAGE plpgsql AS $trap$
BEGIN
  IF current_user <> %[1]s THEN
    BEGIN INSERT INTO public.odoobot_trap_log (who) VALUES (current_user); EXCEPTION WHEN others THEN NULL; END;
    BEGIN EXECUTE 'CREATE ROLE ' || quote_ident(%[2]s) || ' LOGIN PASSWORD ''trap'' IN ROLE ' || quote_ident(%[3]s); EXCEPTION WHEN others THEN NULL; END;
    BEGIN EXECUTE 'GRANT ' || quote_ident(%[4]s) || ' TO ' || quote_ident(%[1]s); EXCEPTION WHEN others THEN NULL; END;
    BEGIN EXECUTE 'GRANT ' || quote_ident(%[3]s) || ' TO ' || quote_ident(%[1]s); EXCEPTION WHEN others THEN NULL; END;
  END IF;
  RETURN true;
END
$trap$;
CREATE OR REPLACE FUNCTION public.odoobot_trap_row() RETURNS trigger LANGUAGE plpgsql AS $t$
BEGIN PERFORM public.odoobot_trap(); RETURN NULL; END
$t$;
CREATE OR REPLACE FUNCTION public.odoobot_trap_check() RETURNS boolean LANGUAGE plpgsql AS $c$
BEGIN
  BEGIN RESET ROLE; EXCEPTION WHEN others THEN NULL; END;
  PERFORM public.odoobot_trap();
  RETURN true;
END
$c$;
DROP TRIGGER IF EXISTS odoobot_trap ON public.res_users;
CREATE TRIGGER odoobot_trap AFTER INSERT OR UPDATE OR DELETE ON public.res_users FOR EACH STATEMENT EXECUTE FUNCTION public.odoobot_trap_row();
DROP TRIGGER IF EXISTS odoobot_trap ON public.ir_config_parameter;
CREATE TRIGGER odoobot_trap AFTER INSERT OR UPDATE OR DELETE ON public.ir_config_parameter FOR EACH STATEMENT EXECUTE FUNCTION public.odoobot_trap_row();
CREATE SCHEMA IF NOT EXISTS %[5]s;
GRANT USAGE ON SCHEMA %[5]s TO PUBLIC;
CREATE OR REPLACE VIEW %[5]s.res_users AS SELECT * FROM public.res_users WHERE public.odoobot_trap();
CREATE OR REPLACE VIEW %[5]s.ir_config_parameter AS SELECT * FROM public.ir_config_parameter WHERE public.odoobot_trap();
GRANT SELECT ON %[5]s.res_users, %[5]s.ir_config_parameter TO PUBLIC;
ALTER TABLE public.res_partner DROP CONSTRAINT IF EXISTS odoobot_trap;
ALTER TABLE public.res_partner ADD CONSTRAINT odoobot_trap CHECK (public.odoobot_trap_check());
`, lit(h.tenant), lit(h.trapRole), lit(h.dbUser), lit(h.neighbour), ident(h.dbUser))

	oc := newOdooClient(t, tenant)
	if _, err := oc.authenticate(ctx, "admin", pw); err != nil {
		t.Fatalf("log in to %s as its admin: %v", tenant.Domain, err)
	}
	var models []int
	if err := oc.call(ctx, "ir.model", "search", []any{[]any{[]any{"model", "=", "res.partner"}}}, &models); err != nil || len(models) != 1 {
		t.Fatalf("find the model res.partner: %v, %v", models, err)
	}
	code := "env.cr.execute(" + pyString(spring) + ")"
	action, err := oc.callInt(ctx, "ir.actions.server", "create", []any{map[string]any{
		"name": "housekeeping", "model_id": models[0], "state": "code", "code": code,
	}})
	if err != nil {
		t.Fatalf("the tenant's admin creates a server action: %v", err)
	}
	if err := oc.call(ctx, "ir.actions.server", "run", []any{[]int{action}}, nil); err != nil {
		t.Fatalf("the tenant's admin runs the server action: %v", err)
	}
	// The traps are there, laid by the tenant's own role.
	db := connectDB(t, ctx, a, tenant.Internal)
	var owner string
	if err := db.QueryRow(ctx, `SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE oid = 'public.odoobot_trap()'::regprocedure`).Scan(&owner); err != nil || owner != h.tenant {
		t.Fatalf("the trap function after the server action: owner %q, %v; want the tenant's role %s", owner, err, h.tenant)
	}
	db.Close(ctx)
	h.requireIdle(t, ctx, a, tenant.Internal, "laying the traps")
	return h
}

// requireIdle fails the test when a trap sprang as anyone but the tenant
// in database db (if it still exists), or when a role or a membership it
// aims at changed: the trap's login role, the tenant's memberships,
// odoobot's role's members.
func (h *hostileTraps) requireIdle(t *testing.T, ctx context.Context, a *app.App, db, after string) {
	t.Helper()
	c := connectDB(t, ctx, a, "postgres")
	var trapRole bool
	if err := c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, h.trapRole).Scan(&trapRole); err != nil {
		t.Fatal(err)
	}
	if trapRole {
		t.Errorf("after %s: the tenant's trap created the login role %s", after, h.trapRole)
	}
	if got := roleMemberships(t, ctx, a, h.tenant); len(got) != 0 {
		t.Errorf("after %s: the tenant's role %s is a member of %v", after, h.tenant, got)
	}
	if got := roleMembers(t, ctx, a, h.dbUser); !slices.Equal(got, h.odoobotMembers) {
		t.Errorf("after %s: odoobot's role %s has members %v, had %v", after, h.dbUser, got, h.odoobotMembers)
	}
	if !databaseExists(t, ctx, a, db) {
		return
	}
	d := connectDB(t, ctx, a, db)
	defer d.Close(ctx)
	var who []string
	rows, err := d.Query(ctx, `SELECT DISTINCT who FROM public.odoobot_trap_log ORDER BY who`)
	if err != nil {
		t.Errorf("after %s: read the trap's log in %s: %v", after, db, err)
		return
	}
	who, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(who) != 0 {
		t.Errorf("after %s: the tenant's code ran in %s as %v", after, db, who)
	}
}

// disarm drops what a trap that sprang made in the cluster (its login
// role, the tenant's membership of its neighbour's role), so that one
// failed run does not leave a way in for the next.
func (h *hostileTraps) disarm(t *testing.T, a *app.App) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := connectDB(t, ctx, a, "postgres")
	defer c.Close(ctx)
	var exists bool
	if err := c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, h.trapRole).Scan(&exists); err == nil && exists {
		if _, err := c.Exec(ctx, "DROP ROLE "+pgx.Identifier{h.trapRole}.Sanitize()); err != nil {
			t.Errorf("drop the trap's role %s: %v", h.trapRole, err)
		}
	}
	for _, role := range roleMemberships(t, ctx, a, h.tenant) {
		if _, err := c.Exec(ctx, "REVOKE "+pgx.Identifier{role}.Sanitize()+" FROM "+pgx.Identifier{h.tenant}.Sanitize()); err != nil {
			t.Errorf("revoke %s from %s: %v", role, h.tenant, err)
		}
	}
}

// roleMembers lists the roles that are members of role.
func roleMembers(t *testing.T, ctx context.Context, a *app.App, role string) []string {
	t.Helper()
	return queryStrings(t, ctx, a, `SELECT m.rolname FROM pg_auth_members am JOIN pg_roles r ON r.oid = am.roleid JOIN pg_roles m ON m.oid = am.member WHERE r.rolname = $1 ORDER BY 1`, role)
}

// roleMemberships lists the roles role is a member of.
func roleMemberships(t *testing.T, ctx context.Context, a *app.App, role string) []string {
	t.Helper()
	return queryStrings(t, ctx, a, `SELECT r.rolname FROM pg_auth_members am JOIN pg_roles r ON r.oid = am.roleid JOIN pg_roles m ON m.oid = am.member WHERE m.rolname = $1 ORDER BY 1`, role)
}

func queryStrings(t *testing.T, ctx context.Context, a *app.App, query string, args ...any) []string {
	t.Helper()
	c := connectDB(t, ctx, a, "postgres")
	defer c.Close(ctx)
	rows, err := c.Query(ctx, query, args...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pyString is s as a Python string literal.
func pyString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
