package odoo_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/provision"
	"odoobot/provision/odoo"
	"odoobot/provision/tenant"
)

// TestDatabaseFailuresAreTyped: what PostgreSQL answers a database's
// creation or its admin password, on a real server, comes
// up as a provision.Error of the kind chat tells it by, in words that say
// what to do and none of PostgreSQL's own text; the error's text keeps
// PostgreSQL's for the log.
func TestDatabaseFailuresAreTyped(t *testing.T) {
	e := newDBEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rel, _ := wrappedRelease(t, false)
	weak := "odoobot_t_" + e.id + "_weak"
	e.exec(t, "postgres", "CREATE ROLE "+pgx.Identifier{weak}.Sanitize()+" LOGIN")
	t.Cleanup(func() { e.exec(t, "postgres", "DROP ROLE IF EXISTS "+pgx.Identifier{weak}.Sanitize()) })
	with := func(change func(u *url.URL)) *odoo.Databases {
		u, err := url.Parse(e.admin)
		if err != nil {
			t.Fatal(err)
		}
		change(u)
		cfg := e.cfg
		cfg.AdminDSN = u.String()
		cfg.Tenant = tenant.New(tenant.Config{AdminDSN: u.String(), Admin: cfg.Owner}).Connect
		d := odoo.NewDatabases(cfg)
		t.Cleanup(d.Close)
		return d
	}
	spec := func(s string) provision.DatabaseSpec {
		return provision.DatabaseSpec{Name: e.name(s), Release: rel, Modules: []string{"web"}, BaseURL: "https://" + s + ".example.com", DataDir: t.TempDir()}
	}
	for _, tc := range []struct {
		name      string
		err       func() error
		kind      provision.ErrorKind
		want      []string
		raw       string // the error's text holds it
		forbidden []string
	}{
		{"a refused login", func() error {
			return with(func(u *url.URL) { u.User = url.User("odoobot_t_" + e.id + "_nobody") }).Create(ctx, spec("login"))
		}, provision.KindRefused, []string{"PostgreSQL refused a login", "check DB_USER and DB_PASSWORD"}, "does not exist", []string{"FATAL", "does not exist"}},
		{"the server down", func() error {
			return with(func(u *url.URL) { u.Host = "127.0.0.1:1" }).Create(ctx, spec("down"))
		}, provision.KindUnavailable, []string{"PostgreSQL cannot be reached (connection refused)", "systemctl status postgresql"}, "connection refused", []string{"127.0.0.1:1", "dial"}},
		{"a missing right", func() error {
			return with(func(u *url.URL) { u.User = url.User(weak) }).Create(ctx, spec("denied"))
		}, provision.KindRefused, []string{"PostgreSQL denied odoobot a right it needs", "CREATEDB and CREATEROLE"}, "permission denied", []string{"ERROR", "SQLSTATE"}},
		{"the admin password, the server down", func() error {
			d := with(func(u *url.URL) { u.Host = "127.0.0.1:1" })
			return d.SetAdminPassword(ctx, e.name("pw"), "a-password-of-some-length")
		}, provision.KindUnavailable, []string{"PostgreSQL cannot be reached (connection refused)"}, "connection refused", []string{"127.0.0.1:1", "a-password"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err()
			if err == nil {
				t.Fatal("no error")
			}
			pe, ok := provision.AsError(err)
			if !ok {
				t.Fatalf("%q is not a provision.Error", err)
			}
			if pe.Kind != tc.kind {
				t.Errorf("kind %q, want %q (%v)", pe.Kind, tc.kind, err)
			}
			got := pe.Explain()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("Explain() = %q, lacks %q", got, w)
				}
			}
			for _, f := range tc.forbidden {
				if strings.Contains(got, f) {
					t.Errorf("Explain() = %q shows the raw %q", got, f)
				}
			}
			if !strings.Contains(err.Error(), tc.raw) {
				t.Errorf("the error's text, for the log, lost %q: %q", tc.raw, err)
			}
		})
	}
}
