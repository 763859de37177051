package postgres_test

import (
	"testing"

	"odoobot/provision"
)

// TestLastSucceeded: per instance, the end of its newest backup job that
// succeeded; a failed, running or other kind of job does not count, and
// an instance with none is absent.
func TestLastSucceeded(t *testing.T) {
	s := openStore(t)
	ctx := testContext(t)
	job := func(kind provision.JobKind, inst string, end provision.JobState) provision.Job {
		t.Helper()
		j, err := s.CreateJob(ctx, provision.Job{Kind: kind, Instance: inst, State: provision.JobRunning})
		if err != nil {
			t.Fatal(err)
		}
		if end != provision.JobRunning {
			if err := s.FinishJob(ctx, j.ID, end, "", nil); err != nil {
				t.Fatal(err)
			}
		}
		j, err = s.Job(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	first := job(provision.JobBackup, "acme", provision.JobSucceeded)
	second := job(provision.JobBackup, "acme", provision.JobSucceeded)
	job(provision.JobBackup, "acme", provision.JobFailed)
	job(provision.JobBackup, "beta", provision.JobRolledBack)
	job(provision.JobCreate, "gamma", provision.JobSucceeded)
	job(provision.JobBackup, "delta", provision.JobRunning)
	got, err := s.LastSucceeded(ctx, provision.JobBackup)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got["acme"].Equal(second.FinishedAt) || got["acme"].Before(first.FinishedAt) {
		t.Errorf("LastSucceeded = %v; want acme at %s alone", got, second.FinishedAt)
	}
}
