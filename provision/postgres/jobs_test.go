package postgres_test

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"odoobot/internal/testenv"
	"odoobot/provision"
	"odoobot/provision/postgres"
)

func TestJobLifecycle(t *testing.T) {
	s := openStore(t)
	ctx := testContext(t)
	before := time.Now().Add(-time.Minute)

	j, err := s.CreateJob(ctx, provision.Job{
		Kind: provision.JobCreate, Instance: "acme", RequestedBy: "@ana",
		Params: map[string]string{"ssl": "cloudflare"},
	})
	if err != nil {
		t.Fatalf("CreateJob: %v", err)
	}
	if j.ID == 0 || j.State != provision.JobQueued || j.CreatedAt.Before(before) || !j.StartedAt.IsZero() {
		t.Errorf("created job = %+v, want an id, state queued, created now, not started", j)
	}
	if err := s.SetChatRef(ctx, j.ID, map[string]string{"channel": "C1", "ts": "1700000000.0001"}); err != nil {
		t.Fatalf("SetChatRef: %v", err)
	}
	if err := s.StartJob(ctx, j.ID); err != nil {
		t.Fatalf("StartJob: %v", err)
	}
	if err := s.StartJob(ctx, j.ID); !errors.Is(err, provision.ErrJobStarted) {
		t.Errorf("StartJob on a running job: err = %v, want ErrJobStarted", err)
	}

	events := []provision.Event{
		{JobID: j.ID, Step: "database", Kind: provision.EventStart},
		{JobID: j.ID, Step: "database", Kind: provision.EventDone, Duration: 2300 * time.Millisecond},
		{JobID: j.ID, Step: "nginx", Kind: provision.EventStart},
		{JobID: j.ID, Step: "nginx", Kind: provision.EventFailed, Message: "nginx -t failed", Duration: 150 * time.Millisecond},
		{JobID: j.ID, Step: "database", Kind: provision.EventUndo},
		{JobID: j.ID, Step: "database", Kind: provision.EventUndone, Duration: time.Second},
		{JobID: j.ID, Step: "", Kind: provision.EventInfo, Message: "rolled back"},
	}
	for _, e := range events {
		if err := s.AppendEvent(ctx, e); err != nil {
			t.Fatalf("AppendEvent(%+v): %v", e, err)
		}
	}
	if err := s.FinishJob(ctx, j.ID, provision.JobRolledBack, "nginx: nginx -t failed", []string{"database"}); err != nil {
		t.Fatalf("FinishJob: %v", err)
	}
	if err := s.FinishJob(ctx, j.ID, provision.JobSucceeded, "", nil); !errors.Is(err, provision.ErrJobEnded) {
		t.Errorf("FinishJob on a finished job: err = %v, want ErrJobEnded", err)
	}
	if err := s.StartJob(ctx, j.ID); !errors.Is(err, provision.ErrJobEnded) {
		t.Errorf("StartJob on a finished job: err = %v, want ErrJobEnded", err)
	}

	got, err := s.Job(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := provision.Job{
		ID: j.ID, Kind: provision.JobCreate, Instance: "acme", State: provision.JobRolledBack,
		RequestedBy: "@ana", Params: map[string]string{"ssl": "cloudflare"},
		Error: "nginx: nginx -t failed", Undone: []string{"database"},
		ChatRef:   map[string]string{"channel": "C1", "ts": "1700000000.0001"},
		CreatedAt: j.CreatedAt,
	}
	if diff := cmp.Diff(got, want, cmpopts.IgnoreFields(provision.Job{}, "StartedAt", "FinishedAt")); diff != "" {
		t.Errorf("Job (-got +want):\n%s", diff)
	}
	if got.StartedAt.Before(got.CreatedAt) || got.FinishedAt.Before(got.StartedAt) {
		t.Errorf("times out of order: created %v, started %v, finished %v", got.CreatedAt, got.StartedAt, got.FinishedAt)
	}

	gotEvents, err := s.Events(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i := range gotEvents {
		if gotEvents[i].At.Before(before) {
			t.Errorf("event %d: At = %v, want stamped now", i, gotEvents[i].At)
		}
		if i > 0 && gotEvents[i].At.Before(gotEvents[i-1].At) {
			t.Errorf("event %d stamped before event %d", i, i-1)
		}
	}
	if diff := cmp.Diff(gotEvents, events, cmpopts.IgnoreFields(provision.Event{}, "At")); diff != "" {
		t.Errorf("Events (-got +want):\n%s", diff)
	}

	if err := s.AppendEvent(ctx, provision.Event{JobID: 999999, Kind: provision.EventInfo}); !errors.Is(err, provision.ErrJobNotFound) {
		t.Errorf("AppendEvent to an unknown job: err = %v, want ErrJobNotFound", err)
	}
	if _, err := s.Job(ctx, 999999); !errors.Is(err, provision.ErrJobNotFound) {
		t.Errorf("Job(unknown): err = %v, want ErrJobNotFound", err)
	}
	if err := s.StartJob(ctx, 999999); !errors.Is(err, provision.ErrJobNotFound) {
		t.Errorf("StartJob(unknown): err = %v, want ErrJobNotFound", err)
	}
}

func TestInstanceBusy(t *testing.T) {
	s := openStore(t)
	ctx := testContext(t)
	first, err := s.CreateJob(ctx, provision.Job{Kind: provision.JobCreate, Instance: "acme", State: provision.JobRunning})
	if err != nil {
		t.Fatal(err)
	}
	if first.StartedAt.IsZero() {
		t.Error("a job created running has no start time")
	}
	_, err = s.CreateJob(ctx, provision.Job{Kind: provision.JobDelete, Instance: "acme"})
	if !errors.Is(err, provision.ErrInstanceBusy) {
		t.Fatalf("second job on acme: err = %v, want ErrInstanceBusy", err)
	}
	// Another instance is not blocked.
	if _, err := s.CreateJob(ctx, provision.Job{Kind: provision.JobBackup, Instance: "beta"}); err != nil {
		t.Errorf("job on beta: %v", err)
	}
	active, ok, err := s.ActiveJob(ctx, "acme")
	if err != nil || !ok || active.ID != first.ID {
		t.Errorf("ActiveJob(acme) = #%d, %v, %v; want #%d, true, nil", active.ID, ok, err, first.ID)
	}
	if err := s.FinishJob(ctx, first.ID, provision.JobSucceeded, "", nil); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.ActiveJob(ctx, "acme"); err != nil || ok {
		t.Errorf("ActiveJob(acme) after finish: ok = %v, err = %v; want false, nil", ok, err)
	}
	// A finished job frees the instance.
	if _, err := s.CreateJob(ctx, provision.Job{Kind: provision.JobDelete, Instance: "acme"}); err != nil {
		t.Errorf("job on acme after the first finished: %v", err)
	}
	if _, err := s.CreateJob(ctx, provision.Job{Kind: provision.JobDelete, Instance: "x", State: provision.JobSucceeded}); err == nil {
		t.Error("CreateJob in a terminal state succeeded")
	}
}

func TestOpenJobs(t *testing.T) {
	s := openStore(t)
	ctx := testContext(t)
	create := func(inst string, st provision.JobState) provision.Job {
		t.Helper()
		j, err := s.CreateJob(ctx, provision.Job{Kind: provision.JobCreate, Instance: inst, State: st})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	queued := create("a", provision.JobQueued)
	running := create("b", provision.JobRunning)
	done := create("c", provision.JobRunning)
	if err := s.FinishJob(ctx, done.ID, provision.JobFailed, "undo of dns failed", nil); err != nil {
		t.Fatal(err)
	}
	open, err := s.OpenJobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, j := range open {
		ids = append(ids, j.ID)
	}
	if diff := cmp.Diff(ids, []int64{queued.ID, running.ID}); diff != "" {
		t.Errorf("OpenJobs ids (-got +want):\n%s", diff)
	}
	// Recovery marks them interrupted; then nothing is open.
	for _, j := range open {
		if err := s.FinishJob(ctx, j.ID, provision.JobInterrupted, "odoobot restarted", nil); err != nil {
			t.Fatal(err)
		}
	}
	if open, err := s.OpenJobs(ctx); err != nil || len(open) != 0 {
		t.Errorf("OpenJobs after recovery = %v, %v; want none", open, err)
	}
}

func TestAuditRoundTrip(t *testing.T) {
	s := openStore(t)
	ctx := testContext(t)
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	entries := []provision.AuditEntry{
		{At: t0, Platform: "slack", UserID: "U1", UserName: "ana", Channel: "C1", Command: "/odoo create acme", Decision: provision.DecisionAllowed, Outcome: "job 1 queued", Duration: 12 * time.Millisecond},
		{At: t0.Add(time.Second), Platform: "slack", UserID: "U2", UserName: "bob", Channel: "C1", Command: "/odoo delete acme", Decision: provision.DecisionDenied, Outcome: "role viewer"},
		{At: t0.Add(2 * time.Second), Platform: "cli", UserID: "root", UserName: "root", Command: "odoobot create ACME", Decision: provision.DecisionInvalid, Outcome: "rule format"},
	}
	for _, e := range entries {
		if err := s.RecordAudit(ctx, e); err != nil {
			t.Fatalf("RecordAudit: %v", err)
		}
	}
	got, err := s.Audit(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, []provision.AuditEntry{entries[2], entries[1]}); diff != "" {
		t.Errorf("Audit(2) (-got +want):\n%s", diff)
	}
	all, err := s.Audit(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Errorf("Audit(0) returned %d entries, want 3", len(all))
	}
	if err := s.RecordAudit(ctx, provision.AuditEntry{Decision: "maybe"}); err == nil {
		t.Error("RecordAudit with an unknown decision succeeded")
	}
}

// TestOrphanedJobsAreThoseOfStoppedProcesses: an open job of a live
// process is never handed out for recovery; once that process's store is
// closed (the process died), it is.
func TestOrphanedJobsAreThoseOfStoppedProcesses(t *testing.T) {
	dsn := testenv.NewDatabase(t)
	ctx := testContext(t)
	open := func() *postgres.Store {
		s, err := postgres.Open(ctx, dsn, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	running, other := open(), open()
	defer other.Close()
	j, err := running.CreateJob(ctx, provision.Job{Kind: provision.JobCreate, Instance: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*postgres.Store{running, other} {
		if got, err := s.OrphanedJobs(ctx); err != nil || len(got) != 0 {
			t.Fatalf("orphans while the owner lives: %+v, %v", got, err)
		}
	}
	running.Close()
	got, err := other.OrphanedJobs(ctx)
	if err != nil || len(got) != 1 || got[0].ID != j.ID {
		t.Fatalf("orphans after the owner stopped: %+v, %v; want job %d", got, err, j.ID)
	}
}
