package commands

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os/user"
	"strings"
	"testing"

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
