package commands

import (
	"context"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"odoobot/provision"
)

// auditLog is an AuditExporter over fixed entries, recording the query.
type auditLog struct {
	entries []provision.AuditEntry
	asked   provision.AuditQuery
}

func (l *auditLog) AuditSince(_ context.Context, q provision.AuditQuery) ([]provision.AuditEntry, error) {
	l.asked = q
	var out []provision.AuditEntry
	for _, e := range l.entries {
		if !e.At.Before(q.Since) && (q.User == "" || e.UserID == q.User || strings.EqualFold(e.UserName, q.User)) {
			out = append(out, e)
		}
	}
	if len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

// An admin's audit sends the selected entries as a CSV file to the
// requester alone, one row each, formulas made inert, and says privately
// how many; nothing is posted in the channel.
func TestAuditSendsACSVToTheRequesterAlone(t *testing.T) {
	now := time.Now().UTC()
	log := &auditLog{entries: []provision.AuditEntry{
		{At: now.Add(-48 * time.Hour), Platform: "slack", UserID: "U1", UserName: "olga", Channel: "ops", Command: "restart acme", Decision: "allowed", Outcome: "ok", Duration: 1200 * time.Millisecond},
		{At: now.Add(-time.Hour), Platform: "slack", UserID: "U2", UserName: "=HYPERLINK(\"http://x\")", Channel: "ops", Command: "delete acme", Decision: "denied", Outcome: "denied"},
		{At: now.Add(-30 * 24 * time.Hour), Platform: "discord", UserID: "9", UserName: "ivan", Command: "list", Decision: "allowed", Outcome: "ok"},
	}}
	d, _, _ := newTestDispatcher(t)
	d.Audits = log
	r := &recordingResponder{}
	req := Request{Identity: Identity{Platform: "slack", UserID: "U0ADMIN01"}, Channel: "C1", Text: "audit 7d"}
	if _, err := d.Handle(context.Background(), req, r); err != nil {
		t.Fatal(err)
	}
	if len(r.files) != 1 || len(r.replies) != 0 {
		t.Fatalf("files %v, replies %v: want one file and nothing in the channel", r.files, r.replies)
	}
	name, body, _ := strings.Cut(r.files[0], "\n")
	if !strings.HasPrefix(name, "odoobot-audit-") || !strings.HasSuffix(name, ".csv") {
		t.Errorf("file name %q", name)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0][0] != "at" || rows[1][5] != "restart acme" || rows[1][8] != "1200" {
		t.Errorf("CSV rows:\n%q", rows)
	}
	if got := rows[2][3]; got != "'=HYPERLINK(\"http://x\")" {
		t.Errorf("a user name that is a formula is written %q, want it made inert", got)
	}
	if len(r.privates) != 1 || !strings.Contains(r.privates[0], "2 entries of everyone") {
		t.Errorf("private answer %v", r.privates)
	}
	if log.asked.Limit != MaxAuditRows+1 {
		t.Errorf("the export asked for %d rows, want a bound of %d+1", log.asked.Limit, MaxAuditRows)
	}
}

// audit is the admins': a viewer is refused and sent nothing.
func TestAuditIsForAdmins(t *testing.T) {
	d, _, _ := newTestDispatcher(t)
	d.Audits = &auditLog{}
	r := &recordingResponder{}
	d.Handle(context.Background(), Request{Identity: Identity{Platform: "slack", UserID: "U0VIEW001"}, Channel: "C1", Text: "audit"}, r)
	if len(r.files) != 0 || len(r.privates) != 1 || !strings.Contains(r.privates[0], "need role admin") {
		t.Errorf("an operator's audit: files %v, privates %v", r.files, r.privates)
	}
}
