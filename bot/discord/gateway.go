package discord

import (
	"bytes"
	"context"
	"crypto/tls"
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
//     HELLO after the handshake, no heartbeat ACK) is closed, so that a
//     silent gateway can never leave the bot deaf, and a dead connection
//     is noticed within idle rather than after discordgo's five missed
//     heartbeat ACKs;
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
	minWait  time.Duration // an IDENTIFY waits at least this after the last one,
	maxWait  time.Duration // plus a random part up to this
	logf     func(msg string, args ...any)
	stopping chan struct{} // closed at shutdown: waits end, dials are refused

	mu           sync.Mutex
	conns        map[*gatewayConn]bool
	lastIdentify time.Time
	stopped      bool
}

func newGatewayConns(idle, minWait, maxWait time.Duration, logf func(string, ...any)) *gatewayConns {
	return &gatewayConns{idle: idle, minWait: minWait, maxWait: maxWait, logf: logf,
		stopping: make(chan struct{}), conns: map[*gatewayConn]bool{}}
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

// stop ends every wait and closes every connection at once; later dials
// are refused. The close frame discordgo sends then goes nowhere.
func (g *gatewayConns) stop() {
	g.mu.Lock()
	if !g.stopped {
		g.stopped = true
		close(g.stopping)
	}
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
	g *gatewayConns

	mu     sync.Mutex
	closed bool
}

// Read reads with a deadline idle from now; when it passes, the
// connection is closed, so that nothing more (no close frame) is sent on
// it and the session stays resumable.
func (c *gatewayConn) Read(p []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(c.g.idle))
	n, err := c.Conn.Read(p)
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() {
		c.mu.Lock()
		first := !c.closed
		c.closed = true
		c.mu.Unlock()
		if first {
			c.g.logf("discord: the gateway sent nothing for too long; dropping the connection to resume on a new one", "idle", c.g.idle)
		}
		c.Conn.Close()
	}
	return n, err
}

// Write holds back an IDENTIFY sent too soon after the last one, and
// sends a 1000 close frame as 4000 unless the bot is stopping.
func (c *gatewayConn) Write(p []byte) (int, error) {
	switch op, payload := clientFrame(p); {
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
