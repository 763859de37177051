package commands

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"odoobot/internal/testenv"
	"odoobot/provision"
	"odoobot/provision/postgres"
)

// TestTheRealAuditLogTakesWhatUsersType: against PostgreSQL, a NUL and
// invalid UTF-8 in the text and the user name (which PostgreSQL refuses
// as they are) are recorded, cleaned, and the command runs audited; once
// the database is gone, commands are refused unrun.
func TestTheRealAuditLogTakesWhatUsersType(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	store, err := postgres.Open(ctx, testenv.NewDatabase(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("open the store: %v", err)
	}
	defer store.Close()
	d, c, _ := newTestDispatcher(t)
	d.Auditor = store
	admin := Identity{Platform: "slack", UserID: "U0ADMIN01", UserName: "an\x00a\xff"}
	r := &recordingResponder{}
	d.Handle(ctx, Request{Identity: admin, Channel: "C1", Text: "create acme\x00"}, r)
	d.Handle(ctx, Request{Identity: admin, Channel: "C1", Text: "whoami"}, r)
	entries, err := store.Audit(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("audit = %+v, want 2 entries", entries)
	}
	who := entries[0] // newest first
	if who.Command != "whoami" || who.UserName != "an\uFFFDa\uFFFD" || who.Outcome != "ok" || who.Decision != provision.DecisionAllowed {
		t.Errorf("whoami audited as %+v, want its cleaned user name and outcome ok", who)
	}
	if len(r.replies) != 1 || !strings.Contains(r.replies[0], "role admin") {
		t.Errorf("whoami answered %q", r.replies)
	}
	if got := entries[1].Command; got != "create acme\uFFFD" {
		t.Errorf("create audited as %q", got)
	}

	store.Close() // the database is gone
	r = &recordingResponder{}
	d.Handle(ctx, Request{Identity: admin, Channel: "C1", Text: "create beta"}, r)
	if c.calls != 0 {
		t.Errorf("%d creations ran (the first one had a NUL in its name; the second one had no audit)", c.calls)
	}
	if len(r.privates) != 1 || !strings.Contains(r.privates[0], "the audit log could not be written") {
		t.Errorf("with the audit store gone, the answers are %q, want the refusal", r.privates)
	}
}
