package commands

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"odoobot/provision"
)

// recordingResponder keeps what the dispatcher answered.
type recordingResponder struct {
	mu                                    sync.Mutex
	replies, privates, long, codes, files []string
	attached                              []attachment
}

// attachment is a picture a recordingResponder was given.
type attachment struct {
	name string
	png  []byte
	alt  string
}

func (r *recordingResponder) Reply(_ context.Context, s string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.replies = append(r.replies, s)
	return nil
}
func (r *recordingResponder) Private(_ context.Context, s string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.privates = append(r.privates, s)
	return nil
}

// Failure, Secret and PrivateLong are shown as Private shows them, as a
// chat adapter with no other way does.
func (r *recordingResponder) Failure(ctx context.Context, s string) error { return r.Private(ctx, s) }
func (r *recordingResponder) Secret(ctx context.Context, s string) error  { return r.Private(ctx, s) }
func (r *recordingResponder) PrivateLong(ctx context.Context, title, s string) error {
	return r.Private(ctx, title+"\n"+s)
}
func (r *recordingResponder) PrivateFile(_ context.Context, name, s string) error {
	r.files = append(r.files, name+"\n"+s)
	return nil
}
func (r *recordingResponder) Attach(_ context.Context, name string, png []byte, alt string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attached = append(r.attached, attachment{name, png, alt})
	return nil
}
func (r *recordingResponder) Long(_ context.Context, title, s string) error {
	r.long = append(r.long, title+"\n"+s)
	return nil
}
func (r *recordingResponder) Thread(_ context.Context, root string) (Thread, error) {
	return nil, nil
}
func (r *recordingResponder) AskApproval(ctx context.Context, prompt, code string) (string, error) {
	return "", r.Reply(ctx, prompt)
}
func (r *recordingResponder) Confirm(_ context.Context, prompt, code string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.codes = append(r.codes, code)
	return nil
}

// countingCreator is a Creator test double that records calls and refuses.
type countingCreator struct {
	calls int
	modes []provision.SSLMode
}

func (c *countingCreator) Create(_ context.Context, req provision.CreateRequest) (*provision.Task, error) {
	c.calls++
	c.modes = append(c.modes, req.Mode)
	return nil, provision.ErrPortsExhausted
}

// memAudit keeps the audit entries; with down set, it writes nothing
// and fails, as a store whose database is unreachable does.
type memAudit struct {
	entries []provision.AuditEntry
	down    bool
}

var errAuditDown = errors.New("postgres: open audit entry: dial tcp 127.0.0.1:5432: connect: connection refused")

func (m *memAudit) RecordAudit(_ context.Context, e provision.AuditEntry) error {
	if m.down {
		return errAuditDown
	}
	m.entries = append(m.entries, e)
	return nil
}

func (m *memAudit) OpenAudit(_ context.Context, e provision.AuditEntry) (int64, error) {
	if m.down {
		return 0, errAuditDown
	}
	m.entries = append(m.entries, e)
	return int64(len(m.entries) - 1), nil
}

func (m *memAudit) CloseAudit(_ context.Context, id int64, outcome string, d time.Duration) error {
	if m.down {
		return errAuditDown
	}
	m.entries[id].Outcome, m.entries[id].Duration = outcome, d
	return nil
}

func newTestDispatcher(t *testing.T) (*Dispatcher, *countingCreator, *memAudit) {
	t.Helper()
	al, err := ParseAllowlist(strings.NewReader("admin slack user U0ADMIN01\nviewer slack user U0VIEW001\n"), "test")
	if err != nil {
		t.Fatal(err)
	}
	c, a := &countingCreator{}, &memAudit{}
	return &Dispatcher{Allowlist: al, Auditor: a, Rules: provision.NameRules{Zone: "example.com"}, Mode: provision.SSLHTTP, Creator: c}, c, a
}

func TestDeniedUsersCreateNothingAndAreAudited(t *testing.T) {
	d, c, audit := newTestDispatcher(t)
	for _, req := range []Request{
		{Identity: Identity{Platform: "slack", UserID: "U0STRANGER"}, Channel: "C1", Text: "create acme http"},
		{Identity: Identity{Platform: "slack", UserID: "U0VIEW001"}, Channel: "C1", Text: "create acme http"},
		{Identity: Identity{Platform: "slack", UserID: "U0VIEW001"}, Channel: "C1", Text: "create acme http token=xoxb-123-secret"},
	} {
		r := &recordingResponder{}
		task, err := d.Handle(context.Background(), req, r)
		if err != nil || task != nil {
			t.Fatalf("Handle: %v %v", task, err)
		}
		if len(r.privates) != 1 || len(r.replies) != 0 {
			t.Errorf("%s: replies %q privates %q, want one private refusal", req.Identity.UserID, r.replies, r.privates)
		}
	}
	if c.calls != 0 {
		t.Errorf("Create called %d times for denied users", c.calls)
	}
	if len(audit.entries) != 3 || audit.entries[0].Decision != provision.DecisionDenied || audit.entries[1].Decision != provision.DecisionDenied {
		t.Fatalf("audit = %+v", audit.entries)
	}
	if e := audit.entries[2]; strings.Contains(e.Command+e.Outcome, "xoxb-123-secret") {
		t.Errorf("audit keeps a secret: %+v", e)
	}
}

func TestRefusedCreationIsPrivate(t *testing.T) {
	d, c, audit := newTestDispatcher(t)
	admin := Identity{Platform: "slack", UserID: "U0ADMIN01", UserName: "ana"}
	r := &recordingResponder{}
	d.Handle(context.Background(), Request{Identity: admin, Channel: "C1", Text: "create production http"}, r)
	if c.calls != 0 || len(r.privates) != 1 || !strings.Contains(r.privates[0], "rule reserved") {
		t.Errorf("reserved name: calls %d privates %q", c.calls, r.privates)
	}
	r = &recordingResponder{}
	d.Handle(context.Background(), Request{Identity: admin, Channel: "C1", Text: "create acme http"}, r)
	if c.calls != 1 || len(r.privates) != 1 || !strings.Contains(r.privates[0], "no free port") {
		t.Errorf("creator refusal: calls %d privates %q", c.calls, r.privates)
	}
	last := audit.entries[len(audit.entries)-1]
	if last.Decision != provision.DecisionAllowed || !strings.HasPrefix(last.Outcome, "refused") || last.UserID != "U0ADMIN01" {
		t.Errorf("audit entry %+v", last)
	}
}

// TestConfirmationIsBoundToTheRequester: a pending action runs once, for
// the one who asked, before it expires.
func TestConfirmationIsBoundToTheRequester(t *testing.T) {
	d, _, _ := newTestDispatcher(t)
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	d.Now = func() time.Time { return now }
	admin := Request{Identity: Identity{Platform: "slack", UserID: "U0ADMIN01"}, Channel: "C1"}
	viewer := Request{Identity: Identity{Platform: "slack", UserID: "U0VIEW001"}, Channel: "C1"}
	ran := 0
	r := &recordingResponder{}
	if _, err := d.ask(context.Background(), admin, "delete prod-acme", r, func(context.Context, Responder) (*provision.Task, string, error) { ran++; return nil, "ok", nil }); err != nil {
		t.Fatal(err)
	}
	code := r.codes[0]
	confirm := func(req Request) *recordingResponder {
		req.Text = "confirm " + code
		rr := &recordingResponder{}
		d.Handle(context.Background(), req, rr)
		return rr
	}
	if rr := confirm(viewer); ran != 0 || len(rr.privates) != 1 || !strings.Contains(rr.privates[0], "only the one who asked") {
		t.Fatalf("someone else confirmed: ran %d, %q", ran, rr.privates)
	}
	if confirm(admin); ran != 1 {
		t.Fatalf("the requester's confirmation ran %d times", ran)
	}
	if rr := confirm(admin); ran != 1 || len(rr.privates) != 1 {
		t.Fatalf("a code worked twice: ran %d", ran)
	}
	d.ask(context.Background(), admin, "delete prod-acme", r, func(context.Context, Responder) (*provision.Task, string, error) { ran++; return nil, "ok", nil })
	code = r.codes[1]
	now = now.Add(ConfirmTTL + time.Second)
	if rr := confirm(admin); ran != 1 || !strings.Contains(rr.privates[0], "expired") {
		t.Fatalf("an expired confirmation ran: %d %q", ran, rr.privates)
	}
}

// TestCreateUsesTheServersDefaultMode: "create acme" takes the server's
// DEFAULT_SSL_MODE, a named mode wins.
func TestCreateUsesTheServersDefaultMode(t *testing.T) {
	d, c, _ := newTestDispatcher(t)
	d.Mode = provision.SSLLetsEncrypt
	admin := Identity{Platform: "slack", UserID: "U0ADMIN01"}
	d.Handle(context.Background(), Request{Identity: admin, Channel: "C1", Text: "create acme"}, &recordingResponder{})
	d.Handle(context.Background(), Request{Identity: admin, Channel: "C1", Text: "create acme http"}, &recordingResponder{})
	if len(c.modes) != 2 || c.modes[0] != provision.SSLLetsEncrypt || c.modes[1] != provision.SSLHTTP {
		t.Errorf("modes asked for: %v, want [letsencrypt http]", c.modes)
	}
}
