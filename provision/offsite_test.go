package provision_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/provision"
)

// backupNow takes a manual backup of name and returns its job.
func backupNow(t *testing.T, w *world, name string) provision.Job {
	t.Helper()
	task, err := w.s.Backup(context.Background(), provision.JobRequest{Name: name, By: "test"})
	if err != nil {
		t.Fatal(err)
	}
	job, _ := task.Wait(context.Background())
	if job.State != provision.JobSucceeded {
		t.Fatalf("backup %s: %s (%s)", name, job.State, job.Error)
	}
	return job
}

func places(t *testing.T, w *world, name string) provision.BackupListing {
	t.Helper()
	l, err := w.s.BackupPlaces(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// A backup is pushed offsite by its own job: listed in both places.
func TestBackupIsPushedOffsite(t *testing.T) {
	h := newHost()
	w := newWorld(t, h, nil)
	create(t, w, "acme", provision.SSLHTTP)
	backupNow(t, w, "acme")
	l := places(t, w, "acme")
	if len(l.Backups) != 1 || !l.Offsite || l.OffsiteProblem != "" {
		t.Fatalf("listing %+v: want one backup, offsite on", l)
	}
	if got := l.Backups[0].Places(); len(got) != 2 || got[0] != provision.PlaceLocal || got[1] != provision.PlaceOffsite {
		t.Errorf("places %v, want [local offsite]", got)
	}
}

// An unreachable repository never fails a backup: it stands locally,
// its job says the push failed and is retried, the listing says why the
// offsite copies are unknown, and the background push sends it once the
// repository answers again.
func TestUnreachableOffsiteKeepsTheLocalBackup(t *testing.T) {
	h := newHost()
	w := newWorld(t, h, nil)
	create(t, w, "acme", provision.SSLHTTP)
	h.SetOffsiteDown(&provision.Error{Kind: provision.KindUnavailable, What: "offsite: no answer"})
	job := backupNow(t, w, "acme")
	events, _ := h.Store().Events(context.Background(), job.ID)
	var said bool
	for _, e := range events {
		if e.Step == string(provision.StepOffsite) && strings.Contains(e.Message, "tried again in the background") {
			said = true
		}
	}
	if !said {
		t.Errorf("the backup's events do not say its push is tried again: %+v", events)
	}
	l := places(t, w, "acme")
	if len(l.Backups) != 1 || !l.Backups[0].Local || l.Backups[0].Copy != nil || !strings.Contains(l.OffsiteProblem, "no answer") {
		t.Fatalf("listing %+v: want the local backup and the offsite problem", l)
	}
	if rep, err := w.s.PushOffsite(context.Background()); err == nil || rep.Waiting != 1 {
		t.Errorf("push while down: %+v, %v; want an error and 1 waiting", rep, err)
	}
	h.SetOffsiteDown(nil)
	rep, err := w.s.PushOffsite(context.Background())
	if err != nil || len(rep.Pushed) != 1 {
		t.Fatalf("push once up: %+v, %v; want 1 pushed", rep, err)
	}
	if l := places(t, w, "acme"); len(l.Backups) != 1 || l.Backups[0].Copy == nil {
		t.Errorf("after the push: %+v", l)
	}
	if rep, err := w.s.PushOffsite(context.Background()); err != nil || len(rep.Pushed) != 0 {
		t.Errorf("pushing again: %+v, %v; want nothing to push", rep, err)
	}
}

// Offsite, the retention is the local one: after twelve daily backups,
// seven daily copies stay (the week and the month are among them), and
// a backup pushed twice keeps one copy.
func TestOffsiteRetentionIsTheLocalOne(t *testing.T) {
	h := newHost()
	w := newWorld(t, h, nil)
	create(t, w, "acme", provision.SSLHTTP)
	for range 12 {
		backupNow(t, w, "acme")
		h.Advance(24 * time.Hour)
	}
	copies, err := h.Offsite().List(context.Background(), "prod-acme")
	if err != nil {
		t.Fatal(err)
	}
	// 12-07 … 12-18: the daily rule keeps the last seven days; the
	// weekly one the newest of ISO weeks 51 (12-18) and 50 (12-13); the
	// monthly one 12-18. The local retention decides the same.
	var ids []string
	for _, c := range copies {
		ids = append(ids, c.Backup[:8])
	}
	want := "20261218 20261217 20261216 20261215 20261214 20261213 20261212"
	if strings.Join(ids, " ") != want {
		t.Errorf("offsite copies %s, want %s", strings.Join(ids, " "), want)
	}
	local, _ := w.s.Backups(context.Background(), "acme")
	if kept := len(local) - len(provision.DefaultRetention().Drop(local)); kept != len(copies) {
		t.Errorf("the local retention keeps %d of %d backups, offsite %d are kept", kept, len(local), len(copies))
	}
	// The same backup pushed twice (two processes at once): one stays.
	if _, err := h.Offsite().Push(context.Background(), local[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.PushOffsite(context.Background()); err != nil {
		t.Fatal(err)
	}
	if again, _ := h.Offsite().List(context.Background(), "prod-acme"); len(again) != len(copies) {
		t.Errorf("%d copies after a double push, want %d", len(again), len(copies))
	}
}

// A backup kept neither here nor offsite is refused before any job,
// saying where it was looked for.
func TestRestoreOfAMissingBackupSaysWhereItLooked(t *testing.T) {
	h := newHost()
	w := newWorld(t, h, nil)
	create(t, w, "acme", provision.SSLHTTP)
	_, err := w.s.Restore(context.Background(), provision.JobRequest{Name: "acme", Backup: "20200101T000000Z", By: "test"})
	if !errors.Is(err, provision.ErrBackupNotFound) || !strings.Contains(err.Error(), "nor offsite") {
		t.Errorf("restore of a missing backup: %v", err)
	}
}

// The background push retries a failing repository with a doubling
// wait, alerts once after three failed rounds, says so once when it
// pushes again, and then waits its hour.
func TestBackgroundPushRetriesAlertsOnceAndRecovers(t *testing.T) {
	h := newHost()
	w := newWorld(t, h, nil)
	create(t, w, "acme", provision.SSLHTTP)
	h.SetOffsiteDown(&provision.Error{Kind: provision.KindUnavailable, What: "offsite: no answer"})
	backupNow(t, w, "acme")

	waits := make(chan time.Duration)
	fire := make(chan time.Time, 1) // a nudge may wake a wait before its timer
	var alerts, recoveries []string
	said := make(chan string, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.s.RunOffsite(ctx, provision.OffsiteLoop{
			Every: time.Hour, Retry: time.Minute, AlertAfter: 3,
			Alert:     func(_ context.Context, s string) { said <- "alert: " + s },
			Recovered: func(_ context.Context, s string) { said <- "recovered: " + s },
			After: func(d time.Duration) <-chan time.Time {
				waits <- d
				return fire
			},
		})
	}()
	var got []time.Duration
	for i := range 5 {
		got = append(got, <-waits)
		if i == 3 {
			h.SetOffsiteDown(nil)
		}
		fire <- time.Time{}
	}
	got = append(got, <-waits)
	cancel()
	<-done
	close(said)
	for s := range said {
		if strings.HasPrefix(s, "alert: ") {
			alerts = append(alerts, s)
		} else {
			recoveries = append(recoveries, s)
		}
	}
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, time.Hour, time.Hour}
	if len(got) != len(want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("waits %v, want %v", got, want)
			break
		}
	}
	if len(alerts) != 1 || !strings.Contains(alerts[0], "3 pushes in a row failed") || !strings.Contains(alerts[0], "1 backups are kept on this server only") || !strings.Contains(alerts[0], "no answer") {
		t.Errorf("alerts %q, want one after the third failure saying what and how many wait", alerts)
	}
	if len(recoveries) != 1 || !strings.Contains(recoveries[0], "after 4 failed attempts") {
		t.Errorf("recoveries %q, want one", recoveries)
	}
	if l := places(t, w, "acme"); len(l.Backups) != 1 || l.Backups[0].Copy == nil {
		t.Errorf("after the loop: %+v, want the backup offsite", l)
	}
}

// A backup's manifest, which travels offsite, says how the instance is
// served: what a new server needs beside the release and the data.
func TestManifestSaysHowTheInstanceIsServed(t *testing.T) {
	h := newHost()
	w := newWorld(t, h, nil)
	create(t, w, "acme", provision.SSLCloudflare)
	backupNow(t, w, "acme")
	list, err := w.s.Backups(context.Background(), "acme")
	if err != nil || len(list) != 1 {
		t.Fatalf("backups: %v, %v", list, err)
	}
	m := list[0].Manifest
	if m.Domain != "acme."+planLayout.Zone || m.SSLMode != provision.SSLCloudflare || strings.Join(m.Modules, ",") != "base,web" || m.Release == nil {
		t.Errorf("manifest %+v: want the domain, the mode, the modules and the release", m)
	}
}

// A rebuild where the lost server's DNS record holds the name is
// refused when it is asked for, before any job, naming the flag that
// takes the record over; nothing changes.
func TestRebuildRefusesTheLostServersRecordUnlessToldToTakeItOver(t *testing.T) {
	w := newWorld(t, newHost(), nil)
	create(t, w, "acme", provision.SSLHTTP)
	task, err := w.s.Backup(context.Background(), provision.JobRequest{Name: "acme", By: "test"})
	wait(t, task, err)
	task, err = w.s.Delete(context.Background(), provision.JobRequest{Name: "acme", By: "test"})
	wait(t, task, err)
	w.h.PlantRecord("acme.example.com", "198.51.100.99")
	before := w.h.Snapshot()
	list := mustBackups(t, w, "acme")
	_, err = w.s.Rebuild(context.Background(), provision.RebuildRequest{Name: "acme", Backup: list[len(list)-1].ID, By: "test"})
	if !errors.Is(err, provision.ErrNameTakenInDNS) || !strings.Contains(err.Error(), "recover acme --take-over-dns") || !strings.Contains(err.Error(), "198.51.100.99") {
		t.Fatalf("Rebuild = %v, want refused naming --take-over-dns and where the record points", err)
	}
	if diff := cmp.Diff(before, w.h.Snapshot()); diff != "" {
		t.Errorf("a refused rebuild changed the host (-before +after):\n%s", diff)
	}
}
