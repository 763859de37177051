package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"odoobot/internal/app"
	"odoobot/provision"
	"odoobot/provision/offsite"
	"odoobot/provision/offsite/s3double"
)

// BenchmarkRealOdooOffsite backs up a real Odoo 19.0 instance b.N times
// with an offsite repository in the S3 double on loopback, and reports
// the medians of the local backup (dump, filestore, manifest: the floor)
// and of its push. Then it pushes seven backups of the unchanged
// instance as seven days' into a new repository and reports the
// repository's size against seven local copies: restic's deduplication
// at work. Last, the instance is recovered three times on a new, empty
// server (its release built from nothing), against Odoo's own -i there.
func BenchmarkRealOdooOffsite(b *testing.B) {
	realBenchEnv(b, "19.0")
	backups := b.TempDir()
	b.Setenv("BACKUP_DIR", backups)
	s3, err := s3double.Start("127.0.0.1:0", "bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s3.Close() })
	pw := filepath.Join(b.TempDir(), "password")
	envFile := filepath.Join(filepath.Dir(pw), "offsite.env")
	if err := os.WriteFile(pw, []byte("bench password\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(envFile, []byte(strings.Join(s3.Env(), "\n")+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	b.Setenv("OFFSITE_REPOSITORY", s3.Repository())
	b.Setenv("OFFSITE_PASSWORD_FILE", pw)
	b.Setenv("OFFSITE_ENV_FILE", envFile)
	cfg := benchEnv(b, false)
	ctx := context.Background()
	if _, err := app.InitOffsite(ctx, cfg); err != nil {
		b.Fatal(err)
	}
	a := benchApp(b, cfg)
	name := "bench-offsite"
	benchCreate(b, a, name)
	b.Cleanup(func() { benchDestroy(b, a, name) })

	var locals, pushes []time.Duration
	var last provision.BackupInfo
	for b.Loop() {
		record, steps := stepDurations()
		task, err := a.Service.Backup(ctx, provision.JobRequest{Name: name, By: "bench", Subscribe: []provision.Subscriber{record}})
		if err != nil {
			b.Fatal(err)
		}
		if job, _ := task.Wait(ctx); job.State != provision.JobSucceeded {
			b.Fatalf("backup: %s (%s)", job.State, job.Error)
		}
		b.StopTimer()
		locals = append(locals, steps[string(provision.StepDump)]+steps[string(provision.StepFilestore)]+steps[string(provision.StepConfig)]+steps[string(provision.StepManifest)])
		pushes = append(pushes, steps[string(provision.StepOffsite)])
		list, err := a.Service.Backups(ctx, name)
		if err != nil || len(list) == 0 {
			b.Fatalf("backups: %v", err)
		}
		last = list[0]
		b.StartTimer()
	}
	b.ReportMetric(medianMS(locals), "ms/local-backup")
	b.ReportMetric(medianMS(pushes), "ms/push")
	b.ReportMetric(float64(last.Size())/(1<<20), "MiB/backup")

	// Seven days of an unchanged instance, in a repository of their own.
	s3week, err := s3double.Start("127.0.0.1:0", "week")
	if err != nil {
		b.Fatal(err)
	}
	defer s3week.Close()
	week := &offsite.Restic{Repository: s3week.Repository(), PasswordFile: pw, Env: s3week.Env(), Host: "bench"}
	if _, err := week.Init(ctx); err != nil {
		b.Fatal(err)
	}
	day := last
	for i := range 7 {
		day.CreatedAt = last.CreatedAt.AddDate(0, 0, i)
		day.ID = day.CreatedAt.UTC().Format(provision.IDLayout)
		if _, err := week.Push(ctx, day); err != nil {
			b.Fatal(err)
		}
	}
	stats := exec.CommandContext(ctx, "restic", "stats", "--json", "--mode", "raw-data", "--no-cache")
	stats.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=/nonexistent", "RESTIC_REPOSITORY=" + s3week.Repository(), "RESTIC_PASSWORD_FILE=" + pw}, s3week.Env()...)
	out, err := stats.Output()
	if err != nil {
		b.Fatalf("restic stats: %v", err)
	}
	var st struct {
		TotalSize int64 `json:"total_size"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		b.Fatalf("restic stats: %v: %s", err, out)
	}
	b.ReportMetric(float64(st.TotalSize)/(1<<20), "MiB/7-daily-offsite")
	b.ReportMetric(float64(7*last.Size())/(1<<20), "MiB/7-daily-local")

	// The server is lost; three times, a new one with nothing (state
	// database, instance root, BACKUP_DIR and release cache all new and
	// empty) recovers the instance from offsite alone. The floor is
	// Odoo's own `-i` of the same modules on that server (odooOwnInit):
	// what serving a new, empty database costs.
	benchDestroy(b, a, name)
	var recovers, releases, own []time.Duration
	for range 3 {
		b.Setenv("BACKUP_DIR", b.TempDir())
		cfg := benchEnv(b, true)
		fresh := benchApp(b, cfg)
		record, steps := stepDurations()
		start := time.Now()
		task, err := fresh.Service.Rebuild(ctx, provision.RebuildRequest{Name: name, By: "bench", Subscribe: []provision.Subscriber{record}})
		if err != nil {
			b.Fatal(err)
		}
		if job, _ := task.Wait(ctx); job.State != provision.JobSucceeded {
			b.Fatalf("recover: %s (%s)", job.State, job.Error)
		}
		recovers = append(recovers, time.Since(start))
		releases = append(releases, steps[string(provision.StepRelease)])
		own = append(own, odooOwnInit(b, fresh, name))
		benchDestroy(b, fresh, name)
	}
	b.ReportMetric(medianMS(recovers), "ms/recover-empty-host")
	b.ReportMetric(medianMS(releases), "ms/recover-release-build")
	b.ReportMetric(medianMS(own), "ms/odoo-own-i")
}
