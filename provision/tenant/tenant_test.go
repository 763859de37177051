package tenant_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/internal/testenv"
	"odoobot/provision/tenant"
)

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// TestRoleIsItsOwnAndNothingMore: EnsureRole, run as odoobot's role is
// in production (CREATEROLE and CREATEDB, not a superuser), makes a login
// role with no right beyond logging in, its password stored as a SCRAM
// verifier made here, granted to the admin; run again it keeps the role
// and changes the password; DropRole removes it, and is fine with a
// missing one.
func TestRoleIsItsOwnAndNothingMore(t *testing.T) {
	dsn := testenv.DatabaseURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	admin := "odoobot_t_" + randHex(4) + "_admin"
	role := "prod-t" + randHex(4)
	if _, err := conn.Exec(ctx, "CREATE ROLE "+pgx.Identifier{admin}.Sanitize()+" LOGIN CREATEROLE CREATEDB NOSUPERUSER PASSWORD 'admin-secret'"); err != nil {
		t.Fatal(err)
	}
	adminURL, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	adminURL.User = url.UserPassword(admin, "admin-secret")
	t.Cleanup(func() {
		conn.Exec(context.Background(), "DROP ROLE IF EXISTS "+pgx.Identifier{role}.Sanitize())
		conn.Exec(context.Background(), "DROP ROLE IF EXISTS "+pgx.Identifier{admin}.Sanitize())
	})
	m := tenant.New(tenant.Config{AdminDSN: adminURL.String(), Admin: admin})

	attrs := func() (login, super, createdb, createrole, inherit, granted bool, password string) {
		t.Helper()
		err := conn.QueryRow(ctx, `SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolinherit,
			pg_has_role($2, oid, 'MEMBER'), coalesce(rolpassword, '') FROM pg_authid WHERE rolname = $1`, role, admin).
			Scan(&login, &super, &createdb, &createrole, &inherit, &granted, &password)
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := m.EnsureRole(ctx, role, "first-secret"); err != nil {
		t.Fatal(err)
	}
	login, super, createdb, createrole, inherit, granted, pw1 := attrs()
	var memberOf int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = $1", role).Scan(&memberOf); err != nil {
		t.Fatal(err)
	}
	if !login || super || createdb || createrole || !inherit || !granted || memberOf != 0 {
		t.Errorf("role: login %v superuser %v createdb %v createrole %v inherit %v granted to the admin %v, member of %d roles; want login, inherit (of nothing but its database's ownership), granted, and nothing else", login, super, createdb, createrole, inherit, granted, memberOf)
	}
	if !strings.HasPrefix(pw1, "SCRAM-SHA-256$4096:") || strings.Contains(pw1, "first-secret") {
		t.Errorf("stored password %q is not a SCRAM verifier", pw1)
	}
	if err := m.EnsureRole(ctx, role, "second-secret"); err != nil {
		t.Fatalf("EnsureRole again: %v", err)
	}
	if _, _, _, _, _, _, pw2 := attrs(); pw2 == pw1 {
		t.Errorf("EnsureRole again kept the old password")
	}
	if ok, err := m.RoleExists(ctx, role); err != nil || !ok {
		t.Errorf("RoleExists = %v, %v", ok, err)
	}
	for range 2 {
		if err := m.DropRole(ctx, role); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := m.RoleExists(ctx, role); err != nil || ok {
		t.Errorf("after DropRole RoleExists = %v, %v", ok, err)
	}
}

// TestSystemUser: EnsureUser makes a system user with a group of its own
// and no login shell, is safe to repeat, and RemoveUser removes user and
// group. It changes the machine's users, so it runs as root only.
func TestSystemUser(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "making system users needs root")
	}
	name := "odoobot-t-" + randHex(4)
	home := filepath.Join(t.TempDir(), "home")
	m := tenant.New(tenant.Config{})
	ctx := context.Background()
	t.Cleanup(func() { m.RemoveUser(context.Background(), name) })
	for range 2 {
		if err := m.EnsureUser(ctx, name, home); err != nil {
			t.Fatal(err)
		}
	}
	uid, gid, err := tenant.Lookup(name)
	if err != nil || uid == 0 || gid == 0 {
		t.Fatalf("Lookup = %d, %d, %v", uid, gid, err)
	}
	passwd, _ := os.ReadFile("/etc/passwd")
	var line string
	for _, l := range strings.Split(string(passwd), "\n") {
		if strings.HasPrefix(l, name+":") {
			line = l
		}
	}
	if !strings.HasSuffix(line, ":"+home+":/usr/sbin/nologin") {
		t.Errorf("passwd line %q: want home %s and no login shell", line, home)
	}
	if _, err := os.Stat(home); err == nil {
		t.Errorf("home %s was created", home)
	}
	if err := m.EnsureUser(ctx, "Bad Name", home); err == nil {
		t.Errorf("EnsureUser took a name useradd would refuse")
	}
	for range 2 {
		if err := m.RemoveUser(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	if tenant.UserExists(name) {
		t.Errorf("user %s still exists", name)
	}
	group, _ := os.ReadFile("/etc/group")
	if strings.Contains(string(group), "\n"+name+":") {
		t.Errorf("group %s still exists", name)
	}
}
