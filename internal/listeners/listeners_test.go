package listeners

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// word is one 32-bit word of an address as the kernel prints it on this
// host: the bytes' native-order value in hexadecimal.
func word(b []byte) string {
	return hex8(binary.NativeEndian.Uint32(b))
}

func hex8(v uint32) string {
	const digits = "0123456789ABCDEF"
	out := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		out[i] = digits[v&0xf]
		v >>= 4
	}
	return string(out)
}

// kernelAddr prints addr as /proc/net/tcp{,6} does on this host.
func kernelAddr(addr netip.Addr) string {
	b := addr.AsSlice()
	var s string
	for i := 0; i < len(b); i += 4 {
		s += word(b[i : i+4])
	}
	return s
}

const header4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"

// TestParseIPv4 reads a sample of /proc/net/tcp: only the listening
// sockets are kept, with their address, port, uid and inode.
func TestParseIPv4(t *testing.T) {
	lo := kernelAddr(netip.MustParseAddr("127.0.0.1"))
	any := kernelAddr(netip.MustParseAddr("0.0.0.0"))
	pub := kernelAddr(netip.MustParseAddr("10.1.2.3"))
	table := header4 +
		"   0: " + lo + ":0839 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1003        0 112837 1 000000002872b8f1 100 0 0 10 0\n" +
		"   1: " + any + ":1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 629287 1 000000005d7d42ef 100 0 0 10 0\n" +
		// an established connection from port 2105 and one in TIME_WAIT: not listeners
		"   2: " + lo + ":0839 " + lo + ":D8A3 01 00000000:00000000 00:00000000 00000000  1002        0 7001 1 0000000000000000 20 4 30 10 -1\n" +
		"   3: " + pub + ":0839 " + lo + ":D8A4 06 00000000:00000000 03:00001234 00000000     0        0 0 3 0000000000000000\n"
	got, err := Parse(strings.NewReader(table))
	if err != nil {
		t.Fatal(err)
	}
	want := []Listener{
		{Addr: netip.MustParseAddr("127.0.0.1"), Port: 2105, UID: 1003, Inode: 112837},
		{Addr: netip.MustParseAddr("0.0.0.0"), Port: 8080, UID: 0, Inode: 629287},
	}
	if d := cmp.Diff(got, want, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
		t.Errorf("Parse (-got +want):\n%s", d)
	}
}

// TestParseIPv6 reads a sample of /proc/net/tcp6: ::, ::1 and an
// IPv4-mapped loopback, each in the kernel's word order.
func TestParseIPv6(t *testing.T) {
	header := "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	var table strings.Builder
	table.WriteString(header)
	addrs := []string{"::", "::1", "::ffff:127.0.0.1", "fe80::1:2"}
	states := []string{"0A", "0A", "0A", "01"}
	for i, a := range addrs {
		table.WriteString("   " + string(rune('0'+i)) + ": " + kernelAddr(netip.MustParseAddr(a)) + ":2105 00000000000000000000000000000000:0000 " + states[i] +
			" 00000000:00000000 00:00000000 00000000  100" + string(rune('0'+i)) + "        0 " + string(rune('1'+i)) + "00 1 0000000000000000 100 0 0 10 0\n")
	}
	got, err := Parse(strings.NewReader(table.String()))
	if err != nil {
		t.Fatal(err)
	}
	want := []Listener{
		{Addr: netip.MustParseAddr("::"), Port: 0x2105, UID: 1000, Inode: 100},
		{Addr: netip.MustParseAddr("::1"), Port: 0x2105, UID: 1001, Inode: 200},
		{Addr: netip.MustParseAddr("::ffff:127.0.0.1"), Port: 0x2105, UID: 1002, Inode: 300},
	}
	if d := cmp.Diff(got, want, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
		t.Errorf("Parse (-got +want):\n%s", d)
	}
}

// TestParseRefusesWhatItCannotRead: a short line or a bad column is an
// error naming the line, never a socket skipped in silence.
func TestParseRefusesWhatItCannotRead(t *testing.T) {
	for name, line := range map[string]string{
		"short":   "   0: 0100007F:0839 00000000:0000 0A\n",
		"uid":     "   0: 0100007F:0839 00000000:0000 0A 00000000:00000000 00:00000000 00000000  x        0 1 1\n",
		"address": "   0: 0100007G:0839 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1        0 1 1\n",
		"port":    "   0: 0100007F 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1        0 1 1\n",
	} {
		if _, err := Parse(strings.NewReader(header4 + line)); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%s: Parse = %v, want an error naming line 2", name, err)
		}
	}
}

// TestParseIsBounded: a table longer than MaxTable is refused.
func TestParseIsBounded(t *testing.T) {
	line := "   0: 0100007F:0839 00000000:0000 01 00000000:00000000 00:00000000 00000000  1        0 1 1 0000000000000000 100 0 0 10 0\n"
	r := strings.NewReader(header4 + strings.Repeat(line, MaxTable/len(line)+2))
	if _, err := Parse(r); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("Parse of a table past MaxTable = %v, want a refusal", err)
	}
}

// TestReadFindsOwnListener: a socket this test listens on is in the
// kernel's table, with this process's uid, on IPv4 and IPv6.
func TestReadFindsOwnListener(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		addr := map[string]string{"tcp4": "127.0.0.1:0", "tcp6": "[::1]:0"}[network]
		l, err := net.Listen(network, addr)
		if err != nil {
			t.Logf("%s: %v (no such stack here)", network, err)
			continue
		}
		port := l.Addr().(*net.TCPAddr).Port
		got, err := Read(port)
		l.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := netip.MustParseAddr(map[string]string{"tcp4": "127.0.0.1", "tcp6": "::1"}[network])
		if len(got) != 1 || got[0].Addr != want || got[0].UID != os.Getuid() || got[0].Port != port {
			t.Errorf("%s: Read(%d) = %+v, want one listener on %s owned by uid %d", network, port, got, want, os.Getuid())
		}
	}
}
