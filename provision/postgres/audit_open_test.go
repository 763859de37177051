package postgres_test

import (
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
