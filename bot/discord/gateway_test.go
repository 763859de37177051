package discord

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// fakeGateway is a Discord gateway for the fake REST server: GET
// /gateway names it, and it speaks the gateway's opcodes as a test sets
// it up.
type fakeGateway struct {
	mu         sync.Mutex
	silent     bool // accept the socket, never say HELLO
	invalid    int  // answer that many IDENTIFYs with op 9
	heartbeat  int  // HELLO's heartbeat_interval, ms
	noACK      bool // never acknowledge a heartbeat
	identifies []time.Time
	resumes    int
	conns      int
	closeCodes []int
	// events are dispatches (op 0) to send on the current connection
	// once it is READY: {"t": TYPE, "d": DATA}.
	events chan map[string]any
}

// gateway serves one websocket connection of fd's gateway.
func (fd *fakeDiscord) gateway(w http.ResponseWriter, r *http.Request) {
	g := fd.gw
	up := websocket.Upgrader{}
	c, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	g.mu.Lock()
	g.conns++
	silent, hb := g.silent, g.heartbeat
	g.mu.Unlock()
	c.SetCloseHandler(func(code int, _ string) error {
		g.mu.Lock()
		g.closeCodes = append(g.closeCodes, code)
		g.mu.Unlock()
		return errors.New("closed")
	})
	if silent {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}
	var wmu sync.Mutex
	send := func(v any) {
		wmu.Lock()
		defer wmu.Unlock()
		c.WriteJSON(v)
	}
	send(map[string]any{"op": 10, "d": map[string]any{"heartbeat_interval": hb}})
	seq := 0
	ready := make(chan struct{})
	var readyOnce sync.Once
	go func() { // the test's dispatches, in order, after READY
		select {
		case <-ready:
		case <-r.Context().Done():
			return
		}
		for {
			select {
			case <-r.Context().Done():
				return
			case ev := <-g.events:
				g.mu.Lock()
				seq++
				s := seq
				g.mu.Unlock()
				send(map[string]any{"op": 0, "s": s, "t": ev["t"], "d": ev["d"]})
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
		json.Unmarshal(msg, &f)
		g.mu.Lock()
		switch f.Op {
		case 1:
			if !g.noACK {
				go send(map[string]any{"op": 11})
			}
		case 2:
			g.identifies = append(g.identifies, time.Now())
			if g.invalid > 0 {
				g.invalid--
				go send(map[string]any{"op": 9, "d": false})
				break
			}
			seq++
			readyFrame := map[string]any{"op": 0, "s": seq, "t": "READY", "d": map[string]any{
				"v": 10, "session_id": "session-1", "user": map[string]any{"id": testApp, "username": "odoobot"}, "guilds": []any{},
			}}
			go func() { send(readyFrame); readyOnce.Do(func() { close(ready) }) }()
		case 6:
			g.resumes++
			seq++
			resumed := map[string]any{"op": 0, "s": seq, "t": "RESUMED", "d": map[string]any{}}
			go func() { send(resumed); readyOnce.Do(func() { close(ready) }) }()
		}
		g.mu.Unlock()
	}
}

// runGatewayBot runs a Bot against fd with quick gateway settings until
// the returned stop is called, which reports how long Run took to return.
func runGatewayBot(t *testing.T, fd *fakeDiscord, logs *logBuffer, cfg Config) (stop func() time.Duration, done <-chan error) {
	t.Helper()
	cfg.Token, cfg.AppID, cfg.GuildID, cfg.APIURL, cfg.Logger = testToken, testApp, testGuild, fd.apiURL(), slogJSON(logs)
	if cfg.Handler == nil {
		cfg.Handler = handlerFunc(nil)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	go func() { ch <- b.Run(ctx) }()
	stop = func() time.Duration {
		start := time.Now()
		cancel()
		select {
		case err := <-ch:
			if err != nil {
				t.Errorf("Run = %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return within 10s of shutdown")
		}
		return time.Since(start)
	}
	t.Cleanup(func() { cancel() })
	return stop, ch
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestInvalidSessionsBackOff: a gateway that answers IDENTIFY with op 9
// again and again gets each new IDENTIFY after a pause, not at once.
func TestInvalidSessionsBackOff(t *testing.T) {
	fd := newFakeDiscord(t)
	fd.gw.heartbeat, fd.gw.invalid = 45000, 3
	logs := &logBuffer{}
	stop, _ := runGatewayBot(t, fd, logs, Config{IdentifyWait: 100 * time.Millisecond})
	waitUntil(t, "READY after 3 invalid sessions", func() bool {
		fd.gw.mu.Lock()
		defer fd.gw.mu.Unlock()
		return len(fd.gw.identifies) == 4
	})
	fd.gw.mu.Lock()
	ids := append([]time.Time(nil), fd.gw.identifies...)
	fd.gw.mu.Unlock()
	for i := 1; i < len(ids); i++ {
		if gap := ids[i].Sub(ids[i-1]); gap < 90*time.Millisecond {
			t.Errorf("IDENTIFY %d only %s after the one before, want ≥ the 100ms wait", i, gap)
		}
	}
	if !strings.Contains(logs.String(), "identifying again") {
		t.Errorf("the wait is not logged:\n%s", logs.String())
	}
	stop()
	checkSecrets(t, fd, logs)
}

// TestASilentGatewayIsLeftAndShutdownWins: a gateway that accepts the
// socket and never says HELLO is left after GatewayIdle, logged, and
// tried again; a shutdown meanwhile returns at once.
func TestASilentGatewayIsLeftAndShutdownWins(t *testing.T) {
	fd := newFakeDiscord(t)
	fd.gw.silent = true
	logs := &logBuffer{}
	stop, _ := runGatewayBot(t, fd, logs, Config{GatewayIdle: 150 * time.Millisecond, RetryWait: 20 * time.Millisecond})
	waitUntil(t, "a second connection", func() bool {
		fd.gw.mu.Lock()
		defer fd.gw.mu.Unlock()
		return fd.gw.conns >= 2
	})
	if !strings.Contains(logs.String(), "could not start; trying again") {
		t.Errorf("the silent gateway is not logged:\n%s", logs.String())
	}
	if took := stop(); took > 2*time.Second {
		t.Errorf("shutdown took %s", took)
	}
}

// TestADeadConnectionResumes: a gateway that stops acknowledging
// heartbeats is dropped with a close code other than 1000, and the next
// connection resumes the session.
func TestADeadConnectionResumes(t *testing.T) {
	fd := newFakeDiscord(t)
	fd.gw.heartbeat, fd.gw.noACK = 40, true
	logs := &logBuffer{}
	stop, _ := runGatewayBot(t, fd, logs, Config{GatewayIdle: 5 * time.Second})
	waitUntil(t, "a resume", func() bool {
		fd.gw.mu.Lock()
		defer fd.gw.mu.Unlock()
		return fd.gw.resumes >= 1
	})
	fd.gw.mu.Lock()
	codes := append([]int(nil), fd.gw.closeCodes...)
	fd.gw.mu.Unlock()
	for _, c := range codes {
		if c == websocket.CloseNormalClosure {
			t.Errorf("closed with 1000, which ends the session: codes %v", codes)
		}
	}
	if !strings.Contains(logs.String(), "gateway disconnected") || !strings.Contains(logs.String(), "resumed") {
		t.Errorf("the disconnect and the resume are not logged:\n%s", logs.String())
	}
	stop()
}
