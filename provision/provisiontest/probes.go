package provisiontest

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"odoobot/provision"
)

// uidOf is the uid the model gives user name: the service user's is
// 1000, every other user's 2000 and up, in the order of their names.
// h.mu is held.
func (h *Host) uidOf(name string) (int, bool) {
	if name == h.ServiceUser {
		return 1000, true
	}
	if _, ok := h.users[name]; !ok {
		return 0, false
	}
	return 2000 + slices.Index(slices.Sorted(maps.Keys(h.users)), name), true
}

// Users is a provision.Users over the model's system users.
type Users struct{ h *Host }

var _ provision.Users = (*Users)(nil)

// Users are the host's user database.
func (h *Host) Users() *Users { return &Users{h: h} }

// LookupUser returns a user's uid and gid (the same number).
func (u *Users) LookupUser(name string) (int, int, error) {
	u.h.mu.Lock()
	defer u.h.mu.Unlock()
	uid, ok := u.h.uidOf(name)
	if !ok {
		return 0, 0, fmt.Errorf("provisiontest: user %s: %w", name, provision.ErrNoSystemUser)
	}
	return uid, uid, nil
}

// UserName returns the name of uid.
func (u *Users) UserName(uid int) (string, bool) {
	u.h.mu.Lock()
	defer u.h.mu.Unlock()
	for _, n := range append(slices.Collect(maps.Keys(u.h.users)), u.h.ServiceUser) {
		if got, _ := u.h.uidOf(n); got == uid {
			return n, true
		}
	}
	return "", false
}

// Home returns a user's home.
func (u *Users) Home(name string) (string, error) {
	u.h.mu.Lock()
	defer u.h.mu.Unlock()
	if name == u.h.ServiceUser {
		return "/home/" + name, nil
	}
	home, ok := u.h.users[name]
	if !ok {
		return "", fmt.Errorf("provisiontest: user %s: %w", name, provision.ErrNoSystemUser)
	}
	return home, nil
}

// listening returns, for each running instance, its ports and the user
// it runs as. h.mu is held.
func (h *Host) listening() []provision.PortListener {
	var out []provision.PortListener
	for _, inst := range h.instances {
		u, ok := h.units[h.Layout.Paths(inst).Unit]
		if !ok || !u.Active {
			continue
		}
		user := inst.User
		if user == "" {
			user = h.ServiceUser
		}
		uid, _ := h.uidOf(user)
		for _, p := range []int{inst.Ports.HTTP, inst.Ports.Gevent} {
			out = append(out, provision.PortListener{Addr: "127.0.0.1", Port: p, UID: uid})
		}
	}
	return out
}

// Ports is a provision.PortProbe over the running instances.
type Ports struct{ h *Host }

var _ provision.PortProbe = (*Ports)(nil)

// Ports are the host's TCP ports.
func (h *Host) Ports() *Ports { return &Ports{h: h} }

// InUse reports whether a running instance listens on port.
func (p *Ports) InUse(port int) bool {
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	for _, l := range p.h.listening() {
		if l.Port == port {
			return true
		}
	}
	return false
}

// Listeners returns who listens on ports.
func (p *Ports) Listeners(ports ...int) ([]provision.PortListener, error) {
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	var out []provision.PortListener
	for _, l := range p.h.listening() {
		if slices.Contains(ports, l.Port) {
			out = append(out, l)
		}
	}
	return out, nil
}

// Health is a provision.HealthChecker: an instance's port answers when
// its unit runs.
type Health struct{ h *Host }

var _ provision.HealthChecker = (*Health)(nil)

// Health checks the host's instances.
func (h *Host) Health() *Health { return &Health{h: h} }

// Check answers when a running instance listens on port.
func (c *Health) Check(_ context.Context, port int) error {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	for _, l := range c.h.listening() {
		if l.Port == port {
			return nil
		}
	}
	return fmt.Errorf("provisiontest: connection refused on port %d", port)
}

// URL is the health address of port.
func (c *Health) URL(port int) string {
	return fmt.Sprintf("http://127.0.0.1:%d/web/health", port)
}

// BindFilter says the host enforces units' bind filters.
type BindFilter struct{}

var _ provision.BindFilter = BindFilter{}

// BindFilterEnforced reports no problem.
func (BindFilter) BindFilterEnforced() error { return nil }

// HostFacts reports a roomy host.
type HostFacts struct{}

var _ provision.HostFactsReader = HostFacts{}

// HostFacts reports 64 GiB of memory, 32 GiB available, and 1 TiB free.
func (HostFacts) HostFacts(string) (provision.HostFacts, error) {
	return provision.HostFacts{MemTotal: 64 << 30, MemAvailable: 32 << 30, DiskFree: 1 << 40}, nil
}
