package commands

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"odoobot/provision"
	"odoobot/provision/tree"
)

// TestExplain: failures the drivers typed are said by their kind, in
// their words; odoobot's own errors pass as they are. (Each driver's
// tests check the words it gives each failure of its system.)
func TestExplain(t *testing.T) {
	unavailable := &provision.Error{Kind: provision.KindUnavailable, What: "odoobot's state database (PostgreSQL) cannot be reached",
		Hint: "check that PostgreSQL is running (systemctl status postgresql) and that DB_HOST and DB_PORT point at it; nothing was changed",
		Err:  errors.New("postgres: instances: failed to connect to `user=odoo database=odoobot`: 127.0.0.1:1 (127.0.0.1): dial error")}
	unit := &provision.Error{Kind: provision.KindBroken, What: "the service odoo19e-prod-acme.service did not start: systemd says the job done and the unit is activating (auto-restart)",
		Hint: "look at why in its log (journalctl -u odoo19e-prod-acme.service, or the logs verb)",
		Err:  &provision.UnitError{Op: "start", Unit: "odoo19e-prod-acme.service", Result: "done", ActiveState: "activating", SubState: "auto-restart"}}
	tests := []struct {
		err       error
		want      string // the answer starts with it
		forbidden string // raw text that must not be shown
	}{
		{fmt.Errorf("provision: list: %w", unavailable), "odoobot's state database (PostgreSQL) cannot be reached: check that PostgreSQL is running", "127.0.0.1:1"},
		{&provision.Error{Kind: provision.KindConflict, Err: errors.New("postgres: SQLSTATE 40001")}, "something else holds what was asked for, or changed it meanwhile: run the command again", "SQLSTATE"},
		{&provision.Error{Kind: provision.KindUnavailable, Err: errors.New("systemd: connect: no such file")}, "a system odoobot needs cannot be reached right now: try again in a minute", "no such file"},
		{&provision.Error{Kind: provision.KindRefused, Err: errors.New("x: access denied")}, "a system odoobot drives refused the operation", "access denied"},
		{&provision.Error{Kind: provision.KindBroken, Err: errors.New("x: boom")}, "a system odoobot drives failed: the bot's log has the details", "boom"},
		// A private answer shows the detail (a unit's last journal lines).
		{&provision.Error{Kind: provision.KindBroken, What: "the service u.service did not restart", Hint: "look at why in its log",
			Detail: []string{"l5", "l6: ImportError: No module named odoo"}, Err: errors.New("systemd: restart u.service: job failed")},
			"the service u.service did not restart: look at why in its log; its last lines:\n  l5\n  l6: ImportError: No module named odoo", "job failed"},
		{fmt.Errorf("%w: acme is stopped (inactive); use start", provision.ErrServiceState), "service state: acme is stopped (inactive); use start", ""},
		// A start that failed because a neighbour holds the port: who
		// holds it first, then what systemd said, in words.
		{&provision.PortTakenError{Instance: "acme", Port: 2105, Holder: "odoo-globex", UID: 1003, Want: "odoo-acme", Tenant: true,
			Cause: fmt.Errorf("provision: start: %w", unit)},
			"port 2105 of acme is held by user odoo-globex (uid 1003), not odoo-acme: another instance took it; nothing of acme is served there until it lets go (ss -ltnpe 'sport = :2105' shows the process; stopping it is an operator's decision)\nthe service odoo19e-prod-acme.service did not start", "systemd: start"},
	}
	for _, tt := range tests {
		got := Explain(tt.err)
		if !strings.HasPrefix(got, tt.want) {
			t.Errorf("Explain(%q) =\n%q\nwant it to start with\n%q", tt.err, got, tt.want)
		}
		if tt.forbidden != "" && strings.Contains(got, tt.forbidden) {
			t.Errorf("Explain(%q) = %q shows the raw %q", tt.err, got, tt.forbidden)
		}
	}
}

// failingStore is an Operator's store whose database is gone.
type failingStore struct{ err error }

func (s failingStore) Instance(context.Context, string) (provision.Instance, error) {
	return provision.Instance{}, s.err
}
func (s failingStore) Instances(context.Context) ([]provision.Instance, error) { return nil, s.err }
func (s failingStore) ActiveJob(context.Context, string) (provision.Job, bool, error) {
	return provision.Job{}, false, s.err
}

// TestAFailureIsExplainedAndTheRawErrorLogged: list with PostgreSQL down
// tells the requester what to check; the raw error is in the log and the
// audit, not in chat.
func TestAFailureIsExplainedAndTheRawErrorLogged(t *testing.T) {
	d, _, audit := newTestDispatcher(t)
	var logs bytes.Buffer
	d.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	raw := &provision.Error{Kind: provision.KindUnavailable, What: "odoobot's state database (PostgreSQL) cannot be reached",
		Hint: "check that PostgreSQL is running", Err: errors.New("postgres: list instances: closed pool")}
	d.Operator = &provision.Operator{Store: failingStore{raw}}
	r := &recordingResponder{}
	d.Handle(context.Background(), Request{Identity: Identity{Platform: "slack", UserID: "U0VIEW001"}, Channel: "C1", Text: "list"}, r)
	if len(r.privates) != 1 || !strings.HasPrefix(r.privates[0], "odoobot's state database (PostgreSQL) cannot be reached") || strings.Contains(r.privates[0], "closed pool") {
		t.Errorf("list with the database gone answered %q", r.privates)
	}
	if !strings.Contains(logs.String(), "closed pool") {
		t.Errorf("the raw error is not in the log:\n%s", logs.String())
	}
	if last := audit.entries[len(audit.entries)-1]; last.Outcome != "failed: postgres: list instances: closed pool" {
		t.Errorf("audit outcome %q", last.Outcome)
	}
}

// TestTablesGoAsLongOutput: help and list are tables, sent as long
// output, which chat shows in a code block so that their columns line
// up (capacity and certs: their own tests).
func TestTablesGoAsLongOutput(t *testing.T) {
	d, _, _ := newTestDispatcher(t)
	layout := provision.Layout{Zone: "example.com"}
	d.Operator = &provision.Operator{Files: tree.New(layout), Store: lookupStore{[]provision.Instance{layout.NewInstance("acme", provision.SSLHTTP)}}, Layout: layout}
	for _, text := range []string{"help", "list"} {
		r := &recordingResponder{}
		d.Handle(context.Background(), Request{Identity: Identity{Platform: "slack", UserID: "U0VIEW001"}, Channel: "C1", Text: text}, r)
		if len(r.long) != 1 || len(r.replies) != 0 {
			t.Errorf("%s: long %q replies %q, want one long answer", text, r.long, r.replies)
		}
	}
}
