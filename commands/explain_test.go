package commands

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"odoobot/provision"
)

// TestExplain: PostgreSQL and systemd failures are said in words, with
// what to check; odoobot's own errors pass as they are.
func TestExplain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A real connection failure: nothing listens on port 1.
	_, connErr := pgconn.Connect(ctx, "postgres://odoo@127.0.0.1:1/odoobot?sslmode=disable&connect_timeout=5")
	if connErr == nil {
		t.Fatal("connecting to port 1 succeeded")
	}
	tests := []struct {
		err       error
		want      string // the answer starts with it
		forbidden string // raw text that must not be shown
	}{
		{fmt.Errorf("postgres: instances: %w", connErr), "odoobot's state database (PostgreSQL) cannot be reached: check that PostgreSQL is running", "127.0.0.1:1"},
		{errors.New("postgres: list instances: closed pool"), "odoobot's state database (PostgreSQL) cannot be reached", "closed pool"},
		{fmt.Errorf("postgres: x: %w", &pgconn.PgError{Code: "28P01", Message: "password authentication failed for user \"odoo\""}),
			"PostgreSQL refused odoobot's login (SQLSTATE 28P01): check DB_USER and DB_PASSWORD", "authentication failed"},
		{&pgconn.PgError{Code: "57P03", Message: "the database system is starting up"}, "PostgreSQL is restarting or shutting down (SQLSTATE 57P03): try again in a minute", "starting up"},
		{&pgconn.PgError{Code: "53100", Message: "could not extend file"}, "PostgreSQL is out of resources (SQLSTATE 53100", "could not extend"},
		{&pgconn.PgError{Code: "42501", Message: "permission denied for table instances"}, "PostgreSQL denied odoobot a right it needs (SQLSTATE 42501)", ""},
		{&pgconn.PgError{Code: "40001", Message: "could not serialize access"}, "PostgreSQL gave up the operation because of a concurrent one (SQLSTATE 40001): run the command again", ""},
		{fmt.Errorf("systemd: restart: %w", &provision.UnitError{Op: "restart", Unit: "odoo19e-prod-acme.service", Result: "failed", ActiveState: "failed", SubState: "failed", Reason: "exit-code",
			Journal: []string{"l1", "l2", "l3", "l4", "l5", "l6: ImportError: No module named odoo"}}),
			"the service odoo19e-prod-acme.service did not restart: systemd says the job failed and the unit is failed (failed), ended by exit-code. Look at why in its log (journalctl -u odoo19e-prod-acme.service, or the logs verb); its last lines:\n  l2\n  l3\n  l4\n  l5\n  l6: ImportError: No module named odoo", "\n  l1"},
		{fmt.Errorf("systemd: status x: %w", dbus.NewError("org.freedesktop.systemd1.NoSuchUnit", []any{"Unit x not loaded."})), "systemd does not know the instance's unit", "not loaded"},
		{fmt.Errorf("systemd: stop x: %w", dbus.Error{Name: "org.freedesktop.DBus.Error.AccessDenied"}), "systemd refused odoobot (access denied): odoobot must run as root", ""},
		{errors.New("systemd: connect: dial unix /run/dbus/system_bus_socket: connect: no such file or directory"), "systemd cannot be reached over D-Bus", "no such file"},
		{fmt.Errorf("%w: acme is stopped (inactive); use start", provision.ErrServiceState), "service state: acme is stopped (inactive); use start", ""},
		// A start that failed because a neighbour holds the port: who
		// holds it first, then what systemd said, in words.
		{&provision.PortTakenError{Instance: "acme", Port: 2105, Holder: "odoo-globex", UID: 1003, Want: "odoo-acme", Tenant: true,
			Cause: fmt.Errorf("systemd: start: %w", &provision.UnitError{Op: "start", Unit: "odoo19e-prod-acme.service", Result: "done", ActiveState: "activating", SubState: "auto-restart"})},
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
	raw := errors.New("postgres: list instances: closed pool")
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
	d.Operator = &provision.Operator{Store: lookupStore{[]provision.Instance{layout.NewInstance("acme", provision.SSLHTTP)}}, Layout: layout}
	for _, text := range []string{"help", "list"} {
		r := &recordingResponder{}
		d.Handle(context.Background(), Request{Identity: Identity{Platform: "slack", UserID: "U0VIEW001"}, Channel: "C1", Text: text}, r)
		if len(r.long) != 1 || len(r.replies) != 0 {
			t.Errorf("%s: long %q replies %q, want one long answer", text, r.long, r.replies)
		}
	}
}
