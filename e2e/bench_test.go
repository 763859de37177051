package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/config"
	"odoobot/provision"
	"odoobot/provision/odoo"
	"odoobot/provision/tenant"
)

// The database benchmarks compare the two ways an instance's database
// can be made, on the sandbox's PostgreSQL: a CREATE DATABASE … TEMPLATE
// copy of a ~150 MB database (what every creation after the first does),
// and an `odoo-bin -i` style initialisation by the stand-in Odoo (what the
// first creation of a release does; a real Odoo takes minutes there).

func benchConfig(b *testing.B) *config.Config {
	b.Helper()
	needSandbox(b)
	cfg, err := config.Load("", false)
	if err != nil {
		b.Fatalf("config: %v (run through scripts/bench.sh)", err)
	}
	return cfg
}

func benchExec(b *testing.B, ctx context.Context, conn *pgx.Conn, sql string) {
	b.Helper()
	if _, err := conn.Exec(ctx, sql); err != nil {
		b.Fatalf("%s: %v", sql, err)
	}
}

// BenchmarkCloneTemplate150MB copies a ~150 MB database by template.
func BenchmarkCloneTemplate150MB(b *testing.B) {
	cfg := benchConfig(b)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, cfg.AdminDSN())
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close(ctx)
	const src = "odoobot_bench_src"
	var exists bool
	admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, src).Scan(&exists)
	if !exists {
		benchExec(b, ctx, admin, "CREATE DATABASE "+src)
		u := cfg.AdminDSN()
		conn, err := pgx.Connect(ctx, replaceDB(u, src))
		if err != nil {
			b.Fatal(err)
		}
		benchExec(b, ctx, conn, `CREATE TABLE filler AS SELECT g AS id, repeat(md5(g::text), 6) AS pad FROM generate_series(1, 600000) g`)
		benchExec(b, ctx, conn, `CREATE INDEX ON filler (id)`)
		conn.Close(ctx)
	}
	var size int64
	admin.QueryRow(ctx, `SELECT pg_database_size($1)`, src).Scan(&size)
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("odoobot_bench_clone_%d", i)
		benchExec(b, ctx, admin, "CREATE DATABASE "+name+" TEMPLATE "+src)
		b.StopTimer()
		benchExec(b, ctx, admin, "DROP DATABASE "+name)
		b.StartTimer()
	}
	b.ReportMetric(float64(size)/(1<<20), "MB")
}

// BenchmarkStandinInit initialises a database with the stand-in's
// `odoo-bin -i base,web,contacts,l10n_ar --stop-after-init` each time
// (a module list never seen before forces a new template).
func BenchmarkStandinInit(b *testing.B) {
	cfg := benchConfig(b)
	ctx := context.Background()
	rel, err := odoo.NewReleases(odoo.ReleaseConfig{
		CacheDir: filepath.Join(cfg.StateDir, "releases"), Repo: cfg.OdooRepo, Branch: cfg.Branch(), Python: cfg.PythonVersion,
	}).Ensure(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	dbs := odoo.NewDatabases(odoo.DatabaseConfig{
		AdminDSN: cfg.AdminDSN(), Owner: cfg.DBUser, DBHost: cfg.DBHost, DBPort: cfg.DBPort,
		FilestoreDir: filepath.Join(cfg.StateDir, "bench-templates"),
		Tenant:       tenant.New(tenant.Config{AdminDSN: cfg.AdminDSN(), Admin: cfg.DBUser}).Connect,
	})
	admin, err := pgx.Connect(ctx, cfg.AdminDSN())
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close(ctx)
	for i := 0; b.Loop(); i++ {
		dir, _ := os.MkdirTemp("/var/lib/odoobot-sandbox", "bench-")
		spec := provision.DatabaseSpec{
			Name: fmt.Sprintf("odoobot-bench-init-%d-%d", time.Now().UnixNano(), i), Release: rel,
			Modules: []string{"base", "web", "contacts", "l10n_ar", fmt.Sprintf("bench_%d_%d", time.Now().UnixNano(), i)},
			BaseURL: "http://bench.odoobot.test", DataDir: dir,
		}
		if err := dbs.Create(ctx, spec); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		tpl := dbs.TemplateName(spec)
		dbs.Drop(ctx, spec.Name)
		admin.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{tpl}.Sanitize()+" WITH IS_TEMPLATE false")
		admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{tpl}.Sanitize()+" WITH (FORCE)")
		os.RemoveAll(dir)
		os.RemoveAll(filepath.Join(cfg.StateDir, "bench-templates", tpl))
		b.StartTimer()
	}
}

func replaceDB(dsn, db string) string {
	u, _ := url.Parse(dsn)
	u.Path = "/" + db
	return u.String()
}
