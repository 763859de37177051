package provision

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"odoobot/internal/listeners"
)

// users is a host's user database for portOwners.
type users map[string]int

func (u users) uidOf(name string) (int, bool) { uid, ok := u[name]; return uid, ok }
func (u users) nameOf(uid int) (string, bool) {
	for n, id := range u {
		if id == uid {
			return n, true
		}
	}
	return "", false
}

func listener(addr string, port, uid int) listeners.Listener {
	return listeners.Listener{Addr: netip.MustParseAddr(addr), Port: port, UID: uid}
}

// TestPortOwnersDecision: a listener on an instance's HTTP or gevent
// port, on any address, passes only when its user is one the instance
// runs as (derived from its name); the message names the port, the
// instance, the holder and the user expected.
func TestPortOwnersDecision(t *testing.T) {
	host := users{"root": 0, "odoo": 999, "odoo-acme": 1002, "odoo-globex": 1003, "www-data": 33}
	acme := Instance{Name: "acme", User: "odoo-acme", DBRole: "prod-acme", Ports: Ports{HTTP: 2105, Gevent: 8105}}
	imported := Instance{Name: "acme", Ports: acme.Ports} // system_user and db_role empty
	tests := []struct {
		name string
		inst Instance
		ls   []listeners.Listener
		want string // "" for nil, else the start of the message
	}{
		{"none", acme, nil, ""},
		{"own on both ports, v4 and v6", acme, []listeners.Listener{listener("127.0.0.1", 2105, 1002), listener("::", 8105, 1002)}, ""},
		{"a neighbour's on other ports", acme, []listeners.Listener{listener("127.0.0.1", 2106, 1003), listener("0.0.0.0", 8106, 1003)}, ""},
		{"a neighbour on the HTTP port", acme, []listeners.Listener{listener("127.0.0.1", 2105, 1003)},
			"port 2105 of acme is held by user odoo-globex (uid 1003), not odoo-acme: another instance took it"},
		{"a neighbour on the wildcard beside its own", acme, []listeners.Listener{listener("127.0.0.1", 2105, 1002), listener("0.0.0.0", 2105, 1003)},
			"port 2105 of acme is held by user odoo-globex (uid 1003), not odoo-acme: another instance took it"},
		{"a neighbour on the gevent port, IPv6", acme, []listeners.Listener{listener("127.0.0.1", 2105, 1002), listener("::ffff:127.0.0.1", 8105, 1003)},
			"port 8105 of acme is held by user odoo-globex (uid 1003), not odoo-acme: another instance took it"},
		{"the service user on an isolated instance's port", acme, []listeners.Listener{listener("::1", 2105, 999)},
			"port 2105 of acme is held by user odoo (uid 999), not odoo-acme: another instance took it"},
		{"another program", acme, []listeners.Listener{listener("127.0.0.1", 2105, 33)},
			"port 2105 of acme is held by user www-data (uid 33), not odoo-acme: another program took it"},
		{"a uid with no name", acme, []listeners.Listener{listener("127.0.0.1", 8105, 4242)},
			"port 8105 of acme is held by user 4242 (uid 4242), not odoo-acme: another program took it"},
		{"root", acme, []listeners.Listener{listener("0.0.0.0", 2105, 0)},
			"port 2105 of acme is held by user root (uid 0), not odoo-acme: another program took it"},
		{"imported, on the service user", imported, []listeners.Listener{listener("127.0.0.1", 2105, 999)}, ""},
		{"imported, being isolated", imported, []listeners.Listener{listener("127.0.0.1", 2105, 1002)}, ""},
		{"imported, a neighbour", imported, []listeners.Listener{listener("127.0.0.1", 2105, 1003)},
			"port 2105 of acme is held by user odoo-globex (uid 1003), not odoo: another instance took it"},
		// The row's user is never trusted: a row naming the neighbour's
		// user does not make its listener the instance's.
		{"a row naming the neighbour", Instance{Name: "acme", User: "odoo-globex", DBRole: "prod-acme", Ports: acme.Ports}, []listeners.Listener{listener("127.0.0.1", 2105, 1003)},
			"port 2105 of acme is held by user odoo-globex (uid 1003), not odoo-acme"},
	}
	for _, tt := range tests {
		err := portOwners(tt.inst, "odoo", tt.ls, host.uidOf, host.nameOf)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v, want nil", tt.name, err)
		case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want) || !errors.Is(err, ErrPortTaken)):
			t.Errorf("%s: %v, want %q (ErrPortTaken)", tt.name, err, tt.want)
		}
	}
}

// holderName is how CheckPortOwners names this process's user.
func holderName(t *testing.T) string {
	t.Helper()
	if n, ok := lookupUserName(os.Getuid()); ok {
		return n
	}
	return strconv.Itoa(os.Getuid())
}

// stoppedServices is a unit that is stopped until started; it records
// what it is told.
type stoppedServices struct {
	recordingServices
	running bool
}

func (s *stoppedServices) Start(ctx context.Context, u string) error {
	s.running = true
	return s.recordingServices.Start(ctx, u)
}
func (s *stoppedServices) Status(_ context.Context, u string) (ServiceStatus, error) {
	if s.running {
		return ServiceStatus{ActiveState: "active", SubState: "running"}, nil
	}
	return ServiceStatus{ActiveState: "inactive", SubState: "dead"}, nil
}

// TestOperatorRefusesAForeignListener: while another user (here this
// test's, not odoo-acme) listens on acme's HTTP port and answers its
// health check with 200, start and restart fail naming that user,
// status says the port is held and does not call acme healthy.
func TestOperatorRefusesAForeignListener(t *testing.T) {
	if _, ok := lookupUID(SystemUser("acme")); ok {
		t.Skip("this host has a user odoo-acme")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK) // a captured /web/health
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	l := trustLayout(t)
	inst := l.NewInstance("acme", SSLHTTP)
	inst.State = StateReady
	inst.Ports = Ports{HTTP: port, Gevent: port + 1}
	want := "port " + strconv.Itoa(port) + " of acme is held by user " + holderName(t) + " (uid " + strconv.Itoa(os.Getuid()) + "), not odoo-acme"

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	svc := &stoppedServices{}
	o := &Operator{Store: rowStore{inst}, Services: svc, Layout: l, ServiceUser: "odoo"}
	st, err := o.Status(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if st.Healthy || !strings.HasPrefix(st.Ports, want) || !strings.Contains(FormatStatus(st, time.Now()), want) {
		t.Errorf("status of a stopped acme whose port is held: healthy %v, ports %q\n%s\nwant it to say %q", st.Healthy, st.Ports, FormatStatus(st, time.Now()), want)
	}
	if err := o.Start(ctx, "acme"); !errors.Is(err, ErrPortTaken) || !strings.Contains(err.Error(), want) {
		t.Errorf("start: %v, want a failure saying %q", err, want)
	}
	if err := o.Restart(ctx, "acme"); !errors.Is(err, ErrPortTaken) || !strings.Contains(err.Error(), want) {
		t.Errorf("restart: %v, want a failure saying %q", err, want)
	}
	st, err = o.Status(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if st.Healthy || !strings.HasPrefix(st.Ports, want) {
		t.Errorf("status of a running acme whose port is held: healthy %v, ports %q, want not healthy, saying %q", st.Healthy, st.Ports, want)
	}
}

// failingStart is a unit whose process cannot start (it cannot bind its
// port): systemd's start fails.
type failingStart struct{ stoppedServices }

func (s *failingStart) Start(context.Context, string) error {
	return &UnitError{Op: "start", Unit: "odoo19e-prod-acme.service", Result: "done", ActiveState: "activating", SubState: "auto-restart"}
}

// TestAFailedStartSaysWhoHoldsThePort: when the unit itself fails to
// start (its process could not bind the port another user holds), the
// failure names the holder, with systemd's failure as its cause.
func TestAFailedStartSaysWhoHoldsThePort(t *testing.T) {
	if _, ok := lookupUID(SystemUser("acme")); ok {
		t.Skip("this host has a user odoo-acme")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	layout := trustLayout(t)
	inst := layout.NewInstance("acme", SSLHTTP)
	inst.State = StateReady
	inst.Ports = Ports{HTTP: l.Addr().(*net.TCPAddr).Port, Gevent: 1}
	o := &Operator{Store: rowStore{inst}, Services: &failingStart{}, Layout: layout}
	err = o.Start(context.Background(), "acme")
	var pe *PortTakenError
	var ue *UnitError
	if !errors.As(err, &pe) || pe.Port != inst.Ports.HTTP || pe.UID != os.Getuid() || !errors.As(err, &ue) {
		t.Errorf("start: %v, want a *PortTakenError for port %d, uid %d, caused by systemd's *UnitError", err, inst.Ports.HTTP, os.Getuid())
	}
	if err := o.Start(context.Background(), "acme"); err == nil {
		t.Fatal("start succeeded")
	}
	l.Close()
	if err := o.Start(context.Background(), "acme"); errors.Is(err, ErrPortTaken) || !errors.As(err, &ue) {
		t.Errorf("start once the port is free: %v, want systemd's failure alone", err)
	}
}

// TestCheckPortOwnersReadsTheHost: a listener of this process on an
// instance's gevent port is found in the kernel's tables (IPv6 when
// the host has it), and passes when the instance runs as this user.
func TestCheckPortOwnersReadsTheHost(t *testing.T) {
	me := holderName(t)
	for _, network := range []string{"tcp4", "tcp6"} {
		l, err := net.Listen(network, map[string]string{"tcp4": "0.0.0.0:0", "tcp6": "[::]:0"}[network])
		if err != nil {
			t.Logf("%s: %v", network, err)
			continue
		}
		port := l.Addr().(*net.TCPAddr).Port
		inst := Instance{Name: "acme", Ports: Ports{HTTP: 1, Gevent: port}}
		err = CheckPortOwners(inst, "")
		var pe *PortTakenError
		if !errors.As(err, &pe) || pe.Port != port || pe.UID != os.Getuid() {
			t.Errorf("%s: CheckPortOwners = %v, want port %d held by uid %d", network, err, port, os.Getuid())
		}
		if err := CheckPortOwners(inst, me); err != nil && SystemUser("acme") != me {
			t.Errorf("%s: an imported instance run by %s: %v, want nil", network, me, err)
		}
		l.Close()
	}
}
