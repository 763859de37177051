package commands

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestControlCharactersNeverReachTheAudit: a NUL (which PostgreSQL
// refuses) or invalid UTF-8 in the text or the user name is made visible
// before the command is decided, run and audited.
func TestControlCharactersNeverReachTheAudit(t *testing.T) {
	d, _, audit := newTestDispatcher(t)
	r := &recordingResponder{}
	id := Identity{Platform: "slack", UserID: "U0VIEW001", UserName: "an\x00a\xff\x1b[2J"}
	d.Handle(context.Background(), Request{Identity: id, Channel: "C1\x00", Text: "status ac\x00me\xfe"}, r)
	d.Handle(context.Background(), Request{Identity: id, Channel: "C1", Text: "whoami\x00"}, r)
	if len(audit.entries) != 2 {
		t.Fatalf("audit = %+v", audit.entries)
	}
	for _, e := range audit.entries {
		for _, s := range []string{e.Command, e.UserName, e.UserID, e.Channel, e.Outcome} {
			if strings.ContainsAny(s, "\x00\x1b") || !utf8.ValidString(s) {
				t.Errorf("audit field %q holds a control character or invalid UTF-8", s)
			}
		}
	}
	if got := audit.entries[0].Command; got != "status ac\uFFFDme\uFFFD" {
		t.Errorf("command audited as %q", got)
	}
	if len(r.privates) != 2 || !strings.Contains(r.privates[0], "refused") {
		t.Errorf("privates %q: want the name refused, and whoami's NUL refused", r.privates)
	}
}

// TestLongArgumentIsNotEchoedWhole: a 100 kB argument is refused unrun,
// its echo and its audit bounded.
func TestLongArgumentIsNotEchoedWhole(t *testing.T) {
	d, c, audit := newTestDispatcher(t)
	admin := Identity{Platform: "slack", UserID: "U0ADMIN01"}
	for _, text := range []string{
		"create " + strings.Repeat("a", 100_000) + " http",
		"create " + strings.Repeat("a", 3000) + " http", // under the request cap: the name rules refuse it
	} {
		r := &recordingResponder{}
		d.Handle(context.Background(), Request{Identity: admin, Channel: "C1", Text: text}, r)
		if len(r.privates) != 1 || len(r.privates[0]) > maxEcho+100 {
			t.Errorf("refusal of %d bytes echoed as %d bytes", len(text), len(r.privates[0]))
		}
	}
	if c.calls != 0 {
		t.Errorf("Create called %d times", c.calls)
	}
	for _, e := range audit.entries {
		if len(e.Command) > maxAuditText+len("…") || len(e.Outcome) > maxAuditOutcome+len("…") {
			t.Errorf("audit entry of %d+%d bytes", len(e.Command), len(e.Outcome))
		}
	}
}
