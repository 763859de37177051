// Package ports answers what the host says of its TCP ports
// (provision.PortProbe): whether one can be bound, and who listens on
// it (the kernel's tables, read by internal/listeners).
package ports

import (
	"net"
	"strconv"

	"odoobot/internal/listeners"
	"odoobot/provision"
)

var _ provision.PortProbe = Host{}

// Host is this host's network namespace. The zero value is ready to use.
type Host struct{}

// InUse reports whether something on this host already holds the TCP
// port: it tries to bind it on all addresses and on loopback, and a
// refusal on either means the port is taken.
func (Host) InUse(port int) bool {
	for _, addr := range []string{":", "127.0.0.1:"} {
		l, err := net.Listen("tcp", addr+strconv.Itoa(port))
		if err != nil {
			return true
		}
		l.Close()
	}
	return false
}

// Listeners returns the listening TCP sockets on any of ports, IPv4 and
// IPv6 (/proc/net/tcp and tcp6, bounded: internal/listeners.Read).
func (Host) Listeners(ports ...int) ([]provision.PortListener, error) {
	ls, err := listeners.Read(ports...)
	if err != nil {
		return nil, err // already "listeners: …"
	}
	out := make([]provision.PortListener, len(ls))
	for i, l := range ls {
		out[i] = provision.PortListener{Addr: l.Addr.String(), Port: l.Port, UID: l.UID}
	}
	return out, nil
}
