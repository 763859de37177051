package provision_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"odoobot/provision"
)

// TestDeleteOfAnInstanceWhoseDatabaseIsGone: when the database was
// dropped behind odoobot's back, the delete says that no final backup
// was taken (not a ✓ backup), removes the rest, and is recorded as what
// it did: succeeded, the instance gone.
func TestDeleteOfAnInstanceWhoseDatabaseIsGone(t *testing.T) {
	h := newHost()
	w := newWorld(t, h, nil)
	create(t, w, "acme", provision.SSLHTTP)
	if err := h.Databases().Drop(context.Background(), "prod-acme"); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	task, err := w.s.Delete(context.Background(), provision.JobRequest{Name: "acme", By: "test",
		Subscribe: []provision.Subscriber{func(e provision.Event) {
			mu.Lock()
			lines = append(lines, provision.FormatEvent(e))
			mu.Unlock()
		}}})
	if err != nil {
		t.Fatal(err)
	}
	job, err := task.Wait(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	all := strings.Join(lines, "\n")
	mu.Unlock()
	t.Logf("job %s %q undone %v\n%s", job.State, job.Error, job.Undone, all)
	if job.State != provision.JobSucceeded {
		t.Errorf("job %s (%s), want succeeded: the instance is gone", job.State, job.Error)
	}
	for _, l := range lines {
		if strings.Contains(l, "✓ "+string(provision.StepFinalCopy)) {
			t.Errorf("the thread shows %q: no backup was taken", l)
		}
	}
	if !strings.Contains(all, "no final backup") {
		t.Errorf("the thread does not say that no final backup was taken:\n%s", all)
	}
	if _, err := h.Store().Instance(context.Background(), "acme"); err == nil {
		t.Error("acme is still known after its delete")
	}
}

// TestARolledBackDeleteOfAnInstanceWhoseDatabaseIsGone: when such a
// delete fails before its commit step, the record lists what was undone
// (the stop), never a backup that was not taken, and the instance is
// back as it was.
func TestARolledBackDeleteOfAnInstanceWhoseDatabaseIsGone(t *testing.T) {
	h := newHost()
	w := newWorld(t, h, faultAt(point{provision.StepStop, true}, provision.FailStep))
	create(t, w, "acme", provision.SSLHTTP)
	if err := h.Databases().Drop(context.Background(), "prod-acme"); err != nil {
		t.Fatal(err)
	}
	before := h.Snapshot()
	task, err := w.s.Delete(context.Background(), provision.JobRequest{Name: "acme", By: "test"})
	if err != nil {
		t.Fatal(err)
	}
	job, _ := task.Wait(context.Background())
	if job.State != provision.JobRolledBack {
		t.Fatalf("job %s (%s), want rolled back", job.State, job.Error)
	}
	if slices.Contains(job.Undone, string(provision.StepFinalCopy)) || strings.Contains(job.Error, "backup]") {
		t.Errorf("the record says a backup was rolled back, though none was taken: %q, undone %v", job.Error, job.Undone)
	}
	if diff := cmp.Diff(h.Snapshot(), before); diff != "" {
		t.Errorf("the host after the rollback (-got +want):\n%s", diff)
	}
}
