package provision

import (
	"errors"
	"fmt"
	"os/user"
	"strconv"
	"strings"

	"odoobot/internal/listeners"
)

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
func explainStart(inst Instance, serviceUser string, err error) error {
	var pe *PortTakenError
	if err != nil && errors.As(CheckPortOwners(inst, serviceUser), &pe) {
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

// CheckPortOwners reads the kernel's listening TCP sockets
// (internal/listeners: /proc/net/tcp and tcp6, bounded) and returns nil
// when every one on inst's HTTP or gevent port, on any address
// (127.0.0.1, 0.0.0.0, ::, or another), belongs to a user inst runs as
// (RunsAs); otherwise a *PortTakenError for the first that does not, the
// HTTP port first. No listener at all is not its concern (the health
// check's). It holds whatever systemd enforces: on a host where
// SocketBindAllow is loaded but not enforced (cgroup v1), a neighbour
// that binds an instance's port while it is down is found here.
func CheckPortOwners(inst Instance, serviceUser string) error {
	ls, err := listeners.Read(inst.Ports.HTTP, inst.Ports.Gevent)
	if err != nil {
		return fmt.Errorf("provision: check who holds the ports of %s: %w", inst.Name, err)
	}
	return portOwners(inst, serviceUser, ls, lookupUID, lookupUserName)
}

// portOwners is CheckPortOwners' decision on the listeners ls, with
// uidOf and nameOf the host's user database.
func portOwners(inst Instance, serviceUser string, ls []listeners.Listener, uidOf func(string) (int, bool), nameOf func(int) (string, bool)) error {
	want := RunsAs(inst, serviceUser)
	ok := map[int]bool{}
	for _, u := range want {
		if uid, found := uidOf(u); found {
			ok[uid] = true
		}
	}
	for _, port := range []int{inst.Ports.HTTP, inst.Ports.Gevent} {
		for _, l := range ls {
			if l.Port != port || port == 0 || ok[l.UID] {
				continue
			}
			holder, named := nameOf(l.UID)
			if !named {
				holder = strconv.Itoa(l.UID)
			}
			tenant := named && (strings.HasPrefix(holder, "odoo-") || (serviceUser != "" && holder == serviceUser))
			return &PortTakenError{Instance: inst.Name, Port: port, Holder: holder, UID: l.UID, Want: want[0], Tenant: tenant}
		}
	}
	return nil
}

// lookupUID is the uid of user name, if it exists.
func lookupUID(name string) (int, bool) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, false
	}
	uid, err := strconv.Atoi(u.Uid)
	return uid, err == nil
}

// lookupUserName is the name of uid, if it has one.
func lookupUserName(uid int) (string, bool) {
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return "", false
	}
	return u.Username, true
}
