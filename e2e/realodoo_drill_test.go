package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/internal/app"
	"odoobot/provision"
	"odoobot/provision/probe"
)

// TestRealOdooDrill: a real Odoo 19.0 instance with a partner and an
// attachment written through Odoo is backed up offsite; its manifest
// records the core tables and the filestore; with the local copy gone,
// three restore drills each fetch it back, restore it as the instance's
// role, have the release's odoo-bin load its registry, find what was
// recorded and drop it all, production answering every health check.
// A backup whose dump is a sound dump of a database that is not an Odoo
// one (its checksums made to match) restores, but odoo-bin does not
// open it: the drill fails at that step and alerts. Nothing is left.
func TestRealOdooDrill(t *testing.T) {
	needSandbox(t)
	env := realOdooEnv(t, "19.0")
	backups := env.overrides["BACKUP_DIR"]
	env.withOffsite(t)
	a, _ := env.newApp(t, app.Options{})
	var alerts alertLog
	a.AddActionAlerts(alerts.post)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	inst, pw := createRealOdoo(t, ctx, a, uniqueName(t, "rd"))
	oc := newOdooClient(t, inst)
	if _, err := oc.authenticate(ctx, "admin", pw); err != nil {
		t.Fatalf("log in to %s: %v", inst.Domain, err)
	}
	partner, err := oc.callInt(ctx, "res.partner", "create", []any{map[string]any{"name": "Cliente del simulacro"}})
	if err != nil {
		t.Fatalf("create a partner: %v", err)
	}
	if _, err := oc.callInt(ctx, "ir.attachment", "create", []any{map[string]any{
		"name": "simulacro.txt", "res_model": "res.partner", "res_id": partner,
		"datas": base64.StdEncoding.EncodeToString([]byte("the bytes a drill restores")),
	}}); err != nil {
		t.Fatalf("create an attachment: %v", err)
	}
	b := backupNow(t, ctx, a, inst.Name)
	c := b.Counts
	if c == nil || c.Rows["res_partner"] < 2 || c.Rows["ir_attachment"] < 1 || c.Rows["res_company"] < 1 || c.Rows["res_users"] < 1 || c.Rows["ir_module_module installed"] < 4 || c.FilestoreFiles < 1 {
		t.Fatalf("the manifest records %+v; want partners, attachments, a company, users, the modules and the filestore", c)
	}
	t.Logf("backup %s records %+v", b.ID, *c)
	if err := os.RemoveAll(filepath.Join(backups, inst.Internal, b.ID)); err != nil {
		t.Fatal(err)
	}

	var took []time.Duration
	for i := range 3 {
		var probes, failures atomic.Int32
		stop, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				case <-time.After(200 * time.Millisecond):
				}
				probes.Add(1)
				if !probe.Healthy(ctx, inst.Ports.HTTP) {
					failures.Add(1)
				}
			}
		}()
		start := time.Now()
		r, _ := dispatch(t, ctx, a, "drill "+inst.Name)
		f := finishes(waitFinished(t, r))
		took = append(took, time.Since(start))
		close(stop)
		<-done
		t.Logf("drill %d of %s took %s; production answered %d of %d health checks\n%s", i+1, inst.Name, took[i].Round(time.Millisecond), probes.Load()-failures.Load(), probes.Load(), r.text())
		if !strings.Contains(f, "restore drill of "+inst.Internal+" passed") || !strings.Contains(r.text(), "✓ fetch") || !strings.Contains(r.text(), "loaded the registry of "+inst.Internal+provision.DrillSuffix) || !strings.Contains(r.text(), "as recorded: ") {
			t.Fatalf("the drill did not pass, fetching, opening and comparing:\n%s", r.text())
		}
		if failures.Load() != 0 {
			t.Errorf("production failed %d of %d health checks during the drill", failures.Load(), probes.Load())
		}
		requireNoDrillLeft(t, ctx, a, inst, "after a drill that passed")
	}
	sorted := slices.Clone(took)
	slices.Sort(sorted)
	t.Logf("Odoo 19.0: restore drill of a backup kept offsite only (fetch, restore, odoo-bin, compare, drop): median %s of 3 runs %v", sorted[1].Round(100*time.Millisecond), took)
	if got, _ := dispatch(t, ctx, a, "backups "+inst.Name); !strings.Contains(got.text(), "restore-tested ") {
		t.Errorf("backups does not say restore-tested:\n%s", got.text())
	}
	requireLoginPage(t, ctx, inst)

	// A sound dump of a database that is not an Odoo one, its checksum
	// made to match: it restores, and odoo-bin does not open it.
	bad := backupNow(t, ctx, a, inst.Name)
	dir := filepath.Join(backups, inst.Internal, bad.ID)
	emptyDump(t, ctx, a, filepath.Join(dir, provision.DumpName))
	raw, err := os.ReadFile(filepath.Join(dir, provision.DumpName))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	editManifest(t, dir, func(m *provision.Manifest) {
		for i, f := range m.Files {
			if f.Name == provision.DumpName {
				m.Files[i].Size, m.Files[i].SHA256 = int64(len(raw)), hex.EncodeToString(sum[:])
			}
		}
	})
	os.Remove(filepath.Join(dir, "verification.json"))
	r, _ := dispatch(t, ctx, a, "drill "+inst.Name)
	if f := finishes(waitFinished(t, r)); !strings.Contains(f, "restore drill of "+inst.Internal+" failed") || !strings.Contains(r.text(), "✓ drill-database") {
		t.Fatalf("the drill of a backup of a database that is not Odoo's:\n%s", r.text())
	}
	t.Logf("the drill of a non-Odoo database:\n%s", r.text())
	if !waitFor(10*time.Second, func() bool { return alerts.has("restore drill of " + inst.Internal + " FAILED at step open") }) {
		t.Errorf("no alert saying odoo-bin did not open it; alerts: %q", alerts.texts)
	}
	requireNoDrillLeft(t, ctx, a, inst, "after a drill odoo-bin could not open")
	requireLoginPage(t, ctx, inst)
}

// emptyDump writes to file a custom-format dump of a new, empty
// database (not an Odoo one), made and dropped by odoobot's role.
func emptyDump(t *testing.T, ctx context.Context, a *app.App, file string) {
	t.Helper()
	cfg := a.Config
	name := "e2e_empty_" + randomHex(t, 4)
	conn := connectDB(t, ctx, a, "postgres")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize())
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump")
	if len(bins) == 0 {
		t.Fatal("no pg_dump")
	}
	slices.Sort(bins)
	cmd := exec.CommandContext(ctx, bins[len(bins)-1], "-Fc", "-h", cfg.DBHost, "-p", strconv.Itoa(cfg.DBPort), "-U", cfg.DBUser, "-w", "-f", file, "-d", name)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "PGPASSWORD=" + cfg.DBPassword.Reveal()}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pg_dump of an empty database: %v\n%s", err, out)
	}
}
