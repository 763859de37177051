package commands

import (
	"context"
	"strings"
	"sync"
	"testing"

	"odoobot/provision"
)

// summarizingCreator creates at once, its task carrying the instance and
// the summary its summary step wrote, as provision's does.
type summarizingCreator struct{}

func (summarizingCreator) Create(_ context.Context, req provision.CreateRequest) (*provision.Task, error) {
	job := provision.Job{ID: 5, Kind: provision.JobCreate, Instance: req.Name, State: provision.JobSucceeded}
	t := &provision.Task{Job: job, Instance: provision.Instance{Name: req.Name, Domain: req.Name + ".example.com"}}
	t.SetSummary("name: " + req.Name + "\nurl: http://" + req.Name + ".example.com")
	req.Finished(job)
	return t, nil
}

// TestTheSummaryComesWithTheTask: a creation's thread ends with the
// summary its task carries; the dispatcher asks nothing else for it (it
// has no Operator and no Summary here).
func TestTheSummaryComesWithTheTask(t *testing.T) {
	d, _, _ := newTestDispatcher(t)
	d.Creator = summarizingCreator{}
	r := &threadResponder{}
	if _, err := d.Handle(context.Background(), Request{Identity: ana, Channel: "C1", Text: "create acme http"}, r); err != nil {
		t.Fatal(err)
	}
	if len(r.finishes) != 1 || !strings.Contains(r.finishes[0], "✅ created prod-acme") || !strings.HasSuffix(r.finishes[0], "\nname: acme\nurl: http://acme.example.com") {
		t.Errorf("the thread ended with %q", r.finishes)
	}
}

// fakeUpgrader resolves every target to the next of its commits, as a
// branch's head that moves between two looks would.
type fakeUpgrader struct {
	mu       sync.Mutex
	commits  []string
	resolved int
	asked    []provision.UpgradeRequest
}

func (f *fakeUpgrader) UpgradeTarget(_ context.Context, name, target string) (provision.Instance, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.commits[f.resolved]
	f.resolved++
	inst := provision.Instance{Name: name, Internal: provision.InternalName(name)}
	inst.Release.Commit = strings.Repeat("a", 40)
	return inst, c, nil
}

func (f *fakeUpgrader) Upgrade(_ context.Context, req provision.UpgradeRequest) (*provision.Task, error) {
	f.mu.Lock()
	f.asked = append(f.asked, req)
	f.mu.Unlock()
	job := provision.Job{ID: 8, Kind: provision.JobUpgrade, Instance: req.Name, State: provision.JobSucceeded}
	req.Finished(job)
	return &provision.Task{Job: job}, nil
}

// TestUpgradeGoesToTheConfirmedCommit: the target is resolved once, for
// the confirmation; the upgrade is asked for the commit the requester
// confirmed, with the target as typed.
func TestUpgradeGoesToTheConfirmedCommit(t *testing.T) {
	d, _, _ := newTestDispatcher(t)
	first, moved := strings.Repeat("b", 40), strings.Repeat("c", 40)
	f := &fakeUpgrader{commits: []string{first, moved}}
	d.Upgrader = f
	req := Request{Identity: ana, Channel: "C1", Text: "upgrade acme latest"}
	r := &threadResponder{}
	d.Handle(context.Background(), req, r)
	if len(r.codes) != 1 || len(f.asked) != 0 {
		t.Fatalf("before confirmation: codes %q, upgrades asked %+v", r.codes, f.asked)
	}
	req.Text = "confirm " + r.codes[0]
	c := &threadResponder{}
	d.Handle(context.Background(), req, c)
	if len(f.asked) != 1 || f.asked[0].Commit != first || f.asked[0].Target != "latest" {
		t.Fatalf("upgrade asked %+v, want commit %s, target latest", f.asked, first)
	}
	if f.resolved != 1 {
		t.Errorf("the target was resolved %d times, want once", f.resolved)
	}
	if len(c.finishes) != 1 || !strings.Contains(c.finishes[0], "upgraded from aaaaaaaaaaaa to "+first[:12]) {
		t.Errorf("the thread ended with %q", c.finishes)
	}
}
