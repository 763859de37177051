package postgres_test

import (
	"strings"
	"testing"
	"time"

	"odoobot/provision"
)

// TestOpenAndCloseAudit: an entry opened before its command runs is in
// the log at once, saying so; closing it writes the outcome in the same
// row.
func TestOpenAndCloseAudit(t *testing.T) {
	s := openStore(t)
	ctx := testContext(t)
	id, err := s.OpenAudit(ctx, provision.AuditEntry{
		Platform: "slack", UserID: "U0123ABCD", UserName: "ana", Channel: "C0123",
		Command: "restart acme", Decision: provision.DecisionAllowed, Outcome: "running",
	})
	if err != nil {
		t.Fatalf("OpenAudit: %v", err)
	}
	got, err := s.Audit(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Command != "restart acme" || got[0].Outcome != "running" {
		t.Fatalf("before the command ends, audit = %+v, want one entry saying running", got)
	}
	if err := s.CloseAudit(ctx, id, "ok", 1500*time.Millisecond); err != nil {
		t.Fatalf("CloseAudit: %v", err)
	}
	got, err = s.Audit(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Outcome != "ok" || got[0].Duration != 1500*time.Millisecond {
		t.Errorf("after the command, audit = %+v, want the one entry with outcome ok and 1.5s", got)
	}
	if err := s.CloseAudit(ctx, id+1000, "ok", 0); err == nil {
		t.Error("CloseAudit of an entry that does not exist succeeded")
	}
	s.Close()
	if _, err := s.OpenAudit(ctx, provision.AuditEntry{Decision: provision.DecisionAllowed}); err == nil {
		t.Error("OpenAudit on a closed store succeeded")
	}
}

// TestAuditSince: an export selects the entries from a time on, of one
// user by ID or name (any case), oldest first, bounded.
func TestAuditSince(t *testing.T) {
	s := openStore(t)
	ctx := testContext(t)
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i, e := range []provision.AuditEntry{
		{At: base, UserID: "U1", UserName: "Ana", Command: "list"},
		{At: base.Add(time.Hour), UserID: "U2", UserName: "ivan", Command: "status acme"},
		{At: base.Add(2 * time.Hour), UserID: "U1", UserName: "Ana", Command: "restart acme"},
		{At: base.Add(3 * time.Hour), UserID: "U1", UserName: "Ana", Command: "logs acme"},
	} {
		e.Platform, e.Decision, e.Outcome = "slack", provision.DecisionAllowed, "ok"
		if err := s.RecordAudit(ctx, e); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	commands := func(q provision.AuditQuery) []string {
		t.Helper()
		got, err := s.AuditSince(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range got {
			out = append(out, e.Command)
		}
		return out
	}
	if got := strings.Join(commands(provision.AuditQuery{Since: base.Add(time.Hour), Limit: 10}), ","); got != "status acme,restart acme,logs acme" {
		t.Errorf("since the second hour: %s", got)
	}
	if got := strings.Join(commands(provision.AuditQuery{Since: base, User: "ana", Limit: 2}), ","); got != "list,restart acme" {
		t.Errorf("ana's first two: %s", got)
	}
	if got := strings.Join(commands(provision.AuditQuery{Since: base, User: "U2", Limit: 10}), ","); got != "status acme" {
		t.Errorf("U2's: %s", got)
	}
	if _, err := s.AuditSince(ctx, provision.AuditQuery{Since: base}); err == nil {
		t.Error("an export without a bound was not refused")
	}
}
