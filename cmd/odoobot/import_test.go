package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"odoobot/internal/testenv"
	"odoobot/provision"
	"odoobot/provision/postgres"
)

// writeFile writes content at path, making its directories.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// apidevInstance lays out prod-NAME as API-DEV does under hostEnv's root:
// directory, odoo.conf with the two ports, unit and an HTTPS nginx site.
func apidevInstance(t *testing.T, root, name, ports string) {
	t.Helper()
	dir := filepath.Join(root, "prod", "prod-"+name)
	for _, d := range []string{"odoo-server", "custom_addons", "venv"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(dir, "odoo.conf"), "[options]\ndb_name = prod-"+name+"\n"+ports)
	writeFile(t, filepath.Join(dir, "info-instancia.txt"), "Fecha de creación: 2025-02-03 10:00:00\n")
	writeFile(t, filepath.Join(root, "units", "odoo19e-prod-"+name+".service"), "[Service]\nExecStart=/bin/true\n")
	writeFile(t, filepath.Join(root, "avail", "prod-"+name), "server {\n listen 443 ssl;\n ssl_certificate /etc/ssl/cloudflare/cert.pem;\n}\n")
}

// stateDBEnv points the configuration's database settings at a fresh test
// database and returns the store opened on it.
func stateDBEnv(t *testing.T) *postgres.Store {
	t.Helper()
	dsn := testenv.NewDatabase(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("DB_HOST", u.Hostname())
	t.Setenv("DB_PORT", u.Port())
	t.Setenv("DB_USER", u.User.Username())
	pw, _ := u.User.Password()
	t.Setenv("DB_PASSWORD", pw)
	t.Setenv("STATE_DB_NAME", strings.TrimPrefix(u.Path, "/"))
	store, err := postgres.Open(context.Background(), dsn, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	return store
}

// TestImport runs `odoobot import` on an API-DEV-like host: a dry run
// records nothing; the real run records the instance without problems,
// reports the others and fails; a second run skips what is recorded.
func TestImport(t *testing.T) {
	root := hostEnv(t)
	store := stateDBEnv(t)
	ctx := context.Background()
	tracking := filepath.Join(root, "api-dev", "data")
	apidevInstance(t, root, "acme", "http_port = 2100\ngevent_port = 8072\n")
	apidevInstance(t, root, "beta", "http_port = 2101\ngevent_port = 8073\n")
	writeFile(t, filepath.Join(tracking, "prod-instances.txt"), "prod-acme|acme.example.com\nprod-beta|beta.example.com\nprod-ghost|ghost.example.com\n")
	writeFile(t, filepath.Join(tracking, "puertos_ocupados_odoo.txt"), "2100 prod-acme http\n8072 prod-acme gevent\n2101\n8073\n")
	// odoobot already gave beta's HTTP port to one of its own instances.
	mine := provision.Layout{Zone: "example.com", UnitPrefix: "odoo19e"}.NewInstance("mine", provision.SSLHTTP)
	mine.Ports = provision.Ports{HTTP: 2101, Gevent: 8090}
	if err := store.ImportInstance(ctx, mine); err != nil {
		t.Fatal(err)
	}

	odoobot := func(args ...string) (string, error) {
		t.Helper()
		var out bytes.Buffer
		err := run(ctx, append([]string{"--env-file", "/dev/null", "import"}, args...), nil, &out, &out)
		// Columns are aligned with spaces: compare words.
		return strings.Join(strings.Fields(out.String()), " "), err
	}
	out, err := odoobot("--dry-run", "--tracking-dir", tracking)
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	for _, want := range []string{
		"acme acme.example.com 2100 8072 cloudflare 2025-02-03 would import",
		"beta beta.example.com 2101 8073 cloudflare 2025-02-03 not imported: 1 problem",
		"ghost ghost.example.com - - http - not imported: 1 problem",
		"prod-beta: problem: port 2101 is held by mine in odoobot's store",
		"prod-ghost: problem: directory " + filepath.Join(root, "prod", "prod-ghost") + " is missing",
		"1 would be imported, 0 already recorded, 2 not imported (dry run: nothing recorded)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if _, err := store.Instance(ctx, "acme"); !errors.Is(err, provision.ErrInstanceNotFound) {
		t.Fatalf("the dry run recorded acme: %v", err)
	}

	out, err = odoobot("--tracking-dir", tracking)
	if err == nil || !strings.Contains(err.Error(), "2 instances not imported") {
		t.Errorf("import with problems: err = %v, want one saying 2 were not imported\n%s", err, out)
	}
	if !strings.Contains(out, "acme acme.example.com 2100 8072 cloudflare 2025-02-03 imported") {
		t.Errorf("import output:\n%s", out)
	}
	got, err := store.Instance(ctx, "acme")
	if err != nil {
		t.Fatalf("acme after the import: %v", err)
	}
	want := provision.Instance{
		Name: "acme", Domain: "acme.example.com", Internal: "prod-acme", Unit: "odoo19e-prod-acme.service",
		SSLMode: provision.SSLCloudflare, Ports: provision.Ports{HTTP: 2100, Gevent: 8072}, State: provision.StateReady,
		CreatedBy: provision.ImportedBy,
	}
	if got.CreatedAt.Format("2006-01-02 15:04") != "2025-02-03 10:00" {
		t.Errorf("acme created at %v, want info-instancia's 2025-02-03 10:00", got.CreatedAt)
	}
	got.CreatedAt = want.CreatedAt
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("acme in the store (-got +want)\n%s", diff)
	}
	for _, n := range []string{"beta", "ghost"} {
		if _, err := store.Instance(ctx, n); !errors.Is(err, provision.ErrInstanceNotFound) {
			t.Errorf("%s was recorded despite its problems: %v", n, err)
		}
	}
	ports, err := store.TakenPorts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	held := map[int]string{}
	for _, p := range ports {
		held[p.Port] = p.Instance
	}
	if held[2100] != "acme" || held[8072] != "acme" || held[2101] != "mine" || held[8073] != "" {
		t.Errorf("ports after the import: %v", held)
	}

	// Again, from TRACKING_DIR: acme is skipped and said so.
	t.Setenv("TRACKING_DIR", tracking)
	out, _ = odoobot()
	if !strings.Contains(out, "skipped: already recorded by odoobot") || !strings.Contains(out, "0 imported, 1 already recorded, 2 not imported") {
		t.Errorf("second import:\n%s", out)
	}
}

func TestImportUsage(t *testing.T) {
	hostEnv(t)
	var out bytes.Buffer
	err := run(context.Background(), []string{"--env-file", "/dev/null", "import", "--bogus"}, nil, &out, &out)
	var ue *usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--tracking-dir") {
		t.Errorf("import --bogus: %v", err)
	}
}
