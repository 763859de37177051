package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/internal/app"
	"odoobot/internal/pgrole"
	"odoobot/provision/odoo"
	"odoobot/templates"
)

// The real-Odoo benchmarks time creations on real Odoo 17.0 and 19.0 (the
// sources of the real-Odoo lane) with the default modules of a community
// server: BenchmarkRealOdooWarm with the release built and the template
// present, BenchmarkRealOdooCold with neither (a new release cache and
// so a template made again, which is Odoo's own `-i` plus odoobot's work
// around it). Each reports the median and the median of every step; the
// cold one also Odoo's own `-i` of the same modules (odooOwnInit), and
// how far each cold creation is above it.

// realBenchEnv configures the benchmark for real Odoo version v; it
// fails when the source is missing (scripts/bench.sh provides it).
func realBenchEnv(b *testing.B, v string) {
	b.Helper()
	key := "ODOOBOT_ODOO_REPO_" + strings.ReplaceAll(v, ".", "_")
	repo := os.Getenv(key)
	if repo == "" {
		b.Fatalf("%s is not set: run make bench, which prepares the real Odoo sources", key)
	}
	for k, val := range map[string]string{
		"ODOO_REPO": repo, "ODOO_BRANCH": v, "ODOO_VERSION": v, "ODOO_EDITION": "c",
		"ODOO_MODULES": realOdooModules, "ODOO_PYTHON_DEPS": "debian",
	} {
		b.Setenv(k, val)
	}
}

func BenchmarkRealOdooWarm(b *testing.B) {
	for _, v := range []string{"17.0", "19.0"} {
		b.Run(v, func(b *testing.B) {
			realBenchEnv(b, v)
			benchWarm(b, "bench-real-warm")
		})
	}
}

func BenchmarkRealOdooCold(b *testing.B) {
	for _, v := range []string{"17.0", "19.0"} {
		b.Run(v, func(b *testing.B) {
			realBenchEnv(b, v)
			cfg := benchEnv(b, true)
			var totals, own, above []time.Duration
			var steps []map[string]time.Duration
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				// A new release cache: the release is built again, and the
				// template, whose filestore lived there, is made again.
				os.RemoveAll(filepath.Join(cfg.StateDir, "releases"))
				os.RemoveAll(filepath.Join(cfg.StateDir, "templates"))
				a := benchApp(b, cfg)
				name := fmt.Sprintf("bench-real-cold-%d", i)
				b.StartTimer()
				total, s := benchCreate(b, a, name)
				b.StopTimer()
				totals, steps = append(totals, total), append(steps, s)
				o := odooOwnInit(b, a, name)
				own, above = append(own, o), append(above, total-o)
				benchDestroy(b, a, name)
				b.StartTimer()
			}
			reportMedians(b, totals, steps)
			b.ReportMetric(medianMS(own), "ms/odoo-own-i-median")
			b.ReportMetric(medianMS(above), "ms/above-own-i-median")
		})
	}
}

// odooOwnInit times Odoo's own initialisation of a database, the
// reference a cold creation is compared with: one `odoo-bin -i` of the
// configured modules with the configured language loaded, on a database
// Odoo creates itself, with the release instance name runs, as the build
// user, under a login role of its own (CREATEDB, dropped afterwards).
//
// It is not how odoobot makes a template, and cannot be: the company's
// country has to be set between base and the modules (as Odoo's own
// database creation does), or account loads its generic chart of accounts
// rather than the country's (the template is made in three runs:
// -i base, the country, -i the modules).
func odooOwnInit(b *testing.B, a *app.App, name string) time.Duration {
	b.Helper()
	ctx := context.Background()
	cfg := a.Config
	inst, err := a.Store.Instance(ctx, name)
	if err != nil {
		b.Fatal(err)
	}
	rel, err := odoo.NewReleases(odoo.ReleaseConfig{CacheDir: filepath.Join(cfg.StateDir, "releases")}).Cached(inst.Release)
	if err != nil {
		b.Fatal(err)
	}
	suffix := make([]byte, 4)
	rand.Read(suffix)
	role := "bench_own_init_" + hex.EncodeToString(suffix)
	password, err := pgrole.NewPassword()
	if err != nil {
		b.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, cfg.AdminDSN())
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := pgrole.LoginRole(ctx, admin, role, password, cfg.DBUser); err != nil {
		b.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "ALTER ROLE "+pgx.Identifier{role}.Sanitize()+" CREATEDB"); err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(cfg.StateDir, role)
	defer func() {
		os.RemoveAll(dir)
		id := pgx.Identifier{role}.Sanitize()
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+id+" WITH (FORCE)"); err != nil {
			b.Errorf("drop %s: %v", role, err)
		}
		if _, err := admin.Exec(ctx, "DROP ROLE IF EXISTS "+id); err != nil {
			b.Errorf("drop role %s: %v", role, err)
		}
	}()
	u, err := user.Lookup(cfg.BuildUser)
	if err != nil {
		b.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	conf := fmt.Sprintf("[options]\nhttp_interface = 127.0.0.1\ndb_user = %s\ndb_password = %s\naddons_path = %s\ndata_dir = %s\nlist_db = False\n",
		role, password, strings.Join(rel.AddonsPaths, ","), filepath.Join(dir, "data"))
	if cfg.DBHost != "" {
		conf += "db_host = " + cfg.DBHost + "\n"
	}
	if cfg.DBPort != 0 {
		conf += fmt.Sprintf("db_port = %d\n", cfg.DBPort)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "odoo.conf"), []byte(conf), 0o600); err != nil {
		b.Fatal(err)
	}
	for _, p := range []string{dir, filepath.Join(dir, "odoo.conf")} {
		if err := os.Chown(p, uid, gid); err != nil {
			b.Fatal(err)
		}
	}
	args := []string{"-u", cfg.BuildUser, "--", "env", "-i", "HOME=" + dir, "LANG=C.UTF-8", "PATH=/usr/bin:/bin",
		rel.Python, rel.OdooBin, "-c", filepath.Join(dir, "odoo.conf"), "-d", role,
		"-i", strings.Join(cfg.InstanceModules(), ","), "--stop-after-init", "--logfile", filepath.Join(dir, "odoo.log")}
	if cfg.OdooLang != "" {
		args = append(args, "--load-language="+cfg.OdooLang)
	}
	args = append(args, templates.SeriesOf(rel.Version).DemoArgs(false)...)
	start := time.Now()
	out, err := exec.Command("runuser", args...).CombinedOutput()
	took := time.Since(start)
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "odoo.log"))
		b.Fatalf("odoo-bin -i (Odoo's own initialisation): %v\n%s\n…%s", err, out, log[max(0, len(log)-3000):])
	}
	return took
}
