package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The real-Odoo benchmarks time creations on real Odoo 17.0 and 19.0 (the
// sources of the real-Odoo lane) with the default modules of a community
// server: BenchmarkRealOdooWarm with the release built and the template
// present, BenchmarkRealOdooCold with neither (a new release cache and
// so a template made again, which is Odoo's own `-i` plus odoobot's work
// around it). Each reports the median and the median of every step.

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
			var totals []time.Duration
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
				benchDestroy(b, a, name)
				b.StartTimer()
			}
			reportMedians(b, totals, steps)
		})
	}
}
