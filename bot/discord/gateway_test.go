package discord

import (
	"context"
	"encoding/json"
	"fmt"
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

// logRecords are the JSON log records in logs.
func logRecords(t *testing.T, logs *bottest.LogBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var r map[string]any
		if json.Unmarshal([]byte(line), &r) == nil {
			out = append(out, r)
		}
	}
	return out
}

// warned is the first record at WARN or above whose message holds msg.
func warned(t *testing.T, logs *bottest.LogBuffer, msg string) (map[string]any, bool) {
	t.Helper()
	for _, r := range logRecords(t, logs) {
		if lv, _ := r["level"].(string); (lv == "WARN" || lv == "ERROR") && strings.Contains(fmt.Sprint(r["msg"]), msg) {
			return r, true
		}
	}
	return nil, false
}

// TestARecoveryIsLoggedForOnCall: a gateway that closes a connection
// (4000, resumable) gets a WARN saying so, and, once the session is
// resumed, a WARN saying it is back and how long it was down: an
// operator whose logger is at WARN sees both.
func TestARecoveryIsLoggedForOnCall(t *testing.T) {
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	stop, _ := runGatewayBot(t, fd, logs, Config{RetryWait: 20 * time.Millisecond})
	waitUntil(t, "the start", func() bool { return strings.Contains(logs.String(), "/odoo registered") })
	fd.gw.Disconnect(4000)
	waitUntil(t, "a resume", func() bool { return fd.gw.Resumes() >= 1 })
	waitUntil(t, "the recovery's log", func() bool { _, ok := warned(t, logs, "gateway back"); return ok })
	if _, ok := warned(t, logs, "gateway disconnected"); !ok {
		t.Errorf("the disconnect is not at WARN:\n%s", logs.String())
	}
	r, _ := warned(t, logs, "gateway back")
	// discordgo reports the loss a second after the close (it waits for
	// the close handshake): the time down counts from the close.
	if down, err := time.ParseDuration(fmt.Sprint(r["down"])); err != nil || down < 900*time.Millisecond {
		t.Errorf("the recovery does not say how long the gateway was down (≥ 1s): %v", r)
	}
	if r["resumed"] != true {
		t.Errorf("the recovery does not say the session was resumed: %v", r)
	}
	stop()
}

// TestRefusedIdentifyStopsRun: a gateway that closes IDENTIFY with a
// close code Discord says not to reconnect after (4004: authentication
// failed; 4010–4014: shard, API version, intents) is not tried again:
// Run returns an error naming the code and what to check.
func TestRefusedIdentifyStopsRun(t *testing.T) {
	for code, check := range map[int]string{
		4004: "DISCORD_BOT_TOKEN", 4010: "shard", 4011: "shard", 4012: "version", 4013: "intents", 4014: "intents",
	} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			fd := newFakeDiscord(t)
			fd.gw.CloseIdentify = code
			logs := &bottest.LogBuffer{}
			_, done := runGatewayBot(t, fd, logs, Config{RetryWait: 20 * time.Millisecond, IdentifyWait: 10 * time.Millisecond})
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), fmt.Sprint(code)) || !strings.Contains(err.Error(), check) {
					t.Errorf("Run = %v, want an error naming %d and %q", err, code, check)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("Run still going 5s after IDENTIFY was closed with %d (%d IDENTIFYs)", code, len(fd.gw.Identifies()))
			}
			time.Sleep(300 * time.Millisecond) // nothing goes on once Run returned
			if n := len(fd.gw.Identifies()); n != 1 {
				t.Errorf("%d IDENTIFYs, want 1", n)
			}
			checkSecrets(t, fd, logs)
		})
	}
}

// TestAFatalCloseLaterStopsRun: the same close codes end Run when they
// come on a connection that was READY.
func TestAFatalCloseLaterStopsRun(t *testing.T) {
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	_, done := runGatewayBot(t, fd, logs, Config{RetryWait: 20 * time.Millisecond})
	waitUntil(t, "the start", func() bool { return strings.Contains(logs.String(), "/odoo registered") })
	fd.gw.Disconnect(4004)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "DISCORD_BOT_TOKEN") {
			t.Errorf("Run = %v, want an error naming DISCORD_BOT_TOKEN", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("Run still going 5s after a 4004 close (%d connections)", fd.gw.Connections())
	}
	if n := fd.gw.Connections(); n != 1 {
		t.Errorf("%d connections, want no new one after 4004", n)
	}
}

// TestALoneResumableInvalidSessionResumes: op 9 with d=true, sent on a
// session that is READY, is answered on a new connection by a RESUME,
// not by an IDENTIFY (which would start a new session and lose the
// events in between).
func TestALoneResumableInvalidSessionResumes(t *testing.T) {
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	stop, _ := runGatewayBot(t, fd, logs, Config{RetryWait: 20 * time.Millisecond, IdentifyWait: 10 * time.Millisecond})
	waitUntil(t, "the start", func() bool { return strings.Contains(logs.String(), "/odoo registered") })
	fd.gw.InvalidateSession(true)
	deadline := time.Now().Add(5 * time.Second)
	for fd.gw.Resumes() == 0 && len(fd.gw.Identifies()) == 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(fd.gw.Identifies()); n != 1 || fd.gw.Resumes() != 1 {
		t.Errorf("after op 9 d=true: %d IDENTIFYs and %d RESUMEs, want 1 and 1 (no new IDENTIFY)", n, fd.gw.Resumes())
	}
	stop()
}

// TestAGatewayWithoutHelloIsLeftSoon: with the default settings, a
// gateway that accepts the socket and never says HELLO is left within
// DefaultHelloWait (10 s), not after the minute GatewayIdle allows a
// silent connection once it is up.
func TestAGatewayWithoutHelloIsLeftSoon(t *testing.T) {
	t.Parallel()
	fd := newFakeDiscord(t)
	fd.gw.Silent = true
	logs := &bottest.LogBuffer{}
	stop, _ := runGatewayBot(t, fd, logs, Config{})
	start := time.Now()
	deadline := start.Add(15 * time.Second)
	for fd.gw.Connections() < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if fd.gw.Connections() < 2 {
		t.Fatalf("no second connection within 15s of a gateway that never said HELLO")
	}
	if _, ok := warned(t, logs, "no HELLO"); !ok {
		t.Errorf("the missing HELLO is not logged at WARN:\n%s", logs.String())
	}
	stop()
}

// TestShutdownClosesCleanly: at shutdown the bot sends a close frame
// with code 1000 (a clean close that ends the session) before it hangs
// up, rather than dropping the connection (1006).
func TestShutdownClosesCleanly(t *testing.T) {
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	stop, _ := runGatewayBot(t, fd, logs, Config{})
	waitUntil(t, "the start", func() bool { return strings.Contains(logs.String(), "/odoo registered") })
	if took := stop(); took > 3*time.Second {
		t.Errorf("shutdown took %s", took)
	}
	if codes := fd.gw.CloseCodes(); len(codes) == 0 || codes[len(codes)-1] != websocket.CloseNormalClosure {
		t.Errorf("close codes the gateway received = %v, want a last 1000\n%s", codes, logs.String())
	}
}
