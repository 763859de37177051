package slack_test

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"odoobot/bot/slack"
)

// drop closes the current Socket Mode connection without a word, as a
// network failure does.
func (fs *fakeSlack) drop() { fs.Drop() }

// logLine reports whether logs hold a record at level whose message is
// msg and whose attributes include attrs.
func logLine(logs, level, msg string, attrs map[string]any) bool {
	for _, l := range strings.Split(logs, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(l), &rec) != nil || rec["level"] != level || rec["msg"] != msg {
			continue
		}
		ok := true
		for k, v := range attrs {
			if rec[k] != v {
				ok = false
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// TestTheConnectionLogReachesTheOperator: with the logger at WARN, as
// odoobot serve runs it, the log tells every disconnect Slack asked for
// with its reason, a disabled app link at ERROR with what to do, every
// connection that dropped with its cause, every reconnection once it is
// made, and every duplicate delivery acknowledged and not run again;
// never an envelope's payload.
func TestTheConnectionLogReachesTheOperator(t *testing.T) {
	fs := newFakeSlack(t)
	rb := startBotAt(t, fs, slack.Config{Handler: newDispatcher(t, newCreator(t), ""), RetryWait: 20 * time.Millisecond}, slog.LevelWarn)
	fs.WaitConnected(t, 5*time.Second)

	fs.Send(t, map[string]any{"type": "disconnect", "reason": "refresh_requested", "debug_info": map[string]any{"host": "applink-7"}})
	fs.WaitConnected(t, 5*time.Second)
	waitFor(t, "the disconnect and its reason logged", func() bool {
		logs := rb.logs.String()
		return logLine(logs, "WARN", "slack: Slack asked to disconnect; reconnecting", map[string]any{"reason": "refresh_requested", "host": "applink-7"}) &&
			logLine(logs, "WARN", "slack: reconnected", map[string]any{"connection": 1.0})
	})

	fs.Send(t, map[string]any{"type": "disconnect", "reason": "link_disabled", "debug_info": map[string]any{"host": "applink-8"}})
	fs.WaitConnected(t, 5*time.Second)
	waitFor(t, "the disabled link logged at ERROR, and the reconnection", func() bool {
		logs := rb.logs.String()
		return logLine(logs, "ERROR", "slack: Slack disabled the app's Socket Mode link (link_disabled): no command reaches odoobot until Socket Mode is turned on again in the Slack app's settings; retrying", map[string]any{"host": "applink-8"}) &&
			logLine(logs, "WARN", "slack: reconnected", map[string]any{"connection": 2.0})
	})

	fs.drop()
	fs.WaitConnected(t, 5*time.Second)
	waitFor(t, "the dropped connection and the reconnection logged", func() bool {
		logs := rb.logs.String()
		return logLine(logs, "WARN", "slack: socket mode connection ended; reconnecting", nil) &&
			logLine(logs, "WARN", "slack: reconnected", map[string]any{"connection": 3.0})
	})

	fs.Send(t, fs.Slash("env-twice", 0, "U0123ABCD", "ana", "C0123", "whoami"))
	fs.Send(t, fs.Slash("env-twice", 1, "U0123ABCD", "ana", "C0123", "whoami"))
	fs.WaitAck(t, "env-twice", 5*time.Second)
	fs.WaitAck(t, "env-twice", 5*time.Second)
	waitFor(t, "the duplicate logged", func() bool {
		return logLine(rb.logs.String(), "WARN", "slack: duplicate envelope acknowledged, not run again", map[string]any{"envelope": "env-twice", "attempt": 1.0})
	})
	if strings.Contains(rb.logs.String(), "1337.42") || strings.Contains(rb.logs.String(), "hooks.slack") {
		t.Errorf("the payloads of the envelopes reached the log:\n%s", rb.logs.String())
	}
}
