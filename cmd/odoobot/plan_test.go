package main

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"odoobot/internal/testenv"
	"odoobot/provision/cloudflare/cftest"
)

// hostEnv points every host path of the configuration into a temp dir.
func hostEnv(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for k, v := range map[string]string{
		"CF_ZONE_NAME": "example.com", "PROD_ROOT": "prod", "LOG_DIR": "log", "BACKUP_DIR": "backup",
		"STATE_DIR": "state", "NGINX_SITES_AVAILABLE": "avail", "NGINX_SITES_ENABLED": "enabled",
		"SYSTEMD_UNIT_DIR": "units", "TRACKING_DIR": "tracking", "ALLOWLIST_FILE": "allowlist",
		"LOGROTATE_FILE": "logrotate.d/odoobot-instances",
	} {
		if k != "CF_ZONE_NAME" {
			v = filepath.Join(root, v)
		}
		t.Setenv(k, v)
	}
	t.Setenv("DB_PORT", "1") // no server: the plan must not need one
	return root
}

func TestPlanShowsTheInstanceAndChangesNothing(t *testing.T) {
	root := hostEnv(t)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--env-file", "/dev/null", "plan", "cliente1", "cloudflare"}, nil, &out, &out); err != nil {
		t.Fatalf("plan: %v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{"cliente1.example.com", "prod-cliente1", "odoo19e-prod-cliente1.service", "enabled/prod-cliente1", "nothing was changed"} {
		if !strings.Contains(s, want) {
			t.Errorf("plan output lacks %q:\n%s", want, s)
		}
	}
	for _, tc := range []struct {
		label  string
		lo, hi int
	}{{"http port", 2100, 3000}, {"gevent port", 8072, 8999}} {
		m := regexp.MustCompile(tc.label + `\s+(\d+) of`).FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("no %s in:\n%s", tc.label, s)
		}
		if p, _ := strconv.Atoi(m[1]); p < tc.lo || p > tc.hi {
			t.Errorf("%s %d outside %d-%d", tc.label, p, tc.lo, tc.hi)
		}
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 0 {
		t.Errorf("plan created %v under the host root", entries)
	}
}

func TestPlanRefusesBadNames(t *testing.T) {
	hostEnv(t)
	for _, tc := range []struct{ name, rule string }{
		{"example.com", "rule reserved"},
		{"production", "rule reserved"},
		{"MAYUSCULAS", "rule format"},
		{"-x", "rule format"},
		{"", "rule empty"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), []string{"--env-file", "/dev/null", "plan", tc.name}, nil, &out, &out)
		if err == nil || !strings.Contains(err.Error(), tc.rule) {
			t.Errorf("plan %q: err = %v, want one naming %q", tc.name, err, tc.rule)
		}
	}
	err := run(context.Background(), []string{"--env-file", "/dev/null", "plan", "acme", "selfsigned"}, nil, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "unknown SSL mode") {
		t.Errorf("plan with a bad mode: %v", err)
	}
}

// TestPlanReadsTheStoreWithoutWriting runs plan against a real state
// database: ports held there are skipped, and nothing is written.
func TestPlanReadsTheStoreWithoutWriting(t *testing.T) {
	hostEnv(t)
	dsn := testenv.NewDatabase(t)
	u, _ := url.Parse(dsn)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA odoobot; CREATE TABLE odoobot.ports(kind text, port int, instance text); INSERT INTO odoobot.ports VALUES ('http', 2100, 'x'), ('gevent', 8072, 'x')`); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DB_HOST", u.Hostname())
	t.Setenv("DB_PORT", u.Port())
	t.Setenv("DB_USER", u.User.Username())
	t.Setenv("STATE_DB_NAME", strings.TrimPrefix(u.Path, "/"))
	var out bytes.Buffer
	if err := run(ctx, []string{"--env-file", "/dev/null", "plan", "acme", "http"}, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "free in the store and on the host") || strings.Contains(out.String(), "2100 of") || strings.Contains(out.String(), "8072 of") {
		t.Errorf("plan did not skip the ports held in the store:\n%s", out.String())
	}
	var n int
	conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'odoobot'`).Scan(&n)
	if n != 1 {
		t.Errorf("plan changed the schema: %d tables", n)
	}
}

// A bad Cloudflare token is found by plan, before any creation: it says
// so in its DNS access line and exits non-zero.
func TestPlanChecksTheCloudflareToken(t *testing.T) {
	hostEnv(t)
	cf := cftest.New("example.com", "good-token")
	t.Setenv("CF_API_BASE_URL", cf.Start())
	t.Cleanup(cf.Close)
	t.Setenv("PUBLIC_IP", "192.0.2.10")
	for _, tc := range []struct {
		token string
		ok    bool
	}{{"good-token", true}, {"bad-token", false}} {
		t.Setenv("CF_API_TOKEN", tc.token)
		var out bytes.Buffer
		err := run(context.Background(), []string{"--env-file", "/dev/null", "plan", "cliente1", "cloudflare"}, nil, &out, &out)
		if tc.ok && (err != nil || !strings.Contains(out.String(), "token and zone checked")) {
			t.Errorf("plan with a good token: %v\n%s", err, out.String())
		}
		if !tc.ok && (err == nil || !strings.Contains(out.String(), "DNS access") || !strings.Contains(out.String(), "FAILS")) {
			t.Errorf("plan with a bad token: %v\n%s", err, out.String())
		}
		if strings.Contains(out.String(), tc.token) || (err != nil && strings.Contains(err.Error(), tc.token)) {
			t.Errorf("plan printed the token")
		}
	}
}
