package provision_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/provision"
	"odoobot/provision/provisiontest"
)

// drillWorld is a process on a host with acme backed up, whose alerts
// are kept; tune changes its configuration last.
func drillWorld(t *testing.T, tune func(*provision.Config)) (*world, *[]string) {
	t.Helper()
	h := newHost()
	setup := newWorld(t, h, nil)
	create(t, setup, "acme", provision.SSLHTTP)
	h.WriteData("prod-acme", "twelve bytes")
	task, err := setup.s.Backup(context.Background(), provision.JobRequest{Name: "acme", By: "setup"})
	wait(t, task, err)
	setup.runner.Close()
	var mu sync.Mutex
	alerts := &[]string{}
	w := startWorld(t, h, nil, func(cfg *provision.Config) {
		cfg.Alert = func(_ context.Context, text string) {
			mu.Lock()
			defer mu.Unlock()
			*alerts = append(*alerts, text)
		}
		tune(cfg)
	})
	return w, alerts
}

// drill runs a drill of acme to its end.
func drill(t *testing.T, w *world) provision.Job {
	t.Helper()
	task, err := w.s.Drill(context.Background(), provision.JobRequest{Name: "acme", By: "test"})
	if err != nil {
		t.Fatalf("drill refused: %v", err)
	}
	job, _ := task.Wait(context.Background())
	w.runner.Close()
	return job
}

func TestDrillPassesAndIsRecorded(t *testing.T) {
	w, alerts := drillWorld(t, func(*provision.Config) {})
	before := state(w.h)
	job := drill(t, w)
	if job.State != provision.JobSucceeded {
		t.Fatalf("drill ended %s: %s", job.State, job.Error)
	}
	if diff := cmp.Diff(before, state(w.h)); diff != "" {
		t.Errorf("the drill left the host changed (-before +after):\n%s", diff)
	}
	if len(*alerts) != 0 {
		t.Errorf("a drill that passed alerted: %q", *alerts)
	}
	list := mustBackups(t, w, "acme")
	got, err := w.s.DrillOutcomes(context.Background(), "acme", 5)
	if err != nil || len(got) != 1 || !got[0].OK || got[0].Backup != list[0].ID {
		t.Fatalf("outcomes = %+v, %v; want one passed drill of %s", got, err, list[0].ID)
	}
	listing, err := w.s.BackupPlaces(context.Background(), "acme")
	if err != nil || len(listing.Backups) != 1 || listing.Backups[0].Drill == nil || !listing.Backups[0].Drill.OK {
		t.Errorf("backups = %+v, %v; want the backup restore-tested", listing, err)
	}
}

func TestDrillFailsOnATamperedCountAndAlerts(t *testing.T) {
	w, alerts := drillWorld(t, func(*provision.Config) {})
	list := mustBackups(t, w, "acme")
	if list[0].Counts == nil || list[0].Counts.Rows["res_partner"] != 12 {
		t.Fatalf("the backup records %+v, want res_partner 12", list[0].Counts)
	}
	tampered := *list[0].Counts
	tampered.Rows = map[string]int64{"res_partner": 13, "ir_module_module installed": tampered.Rows["ir_module_module installed"]}
	if !w.h.SetBackupCounts("prod-acme", list[0].ID, &tampered) {
		t.Fatal("no backup to tamper with")
	}
	before := state(w.h)
	job := drill(t, w)
	if job.State != provision.JobRolledBack || !strings.Contains(job.Error, "res_partner: 13 rows recorded, 12 restored") {
		t.Fatalf("drill ended %s: %s; want rolled back naming the count", job.State, job.Error)
	}
	if diff := cmp.Diff(before, state(w.h)); diff != "" {
		t.Errorf("the failed drill left the host changed (-before +after):\n%s", diff)
	}
	if len(*alerts) != 1 || !strings.Contains((*alerts)[0], "restore drill of prod-acme FAILED") || !strings.Contains((*alerts)[0], "res_partner: 13 rows recorded, 12 restored") {
		t.Errorf("alerts = %q, want one naming what failed", *alerts)
	}
	got, _ := w.s.DrillOutcomes(context.Background(), "acme", 5)
	if len(got) != 1 || got[0].OK || !strings.Contains(got[0].Failed, "res_partner") {
		t.Errorf("outcomes = %+v, want one failed drill saying what", got)
	}
}

func TestDrillOfAnOldBackupComparesWhatWasRecorded(t *testing.T) {
	w, _ := drillWorld(t, func(*provision.Config) {})
	list := mustBackups(t, w, "acme")
	w.h.SetBackupCounts("prod-acme", list[0].ID, nil)
	var said []string
	var mu sync.Mutex
	task, err := w.s.Drill(context.Background(), provision.JobRequest{Name: "acme", By: "test", Subscribe: []provision.Subscriber{func(e provision.Event) {
		mu.Lock()
		defer mu.Unlock()
		said = append(said, e.Step+": "+e.Message)
	}}})
	if err != nil {
		t.Fatal(err)
	}
	job, _ := task.Wait(context.Background())
	if job.State != provision.JobSucceeded {
		t.Fatalf("drill ended %s: %s", job.State, job.Error)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(strings.Join(said, "\n"), "compare: the backup records no counts") {
		t.Errorf("the thread does not say only what was recorded is compared:\n%s", strings.Join(said, "\n"))
	}
}

// smallHost has 1 GiB free and 100 MiB of memory available.
type smallHost struct{}

func (smallHost) HostFacts(string) (provision.HostFacts, error) {
	return provision.HostFacts{MemTotal: 4 << 30, MemAvailable: 100 << 20, DiskFree: 1 << 20}, nil
}

func TestDrillRefusedWithNumbersWhenRoomIsShort(t *testing.T) {
	w, alerts := drillWorld(t, func(cfg *provision.Config) { cfg.HostFacts = smallHost{} })
	before := state(w.h)
	job := drill(t, w)
	if job.State == provision.JobSucceeded || job.Failure.Step != "" && job.Failure.Step != provision.StepRoom {
		t.Fatalf("drill ended %s at %q", job.State, job.Failure.Step)
	}
	for _, want := range []string{"at step room", "disk: needs", "1.0 MiB free", "memory: needs 768.0 MiB", "100.0 MiB available", "nothing written"} {
		if !strings.Contains(job.Error+" "+strings.Join(*alerts, " "), want) {
			t.Errorf("the refusal does not say %q: %s / %q", want, job.Error, *alerts)
		}
	}
	if diff := cmp.Diff(before, state(w.h)); diff != "" {
		t.Errorf("the refused drill changed the host (-before +after):\n%s", diff)
	}
}

var _ provision.HostFactsReader = smallHost{}
var _ = provisiontest.HostFacts{}

// TestScheduledDrill: each round drills every ready instance whose last
// drill ended longer than Every ago, or that was never drilled; one
// that cannot be drilled (no backup) is alerted once, not at every
// round.
func TestScheduledDrill(t *testing.T) {
	w, alerts := drillWorld(t, func(*provision.Config) {})
	create(t, w, "nobackup", provision.SSLHTTP)
	tick := make(chan time.Time)
	waiting := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.s.RunDrills(ctx, provision.DrillLoop{Every: 24 * time.Hour, After: func(time.Duration) <-chan time.Time {
			waiting <- struct{}{}
			return tick
		}})
	}()
	defer func() { cancel(); <-done }()
	<-waiting // the loop waits for its first round
	round := func() {
		t.Helper()
		tick <- time.Time{}
		<-waiting // the round is over
	}
	drills := func() int {
		got, err := w.s.DrillOutcomes(context.Background(), "acme", 10)
		if err != nil {
			t.Fatal(err)
		}
		return len(got)
	}
	round()
	if n := drills(); n != 1 {
		t.Fatalf("after the first round acme was drilled %d times, want once", n)
	}
	round()
	if n := drills(); n != 1 {
		t.Errorf("a second round within Every drilled acme again: %d drills", n)
	}
	w.h.Advance(25 * time.Hour)
	round()
	if n := drills(); n != 2 {
		t.Errorf("a round after Every drilled acme %d times in all, want 2", n)
	}
	var refused int
	for _, a := range *alerts {
		if strings.Contains(a, "restore drill of prod-nobackup could not start") {
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("an instance without a backup was alerted %d times over three rounds, want once: %q", refused, *alerts)
	}
}

// TestScheduledDrillLeavesTheBackupAlone: no drill starts in the two
// hours before the daily backup, so that none holds an instance when
// its backup comes; after the backup's time, drills start again.
func TestScheduledDrillLeavesTheBackupAlone(t *testing.T) {
	w, _ := drillWorld(t, func(*provision.Config) {})
	tick := make(chan time.Time)
	waiting := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	backupAt := 13 * time.Hour // the host's clock reads 12:00 UTC
	go func() {
		defer close(done)
		w.s.RunDrills(ctx, provision.DrillLoop{Every: 24 * time.Hour, Backups: &backupAt, After: func(time.Duration) <-chan time.Time {
			waiting <- struct{}{}
			return tick
		}})
	}()
	defer func() { cancel(); <-done }()
	<-waiting
	round := func() { tick <- time.Time{}; <-waiting }
	drills := func() int {
		got, _ := w.s.DrillOutcomes(context.Background(), "acme", 10)
		return len(got)
	}
	round()
	if n := drills(); n != 0 {
		t.Errorf("a drill started an hour before the daily backup (%d)", n)
	}
	w.h.Advance(2 * time.Hour)
	round()
	if n := drills(); n != 1 {
		t.Errorf("after the daily backup's time, %d drills, want 1", n)
	}
}
