package discord

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// gatewayConns is how the Bot holds its gateway connections to account,
// below discordgo: discordgo's websocket dialer dials through dial, so
// every connection is a *gatewayConn that
//
//   - bounds every read: a connection that sends nothing for idle (no
//     heartbeat ACK) is closed, so that a silent gateway can never leave
//     the bot deaf, and a dead connection is noticed within idle rather
//     than after discordgo's five missed heartbeat ACKs; HELLO, which
//     Discord sends as soon as the websocket is open, is waited for
//     hello at most;
//   - follows the frames the gateway sends (serverFrames) for the few
//     that discordgo mishandles or hides: the close code of a close
//     frame (takeClose: 4004 and the other codes Discord says not to
//     reconnect after must stop the bot), HELLO, and op 9 (Invalid
//     Session) with d=true, which means the session may be resumed:
//     discordgo answers every op 9 with an IDENTIFY on the same
//     connection, so that IDENTIFY is not sent, the connection is
//     dropped instead, and the next connection RESUMEs;
//   - holds back an IDENTIFY sent within a few seconds of the last one
//     (discordgo answers each op 9 with an IDENTIFY at once; Discord asks
//     for a wait of 1–5 s, and resets a token that identifies 1,000
//     times a day);
//   - turns the 1000 close code that discordgo sends when it drops a
//     connection (which would end the session) into 4000, so the next
//     connection can RESUME; only the bot's own shutdown closes with
//     1000.
type gatewayConns struct {
	idle     time.Duration // the longest wait for a read
	hello    time.Duration // the longest wait for HELLO once the websocket is open
	minWait  time.Duration // an IDENTIFY waits at least this after the last one,
	maxWait  time.Duration // plus a random part up to this
	logf     func(msg string, args ...any)
	stopping chan struct{} // closed at shutdown: waits end, dials are refused

	mu           sync.Mutex
	conns        map[*gatewayConn]bool
	lastIdentify time.Time
	lastClose    int       // the code of the last close frame the gateway sent, until taken
	lostAt       time.Time // when a connection was first lost (closed by the gateway, a failed read), until taken
	stopped      bool
}

func newGatewayConns(idle, hello, minWait, maxWait time.Duration, logf func(string, ...any)) *gatewayConns {
	return &gatewayConns{idle: idle, hello: hello, minWait: minWait, maxWait: maxWait, logf: logf,
		stopping: make(chan struct{}), conns: map[*gatewayConn]bool{}}
}

// takeLost is when a connection was first lost since the last call
// (the gateway closed it, or its read failed; zero for none), and
// forgets it.
func (g *gatewayConns) takeLost() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	at := g.lostAt
	g.lostAt = time.Time{}
	return at
}

// takeClose is the code of the last close frame the gateway sent (0 for
// none since the last call), and forgets it.
func (g *gatewayConns) takeClose() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	code := g.lastClose
	g.lastClose = 0
	return code
}

// dialTLS opens a gateway connection over TLS (wss://), so that the
// frames are read and written in the clear above it.
func (g *gatewayConns) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := g.dialRaw(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	tc := tls.Client(c, &tls.Config{ServerName: host, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12})
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return g.track(tc), nil
}

// dial opens a gateway connection (discordgo's websocket dialer calls
// it).
func (g *gatewayConns) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := g.dialRaw(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return g.track(c), nil
}

func (g *gatewayConns) track(c net.Conn) net.Conn {
	gc := &gatewayConn{Conn: c, g: g}
	gc.frames.http = true
	gc.frames.on = gc.serverFrame
	g.mu.Lock()
	g.conns[gc] = true
	g.mu.Unlock()
	return gc
}

func (g *gatewayConns) dialRaw(ctx context.Context, network, addr string) (net.Conn, error) {
	g.mu.Lock()
	stopped := g.stopped
	g.mu.Unlock()
	if stopped {
		return nil, errors.New("discord: gateway: the bot is stopping")
	}
	d := net.Dialer{Timeout: 15 * time.Second}
	return d.DialContext(ctx, network, addr)
}

// stop ends every wait and closes every connection at once (beginStop,
// then closeAll).
func (g *gatewayConns) stop() {
	g.beginStop()
	g.closeAll()
}

// beginStop ends every wait for an IDENTIFY and refuses later dials;
// from now on a close frame keeps its 1000. Open connections stay, for
// the clean close.
func (g *gatewayConns) beginStop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.stopped {
		g.stopped = true
		close(g.stopping)
	}
}

// closeAll closes every connection at once, with no close frame: it
// ends an Open in progress, which holds the session's lock.
func (g *gatewayConns) closeAll() {
	g.mu.Lock()
	conns := g.conns
	g.conns = map[*gatewayConn]bool{}
	g.mu.Unlock()
	for c := range conns {
		c.Conn.Close()
	}
}

// isStopping reports whether stop was called: close frames then keep
// their 1000, which ends the session.
func (g *gatewayConns) isStopping() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stopped
}

// holdIdentify waits, when an IDENTIFY was sent less than the back-off
// ago, until the back-off has passed; it reports false when the bot is
// stopping.
func (g *gatewayConns) holdIdentify() bool {
	g.mu.Lock()
	wait := time.Duration(0)
	if !g.lastIdentify.IsZero() {
		backoff := g.minWait
		if g.maxWait > g.minWait {
			backoff += rand.N(g.maxWait - g.minWait)
		}
		wait = time.Until(g.lastIdentify.Add(backoff))
	}
	g.lastIdentify = time.Now().Add(max(wait, 0))
	g.mu.Unlock()
	if wait <= 0 {
		return true
	}
	g.logf("discord: identifying again; waiting first, as Discord asks", "wait", wait.Round(time.Millisecond))
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-g.stopping:
		return false
	}
}

// gatewayConn is one gateway connection (see gatewayConns).
type gatewayConn struct {
	net.Conn
	g      *gatewayConns
	frames serverFrames // read by Read alone

	mu          sync.Mutex
	closed      bool
	handshakeBy time.Time // the websocket handshake's deadline, while it lasts
	helloBy     time.Time // when HELLO is due, from the handshake's end
	helloSeen   bool      // HELLO came (or the bot wrote a frame, which follows it)
	resumable   bool      // the last op 9 said the session may be resumed
}

// SetDeadline is how the websocket handshake bounds itself (gorilla sets
// its deadline, then clears it when the websocket is open): clearing it
// starts the wait for HELLO.
func (c *gatewayConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.handshakeBy = t
	if t.IsZero() && c.helloBy.IsZero() {
		c.helloBy = time.Now().Add(c.g.hello)
	}
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

// Read reads with a deadline idle from now, or sooner during the
// handshake and until HELLO; when it passes, the connection is closed,
// so that nothing more (no close frame) is sent on it and the session
// stays resumable. What is read is followed by serverFrames.
func (c *gatewayConn) Read(p []byte) (int, error) {
	now := time.Now()
	deadline := now.Add(c.g.idle)
	c.mu.Lock()
	waitingHello := !c.helloSeen
	if !c.handshakeBy.IsZero() && c.handshakeBy.Before(deadline) {
		deadline = c.handshakeBy
	}
	if waitingHello && !c.helloBy.IsZero() && c.helloBy.Before(deadline) {
		deadline = c.helloBy
	}
	c.mu.Unlock()
	c.Conn.SetReadDeadline(deadline)
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.frames.feed(p[:n])
	}
	if err != nil {
		c.g.mu.Lock()
		if c.g.lostAt.IsZero() {
			c.g.lostAt = time.Now()
		}
		c.g.mu.Unlock()
	}
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() {
		c.mu.Lock()
		first := !c.closed
		c.closed = true
		waitingHello = !c.helloSeen && !c.helloBy.IsZero()
		c.mu.Unlock()
		switch {
		case !first:
		case waitingHello:
			c.g.logf("discord: the gateway opened the websocket but sent no HELLO; dropping the connection to connect again", "waited", min(c.g.hello, c.g.idle))
		default:
			c.g.logf("discord: the gateway sent nothing for too long; dropping the connection to resume on a new one", "idle", c.g.idle)
		}
		c.Conn.Close()
	}
	return n, err
}

// serverFrame takes note of a frame the gateway sent (see serverFrames):
// a close frame's code, HELLO, and whether an op 9 says the session may
// be resumed.
func (c *gatewayConn) serverFrame(op byte, payload []byte) {
	switch op {
	case 0x8:
		if len(payload) >= 2 {
			c.g.mu.Lock()
			c.g.lastClose = int(binary.BigEndian.Uint16(payload))
			if c.g.lostAt.IsZero() {
				c.g.lostAt = time.Now()
			}
			c.g.mu.Unlock()
		}
	case 0x1:
		var f struct {
			Op int             `json:"op"`
			D  json.RawMessage `json:"d"`
		}
		if json.Unmarshal(payload, &f) != nil {
			return
		}
		c.mu.Lock()
		switch f.Op {
		case 10:
			c.helloSeen = true
		case 9:
			c.resumable = bytes.Equal(bytes.TrimSpace(f.D), []byte("true"))
		}
		c.mu.Unlock()
	}
}

// errResume is the error of the IDENTIFY that answers a resumable op 9:
// the connection was dropped instead, for the next one to RESUME.
var errResume = errors.New("discord: gateway: the session may be resumed: reconnecting to resume it")

// Write holds back an IDENTIFY sent too soon after the last one, drops
// the connection instead of sending an IDENTIFY that answers a
// resumable op 9, and sends a 1000 close frame as 4000 unless the bot is
// stopping.
func (c *gatewayConn) Write(p []byte) (int, error) {
	op, payload := clientFrame(p)
	if op >= 0 {
		c.mu.Lock()
		c.helloSeen = true // the bot writes frames only after HELLO
		resumable := c.resumable
		c.mu.Unlock()
		if op == 0x1 && bytes.HasPrefix(payload, []byte(`{"op":2,`)) && resumable {
			c.g.logf("discord: the gateway invalidated the session, saying it may be resumed; reconnecting to resume it")
			c.mu.Lock()
			c.closed = true
			c.mu.Unlock()
			c.Conn.Close() // no close frame: the session stays resumable
			return 0, errResume
		}
	}
	switch {
	case op == 0x1 && bytes.HasPrefix(payload, []byte(`{"op":2,`)):
		if !c.g.holdIdentify() {
			return 0, errors.New("discord: gateway: the bot is stopping")
		}
	case op == 0x8 && len(payload) >= 2 && payload[0] == 0x03 && payload[1] == 0xe8 && !c.g.isStopping():
		p = resumableClose(p)
	}
	return c.Conn.Write(p)
}

// Close closes the connection and forgets it.
func (c *gatewayConn) Close() error {
	c.g.mu.Lock()
	delete(c.g.conns, c)
	c.g.mu.Unlock()
	return c.Conn.Close()
}

// clientFrame reads the opcode and the first bytes of the unmasked
// payload of the websocket frame a client writes at the start of p
// (gorilla writes a small frame in one Write). It returns op -1 for what
// it cannot read.
func clientFrame(p []byte) (op int, payload []byte) {
	if len(p) < 2 || p[1]&0x80 == 0 {
		return -1, nil
	}
	n, at := int(p[1]&0x7f), 2
	switch n {
	case 126:
		if len(p) < 4 {
			return -1, nil
		}
		n, at = int(p[2])<<8|int(p[3]), 4
	case 127:
		return int(p[0] & 0x0f), nil // too long to be an IDENTIFY or a close
	}
	if len(p) < at+4 {
		return -1, nil
	}
	mask := p[at : at+4]
	at += 4
	n = min(n, len(p)-at, 16)
	payload = make([]byte, n)
	for i := range n {
		payload[i] = p[at+i] ^ mask[i%4]
	}
	return int(p[0] & 0x0f), payload
}

// resumableClose is the close frame p with its code 1000 made 4000.
func resumableClose(p []byte) []byte {
	q := bytes.Clone(p)
	at := 2
	if q[1]&0x7f == 126 {
		at = 4
	}
	mask := q[at : at+4]
	at += 4
	q[at] = 0x0f ^ mask[0] // 4000 = 0x0fa0
	q[at+1] = 0xa0 ^ mask[1]
	return q
}

// serverFrames follows the bytes a gateway connection reads: the HTTP
// response to the websocket upgrade (up to its blank line), then the
// websocket frames. It hands on each whole close frame and each small
// unfragmented text frame (at most maxFollowed bytes: HELLO, op 9; a
// dispatch is larger or compressed and is skipped unread), with its
// payload. It never changes what is read.
type serverFrames struct {
	http    bool   // still in the HTTP response
	tail    uint32 // its last four bytes, to find "\r\n\r\n"
	hdr     []byte // the frame header read so far
	body    bool   // reading a payload
	left    uint64 // payload bytes still to read
	op      byte
	keep    bool // the payload is kept and handed on
	payload []byte
	on      func(op byte, payload []byte)
}

// maxFollowed is the largest text frame serverFrames hands on.
const maxFollowed = 512

func (f *serverFrames) feed(p []byte) {
	for len(p) > 0 {
		if f.http {
			f.tail = f.tail<<8 | uint32(p[0])
			p = p[1:]
			f.http = f.tail != 0x0d0a0d0a
			continue
		}
		if !f.body {
			f.hdr = append(f.hdr, p[0])
			p = p[1:]
			f.header()
			continue
		}
		take := min(uint64(len(p)), f.left)
		if f.keep {
			f.payload = append(f.payload, p[:take]...)
		}
		p = p[take:]
		f.left -= take
		if f.left == 0 {
			f.end()
		}
	}
}

// header reads the frame header in f.hdr once it is whole, and starts
// its payload.
func (f *serverFrames) header() {
	if len(f.hdr) < 2 {
		return
	}
	size, masked := 2, f.hdr[1]&0x80 != 0
	switch f.hdr[1] & 0x7f {
	case 126:
		size += 2
	case 127:
		size += 8
	}
	if masked {
		size += 4 // a server never masks; such a frame is skipped
	}
	if len(f.hdr) < size {
		return
	}
	n := uint64(f.hdr[1] & 0x7f)
	switch n {
	case 126:
		n = uint64(binary.BigEndian.Uint16(f.hdr[2:4]))
	case 127:
		n = binary.BigEndian.Uint64(f.hdr[2:10])
	}
	f.op = f.hdr[0] & 0x0f
	fin := f.hdr[0]&0x80 != 0
	f.keep = fin && !masked && (f.op == 0x8 || (f.op == 0x1 && n <= maxFollowed))
	f.hdr, f.payload, f.left, f.body = f.hdr[:0], f.payload[:0], n, true
	if n == 0 {
		f.end()
	}
}

// end hands on the frame just read.
func (f *serverFrames) end() {
	f.body = false
	if f.keep && f.on != nil {
		f.on(f.op, f.payload)
	}
}
