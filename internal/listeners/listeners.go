// Package listeners reads the kernel's tables of TCP sockets
// (/proc/net/tcp and /proc/net/tcp6) and keeps the listening ones, with
// the user each belongs to: who would answer a connection to a port.
// The tables are the kernel's, not a tenant's, and are read bounded.
package listeners

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// Listener is one listening TCP socket (state 0A, TCP_LISTEN).
type Listener struct {
	Addr  netip.Addr // the local address it is bound to (0.0.0.0, ::, 127.0.0.1…)
	Port  int        // the local port
	UID   int        // the user that made it, as the reading process's user namespace sees it
	Inode uint64     // the socket's inode (socket:[INODE] in /proc/PID/fd)
}

// MaxTable bounds how much of one table is read: about 400,000
// sockets. A longer table is an error, never a partial answer.
const MaxTable = 64 << 20

// listenState is the st column of a listening socket (TCP_LISTEN).
const listenState = "0A"

// Read returns the listening TCP sockets of this network namespace, IPv4
// and IPv6, whose local port is one of ports (all of them when ports is
// empty). A table missing (a kernel without IPv6) counts as empty; one
// that cannot be read or parsed is an error.
func Read(ports ...int) ([]Listener, error) {
	var all []Listener
	for _, path := range [...]string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("listeners: %w", err)
		}
		ls, err := Parse(io.LimitReader(f, MaxTable+1))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("listeners: %s: %w", path, err)
		}
		all = append(all, ls...)
	}
	if len(ports) == 0 {
		return all, nil
	}
	var kept []Listener
	for _, l := range all {
		for _, p := range ports {
			if l.Port == p {
				kept = append(kept, l)
				break
			}
		}
	}
	return kept, nil
}

// Parse reads one table in the format of /proc/net/tcp or /proc/net/tcp6
// (a header line, then one socket a line: sl, local_address, rem_address,
// st, tx_queue:rx_queue, tr:tm->when, retrnsmt, uid, timeout, inode…) and
// returns its listening sockets (st 0A), in order. It reads at most
// MaxTable bytes and refuses a longer table; a line it cannot read is an
// error naming it.
func Parse(r io.Reader) ([]Listener, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 4096)
	var (
		out  []Listener
		read int
	)
	for n := 0; sc.Scan(); n++ {
		line := sc.Bytes()
		read += len(line) + 1
		if read > MaxTable {
			return nil, fmt.Errorf("the table is longer than %d bytes", MaxTable)
		}
		if n == 0 || len(bytes.TrimSpace(line)) == 0 {
			continue // the header
		}
		f := strings.Fields(string(line))
		if len(f) < 10 {
			return nil, fmt.Errorf("line %d has %d fields, want at least 10: %q", n+1, len(f), line)
		}
		if f[3] != listenState {
			continue
		}
		addr, port, err := parseEndpoint(f[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: local address %q: %w", n+1, f[1], err)
		}
		uid, err := strconv.ParseUint(f[7], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("line %d: uid %q: %w", n+1, f[7], err)
		}
		inode, err := strconv.ParseUint(f[9], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: inode %q: %w", n+1, f[9], err)
		}
		out = append(out, Listener{Addr: addr, Port: port, UID: int(uid), Inode: inode})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// parseEndpoint reads ADDR:PORT as the kernel prints it: the address as
// 32-bit words in hexadecimal, each in the host's byte order (one word
// for IPv4, four for IPv6), the port in hexadecimal.
func parseEndpoint(s string) (netip.Addr, int, error) {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.Addr{}, 0, errors.New("no port")
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("port: %w", err)
	}
	raw, err := hex.DecodeString(a)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.Addr{}, 0, errors.New("not 8 or 32 hexadecimal digits")
	}
	b := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(b[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	addr, _ := netip.AddrFromSlice(b)
	return addr, int(port), nil
}
