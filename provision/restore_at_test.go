package provision_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"odoobot/provision"
)

// atWorld has acme with a backup, then partner A written, then a minute
// later partner B; it returns a time between the two.
func atWorld(t *testing.T) (*world, time.Time) {
	t.Helper()
	w := newWorld(t, newHost(), nil)
	create(t, w, "acme", provision.SSLCloudflare)
	w.h.WriteData("prod-acme", "before the backup")
	task, err := w.s.Backup(context.Background(), provision.JobRequest{Name: "acme", By: "setup"})
	wait(t, task, err)
	w.h.Advance(time.Hour)
	w.h.WriteData("prod-acme", "partner A")
	w.h.Advance(30 * time.Second)
	between := w.h.Now()
	w.h.Advance(30 * time.Second)
	w.h.WriteData("prod-acme", "partner B")
	return w, between
}

// A restore to a time between two writes has the first, not the second,
// and says which time it reached and whose filestore it took.
func TestRestoreAtLandsBetweenTwoWrites(t *testing.T) {
	w, between := atWorld(t)
	backups, _ := w.s.Backups(context.Background(), "acme")
	task, err := w.s.Restore(context.Background(), provision.JobRequest{Name: "acme", At: between, By: "test"})
	if err != nil {
		t.Fatal(err)
	}
	job, _ := task.Wait(context.Background())
	if job.State != provision.JobSucceeded {
		t.Fatalf("job %s: %s", job.State, job.Error)
	}
	db, _ := w.h.Database("prod-acme")
	if db.Data != "partner A" {
		t.Errorf("restored data %q, want partner A", db.Data)
	}
	sum := task.Summary()
	if !strings.Contains(sum, "last transaction replayed was committed at") || !strings.Contains(sum, backups[len(backups)-1].ID) {
		t.Errorf("summary %q: want the time reached and the filestore's backup", sum)
	}
	if strings.Contains(w.h.Snapshot(), "pitr scratch") {
		t.Errorf("scratch left after the restore")
	}
}

// A time in the future, or before the first backup the filestore can
// come from, is refused at once and changes nothing.
func TestRestoreAtRefusals(t *testing.T) {
	w, _ := atWorld(t)
	before := state(w.h)
	for _, c := range []struct {
		name string
		at   time.Time
		want string
	}{
		{"future", w.h.Now().Add(time.Hour), "is in the future"},
		{"before any backup", w.h.Now().Add(-48 * time.Hour), "no backup kept here taken at or before"},
	} {
		_, err := w.s.Restore(context.Background(), provision.JobRequest{Name: "acme", At: c.at, By: "test"})
		if !errors.Is(err, provision.ErrPointInTime) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want a refusal saying %q", c.name, err, c.want)
		}
	}
	// Before the archive's first base backup: refused, naming the
	// earliest time it can reach.
	w.h.SetArchiveStart(w.h.Now().Add(-time.Minute))
	_, err := w.s.Restore(context.Background(), provision.JobRequest{Name: "acme", At: w.h.Now().Add(-2 * time.Minute), By: "test"})
	if !errors.Is(err, provision.ErrPointInTime) || !strings.Contains(err.Error(), "before the archive's first base backup: the earliest time it can restore is") {
		t.Errorf("before the archive: err = %v", err)
	}
	if after := state(w.h); after != before {
		t.Errorf("a refusal changed the host")
	}
}

// capacity says whether the cluster archives and how far behind.
func TestCapacitySaysHowFarTheArchiveIsBehind(t *testing.T) {
	w := newWorld(t, newHost(), nil)
	rep, err := w.s.Capacity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rep.Archive, "on (archive_timeout 1min)") {
		t.Errorf("capacity's archive line: %q", rep.Archive)
	}
}

// The archive's one line says when the last segment went, how long ago,
// and a failure since.
func TestArchiveStatusSummary(t *testing.T) {
	now := time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC)
	st := provision.ArchiveStatus{On: true, Timeout: "1min", LastWAL: "0000000100000000000000A1", LastArchived: now.Add(-42 * time.Second),
		Backups: 2, Earliest: now.Add(-8 * 24 * time.Hour), NewestBackup: now.Add(-11 * time.Hour), Repository: "ok"}
	got := st.Summary(now)
	for _, want := range []string{"on (archive_timeout 1min)", "last WAL archived 2026-12-07 13:59:18 UTC (42s ago)", "2 base backups", "restorable from 2026-11-29 14:00:00 UTC"} {
		if !strings.Contains(got, want) {
			t.Errorf("summary %q lacks %q", got, want)
		}
	}
	st.FailedWAL, st.LastFailed = "0000000100000000000000A2", now.Add(-10*time.Second)
	if got := st.Summary(now); !strings.Contains(got, "FAILING since 2026-12-07 13:59:50 UTC (segment 0000000100000000000000A2)") {
		t.Errorf("a failing archive: %q", got)
	}
	if got := (provision.ArchiveStatus{}).Summary(now); !strings.Contains(got, "off") || !strings.Contains(got, "odoobot setup") {
		t.Errorf("off: %q", got)
	}
}
