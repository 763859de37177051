package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/config"
	"odoobot/internal/app"
	"odoobot/provision"
)

// BenchmarkCreateAfterRelease times the first creation right after a
// release change (a new commit on the configured branch), with the
// stand-in Odoo: "ahead", with the ahead-of-need build running
// (TEMPLATE_CHECK=1s) and given time to finish, which it also times
// (ms/ahead-build: from the commit to the template ready); "waiting",
// without it (TEMPLATE_CHECK=0): the creation builds the release and the
// template itself.
func BenchmarkCreateAfterRelease(b *testing.B) {
	b.Run("ahead", func(b *testing.B) { benchAfterRelease(b, "bench-rel-ahead", true) })
	b.Run("waiting", func(b *testing.B) { benchAfterRelease(b, "bench-rel-wait", false) })
}

// BenchmarkRealOdooCreateAfterRelease is BenchmarkCreateAfterRelease on
// real Odoo 19.0.
func BenchmarkRealOdooCreateAfterRelease(b *testing.B) {
	b.Run("ahead", func(b *testing.B) {
		realBenchEnv(b, "19.0")
		benchAfterRelease(b, "bench-real-rel-ahead", true)
	})
	b.Run("waiting", func(b *testing.B) {
		realBenchEnv(b, "19.0")
		benchAfterRelease(b, "bench-real-rel-wait", false)
	})
}

func benchAfterRelease(b *testing.B, prefix string, ahead bool) {
	check := "0"
	if ahead {
		check = "1s"
	}
	b.Setenv("TEMPLATE_CHECK", check)
	// Its own STATE_DIR: its releases and templates are its own, removed
	// at the end.
	cfg := benchEnv(b, true)
	repo := newTestRepo(b, filepath.Dir(cfg.ProdRoot), os.Getenv("ODOO_REPO"), os.Getenv("ODOO_BRANCH"))
	b.Setenv("ODOO_REPO", "file://"+repo.dir)
	cfg, err := config.Load("", false)
	if err != nil {
		b.Fatal(err)
	}
	a := benchApp(b, cfg)
	b.Cleanup(func() { dropBenchTemplates(b, cfg) })
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	if ahead {
		a.StartTemplates(ctx)
		requireBenchTemplate(b, ctx, a, repo.git(repo.dir, "rev-parse", "HEAD"))
	}
	var totals, builds []time.Duration
	var steps []map[string]time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		commit := repo.commit(fmt.Sprintf("release %d", i), map[string]string{"BENCH": fmt.Sprintf("release %d\n", i)})
		if ahead {
			start := time.Now()
			requireBenchTemplate(b, ctx, a, commit)
			builds = append(builds, time.Since(start))
		}
		name := fmt.Sprintf("%s-%d", prefix, i)
		b.StartTimer()
		total, s := benchCreate(b, a, name)
		b.StopTimer()
		totals, steps = append(totals, total), append(steps, s)
		benchDestroy(b, a, name)
		b.StartTimer()
	}
	reportMedians(b, totals, steps)
	if ahead {
		b.ReportMetric(medianMS(builds), "ms/ahead-build")
	}
}

// requireBenchTemplate waits until a's templates list a ready template of
// commit.
func requireBenchTemplate(b *testing.B, ctx context.Context, a *app.App, commit string) {
	b.Helper()
	ok := waitFor(30*time.Minute, func() bool {
		list, err := a.Dispatcher.Templates.Templates(ctx)
		time.Sleep(100 * time.Millisecond)
		return err == nil && slices.ContainsFunc(list, func(x provision.TemplateInfo) bool {
			return x.Release == commit[:12] && x.State == provision.TemplateReady
		})
	})
	if !ok {
		b.Fatalf("no template of %s built ahead of need", commit[:12])
	}
}

// benchTemplateRE matches the name of a template database.
var benchTemplateRE = regexp.MustCompile(`^odoobot_tpl_[0-9a-f]{12}$`)

// dropBenchTemplates drops the templates whose filestore is in the
// benchmark's own STATE_DIR, with their spare, half-made copy and role.
func dropBenchTemplates(b *testing.B, cfg *config.Config) {
	ctx := context.Background()
	entries, _ := os.ReadDir(filepath.Join(cfg.StateDir, "templates"))
	conn, err := pgx.Connect(ctx, cfg.AdminDSN())
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	for _, e := range entries {
		if !e.IsDir() || !benchTemplateRE.MatchString(e.Name()) {
			continue
		}
		conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{e.Name()}.Sanitize()+" WITH IS_TEMPLATE false")
		for _, db := range []string{e.Name(), e.Name() + "_spare", e.Name() + "_spare_new", e.Name() + "_init"} {
			conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)")
		}
		conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{e.Name() + "_owner"}.Sanitize())
	}
}
