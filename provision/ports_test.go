package provision

import (
	"net"
	"testing"
)

func TestListeningOnHost(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if !ListeningOnHost(port) {
		t.Errorf("port %d is held by this test but reported free", port)
	}
	l.Close()
	if ListeningOnHost(port) {
		t.Errorf("port %d was released but reported taken", port)
	}
}
