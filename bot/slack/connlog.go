package slack

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
)

// connLog is slack-go's Socket Mode logger, in debug mode, kept for what
// the library tells nowhere else: why a connection ended (the reason
// Slack gave in a `disconnect` envelope, a ping timeout, a dropped
// socket), each logged as one line by the Bot's logger. Everything else
// the library says is dropped unread: its debug lines carry the payloads,
// which hold user data. What it reads is two lines of slack-go's, whose
// wording a test holds (TestDisconnectsAndDuplicatesAreLogged).
type connLog struct {
	log   *slog.Logger
	clean func(string) string
}

const (
	// receivedLine starts slack-go's debug line of each frame received.
	receivedLine = "Received WebSocket message: "
	// reconnectLine starts its line of each connection that ended.
	reconnectLine = "Reconnecting due to "
)

// Output implements slack-go's logger.
func (l connLog) Output(_ int, s string) error {
	switch {
	case strings.HasPrefix(s, receivedLine):
		// Only a small frame may be a `disconnect`; nothing else is read.
		frame := strings.TrimPrefix(s, receivedLine)
		if len(frame) > 4096 || !strings.Contains(frame, `"disconnect"`) {
			return nil
		}
		var d struct {
			Type      string `json:"type"`
			Reason    string `json:"reason"`
			DebugInfo struct {
				Host string `json:"host"`
			} `json:"debug_info"`
		}
		if json.Unmarshal([]byte(strings.TrimSpace(frame)), &d) != nil || d.Type != "disconnect" {
			return nil
		}
		l.log.Info("slack: Slack asked to disconnect; reconnecting", "reason", l.clean(d.Reason), "host", l.clean(d.DebugInfo.Host))
	case strings.HasPrefix(s, reconnectLine):
		cause := l.clean(strings.TrimSpace(strings.TrimPrefix(s, reconnectLine)))
		level := slog.LevelWarn
		if strings.HasPrefix(cause, "disconnection requested") {
			level = slog.LevelInfo // asked for, and logged with its reason above
		}
		l.log.Log(context.Background(), level, "slack: socket mode connection ended; reconnecting", "cause", cause)
	}
	return nil
}
