package provision

import (
	"context"
	"errors"
	"fmt"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// users is a host's user database, a test double of
// provision/sysusers: name → uid (the gid is the uid).
type users map[string]int

func (u users) LookupUser(name string) (int, int, error) {
	if uid, ok := u[name]; ok {
		return uid, uid, nil
	}
	return 0, 0, fmt.Errorf("no user %s", name)
}

func (u users) UserName(uid int) (string, bool) {
	for n, id := range u {
		if id == uid {
			return n, true
		}
	}
	return "", false
}

func (u users) Home(name string) (string, error) {
	if _, ok := u[name]; ok {
		return "/home/" + name, nil
	}
	return "", fmt.Errorf("no user %s", name)
}

// hostUsers is this host's user database (os/user), for tests whose
// files must belong to real users.
type hostUsers struct{}

func (hostUsers) LookupUser(name string) (int, int, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uid, gid, nil
}

func (hostUsers) Home(name string) (string, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return "", err
	}
	return u.HomeDir, nil
}

func (hostUsers) UserName(uid int) (string, bool) {
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return "", false
	}
	return u.Username, true
}

// hostPorts is a host's listening sockets, a test double of
// provision/ports; it is safe for concurrent use.
type hostPorts struct {
	mu sync.Mutex
	ls []PortListener
}

func (h *hostPorts) InUse(port int) bool {
	ls, _ := h.Listeners(port)
	return len(ls) > 0
}

func (h *hostPorts) Listeners(ports ...int) ([]PortListener, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []PortListener
	for _, l := range h.ls {
		for _, p := range ports {
			if l.Port == p {
				out = append(out, l)
			}
		}
	}
	return out, nil
}

// set makes ls the host's listening sockets.
func (h *hostPorts) set(ls ...PortListener) {
	h.mu.Lock()
	h.ls = ls
	h.mu.Unlock()
}

// upHealth is an Odoo that answers its health check, whoever runs it: a
// test double of provision/probe.
type upHealth struct{}

func (upHealth) Check(context.Context, int) error { return nil }
func (upHealth) URL(port int) string              { return "http://127.0.0.1:" + strconv.Itoa(port) + "/web/health" }

func listener(addr string, port, uid int) PortListener {
	return PortListener{Addr: addr, Port: port, UID: uid}
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
		ls   []PortListener
		want string // "" for nil, else the start of the message
	}{
		{"none", acme, nil, ""},
		{"own on both ports, v4 and v6", acme, []PortListener{listener("127.0.0.1", 2105, 1002), listener("::", 8105, 1002)}, ""},
		{"a neighbour's on other ports", acme, []PortListener{listener("127.0.0.1", 2106, 1003), listener("0.0.0.0", 8106, 1003)}, ""},
		{"a neighbour on the HTTP port", acme, []PortListener{listener("127.0.0.1", 2105, 1003)},
			"port 2105 of acme is held by user odoo-globex (uid 1003), not odoo-acme: another instance took it"},
		{"a neighbour on the wildcard beside its own", acme, []PortListener{listener("127.0.0.1", 2105, 1002), listener("0.0.0.0", 2105, 1003)},
			"port 2105 of acme is held by user odoo-globex (uid 1003), not odoo-acme: another instance took it"},
		{"a neighbour on the gevent port, IPv6", acme, []PortListener{listener("127.0.0.1", 2105, 1002), listener("::ffff:127.0.0.1", 8105, 1003)},
			"port 8105 of acme is held by user odoo-globex (uid 1003), not odoo-acme: another instance took it"},
		{"the service user on an isolated instance's port", acme, []PortListener{listener("::1", 2105, 999)},
			"port 2105 of acme is held by user odoo (uid 999), not odoo-acme: another instance took it"},
		{"another program", acme, []PortListener{listener("127.0.0.1", 2105, 33)},
			"port 2105 of acme is held by user www-data (uid 33), not odoo-acme: another program took it"},
		{"a uid with no name", acme, []PortListener{listener("127.0.0.1", 8105, 4242)},
			"port 8105 of acme is held by user 4242 (uid 4242), not odoo-acme: another program took it"},
		{"root", acme, []PortListener{listener("0.0.0.0", 2105, 0)},
			"port 2105 of acme is held by user root (uid 0), not odoo-acme: another program took it"},
		{"imported, on the service user", imported, []PortListener{listener("127.0.0.1", 2105, 999)}, ""},
		{"imported, being isolated", imported, []PortListener{listener("127.0.0.1", 2105, 1002)}, ""},
		{"imported, a neighbour", imported, []PortListener{listener("127.0.0.1", 2105, 1003)},
			"port 2105 of acme is held by user odoo-globex (uid 1003), not odoo: another instance took it"},
		// The row's user is never trusted: a row naming the neighbour's
		// user does not make its listener the instance's.
		{"a row naming the neighbour", Instance{Name: "acme", User: "odoo-globex", DBRole: "prod-acme", Ports: acme.Ports}, []PortListener{listener("127.0.0.1", 2105, 1003)},
			"port 2105 of acme is held by user odoo-globex (uid 1003), not odoo-acme"},
	}
	for _, tt := range tests {
		err := portOwners(tt.inst, "odoo", tt.ls, host)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v, want nil", tt.name, err)
		case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want) || !errors.Is(err, ErrPortTaken)):
			t.Errorf("%s: %v, want %q (ErrPortTaken)", tt.name, err, tt.want)
		}
	}
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
	const port = 2105
	l := trustLayout(t)
	inst := l.NewInstance("acme", SSLHTTP)
	inst.State = StateReady
	inst.Ports = Ports{HTTP: port, Gevent: port + 1}
	// A neighbour's user listens on acme's HTTP port, and its /web/health
	// answers 200.
	host := &hostPorts{}
	host.set(listener("127.0.0.1", port, 1003))
	want := "port 2105 of acme is held by user odoo-globex (uid 1003), not odoo-acme"

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	svc := &stoppedServices{}
	o := &Operator{Store: rowStore{inst}, Services: svc, Layout: l, ServiceUser: "odoo",
		Health: upHealth{}, Ports: host, Users: users{"odoo": 999, "odoo-acme": 1002, "odoo-globex": 1003}}
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
	layout := trustLayout(t)
	inst := layout.NewInstance("acme", SSLHTTP)
	inst.State = StateReady
	inst.Ports = Ports{HTTP: 2105, Gevent: 1}
	host := &hostPorts{}
	host.set(listener("0.0.0.0", 2105, 33))
	o := &Operator{Store: rowStore{inst}, Services: &failingStart{}, Layout: layout,
		Health: upHealth{}, Ports: host, Users: users{"odoo-acme": 1002, "www-data": 33}}
	err := o.Start(context.Background(), "acme")
	var pe *PortTakenError
	var ue *UnitError
	if !errors.As(err, &pe) || pe.Port != inst.Ports.HTTP || pe.UID != 33 || pe.Holder != "www-data" || pe.Tenant || !errors.As(err, &ue) {
		t.Errorf("start: %v, want a *PortTakenError for port %d, www-data (uid 33), another program, caused by systemd's *UnitError", err, inst.Ports.HTTP)
	}
	if err := o.Start(context.Background(), "acme"); err == nil {
		t.Fatal("start succeeded")
	}
	host.set()
	if err := o.Start(context.Background(), "acme"); errors.Is(err, ErrPortTaken) || !errors.As(err, &ue) {
		t.Errorf("start once the port is free: %v, want systemd's failure alone", err)
	}
}
