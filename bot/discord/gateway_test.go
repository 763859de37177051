package discord

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"odoobot/bot/bottest"
)

// runGatewayBot runs a Bot against fd with quick gateway settings until
// the returned stop is called, which reports how long Run took to return.
func runGatewayBot(t *testing.T, fd *fakeDiscord, logs *bottest.LogBuffer, cfg Config) (stop func() time.Duration, done <-chan error) {
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
	fd.gw.HeartbeatMS, fd.gw.InvalidSessions = 45000, 3
	logs := &bottest.LogBuffer{}
	stop, _ := runGatewayBot(t, fd, logs, Config{IdentifyWait: 100 * time.Millisecond})
	waitUntil(t, "READY after 3 invalid sessions", func() bool { return len(fd.gw.Identifies()) == 4 })
	ids := fd.gw.Identifies()
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
	fd.gw.Silent = true
	logs := &bottest.LogBuffer{}
	stop, _ := runGatewayBot(t, fd, logs, Config{GatewayIdle: 150 * time.Millisecond, RetryWait: 20 * time.Millisecond})
	waitUntil(t, "a second connection", func() bool { return fd.gw.Connections() >= 2 })
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
	fd.gw.HeartbeatMS, fd.gw.NoHeartbeatACK = 40, true
	logs := &bottest.LogBuffer{}
	stop, _ := runGatewayBot(t, fd, logs, Config{GatewayIdle: 5 * time.Second})
	waitUntil(t, "a resume", func() bool { return fd.gw.Resumes() >= 1 })
	codes := fd.gw.CloseCodes()
	for _, c := range codes {
		if c == websocket.CloseNormalClosure {
			t.Errorf("closed with 1000, which ends the session: codes %v", codes)
		}
	}
	// The RESUMED event's handler runs after the gateway counted the
	// RESUME: its log line may come a moment later.
	waitUntil(t, "log of the disconnect and the resume", func() bool {
		return strings.Contains(logs.String(), "gateway disconnected") && strings.Contains(logs.String(), "resumed")
	})
	stop()
}
