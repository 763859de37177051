package ports

import (
	"errors"
	"net"
	"os"
	"strconv"
	"testing"

	"odoobot/provision"
	"odoobot/provision/sysusers"
)

func TestInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if !(Host{}).InUse(port) {
		t.Errorf("port %d is held by this test but reported free", port)
	}
	l.Close()
	if (Host{}).InUse(port) {
		t.Errorf("port %d was released but reported taken", port)
	}
}

// holderName is how CheckPortOwners names this process's user.
func holderName() string {
	if n, ok := (sysusers.Host{}).UserName(os.Getuid()); ok {
		return n
	}
	return strconv.Itoa(os.Getuid())
}

// TestCheckPortOwnersReadsTheHost: a listener of this process on an
// instance's gevent port is found in the kernel's tables (IPv6 when
// the host has it), and passes when the instance runs as this user.
func TestCheckPortOwnersReadsTheHost(t *testing.T) {
	me := holderName()
	users := sysusers.Host{}
	for _, network := range []string{"tcp4", "tcp6"} {
		l, err := net.Listen(network, map[string]string{"tcp4": "0.0.0.0:0", "tcp6": "[::]:0"}[network])
		if err != nil {
			t.Logf("%s: %v", network, err)
			continue
		}
		port := l.Addr().(*net.TCPAddr).Port
		inst := provision.Instance{Name: "acme", Ports: provision.Ports{HTTP: 1, Gevent: port}}
		err = provision.CheckPortOwners(Host{}, users, inst, "")
		var pe *provision.PortTakenError
		if !errors.As(err, &pe) || pe.Port != port || pe.UID != os.Getuid() || pe.Holder != me {
			t.Errorf("%s: CheckPortOwners = %v, want port %d held by %s (uid %d)", network, err, port, me, os.Getuid())
		}
		if err := provision.CheckPortOwners(Host{}, users, inst, me); err != nil && provision.SystemUser("acme") != me {
			t.Errorf("%s: an imported instance run by %s: %v, want nil", network, me, err)
		}
		ls, err := (Host{}).Listeners(port)
		if err != nil || len(ls) == 0 || ls[0].Port != port || ls[0].UID != os.Getuid() {
			t.Errorf("%s: Listeners(%d) = %+v, %v", network, port, ls, err)
		}
		l.Close()
	}
}
