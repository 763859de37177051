package provision

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// PortProbe is what the host says of its TCP ports (provision/ports).
// Both methods are safe for concurrent use.
type PortProbe interface {
	// InUse reports whether something on this host already holds the TCP
	// port: a bind of it, on all addresses or on loopback, is refused.
	// The port allocator asks it so that a reserved port is also free in
	// fact.
	InUse(port int) bool
	// Listeners returns the host's listening TCP sockets, IPv4 and IPv6,
	// on any address, whose local port is one of ports, with the user
	// that made each. A table that cannot be read is an error, never a
	// partial answer.
	Listeners(ports ...int) ([]PortListener, error)
}

// PortListener is one listening TCP socket: its local port and the uid
// of the user that made it.
type PortListener struct {
	Addr string // the local address, for messages (0.0.0.0, ::, 127.0.0.1…)
	Port int
	UID  int
}

// Users is the host's user database (provision/sysusers). Its methods
// are safe for concurrent use.
type Users interface {
	// LookupUser returns the uid and the primary gid of system user name;
	// an error when there is no such user (or the database cannot say).
	LookupUser(name string) (uid, gid int, err error)
	// UserName returns the name of uid; false when it has none.
	UserName(uid int) (string, bool)
	// Home returns the home directory of system user name; an error when
	// there is no such user.
	Home(name string) (string, error)
}

// ErrPortTaken matches a *PortTakenError with errors.Is.
var ErrPortTaken = errors.New("port taken")

// PortTakenError says that a listening socket on one of an instance's
// ports belongs to a user the instance does not run as: whatever answers
// there (its health check, nginx's users with their logins and cookies)
// is someone else's. Its message is safe to show in chat.
type PortTakenError struct {
	Instance string
	Port     int
	Holder   string // the holder's user name, or its uid when it has none
	UID      int
	Want     string // the user the instance runs as
	// Tenant reports whether Holder is an instance's user (odoo-… or the
	// service user) rather than another program's.
	Tenant bool
	// Cause, when set, is the failure the taken port explains (a start
	// whose process could not bind it); Unwrap returns it.
	Cause error
}

// Summary is the message without Cause.
func (e *PortTakenError) Summary() string {
	who := "another program took it"
	if e.Tenant {
		who = "another instance took it"
	}
	return fmt.Sprintf("port %d of %s is held by user %s (uid %d), not %s: %s; nothing of %s is served there until it lets go (ss -ltnpe 'sport = :%d' shows the process; stopping it is an operator's decision)",
		e.Port, e.Instance, e.Holder, e.UID, e.Want, who, e.Instance, e.Port)
}

func (e *PortTakenError) Error() string {
	if e.Cause != nil {
		return e.Summary() + "; and so: " + e.Cause.Error()
	}
	return e.Summary()
}

// Is matches ErrPortTaken.
func (e *PortTakenError) Is(target error) bool { return target == ErrPortTaken }

// Unwrap returns Cause.
func (e *PortTakenError) Unwrap() error { return e.Cause }

// explainStart returns err, the failure of a start or restart of inst,
// or, when a user inst does not run as holds one of its ports (its
// process could not bind it), the *PortTakenError saying so, with err as
// its Cause.
func explainStart(h hostProbes, inst Instance, serviceUser string, err error) error {
	var pe *PortTakenError
	if err != nil && errors.As(CheckPortOwners(h.ports, h.users, inst, serviceUser), &pe) {
		pe.Cause = err
		return pe
	}
	return err
}

// RunsAs returns the Unix users instance inst may run as, derived from
// its name (SystemUser), never from what its row stores: its own
// odoo-NAME; for an instance imported from API-DEV that is not isolated
// yet (system_user and db_role both empty, Layout.CheckStored's one
// alternative), serviceUser first and its own next (an isolation starts
// it as its own user before the row says so). serviceUser "" is left out.
func RunsAs(inst Instance, serviceUser string) []string {
	own := SystemUser(inst.Name)
	if inst.User == "" && inst.DBRole == "" && serviceUser != "" && serviceUser != own {
		return []string{serviceUser, own}
	}
	return []string{own}
}

// CheckPortOwners asks ports for the host's listening TCP sockets
// (provision/ports: the kernel's tables) and users who made them, and
// returns nil
// when every one on inst's HTTP or gevent port, on any address
// (127.0.0.1, 0.0.0.0, ::, or another), belongs to a user inst runs as
// (RunsAs); otherwise a *PortTakenError for the first that does not, the
// HTTP port first. No listener at all is not its concern (the health
// check's). It holds whatever systemd enforces: on a host where
// SocketBindAllow is loaded but not enforced (cgroup v1), a neighbour
// that binds an instance's port while it is down is found here.
func CheckPortOwners(ports PortProbe, users Users, inst Instance, serviceUser string) error {
	ls, err := ports.Listeners(inst.Ports.HTTP, inst.Ports.Gevent)
	if err != nil {
		return fmt.Errorf("provision: check who holds the ports of %s: %w", inst.Name, err)
	}
	return portOwners(inst, serviceUser, ls, users)
}

// portOwners is CheckPortOwners' decision on the listeners ls, with
// users the host's user database.
func portOwners(inst Instance, serviceUser string, ls []PortListener, users Users) error {
	want := RunsAs(inst, serviceUser)
	ok := map[int]bool{}
	for _, u := range want {
		if uid, _, err := users.LookupUser(u); err == nil {
			ok[uid] = true
		}
	}
	for _, port := range []int{inst.Ports.HTTP, inst.Ports.Gevent} {
		for _, l := range ls {
			if l.Port != port || port == 0 || ok[l.UID] {
				continue
			}
			holder, named := users.UserName(l.UID)
			if !named {
				holder = strconv.Itoa(l.UID)
			}
			tenant := named && (strings.HasPrefix(holder, "odoo-") || (serviceUser != "" && holder == serviceUser))
			return &PortTakenError{Instance: inst.Name, Port: port, Holder: holder, UID: l.UID, Want: want[0], Tenant: tenant}
		}
	}
	return nil
}
