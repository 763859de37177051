package commands

import (
	"context"
	"strings"
	"sync"
	"testing"

	"odoobot/provision"
	"odoobot/provision/tree"
)

// fakeDayTwo is a Creator with the day-two verbs that records what it
// was asked and ends every job at once with state.
type fakeDayTwo struct {
	countingCreator
	mu    sync.Mutex
	asked []string
	state provision.JobState
	list  []provision.BackupInfo
	// onRestore, when set, sees each restore's request.
	onRestore func(provision.JobRequest)
}

func (f *fakeDayTwo) job(kind provision.JobKind, req provision.JobRequest) (*provision.Task, error) {
	f.mu.Lock()
	f.asked = append(f.asked, string(kind)+" "+req.Name+" "+req.Backup)
	f.mu.Unlock()
	job := provision.Job{ID: 7, Kind: kind, Instance: req.Name, State: f.state}
	for _, s := range req.Subscribe {
		s(provision.Event{Step: "backup", Kind: provision.EventDone})
	}
	if job.State != provision.JobSucceeded {
		job.Error = "step nginx failed: boom"
	}
	req.Finished(job)
	return &provision.Task{Job: job}, nil
}

func (f *fakeDayTwo) Backup(_ context.Context, req provision.JobRequest) (*provision.Task, error) {
	return f.job(provision.JobBackup, req)
}
func (f *fakeDayTwo) Restore(_ context.Context, req provision.JobRequest) (*provision.Task, error) {
	if f.onRestore != nil {
		f.onRestore(req)
	}
	return f.job(provision.JobRestore, req)
}
func (f *fakeDayTwo) Delete(_ context.Context, req provision.JobRequest) (*provision.Task, error) {
	return f.job(provision.JobDelete, req)
}
func (f *fakeDayTwo) BackupPlaces(context.Context, string) (provision.BackupListing, error) {
	var l provision.BackupListing
	for _, b := range f.list {
		l.Backups = append(l.Backups, provision.ListedBackup{BackupInfo: b, Local: true})
	}
	return l, nil
}

// threadResponder records answers and its thread's lines.
type threadResponder struct {
	recordingResponder
	posts, finishes []string
}

func (r *threadResponder) Thread(_ context.Context, root string) (Thread, error) {
	return r, nil
}
func (r *threadResponder) Post(_ context.Context, s string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.posts = append(r.posts, s)
	return nil
}
func (r *threadResponder) StepLine(ctx context.Context, _ string, kind provision.EventKind, line string) error {
	return PostStepLine(ctx, r.Post, kind, line)
}
func (r *threadResponder) Finish(_ context.Context, root, summary string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finishes = append(r.finishes, root+"\n"+summary)
	return nil
}
func (r *threadResponder) Ref() map[string]string { return nil }

// TestDeleteAsksThenRunsInAThread: delete starts nothing until the
// requester confirms; then its progress and end go to a thread, a stopped
// delete saying how to finish it.
func TestDeleteAsksThenRunsInAThread(t *testing.T) {
	for _, state := range []provision.JobState{provision.JobSucceeded, provision.JobRolledBack} {
		d, _, _ := newTestDispatcher(t)
		f := &fakeDayTwo{state: state}
		d.DayTwo = f
		admin := Request{Identity: Identity{Platform: "slack", UserID: "U0ADMIN01", UserName: "ana"}, Channel: "C1", Text: "delete acme"}
		r := &threadResponder{}
		d.Handle(context.Background(), admin, r)
		if len(f.asked) != 0 || len(r.codes) != 1 {
			t.Fatalf("delete before confirmation: asked %v, codes %v", f.asked, r.codes)
		}
		admin.Text = "confirm " + r.codes[0]
		c := &threadResponder{}
		d.Handle(context.Background(), admin, c)
		if len(f.asked) != 1 || f.asked[0] != "delete acme " {
			t.Fatalf("after confirmation: asked %v", f.asked)
		}
		if len(c.posts) != 1 || !strings.Contains(c.posts[0], "✓ backup") || len(c.finishes) != 1 {
			t.Fatalf("thread: posts %q finishes %q", c.posts, c.finishes)
		}
		want := "deleted prod-acme"
		if state != provision.JobSucceeded {
			want = "run delete acme again"
		}
		if !strings.Contains(c.finishes[0], want) {
			t.Errorf("%s: the thread ended with %q, want %q", state, c.finishes[0], want)
		}
	}
}

// TestDayTwoVerbsUnavailableWithoutDayTwo: a Creator without the
// day-two verbs makes them answer privately that they are not there.
func TestDayTwoVerbsUnavailableWithoutDayTwo(t *testing.T) {
	d, _, _ := newTestDispatcher(t)
	for _, text := range []string{"delete acme", "backup acme", "backups acme", "restore acme 20261127T030000Z"} {
		r := &threadResponder{}
		d.Handle(context.Background(), Request{Identity: Identity{Platform: "slack", UserID: "U0ADMIN01"}, Channel: "C1", Text: text}, r)
		if len(r.privates) != 1 || !strings.Contains(r.privates[0], "not available") || len(r.codes) != 0 {
			t.Errorf("%s: privates %q codes %q", text, r.privates, r.codes)
		}
	}
}

// TestRestoreRefusesAnUnknownBackupBeforeAsking and lists the backups.
func TestRestoreRefusesAnUnknownBackupBeforeAsking(t *testing.T) {
	d, _, _ := newTestDispatcher(t)
	f := &fakeDayTwo{state: provision.JobSucceeded, list: []provision.BackupInfo{{
		Manifest: provision.Manifest{ID: "20261127T030000Z", Reason: "scheduled", Files: []provision.BackupFile{{Name: "database.dump", Size: 3 << 20}}},
		Intact:   true,
	}}}
	d.DayTwo = f
	admin := Identity{Platform: "slack", UserID: "U0ADMIN01"}
	r := &threadResponder{}
	d.Handle(context.Background(), Request{Identity: admin, Channel: "C1", Text: "restore acme 20260101T000000Z"}, r)
	if len(r.privates) != 1 || !strings.Contains(r.privates[0], "no backup") || len(r.codes) != 0 {
		t.Errorf("unknown backup: privates %q codes %q", r.privates, r.codes)
	}
	r = &threadResponder{}
	d.Handle(context.Background(), Request{Identity: admin, Channel: "C1", Text: "restore acme 20261127T030000Z"}, r)
	if len(r.codes) != 1 || len(f.asked) != 0 {
		t.Errorf("known backup: codes %q, asked %v; want a confirmation first", r.codes, f.asked)
	}
	r = &threadResponder{}
	d.Handle(context.Background(), Request{Identity: admin, Channel: "C1", Text: "backups acme"}, r)
	if len(r.replies) != 1 || !strings.Contains(r.replies[0], "20261127T030000Z") || !strings.Contains(r.replies[0], "3.0 MiB") || !strings.Contains(r.replies[0], "intact") {
		t.Errorf("backups answered %q", r.replies)
	}
}

// TestRestoreOfAnUnknownInstanceSaysSo: restore names an instance that
// does not exist; the answer says that, not that it has no such backup.
func TestRestoreOfAnUnknownInstanceSaysSo(t *testing.T) {
	d, _, _ := newTestDispatcher(t)
	f := &fakeDayTwo{state: provision.JobSucceeded}
	d.DayTwo = f
	layout := provision.Layout{Zone: "example.com"}
	d.Operator = &provision.Operator{Files: tree.New(layout), Store: instancesOf{layout.NewInstance("acme", provision.SSLHTTP)}, Layout: layout}
	r := &threadResponder{}
	d.Handle(context.Background(), Request{Identity: Identity{Platform: "slack", UserID: "U0ADMIN01"}, Channel: "C1", Text: "restore nosuch 20261127T030000Z"}, r)
	if want := `no instance named "nosuch"; see list`; len(r.privates) != 1 || r.privates[0] != want || len(r.codes) != 0 {
		t.Errorf("restore nosuch: privates %q codes %q, want %q and no confirmation", r.privates, r.codes, want)
	}
	r = &threadResponder{}
	d.Handle(context.Background(), Request{Identity: Identity{Platform: "slack", UserID: "U0ADMIN01"}, Channel: "C1", Text: "restore acme 20261127T030000Z"}, r)
	if len(r.privates) != 1 || !strings.Contains(r.privates[0], "has no backup") {
		t.Errorf("restore acme with an unknown backup: privates %q", r.privates)
	}
}

// TestADeleteNamesOnlyAFinalBackupAsItsOwn: a delete that took no final
// backup (its database was already gone) does not present the newest
// backup it finds, a scheduled one, as its final backup.
func TestADeleteNamesOnlyAFinalBackupAsItsOwn(t *testing.T) {
	d, _, _ := newTestDispatcher(t)
	f := &fakeDayTwo{state: provision.JobSucceeded, list: []provision.BackupInfo{{
		Manifest: provision.Manifest{ID: "20261127T030000Z", Reason: provision.ReasonScheduled}, Dir: "/var/backups/prod-acme/20261127T030000Z", Intact: true,
	}}}
	d.DayTwo = f
	admin := Request{Identity: Identity{Platform: "slack", UserID: "U0ADMIN01", UserName: "ana"}, Channel: "C1", Text: "delete acme"}
	r := &threadResponder{}
	d.Handle(context.Background(), admin, r)
	admin.Text = "confirm " + r.codes[0]
	c := &threadResponder{}
	d.Handle(context.Background(), admin, c)
	if len(c.finishes) != 1 {
		t.Fatalf("finishes %q", c.finishes)
	}
	if got := c.finishes[0]; strings.Contains(got, "final backup 20261127T030000Z") || !strings.Contains(got, "no final backup was taken") {
		t.Errorf("the delete ended with %q, want it to say that no final backup was taken", got)
	}
}
