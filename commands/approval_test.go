package commands

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"odoobot/provision"
)

// approvalResponder is a threadResponder of an adapter with Approve and
// Deny buttons: it keeps the requests for approval it was asked to post.
type approvalResponder struct {
	threadResponder
	prompts, requests []string
	editable          bool // its messages have a reference (ref)
}

func (r *approvalResponder) AskApproval(_ context.Context, prompt, code string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.prompts = append(r.prompts, prompt)
	r.requests = append(r.requests, code)
	return r.ref(code), nil
}

// ref is the reference of the message of request code: "msg-CODE"
// when the responder posts editable messages (editable), else "".
func (r *approvalResponder) ref(code string) string {
	if r.editable {
		return "msg-" + code
	}
	return ""
}

// lockedAudit is a memAudit safe for the expiry timer's goroutine.
type lockedAudit struct {
	mu sync.Mutex
	m  memAudit
}

func (l *lockedAudit) RecordAudit(ctx context.Context, e provision.AuditEntry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m.RecordAudit(ctx, e)
}
func (l *lockedAudit) OpenAudit(ctx context.Context, e provision.AuditEntry) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m.OpenAudit(ctx, e)
}
func (l *lockedAudit) CloseAudit(ctx context.Context, id int64, outcome string, d time.Duration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m.CloseAudit(ctx, id, outcome, d)
}

// entries are the audit entries so far: "USER COMMAND → DECISION OUTCOME".
func (l *lockedAudit) entries() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.m.entries {
		out = append(out, e.UserID+" "+e.Command+" → "+e.Decision+" "+e.Outcome)
	}
	return out
}

// find is the audit entry of user's command, "" if none.
func (l *lockedAudit) find(user, command string) string {
	for _, e := range l.entries() {
		if strings.HasPrefix(e, user+" "+command+" → ") {
			return strings.TrimPrefix(e, user+" "+command+" → ")
		}
	}
	return ""
}

var (
	admA  = Identity{Platform: "slack", UserID: "U0ADMINA1", UserName: "ana"}
	admB  = Identity{Platform: "slack", UserID: "U0ADMINB1", UserName: "bob"}
	oper  = Identity{Platform: "slack", UserID: "U0OPER001", UserName: "olga"}
	viewr = Identity{Platform: "slack", UserID: "U0VIEW001", UserName: "val"}
)

// newApprovalDispatcher has two admins, an operator and a viewer in
// channel C1, the day-two verbs and an upgrader, and two-person approval
// on when on is set.
func newApprovalDispatcher(t *testing.T, on bool) (*Dispatcher, *fakeDayTwo, *fakeUpgrader, *lockedAudit) {
	t.Helper()
	al, err := ParseAllowlist(strings.NewReader("admin slack user U0ADMINA1\nadmin slack user U0ADMINB1\noperator slack user U0OPER001\nviewer slack user U0VIEW001\nadmin shell user root\n"), "test")
	if err != nil {
		t.Fatal(err)
	}
	audit := &lockedAudit{}
	dt := &fakeDayTwo{state: provision.JobSucceeded, list: []provision.BackupInfo{{Manifest: provision.Manifest{ID: "20261127T030000Z", Reason: "scheduled"}, Intact: true}}}
	up := &fakeUpgrader{commits: []string{strings.Repeat("b", 40), strings.Repeat("b", 40)}}
	d := &Dispatcher{Allowlist: al, Auditor: audit, Rules: provision.NameRules{Zone: "example.com"}, Mode: provision.SSLHTTP,
		DayTwo: dt, Upgrader: up, ApprovalRequired: on}
	return d, dt, up, audit
}

func (f *fakeDayTwo) jobs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.asked...)
}

// ask has id send text in C1 and returns the request's code.
func ask(t *testing.T, d *Dispatcher, id Identity, text string) (string, *approvalResponder) {
	t.Helper()
	r := &approvalResponder{}
	d.Handle(context.Background(), Request{Identity: id, Channel: "C1", Text: text}, r)
	if len(r.codes) != 0 {
		t.Fatalf("%s asked its requester to confirm (%q): with approval on it must wait for a second admin", text, r.codes)
	}
	if len(r.requests) != 1 {
		t.Fatalf("%s: %d requests for approval posted, want 1; privately %q", text, len(r.requests), r.privates)
	}
	return r.requests[0], r
}

// as has id send text in C1.
func as(d *Dispatcher, id Identity, text string) *approvalResponder {
	r := &approvalResponder{}
	d.Handle(context.Background(), Request{Identity: id, Channel: "C1", Text: text}, r)
	return r
}

// TestApprovalOffChangesNothing: without the setting, delete asks its
// requester to confirm and runs on their confirmation, as before; no
// request for approval is posted, and approve knows no code.
func TestApprovalOffChangesNothing(t *testing.T) {
	d, dt, _, _ := newApprovalDispatcher(t, false)
	r := as(d, admA, "delete acme")
	if len(r.codes) != 1 || len(r.requests) != 0 {
		t.Fatalf("delete with approval off: confirmation codes %q, requests for approval %q", r.codes, r.requests)
	}
	if got := as(d, admB, "approve "+r.codes[0]); len(got.privates) != 1 || len(dt.jobs()) != 0 {
		t.Fatalf("another admin's approve of a confirmation code: privately %q, jobs %q", got.privates, dt.jobs())
	}
	as(d, admA, "confirm "+r.codes[0])
	if got := dt.jobs(); len(got) != 1 || got[0] != "delete acme " {
		t.Fatalf("after the requester's confirmation: jobs %q, want the delete", got)
	}
}

// TestApprovalTheRequesterCannotApprove: with approval on, delete waits
// for a second admin: its requester's approve (or confirm) is refused and
// runs nothing; a viewer's and an operator's approve are refused; another
// admin's approve runs it. Each attempt is audited with who and what.
func TestApprovalTheRequesterCannotApprove(t *testing.T) {
	d, dt, _, audit := newApprovalDispatcher(t, true)
	code, req := ask(t, d, admA, "delete acme")
	if p := req.prompts[0]; !strings.Contains(p, "ana asks to delete prod-acme") || !strings.Contains(p, "/odoo approve "+code) || !strings.Contains(p, "30m0s") {
		t.Errorf("the request for approval says %q", p)
	}
	if got := audit.find(admA.UserID, "delete acme"); !strings.HasPrefix(got, "allowed awaiting approval by a second admin (request "+code) {
		t.Errorf("the request's audit entry: %q", got)
	}

	own := as(d, admA, "approve "+code)
	if len(own.privates) != 1 || !strings.Contains(own.privates[0], "a second admin must approve it, not you") {
		t.Errorf("the requester's own approval was answered %q, privately %q", own.replies, own.privates)
	}
	as(d, admA, "confirm "+code)
	for _, id := range []Identity{viewr, oper} {
		r := as(d, id, "approve "+code)
		if len(r.privates) != 1 || !strings.Contains(r.privates[0], "need role admin to run approve") {
			t.Errorf("%s's approval was answered %q", id.UserName, r.privates)
		}
	}
	if got := dt.jobs(); len(got) != 0 {
		t.Fatalf("ran %q before a second admin approved", got)
	}

	ok := as(d, admB, "approve "+code)
	if got := dt.jobs(); len(got) != 1 || got[0] != "delete acme " {
		t.Fatalf("after the second admin's approval: jobs %q, want the delete", got)
	}
	if len(ok.replies) == 0 || !strings.Contains(ok.replies[0], "bob approved the request of ana to delete prod-acme") || len(ok.finishes) != 1 {
		t.Errorf("the approval was announced %q, thread ended %q", ok.replies, ok.finishes)
	}
	if again := as(d, admB, "approve "+code); len(again.privates) != 1 || len(dt.jobs()) != 1 {
		t.Errorf("a second approve of the same request: privately %q, jobs %q", again.privates, dt.jobs())
	}

	want := map[string]string{
		admA.UserID + " approve " + code:  "allowed refused: the requester cannot approve their own request",
		admA.UserID + " confirm " + code:  "allowed refused: awaits a second admin's approval",
		viewr.UserID + " approve " + code: "denied refused: you (U0VIEW001) need role admin",
		oper.UserID + " approve " + code:  "denied refused: you (U0OPER001) need role admin",
		admB.UserID + " approve " + code:  "allowed approved: delete prod-acme",
	}
	for k, w := range want {
		user, command, _ := strings.Cut(k, " ")
		if got := audit.find(user, command); !strings.HasPrefix(got, w) {
			t.Errorf("audit of %s: %q, want it to start with %q", k, got, w)
		}
	}
	if got := audit.find(admB.UserID, "approve "+code); !strings.Contains(got, "asked by ana (U0ADMINA1) at ") || !strings.HasSuffix(got, "accepted") {
		t.Errorf("the approval's audit entry %q does not say whose request it ran and that it ran", got)
	}
}

// TestApprovalCoversRestoreAndUpgrade: restore (whatever its arguments)
// and upgrade wait for approval too; reset-admin keeps its requester's
// confirmation.
func TestApprovalCoversRestoreAndUpgrade(t *testing.T) {
	d, dt, up, _ := newApprovalDispatcher(t, true)
	code, _ := ask(t, d, admA, "restore acme 20261127T030000Z")
	if len(dt.jobs()) != 0 {
		t.Fatal("restore ran before its approval")
	}
	as(d, admB, "approve "+code)
	if got := dt.jobs(); len(got) != 1 || got[0] != "restore acme 20261127T030000Z" {
		t.Fatalf("after approval: jobs %q, want the restore", got)
	}
	code, _ = ask(t, d, admA, "upgrade acme latest")
	as(d, admA, "approve "+code)
	if len(up.asked) != 0 {
		t.Fatal("the requester's own approval ran the upgrade")
	}
	as(d, admB, "approve "+code)
	if len(up.asked) != 1 || up.asked[0].Commit != strings.Repeat("b", 40) {
		t.Fatalf("after approval: upgrades %+v", up.asked)
	}
	if !NeedsApproval(VerbRestore) || NeedsApproval(VerbResetAdmin) || NeedsApproval(VerbBackup) {
		t.Error("NeedsApproval: restore must need approval; reset-admin and backup must not")
	}
}

// TestApprovalDenied: a denial, by another admin or by the requester
// (who withdraws it), ends the request: nothing runs, a later approve is
// refused, and the denial is audited with whose request it was.
func TestApprovalDenied(t *testing.T) {
	for _, denier := range []Identity{admB, admA} {
		d, dt, _, audit := newApprovalDispatcher(t, true)
		code, _ := ask(t, d, admA, "delete acme")
		r := as(d, denier, "deny "+code)
		if len(r.replies) != 1 || !strings.Contains(r.replies[0], denier.UserName+" denied the request of ana to delete prod-acme") {
			t.Errorf("%s's denial was answered %q, privately %q", denier.UserName, r.replies, r.privates)
		}
		if late := as(d, admB, "approve "+code); len(late.privates) != 1 || !strings.Contains(late.privates[0], "unknown, expired or already decided") {
			t.Errorf("approve after the denial: %q", late.privates)
		}
		if got := dt.jobs(); len(got) != 0 {
			t.Fatalf("ran %q after a denial", got)
		}
		if got := audit.find(denier.UserID, "deny "+code); !strings.HasPrefix(got, "allowed denied: delete prod-acme") || !strings.Contains(got, "asked by ana") {
			t.Errorf("the denial's audit entry: %q", got)
		}
	}
}

// TestApprovalExpires: a request nobody decided in time ends by itself:
// nothing runs, the channel is told, and an audit entry in the
// requester's name says it expired; an approval after the deadline is
// refused.
func TestApprovalExpires(t *testing.T) {
	d, dt, _, audit := newApprovalDispatcher(t, true)
	d.ApprovalTTL = 30 * time.Millisecond
	code, req := ask(t, d, admA, "delete acme")
	deadline := time.Now().Add(5 * time.Second)
	for audit.find(admA.UserID, "delete acme") == "" || !strings.Contains(strings.Join(audit.entries(), "\n"), "expired") {
		if time.Now().After(deadline) {
			t.Fatalf("no expiry audited: %q", audit.entries())
		}
		time.Sleep(10 * time.Millisecond)
	}
	var expired string
	for _, e := range audit.entries() {
		if strings.Contains(e, "expired") {
			expired = e
		}
	}
	if !strings.HasPrefix(expired, admA.UserID+" delete acme → allowed expired: no second admin approved delete prod-acme") {
		t.Errorf("the expiry's audit entry: %q", expired)
	}
	req.mu.Lock()
	told := strings.Join(req.replies, "\n")
	req.mu.Unlock()
	if !strings.Contains(told, "expired") || !strings.Contains(told, "Nothing was run") {
		t.Errorf("the channel was told %q", told)
	}
	if late := as(d, admB, "approve "+code); len(late.privates) != 1 || len(dt.jobs()) != 0 {
		t.Fatalf("approve after expiry: privately %q, jobs %q", late.privates, dt.jobs())
	}

	// The deadline holds by the dispatcher's clock too, before the timer.
	now := time.Now()
	d.Now = func() time.Time { return now }
	d.ApprovalTTL = time.Hour
	code, _ = ask(t, d, admA, "delete acme")
	now = now.Add(time.Hour + time.Second)
	if late := as(d, admB, "approve "+code); len(late.privates) != 1 || !strings.Contains(late.privates[0], "expired") || len(dt.jobs()) != 0 {
		t.Fatalf("approve after the deadline: privately %q, jobs %q", late.privates, dt.jobs())
	}
	if got := audit.find(admB.UserID, "approve "+code); got != "allowed refused: expired" {
		t.Errorf("the late approval's audit entry: %q", got)
	}
}

// TestApprovalRequesterLostTheRole: an approval runs nothing when its
// requester no longer holds admin.
func TestApprovalRequesterLostTheRole(t *testing.T) {
	d, dt, _, _ := newApprovalDispatcher(t, true)
	code, _ := ask(t, d, admA, "delete acme")
	al, err := ParseAllowlist(strings.NewReader("admin slack user U0ADMINB1\n"), "test")
	if err != nil {
		t.Fatal(err)
	}
	d.Allowlist = al
	r := as(d, admB, "approve "+code)
	if len(dt.jobs()) != 0 || len(r.replies) != 1 || !strings.Contains(r.replies[0], "no longer holds the role") {
		t.Fatalf("approval of a request whose requester lost admin: jobs %q, answered %q", dt.jobs(), r.replies)
	}
}

// TestApprovalOnTheTerminal: the terminal has one user, who could never
// be approved by another: there the request is refused at once, saying
// why, and nothing is pending.
func TestApprovalOnTheTerminal(t *testing.T) {
	d, dt, _, audit := newApprovalDispatcher(t, true)
	root := Identity{Platform: PlatformShell, UserID: "root", UserName: "root"}
	r := &approvalResponder{}
	d.Handle(context.Background(), Request{Identity: root, Channel: "terminal", Text: "delete acme"}, r)
	if len(r.codes)+len(r.requests) != 0 || len(r.privates) != 1 || !strings.Contains(r.privates[0], "the terminal has one user") {
		t.Fatalf("delete on the terminal: codes %q, requests %q, privately %q", r.codes, r.requests, r.privates)
	}
	if len(dt.jobs()) != 0 || !strings.Contains(audit.find("root", "delete acme"), "refused: two-person approval is on") {
		t.Errorf("jobs %q, audit %q", dt.jobs(), audit.entries())
	}
}

// TestApprovalButton: a button's value must be an approval code.
func TestApprovalButton(t *testing.T) {
	if got, err := ApprovalButton(true, "0123456789abcdef"); err != nil || got != "approve 0123456789abcdef" {
		t.Errorf("ApprovalButton(approve) = %q, %v", got, err)
	}
	if got, err := ApprovalButton(false, "0123456789abcdef"); err != nil || got != "deny 0123456789abcdef" {
		t.Errorf("ApprovalButton(deny) = %q, %v", got, err)
	}
	for _, bad := range []string{"", "delete acme", "0123456789ABCDEF", "0123456789abcdef0", "restart acme"} {
		if _, err := ApprovalButton(true, bad); err == nil {
			t.Errorf("ApprovalButton accepted %q", bad)
		}
	}
}
