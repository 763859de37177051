package commands

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os/user"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/provision"
	"odoobot/provision/ports"
	"odoobot/provision/probe"
	"odoobot/provision/sysusers"
	"odoobot/provision/tree"
)

func TestAlertCommand(t *testing.T) {
	for _, a := range InstanceActions("acme") {
		got, err := AlertCommand(a.Command)
		if err != nil || got != a.Command {
			t.Errorf("the %s button's own command %q: %q, %v", a.Label, a.Command, got, err)
		}
	}
	if got, _ := AlertCommand("  RESTART   acme "); got != "restart acme" {
		t.Errorf("spaced, capitalised restart: %q", got)
	}
	for _, bad := range []string{"", "delete acme", "confirm 0123abcd", "restart", "logs acme 500 share", "logs acme share", "restart acme beta", "create evil http", "help"} {
		if got, err := AlertCommand(bad); err == nil {
			t.Errorf("AlertCommand(%q) = %q, want it refused", bad, got)
		}
	}
}

// holds records what the dispatcher tells the watcher.
type holds struct{ calls []string }

func (h *holds) Hold(name string)    { h.calls = append(h.calls, "hold "+name) }
func (h *holds) Release(name string) { h.calls = append(h.calls, "release "+name) }

// units is a provision.ServiceManager that only starts and stops.
type units struct{ running map[string]bool }

func (u *units) Install(context.Context, string, []byte) error { return nil }
func (u *units) Remove(context.Context, string) error          { return nil }
func (u *units) Start(_ context.Context, unit string) error {
	u.running[unit] = true
	return nil
}
func (u *units) Stop(_ context.Context, unit string) error {
	u.running[unit] = false
	return nil
}
func (u *units) Restart(_ context.Context, unit string) error {
	u.running[unit] = true
	return nil
}
func (u *units) Status(_ context.Context, unit string) (provision.ServiceStatus, error) {
	st := provision.ServiceStatus{Unit: unit, ActiveState: "inactive"}
	if u.running[unit] {
		st.ActiveState = "active"
	}
	return st, nil
}
func (u *units) Journal(context.Context, string, int) ([]string, error) { return nil, nil }

func (u *units) SetEnabled(context.Context, string, bool) error { return nil }

func TestServiceControlTellsTheWatcher(t *testing.T) {
	d, _, _, _ := newAdminDispatcher(t, adminAllowlist)
	layout := provision.Layout{Zone: "example.com"}
	inst := layout.NewInstance("acme", provision.SSLLetsEncrypt)
	inst.State = provision.StateReady
	health := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer health.Close()
	inst.Ports.HTTP = health.Listener.Addr().(*net.TCPAddr).Port
	// The health server is this test's: the instance is one imported on
	// its user, so that its port is the instance's own.
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	inst.User, inst.DBRole = "", ""
	d.Operator = &provision.Operator{Files: tree.New(layout), Store: instancesOf{inst}, Layout: layout, ServiceUser: me.Username,
		Services: &units{running: map[string]bool{inst.Unit: true}},
		Health:   probe.Health{}, Ports: ports.Host{}, Users: sysusers.Host{}}
	h := &holds{}
	d.Watch = h
	ctx := context.Background()
	for _, req := range []struct{ user, text string }{
		{"U0OPER001", "stop acme"}, {"U0OPER001", "start acme"}, {"U0ADMIN01", "restart acme"},
		{"U0OPER001", "status acme"}, {"U0STRANGER", "stop acme"},
	} {
		r := &recordingResponder{}
		if _, err := d.Handle(ctx, Request{Identity: Identity{Platform: "slack", UserID: req.user}, Channel: "C1", Text: req.text}, r); err != nil {
			t.Fatalf("%s: %v", req.text, err)
		}
		if req.user != "U0STRANGER" && (len(r.replies) != 1 || len(r.privates) != 0) {
			t.Errorf("%s: replies %q privates %q", req.text, r.replies, r.privates)
		}
	}
	if got := strings.Join(h.calls, ", "); got != "hold acme, release acme, release acme" {
		t.Errorf("the watcher was told %q, want hold, release, release (and nothing for a refused stop)", got)
	}
}

// book is an AlertBook double: an open alert about acme.
type book struct {
	acked string
	notes []AlertNote
}

func (b *book) Acknowledge(_ context.Context, name, who string) (string, error) {
	if name != "acme" {
		return "", ErrNoOpenAlert
	}
	if b.acked != "" {
		return b.acked, nil
	}
	b.acked = who
	return "", nil
}
func (b *book) Note(_ context.Context, n AlertNote) { b.notes = append(b.notes, n) }

// ack is an operator's: a viewer's is refused privately and acknowledges
// nothing; an operator's is answered in the channel and recorded with
// who; a second one says who took it; every attempt is audited.
func TestAckIsAnOperatorsAndAudited(t *testing.T) {
	d, _, audit, _ := newAdminDispatcher(t, adminAllowlist+"viewer slack user U0VIEW001\n")
	b := &book{}
	d.Alerts = b
	ctx := context.Background()
	run := func(user, name, text string) *recordingResponder {
		t.Helper()
		r := &recordingResponder{}
		if _, err := d.Handle(ctx, Request{Identity: Identity{Platform: "slack", UserID: user, UserName: name}, Channel: "C0ALERT", Text: text}, r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := run("U0VIEW001", "val", "ack acme")
	if len(r.replies) != 0 || len(r.privates) != 1 || !strings.Contains(r.privates[0], "need role operator to run ack") || b.acked != "" {
		t.Errorf("the viewer's ack: replies %q privates %q, acknowledged by %q", r.replies, r.privates, b.acked)
	}
	r = run("U0OPER001", "olga", "ack acme")
	if len(r.replies) != 1 || r.replies[0] != "acme: alert acknowledged by olga; it is not repeated any more" || b.acked != "olga" {
		t.Errorf("the operator's ack: replies %q privates %q, acknowledged by %q", r.replies, r.privates, b.acked)
	}
	r = run("U0ADMIN01", "ana", "ack acme")
	if len(r.privates) != 1 || !strings.Contains(r.privates[0], "already acknowledged by olga") || b.acked != "olga" {
		t.Errorf("a second ack: replies %q privates %q", r.replies, r.privates)
	}
	r = run("U0OPER001", "olga", "ack beta")
	if len(r.privates) != 1 || r.privates[0] != "there is no open alert about beta to acknowledge" {
		t.Errorf("ack without an alert: replies %q privates %q", r.replies, r.privates)
	}
	var seen []string
	for _, e := range audit.entries {
		seen = append(seen, e.UserID+" "+e.Command+" "+string(e.Decision)+" "+string(e.Outcome))
	}
	want := []string{
		"U0VIEW001 ack acme denied refused: you (U0VIEW001) need role operator to run ack; you have viewer",
		"U0OPER001 ack acme allowed ok", "U0ADMIN01 ack acme allowed ok (already acknowledged)",
		"U0OPER001 ack beta allowed failed: there is no open alert about beta to acknowledge",
	}
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
}

// The Silence button's command opens the window the book is told of.
func TestAlertButtonsIncludeSilenceAndAck(t *testing.T) {
	for _, v := range []string{"ack acme", "maintenance acme 1h alert silenced", "MAINTENANCE  acme 1h alert silenced"} {
		if _, err := AlertCommand(v); err != nil {
			t.Errorf("AlertCommand(%q): %v", v, err)
		}
	}
	for _, v := range []string{"maintenance acme 168h alert silenced", "maintenance acme off", "maintenance acme 1h", "ack acme now"} {
		if got, err := AlertCommand(v); err == nil {
			t.Errorf("AlertCommand(%q) = %q, want it refused", v, got)
		}
	}
	long := strings.Repeat("a", 50)
	for _, a := range InstanceActions(long) {
		if n := len("odoobot_alert:" + a.Command); n > 100 {
			t.Errorf("the %s button of a 50-character name carries %d characters; Discord takes 100", a.Label, n)
		}
	}
}

// windows is a provision.MaintenanceRecorder that keeps nothing.
type windows struct{}

func (windows) SetMaintenance(context.Context, string, provision.Maintenance) error { return nil }

// The alert book hears of every restart, stop and start and of each
// maintenance window an operator opens, with who, and whether it
// failed; a command refused by the allowlist tells it nothing.
func TestServiceControlAndMaintenanceTellTheAlertBook(t *testing.T) {
	d, _, _, _ := newAdminDispatcher(t, adminAllowlist)
	layout := provision.Layout{Zone: "example.com"}
	inst := layout.NewInstance("acme", provision.SSLLetsEncrypt)
	inst.State = provision.StateReady
	health := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer health.Close()
	inst.Ports.HTTP = health.Listener.Addr().(*net.TCPAddr).Port
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	inst.User, inst.DBRole = "", "" // imported on this test's user, whose health server holds the port
	now := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	d.Now = func() time.Time { return now }
	d.Operator = &provision.Operator{Files: tree.New(layout), Store: instancesOf{inst}, Layout: layout,
		Services: &units{running: map[string]bool{inst.Unit: true}}, Health: probe.Health{}, Ports: ports.Host{}, Users: sysusers.Host{},
		Maintenance: windows{}, Now: func() time.Time { return now }, ServiceUser: me.Username}
	b := &book{}
	d.Alerts = b
	for _, req := range []struct{ user, name, text string }{
		{"U0OPER001", "olga", "restart acme"}, {"U0OPER001", "olga", "maintenance acme 1h alert silenced"},
		{"U0ADMIN01", "ana", "stop acme"}, {"U0ADMIN01", "ana", "stop acme"}, {"U0STRANGER", "eve", "restart acme"},
	} {
		r := &recordingResponder{}
		if _, err := d.Handle(context.Background(), Request{Identity: Identity{Platform: "slack", UserID: req.user, UserName: req.name}, Channel: "C1", Text: req.text}, r); err != nil {
			t.Fatalf("%s: %v", req.text, err)
		}
	}
	want := []AlertNote{
		{Name: "acme", Verb: VerbRestart, Who: "olga", At: now},
		{Name: "acme", Verb: VerbMaintenance, Who: "olga", Until: now.Add(time.Hour), At: now},
		{Name: "acme", Verb: VerbStop, Who: "ana", At: now},
		{Name: "acme", Verb: VerbStop, Who: "ana", Failed: true, At: now}, // already stopped
	}
	if d := cmp.Diff(b.notes, want); d != "" {
		t.Errorf("the book was told (-got +want):\n%s", d)
	}
}
