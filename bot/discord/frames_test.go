package discord

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// serverFrame is an unmasked websocket frame as a server writes it.
func serverFrame(op byte, fin bool, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	f := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		f = append(f, byte(n))
	case n < 1<<16:
		f = append(f, 126)
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	default:
		f = append(f, 127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	return append(f, payload...)
}

// TestServerFramesAreFollowed: whatever the cuts between reads, the
// follower hands on the HELLO, op 9 and close frames after the HTTP
// response, and skips large, empty and fragmented frames.
func TestServerFramesAreFollowed(t *testing.T) {
	var stream bytes.Buffer
	stream.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	stream.Write(serverFrame(0x1, true, []byte(`{"op":10,"d":{"heartbeat_interval":41250}}`)))
	stream.Write(serverFrame(0x1, true, bytes.Repeat([]byte("x"), 70000))) // a large dispatch
	stream.Write(serverFrame(0x9, true, nil))                              // an empty ping
	stream.Write(serverFrame(0x1, false, []byte(`{"op":9,`)))              // a fragment
	stream.Write(serverFrame(0x0, true, []byte(`"d":false}`)))
	stream.Write(serverFrame(0x1, true, bytes.Repeat([]byte("y"), 300)))
	stream.Write(serverFrame(0x1, true, []byte(`{"t":null,"s":null,"op":9,"d":true}`)))
	stream.Write(serverFrame(0x8, true, []byte{0x0f, 0xa4})) // 4004
	want := []string{
		`1 {"op":10,"d":{"heartbeat_interval":41250}}`,
		"1 " + string(bytes.Repeat([]byte("y"), 300)),
		`1 {"t":null,"s":null,"op":9,"d":true}`,
		"8 \x0f\xa4",
	}
	for _, cut := range []int{1, 2, 3, 7, 100, 4096, stream.Len()} {
		var got []string
		f := serverFrames{http: true, on: func(op byte, payload []byte) { got = append(got, fmt.Sprintf("%d %s", op, payload)) }}
		for b := stream.Bytes(); len(b) > 0; {
			n := min(cut, len(b))
			f.feed(b[:n])
			b = b[n:]
		}
		if d := cmp.Diff(got, want); d != "" {
			t.Errorf("reads of %d bytes (-got +want):\n%s", cut, d)
		}
	}
}
