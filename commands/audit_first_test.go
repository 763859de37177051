package commands

import (
	"context"
	"strings"
	"testing"

	"odoobot/provision"
)

// orderedCreator records, at each creation, the audit entries already
// written: the entry of the command that asked for it must be there.
type orderedCreator struct {
	audit   *memAudit
	entries [][]provision.AuditEntry
}

func (c *orderedCreator) Create(_ context.Context, req provision.CreateRequest) (*provision.Task, error) {
	c.entries = append(c.entries, append([]provision.AuditEntry(nil), c.audit.entries...))
	return nil, provision.ErrPortsExhausted
}

// TestTheAuditIsWrittenBeforeTheCommandRuns: when the command starts,
// its entry is already in the audit log, saying it is running; once it
// has run, the same entry holds the outcome.
func TestTheAuditIsWrittenBeforeTheCommandRuns(t *testing.T) {
	d, _, audit := newTestDispatcher(t)
	c := &orderedCreator{audit: audit}
	d.Creator = c
	r := &recordingResponder{}
	d.Handle(context.Background(), Request{Identity: Identity{Platform: "slack", UserID: "U0ADMIN01"}, Channel: "C1", Text: "create acme"}, r)
	if len(c.entries) != 1 {
		t.Fatalf("the creation ran %d times, want 1", len(c.entries))
	}
	seen := c.entries[0]
	if len(seen) != 1 || seen[0].Command != "create acme" || seen[0].Outcome != AuditRunning || seen[0].Decision != provision.DecisionAllowed {
		t.Errorf("when the creation ran, the audit held %+v, want the command's entry, allowed and running", seen)
	}
	if len(audit.entries) != 1 || !strings.HasPrefix(audit.entries[0].Outcome, "refused: ") {
		t.Errorf("after the command, the audit holds %+v, want its one entry with the outcome", audit.entries)
	}
}

// TestACommandThatCannotBeAuditedIsNotRun: with the audit store down,
// an allowed command is refused unrun, saying why and what to do.
func TestACommandThatCannotBeAuditedIsNotRun(t *testing.T) {
	d, c, audit := newTestDispatcher(t)
	audit.down = true
	for _, text := range []string{"create acme", "whoami", "help"} {
		r := &recordingResponder{}
		d.Handle(context.Background(), Request{Identity: Identity{Platform: "slack", UserID: "U0ADMIN01"}, Channel: "C1", Text: text}, r)
		if len(r.replies)+len(r.long) != 0 {
			t.Errorf("%s ran unaudited: replies %q, long %q", text, r.replies, r.long)
		}
		if len(r.privates) != 1 || !strings.Contains(r.privates[0], "not run: the audit log could not be written") || !strings.Contains(r.privates[0], "try again") {
			t.Errorf("%s: private answers %q, want the refusal saying the audit could not be written", text, r.privates)
		}
		if strings.Contains(strings.Join(r.privates, ""), "connection refused") {
			t.Errorf("%s: the raw error reached the chat: %q", text, r.privates)
		}
	}
	if c.calls != 0 {
		t.Errorf("%d creations ran unaudited", c.calls)
	}
}
