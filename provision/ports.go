package provision

import (
	"net"
	"strconv"
)

// ListeningOnHost reports whether something on this host already holds
// the TCP port: it tries to bind it on all addresses and on loopback, and
// a refusal on either means the port is taken. It is the probe the port
// allocator uses so that a reserved port is also free in fact.
func ListeningOnHost(port int) bool {
	for _, addr := range []string{":", "127.0.0.1:"} {
		l, err := net.Listen("tcp", addr+strconv.Itoa(port))
		if err != nil {
			return true
		}
		l.Close()
	}
	return false
}
