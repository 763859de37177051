package commands

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"odoobot/internal/testenv"
	"odoobot/provision/postgres"
)

// settled records the edits of request messages (ApprovalMessages).
type settled struct {
	mu    sync.Mutex
	edits []string // "CHANNEL REF: TEXT"
}

func (s *settled) SettleApproval(_ context.Context, channel, ref, text string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.edits = append(s.edits, channel+" "+ref+": "+text)
	return nil
}

func (s *settled) all() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.edits, "\n")
}

// askPosted has id send text in C1 through an approvalResponder whose
// messages can be edited, and returns the request's code.
func askPosted(t *testing.T, d *Dispatcher, id Identity, text string) string {
	t.Helper()
	r := &approvalResponder{editable: true}
	d.Handle(t.Context(), Request{Identity: id, Channel: "C1", Text: text}, r)
	if len(r.requests) != 1 {
		t.Fatalf("%s: %d requests for approval posted, want 1; privately %q", text, len(r.requests), r.privates)
	}
	return r.requests[0]
}

// restartedDispatcher is a new dispatcher (a restarted serve) on the
// same state database, having resumed the kept requests.
func restartedDispatcher(t *testing.T, store ApprovalStore, now func() time.Time) (*Dispatcher, *fakeDayTwo, *lockedAudit, *settled, int) {
	t.Helper()
	d, dt, _, audit := newApprovalDispatcher(t, true)
	msgs := &settled{}
	d.Approvals, d.ApprovalMessages, d.Now = store, map[string]ApprovalMessages{PlatformSlack: msgs}, now
	n, err := d.ResumeApprovals(t.Context())
	if err != nil {
		t.Fatalf("ResumeApprovals: %v", err)
	}
	return d, dt, audit, msgs, n
}

func openApprovalStore(t *testing.T) *postgres.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	store, err := postgres.Open(ctx, testenv.NewDatabase(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("open the store: %v", err)
	}
	t.Cleanup(store.Close)
	return store
}

// TestApprovalSurvivesARestart: against PostgreSQL, a delete waiting for
// approval is kept; after a restart (a new dispatcher on the same
// database) the requester still cannot approve it, another admin's
// approval runs the delete as typed, the request's message says who
// approved it without its buttons, and the request is no longer kept.
// What is kept holds the command as typed and nothing of the
// responder.
func TestApprovalSurvivesARestart(t *testing.T) {
	store := openApprovalStore(t)
	before, dt0, _, _ := newApprovalDispatcher(t, true)
	before.Approvals = store
	code := askPosted(t, before, admA, "delete acme")
	kept, err := store.Approvals(t.Context())
	if err != nil || len(kept) != 1 {
		t.Fatalf("kept requests after the ask: %d, %v; want 1", len(kept), err)
	}
	var rec keptApproval
	if err := json.Unmarshal(kept[code], &rec); err != nil || rec.Command != "delete acme" || rec.Ref != "msg-"+code || rec.UserID != admA.UserID || rec.Channel != "C1" {
		t.Errorf("the kept request %s (%v) does not hold the command, its message, its requester and channel", kept[code], err)
	}

	d, dt, audit, msgs, n := restartedDispatcher(t, store, nil)
	if n != 1 {
		t.Fatalf("ResumeApprovals took up %d requests, want 1", n)
	}
	own := as(d, admA, "approve "+code)
	if len(own.privates) != 1 || !strings.Contains(own.privates[0], "a second admin must approve it, not you") {
		t.Errorf("after the restart the requester's own approval was answered %q, privately %q", own.replies, own.privates)
	}
	if oper := as(d, oper, "approve "+code); len(oper.privates) != 1 || !strings.Contains(oper.privates[0], "need role admin") {
		t.Errorf("after the restart an operator's approval was answered %q", oper.privates)
	}
	if len(dt.jobs()) != 0 {
		t.Fatalf("ran %q before a second admin approved", dt.jobs())
	}
	ok := as(d, admB, "approve "+code)
	if got := dt.jobs(); len(got) != 1 || got[0] != "delete acme " {
		t.Fatalf("after the second admin's approval, following a restart: jobs %q, want the delete; answered %q, privately %q", got, ok.replies, ok.privates)
	}
	if len(dt0.jobs()) != 0 {
		t.Errorf("the first dispatcher ran %q", dt0.jobs())
	}
	if got := audit.find(admB.UserID, "approve "+code); !strings.HasPrefix(got, "allowed approved: delete prod-acme") || !strings.Contains(got, "asked by ana (U0ADMINA1)") {
		t.Errorf("the approval's audit entry: %q", got)
	}
	if got := msgs.all(); !strings.HasPrefix(got, "C1 msg-"+code+": ✔ bob approved at ") || !strings.Contains(got, "the request of ana to delete prod-acme") {
		t.Errorf("the request's message was edited to %q, want it to say bob approved it", got)
	}
	if kept, err := store.Approvals(t.Context()); err != nil || len(kept) != 0 {
		t.Errorf("kept requests after the approval: %d, %v; want none", len(kept), err)
	}
	if again := as(d, admB, "approve "+code); len(again.privates) != 1 || len(dt.jobs()) != 1 {
		t.Errorf("a second approve: privately %q, jobs %q", again.privates, dt.jobs())
	}
}

// TestApprovalExpiredAcrossARestart: a kept request whose deadline
// passed while odoobot was down is dropped when it starts again: an
// audit entry says it expired, its message says so without buttons,
// it is no longer kept, and an approval is refused.
func TestApprovalExpiredAcrossARestart(t *testing.T) {
	store := openApprovalStore(t)
	before, _, _, _ := newApprovalDispatcher(t, true)
	before.Approvals, before.ApprovalTTL = store, time.Hour
	code := askPosted(t, before, admA, "delete acme")

	later := time.Now().Add(2 * time.Hour)
	d, dt, audit, msgs, n := restartedDispatcher(t, store, func() time.Time { return later })
	if n != 0 {
		t.Errorf("ResumeApprovals took up %d requests, want none (it expired)", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(msgs.all(), "expired") || !strings.Contains(strings.Join(audit.entries(), "\n"), "expired") {
		if time.Now().After(deadline) {
			t.Fatalf("the expired request was not settled: message %q, audit %q", msgs.all(), audit.entries())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := msgs.all(); !strings.HasPrefix(got, "C1 msg-"+code+": ⌛ the request of ana to delete prod-acme (acme.example.com) (a final backup is taken first) expired") {
		t.Errorf("the request's message was edited to %q", got)
	}
	if got := audit.find(admA.UserID, "delete acme"); !strings.HasPrefix(got, "allowed expired: no second admin approved delete prod-acme (acme.example.com) (a final backup is taken first) within 1h0m0s") {
		t.Errorf("the expiry's audit entry: %q", got)
	}
	if kept, err := store.Approvals(t.Context()); err != nil || len(kept) != 0 {
		t.Errorf("kept requests after the expiry: %d, %v; want none", len(kept), err)
	}
	if late := as(d, admB, "approve "+code); len(late.privates) != 1 || len(dt.jobs()) != 0 {
		t.Errorf("approve after the expiry: privately %q, jobs %q", late.privates, dt.jobs())
	}
}

// TestApprovalDecisionSettlesTheMessage: once denied, or expired, the
// request's message says who decided what and when (or that it
// expired), its buttons gone (ApprovalMessages); no state database
// needed.
func TestApprovalDecisionSettlesTheMessage(t *testing.T) {
	d, _, _, _ := newApprovalDispatcher(t, true)
	msgs := &settled{}
	d.ApprovalMessages = map[string]ApprovalMessages{PlatformSlack: msgs}
	code := askPosted(t, d, admA, "delete acme")
	if msgs.all() != "" {
		t.Fatalf("the request's message was edited before any decision: %q", msgs.all())
	}
	as(d, admB, "deny "+code)
	if got := msgs.all(); !strings.HasPrefix(got, "C1 msg-"+code+": ✖ bob denied at ") || !strings.Contains(got, "Nothing was run") {
		t.Errorf("after the denial the request's message says %q", got)
	}

	msgs = &settled{}
	d.ApprovalMessages[PlatformSlack] = msgs
	d.ApprovalTTL = 30 * time.Millisecond
	code = askPosted(t, d, admA, "delete acme")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(msgs.all(), "expired") {
		if time.Now().After(deadline) {
			t.Fatalf("the expired request's message was not edited: %q", msgs.all())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := msgs.all(); !strings.HasPrefix(got, "C1 msg-"+code+": ⌛ the request of ana") {
		t.Errorf("after the expiry the request's message says %q", got)
	}
}
