package discordtest

import (
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Gateway is the double's gateway (see the package comment). Its
// exported fields shape how it behaves; set them before the bot first
// connects. Each new connection starts a new sequence; a RESUME is always
// accepted. A close frame from the bot is answered with the same code,
// as RFC 6455 asks.
type Gateway struct {
	// Silent accepts the socket and never says HELLO.
	Silent bool
	// InvalidSessions answers that many IDENTIFYs with op 9 (invalid
	// session, not resumable) before one is accepted.
	InvalidSessions int
	// CloseIdentify, when set, answers every IDENTIFY by closing the
	// connection with this close code (4004: authentication failed).
	CloseIdentify int
	// HeartbeatMS is HELLO's heartbeat_interval, in milliseconds
	// (Discord's is 41250; the default here is 45000).
	HeartbeatMS int
	// NoHeartbeatACK never acknowledges a heartbeat.
	NoHeartbeatACK bool

	appID, botName string
	events         chan dispatch // delivered to the connection that is READY

	mu         sync.Mutex
	identifies []time.Time
	resumes    int
	conns      int
	ready      int
	closeCodes []int
	open       map[*websocket.Conn]func(any) // each connection's sender
	readyCh    chan struct{}                 // closed at the first READY or RESUMED
	readyOnce  sync.Once
}

type dispatch struct {
	Type string
	Data any
}

func newGateway(appID, botName string) *Gateway {
	return &Gateway{HeartbeatMS: 45000, appID: appID, botName: botName,
		events: make(chan dispatch, 256), open: map[*websocket.Conn]func(any){}, readyCh: make(chan struct{})}
}

// Dispatch sends an event (op 0, type typ, payload data) to the bot once
// a connection is READY (at once when one is), in the order given. Events
// wait while no connection is ready; up to 256 may wait.
func (g *Gateway) Dispatch(typ string, data any) {
	g.events <- dispatch{Type: typ, Data: data}
}

// DeliverInteraction dispatches INTERACTION_CREATE with the interaction
// v (as Slash and Click make it).
func (g *Gateway) DeliverInteraction(v map[string]any) { g.Dispatch("INTERACTION_CREATE", v) }

// Ready is closed once a connection has been READY (or RESUMED).
func (g *Gateway) Ready() <-chan struct{} { return g.readyCh }

// Identifies are the times of the IDENTIFYs received.
func (g *Gateway) Identifies() []time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]time.Time(nil), g.identifies...)
}

// Resumes is how many RESUMEs were received.
func (g *Gateway) Resumes() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.resumes
}

// Connections is how many websocket connections were accepted.
func (g *Gateway) Connections() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.conns
}

// CloseCodes are the codes of the close frames the bot sent, in order.
func (g *Gateway) CloseCodes() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int(nil), g.closeCodes...)
}

// InvalidateSession sends op 9 (Invalid Session) on every open
// connection, with d = resumable: whether the session may be resumed
// on a new connection.
func (g *Gateway) InvalidateSession(resumable bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, send := range g.open {
		send(map[string]any{"op": 9, "d": resumable, "s": nil, "t": nil})
	}
}

// Disconnect closes every open connection: with a close frame of code,
// or, for code 0, by dropping it without one.
func (g *Gateway) Disconnect(code int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for c := range g.open {
		if code != 0 {
			_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
		}
		c.Close()
	}
}

func (g *Gateway) closeAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for c := range g.open {
		c.Close()
	}
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// serve serves one websocket connection.
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request) {
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	var wmu sync.Mutex
	send := func(v any) {
		wmu.Lock()
		defer wmu.Unlock()
		_ = c.WriteJSON(v)
	}
	g.mu.Lock()
	g.conns++
	g.open[c] = send
	silent, hb := g.Silent, g.HeartbeatMS
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.open, c)
		g.mu.Unlock()
	}()
	c.SetCloseHandler(func(code int, _ string) error {
		g.mu.Lock()
		g.closeCodes = append(g.closeCodes, code)
		g.mu.Unlock()
		_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
		return errors.New("closed")
	})
	if silent {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}
	send(map[string]any{"op": 10, "d": map[string]any{"heartbeat_interval": hb}})
	var seqMu sync.Mutex
	seq := 0
	next := func() int {
		seqMu.Lock()
		defer seqMu.Unlock()
		seq++
		return seq
	}
	ready := make(chan struct{})
	var readyOnce sync.Once
	isReady := func() {
		readyOnce.Do(func() { close(ready) })
		g.readyOnce.Do(func() { close(g.readyCh) })
	}
	done := make(chan struct{})
	defer close(done)
	go func() { // the test's dispatches, in order, after READY
		select {
		case <-ready:
		case <-done:
			return
		}
		for {
			select {
			case <-done:
				return
			case ev := <-g.events:
				send(map[string]any{"op": 0, "s": next(), "t": ev.Type, "d": ev.Data})
			}
		}
	}()
	for {
		_, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		var f struct {
			Op int `json:"op"`
		}
		_ = json.Unmarshal(msg, &f)
		switch f.Op {
		case 1:
			g.mu.Lock()
			ack := !g.NoHeartbeatACK
			g.mu.Unlock()
			if ack {
				go send(map[string]any{"op": 11})
			}
		case 2:
			g.mu.Lock()
			g.identifies = append(g.identifies, time.Now())
			if code := g.CloseIdentify; code != 0 {
				g.mu.Unlock()
				_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
				return
			}
			invalid := g.InvalidSessions > 0
			if invalid {
				g.InvalidSessions--
			} else {
				g.ready++
			}
			g.mu.Unlock()
			if invalid {
				go send(map[string]any{"op": 9, "d": false})
				break
			}
			frame := map[string]any{"op": 0, "s": next(), "t": "READY", "d": map[string]any{
				"v": 10, "session_id": "session-1", "user": map[string]any{"id": g.appID, "username": g.botName, "bot": true},
				"guilds": []any{}, "application": map[string]any{"id": g.appID, "flags": 0},
			}}
			go func() { send(frame); isReady() }()
		case 6:
			g.mu.Lock()
			g.resumes++
			g.mu.Unlock()
			frame := map[string]any{"op": 0, "s": next(), "t": "RESUMED", "d": map[string]any{}}
			go func() { send(frame); isReady() }()
		}
	}
}
