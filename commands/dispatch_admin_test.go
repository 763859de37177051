package commands

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"odoobot/provision"
	"odoobot/provision/ports"
	"odoobot/provision/probe"
	"odoobot/provision/sysusers"
	"odoobot/provision/tree"
)

const testPassword = "Zq7-secret-PW-4242"

// secretResponder is a threadResponder that keeps what its Secret and
// PrivateLong were given apart from what Private was.
type secretResponder struct {
	threadResponder
	secrets, privateLongs []string
}

func (r *secretResponder) Secret(_ context.Context, s string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets = append(r.secrets, s)
	return nil
}

func (r *secretResponder) PrivateLong(_ context.Context, title, s string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.privateLongs = append(r.privateLongs, title+"\n"+s)
	return nil
}

// public is everything the responder showed to others.
func (r *secretResponder) public() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.replies, "\n") + strings.Join(r.long, "\n") + strings.Join(r.posts, "\n") + strings.Join(r.finishes, "\n")
}

// revealingCreator succeeds at once and reveals the admin password,
// before (early) or after the job's end.
type revealingCreator struct {
	early bool
	done  chan struct{}
}

func (c *revealingCreator) Create(ctx context.Context, req provision.CreateRequest) (*provision.Task, error) {
	job := provision.Job{ID: 3, Kind: provision.JobCreate, Instance: req.Name, State: provision.JobSucceeded}
	end := func() {
		for _, s := range req.Subscribe {
			s(provision.Event{Step: "database", Kind: provision.EventDone})
		}
		if c.early {
			req.RevealAdmin(ctx, testPassword)
			req.Finished(job)
		} else {
			req.Finished(job)
			req.RevealAdmin(ctx, testPassword)
		}
		close(c.done)
	}
	if c.early {
		end() // before the thread is open
	} else {
		go end()
	}
	return &provision.Task{Job: job}, nil
}

func auditText(a *memAudit) string {
	var b strings.Builder
	for _, e := range a.entries {
		fmt.Fprintf(&b, "%+v\n", e)
	}
	return b.String()
}

// TestCreateRevealsTheAdminPasswordToTheRequesterAlone: the password of
// a new instance goes once through the Responder's secret path, with the
// login, the URL and how to reset it, and nowhere else: not the thread,
// a reply, the audit or the log.
func TestCreateRevealsTheAdminPasswordToTheRequesterAlone(t *testing.T) {
	for _, early := range []bool{true, false} {
		t.Run(fmt.Sprintf("early=%v", early), func(t *testing.T) {
			d, _, audit := newTestDispatcher(t)
			var logs bytes.Buffer
			d.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			d.Summary = func(context.Context, string) string { return "summary of acme" }
			c := &revealingCreator{early: early, done: make(chan struct{})}
			d.Creator = c
			r := &secretResponder{}
			admin := Identity{Platform: "slack", UserID: "U0ADMIN01", UserName: "ana"}
			if _, err := d.Handle(context.Background(), Request{Identity: admin, Channel: "C1", Text: "create acme http"}, r); err != nil {
				t.Fatal(err)
			}
			<-c.done
			r.mu.Lock()
			secrets := append([]string(nil), r.secrets...)
			privates := append([]string(nil), r.privates...)
			r.mu.Unlock()
			if len(secrets) != 1 {
				t.Fatalf("secrets = %q, want one", secrets)
			}
			for _, want := range []string{"login:    admin", "password: " + testPassword, "http://acme.example.com", "shown once", "reset-admin acme"} {
				if !strings.Contains(secrets[0], want) {
					t.Errorf("secret message %q lacks %q", secrets[0], want)
				}
			}
			for where, text := range map[string]string{
				"public answers": r.public(), "private answers": strings.Join(privates, "\n"),
				"audit": auditText(audit), "log": logs.String(),
			} {
				if strings.Contains(text, testPassword) {
					t.Errorf("the password is in the %s: %q", where, text)
				}
			}
		})
	}
}

// TestCreateRevealFallsBackToPrivate: a Responder without a secret path
// gets the password through Private.
func TestCreateRevealFallsBackToPrivate(t *testing.T) {
	d, _, _ := newTestDispatcher(t)
	d.Summary = func(context.Context, string) string { return "" }
	c := &revealingCreator{early: true, done: make(chan struct{})}
	d.Creator = c
	r := &threadResponder{}
	d.Handle(context.Background(), Request{Identity: Identity{Platform: "slack", UserID: "U0ADMIN01"}, Channel: "C1", Text: "create acme http"}, r)
	<-c.done
	if len(r.privates) != 1 || !strings.Contains(r.privates[0], testPassword) || len(r.replies) != 0 {
		t.Errorf("privates %q replies %q, want the password once, privately", r.privates, r.replies)
	}
}

// fakeAdmins resets passwords, or fails.
type fakeAdmins struct {
	mu    sync.Mutex
	reset []string
	err   error
}

func (f *fakeAdmins) ResetAdminPassword(_ context.Context, name string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return "", f.err
	}
	f.reset = append(f.reset, name)
	return testPassword, nil
}

// instancesOf is a provision.InstanceLookup over a fixed list.
type instancesOf []provision.Instance

func (l instancesOf) Instance(_ context.Context, name string) (provision.Instance, error) {
	for _, i := range l {
		if i.Name == name {
			return i, nil
		}
	}
	return provision.Instance{}, provision.ErrInstanceNotFound
}
func (l instancesOf) Instances(context.Context) ([]provision.Instance, error) { return l, nil }
func (l instancesOf) ActiveJob(context.Context, string) (provision.Job, bool, error) {
	return provision.Job{}, false, nil
}

func newAdminDispatcher(t *testing.T, allowlist string) (*Dispatcher, *fakeAdmins, *memAudit, *bytes.Buffer) {
	t.Helper()
	al, err := ParseAllowlist(strings.NewReader(allowlist), "test")
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	f, a := &fakeAdmins{}, &memAudit{}
	layout := provision.Layout{Zone: "example.com"}
	inst := layout.NewInstance("acme", provision.SSLLetsEncrypt)
	return &Dispatcher{
		Allowlist: al, Auditor: a, Rules: provision.NameRules{Zone: "example.com"}, Mode: provision.SSLHTTP,
		Creator: &countingCreator{}, Operator: &provision.Operator{Files: tree.New(layout), Health: probe.Health{}, Ports: ports.Host{}, Users: sysusers.Host{}, Store: instancesOf{inst}, Layout: layout},
		Admins: f, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	}, f, a, &logs
}

const adminAllowlist = "admin slack user U0ADMIN01\noperator slack user U0OPER001\n"

// TestResetAdminIsConfirmedAndPrivate: reset-admin is refused for an
// operator, asks the admin to confirm, and on confirmation shows the new
// password to the admin alone; the audit has the attempt and the outcome,
// never the password.
func TestResetAdminIsConfirmedAndPrivate(t *testing.T) {
	d, f, audit, logs := newAdminDispatcher(t, adminAllowlist)
	ctx := context.Background()
	op := Request{Identity: Identity{Platform: "slack", UserID: "U0OPER001"}, Channel: "C1", Text: "reset-admin acme"}
	r := &secretResponder{}
	d.Handle(ctx, op, r)
	if len(r.privates) != 1 || !strings.Contains(r.privates[0], "need role admin") || len(r.codes) != 0 {
		t.Fatalf("operator: privates %q codes %q, want a refusal", r.privates, r.codes)
	}

	admin := Request{Identity: Identity{Platform: "slack", UserID: "U0ADMIN01"}, Channel: "C1", Text: "reset-admin acme"}
	r = &secretResponder{}
	d.Handle(ctx, admin, r)
	if len(r.codes) != 1 || len(f.reset) != 0 {
		t.Fatalf("codes %q, reset %q: want a confirmation asked, nothing reset yet", r.codes, f.reset)
	}
	admin.Text = "confirm " + r.codes[0]
	d.Handle(ctx, admin, r)
	if len(f.reset) != 1 || f.reset[0] != "acme" {
		t.Fatalf("reset %q after the confirmation", f.reset)
	}
	if len(r.secrets) != 1 || !strings.Contains(r.secrets[0], testPassword) || !strings.Contains(r.secrets[0], "https://acme.example.com") || !strings.Contains(r.secrets[0], "login:    admin") {
		t.Errorf("secrets = %q", r.secrets)
	}
	if strings.Contains(r.public()+strings.Join(r.privates, ""), testPassword) {
		t.Errorf("the password went elsewhere: %q %q", r.public(), r.privates)
	}
	if a := auditText(audit); strings.Contains(a, testPassword) || strings.Contains(logs.String(), testPassword) {
		t.Errorf("the password is in the audit or the log:\n%s\n%s", a, logs.String())
	}
	last := audit.entries[len(audit.entries)-1]
	if last.UserID != "U0ADMIN01" || last.Outcome != "password reset" {
		t.Errorf("audit of the confirmation: %+v", last)
	}
	if got := audit.entries[1]; got.Command != "reset-admin acme" || got.Outcome != "awaiting confirmation" {
		t.Errorf("audit of the request: %+v", got)
	}

	// An unknown instance is refused before any confirmation; a failure
	// is private and audited.
	r = &secretResponder{}
	d.Handle(ctx, Request{Identity: admin.Identity, Channel: "C1", Text: "reset-admin nope"}, r)
	if len(r.codes) != 0 || len(r.privates) != 1 || !strings.Contains(r.privates[0], `no instance named "nope"`) {
		t.Errorf("unknown instance: codes %q privates %q", r.codes, r.privates)
	}
	f.err = errors.New("odoo: write res.users: boom")
	r = &secretResponder{}
	d.Handle(ctx, Request{Identity: admin.Identity, Channel: "C1", Text: "reset-admin acme"}, r)
	d.Handle(ctx, Request{Identity: admin.Identity, Channel: "C1", Text: "confirm " + r.codes[0]}, r)
	if len(r.secrets) != 0 || len(r.privates) != 1 || !strings.Contains(r.privates[0], "boom") {
		t.Errorf("failed reset: secrets %q privates %q", r.secrets, r.privates)
	}
	if last := audit.entries[len(audit.entries)-1]; !strings.HasPrefix(last.Outcome, "failed: ") {
		t.Errorf("audit of the failure: %+v", last)
	}
}

// TestResetAdminUnavailableWithoutAdmins: a server that does not wire it
// says so.
func TestResetAdminUnavailableWithoutAdmins(t *testing.T) {
	d, _, _, _ := newAdminDispatcher(t, adminAllowlist)
	d.Admins = nil
	r := &secretResponder{}
	d.Handle(context.Background(), Request{Identity: Identity{Platform: "slack", UserID: "U0ADMIN01"}, Channel: "C1", Text: "reset-admin acme"}, r)
	if len(r.codes) != 0 || len(r.privates) != 1 || !strings.Contains(r.privates[0], "not available") {
		t.Errorf("privates %q codes %q", r.privates, r.codes)
	}
}

// TestConfirmationRechecksTheRole: an admin who lost the role between
// the request and the click cannot confirm.
func TestConfirmationRechecksTheRole(t *testing.T) {
	d, f, audit, _ := newAdminDispatcher(t, adminAllowlist)
	ctx := context.Background()
	admin := Request{Identity: Identity{Platform: "slack", UserID: "U0ADMIN01"}, Channel: "C1", Text: "reset-admin acme"}
	r := &secretResponder{}
	d.Handle(ctx, admin, r)
	if len(r.codes) != 1 {
		t.Fatalf("codes %q", r.codes)
	}
	al, err := ParseAllowlist(strings.NewReader("operator slack user U0ADMIN01\n"), "test")
	if err != nil {
		t.Fatal(err)
	}
	d.Allowlist = al
	admin.Text = "confirm " + r.codes[0]
	d.Handle(ctx, admin, r)
	if len(f.reset) != 0 || len(r.secrets) != 0 {
		t.Fatalf("a demoted admin confirmed: reset %q", f.reset)
	}
	if len(r.privates) != 1 || !strings.Contains(r.privates[0], "no longer hold the role (admin)") {
		t.Errorf("privates %q", r.privates)
	}
	if last := audit.entries[len(audit.entries)-1]; !strings.HasPrefix(last.Outcome, "refused: role operator") {
		t.Errorf("audit %+v", last)
	}
}

// lostResponder is a secretResponder whose private paths all fail (a
// chat whose ephemeral messages are refused); it records what they were
// given.
type lostResponder struct {
	secretResponder
	attempts []string
}

func (r *lostResponder) Secret(_ context.Context, s string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts = append(r.attempts, s)
	return errors.New("ephemeral refused")
}

func (r *lostResponder) Private(_ context.Context, s string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts = append(r.attempts, s)
	return errors.New("ephemeral refused")
}

// Failure is shown as Private is, so it fails too.
func (r *lostResponder) Failure(ctx context.Context, s string) error { return r.Private(ctx, s) }

// TestResetAdminPasswordNotShownIsSaid: when the private reply carrying
// the new password fails, the password goes nowhere else; the requester
// is told, where the command was typed, that it could not be shown and
// that reset-admin sets a new one; the audit says it was not delivered.
func TestResetAdminPasswordNotShownIsSaid(t *testing.T) {
	d, f, audit, logs := newAdminDispatcher(t, adminAllowlist)
	ctx := context.Background()
	admin := Request{Identity: Identity{Platform: "slack", UserID: "U0ADMIN01", UserName: "ana"}, Channel: "C1", Text: "reset-admin acme"}
	r := &lostResponder{}
	d.Handle(ctx, admin, r)
	r.mu.Lock()
	codes := append([]string(nil), r.codes...)
	r.mu.Unlock()
	if len(codes) != 1 {
		t.Fatalf("codes %q", codes)
	}
	admin.Text = "confirm " + codes[0]
	d.Handle(ctx, admin, r)
	if len(f.reset) != 1 {
		t.Fatalf("reset %q after the confirmation", f.reset)
	}
	if strings.Contains(r.public(), testPassword) {
		t.Errorf("the password went to a message others see:\n%s", r.public())
	}
	if n := strings.Count(strings.Join(r.attempts, "\n"), testPassword); n != 1 {
		t.Errorf("the password was tried %d times on private paths, want once: %q", n, r.attempts)
	}
	for _, want := range []string{"ana", "new admin password of prod-acme", "could not be shown", "reset-admin acme", "kept nowhere"} {
		if !strings.Contains(r.public(), want) {
			t.Errorf("the notice lacks %q:\n%s", want, r.public())
		}
	}
	if a := auditText(audit); strings.Contains(a, testPassword) || strings.Contains(logs.String(), testPassword) {
		t.Errorf("the password is in the audit or the log")
	}
	if last := audit.entries[len(audit.entries)-1]; last.Outcome != "password reset; not delivered" {
		t.Errorf("audit of the confirmation: %+v", last)
	}
}
