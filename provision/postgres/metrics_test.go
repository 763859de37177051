package postgres_test

import (
	"testing"
	"time"

	"odoobot/provision"
	"odoobot/provision/postgres"
)

func i64(v int64) *int64 { return &v }

// TestSamplesArePrunedAndBounded: a round deletes what is older than
// Keep, and no instance keeps more than MaxPerInst rows however fast
// it is sampled; an unknown figure comes back unknown, not 0.
func TestSamplesArePrunedAndBounded(t *testing.T) {
	s := openStore(t)
	ctx := testContext(t)
	lim := postgres.SampleLimits{Keep: 7 * 24 * time.Hour, MaxPerHost: 5, MaxPerInst: 5}
	now := time.Now().UTC().Truncate(time.Second)
	old := now.Add(-8 * 24 * time.Hour)
	if err := s.AddSamples(ctx, old, &provision.HostSample{At: old, MemTotal: 8 << 30, MemUsed: 1 << 30, DiskTotal: 100 << 30, DiskFree: 50 << 30},
		[]provision.Sample{{Instance: "gone", At: old, MemoryBytes: i64(1)}}, lim); err != nil {
		t.Fatal(err)
	}
	resp := 42 * time.Millisecond
	for i := 9; i >= 0; i-- {
		at := now.Add(-time.Duration(i) * time.Minute)
		smp := provision.Sample{Instance: "acme", At: at, MemoryBytes: i64(int64(100 + i)), Response: &resp}
		if i == 0 {
			smp = provision.Sample{Instance: "acme", At: at} // nothing could be read
		}
		if err := s.AddSamples(ctx, at, &provision.HostSample{At: at, MemTotal: 8 << 30, MemUsed: 2 << 30, DiskTotal: 100 << 30, DiskFree: 40 << 30},
			[]provision.Sample{smp}, lim); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Samples(ctx, "acme", now.Add(-time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Fatalf("acme keeps %d samples, want the newest 5 (MaxPerInst)", len(got))
	}
	if !got[0].At.Equal(now.Add(-4*time.Minute)) || *got[0].MemoryBytes != 104 || got[0].Response == nil || *got[0].Response != resp {
		t.Errorf("oldest kept sample: %+v, want the one of 4 minutes ago, 104 bytes, 42ms", got[0])
	}
	if last := got[4]; last.MemoryBytes != nil || last.CPUNanos != nil || last.Response != nil {
		t.Errorf("a sample whose figures could not be read came back as %+v, want them all missing (nil)", last)
	}
	if gone, err := s.Samples(ctx, "gone", old.Add(-time.Hour), 100); err != nil || len(gone) != 0 {
		t.Errorf("samples older than 7 days: %d left (err %v), want none", len(gone), err)
	}
	host, err := s.HostSamples(ctx, old.Add(-time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(host) != 5 || host[4].DiskFree != 40<<30 || host[4].MemTotal != 8<<30 {
		t.Errorf("host samples: %d kept, last %+v; want the newest 5", len(host), host[len(host)-1])
	}
	mem, err := s.MemoryByInstance(ctx, now.Add(-time.Hour), time.Hour, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(mem) == 0 || mem[0].Instance != "acme" {
		t.Errorf("memory by instance: %+v, want acme's buckets", mem)
	}
}

// TestMarkersComeFromJobsAndAudit: a succeeded backup is a backup
// marker, an upgrade a deploy, an audited restart of the instance a
// restart; failed jobs, other instances' restarts and refused restarts
// are none.
func TestMarkersComeFromJobsAndAudit(t *testing.T) {
	s := openStore(t)
	ctx := testContext(t)
	since := time.Now().Add(-time.Hour)
	job := func(kind provision.JobKind, inst string, state provision.JobState) {
		t.Helper()
		j, err := s.CreateJob(ctx, provision.Job{Kind: kind, Instance: inst, State: provision.JobRunning})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.FinishJob(ctx, j.ID, state, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	job(provision.JobBackup, "acme", provision.JobSucceeded)
	job(provision.JobUpgrade, "acme", provision.JobSucceeded)
	job(provision.JobBackup, "acme", provision.JobRolledBack)
	job(provision.JobBackup, "beta", provision.JobSucceeded)
	audit := func(command, decision, outcome string) {
		t.Helper()
		if err := s.RecordAudit(ctx, provision.AuditEntry{Command: command, Decision: decision, Outcome: outcome}); err != nil {
			t.Fatal(err)
		}
	}
	audit("restart acme", provision.DecisionAllowed, "ok")
	audit("/odoo restart acme", provision.DecisionAllowed, "ok")
	audit("restart acme-two", provision.DecisionAllowed, "ok")
	audit("restart acme", provision.DecisionDenied, "refused: not allowed")
	audit("restart acme", provision.DecisionAllowed, "failed: unit failed")
	got, err := s.Markers(ctx, "acme", since)
	if err != nil {
		t.Fatal(err)
	}
	count := map[provision.MarkerKind]int{}
	for _, m := range got {
		count[m.Kind]++
	}
	want := map[provision.MarkerKind]int{provision.MarkBackup: 1, provision.MarkDeploy: 1, provision.MarkRestart: 2}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("%s markers: %d, want %d (all: %+v)", k, count[k], n, got)
		}
	}
}
