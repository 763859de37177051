package systemd

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	godbus "github.com/godbus/dbus/v5"

	"odoobot/provision"
)

// TestTypedKinds: systemd's failures come up as provision.Errors of the
// kind chat decides on, said in words with what to do; a unit that did
// not start says what its exit status means, and keeps its last journal
// lines apart (Detail, for the requester alone: never in a thread).
func TestTypedKinds(t *testing.T) {
	unit := "odoo19e-prod-acme.service"
	failed := func(reason string, journal ...string) error {
		return &UnitError{Op: "start", Unit: unit, Result: "failed", ActiveState: "failed", SubState: "failed", Reason: reason, Journal: journal}
	}
	tests := []struct {
		name      string
		err       error
		kind      provision.ErrorKind
		want      []string
		forbidden string
	}{
		{"unit failed, with its journal",
			&UnitError{Op: "restart", Unit: unit, Result: "failed", ActiveState: "failed", SubState: "failed", Reason: "exit-code",
				Journal: []string{"l1", "l2", "l3", "l4", "l5", "l6: ImportError: No module named odoo"}},
			provision.KindBroken,
			[]string{"the service odoo19e-prod-acme.service did not restart: systemd says the job failed and the unit is failed (failed), ended by exit-code",
				"look at why in its log (journalctl -u odoo19e-prod-acme.service, or the logs verb)"},
			"ImportError"},
		{"exit 203/EXEC", failed("exit-code", "odoo19e-prod-acme.service: Main process exited, code=exited, status=203/EXEC"),
			provision.KindBroken, []string{"it exited with status 203/EXEC", "could not run its program", "journalctl -u " + unit}, ""},
		{"killed", failed("signal", "odoo19e-prod-acme.service: Main process exited, code=killed, status=9/KILL"),
			provision.KindBroken, []string{"killed with status 9/KILL", "MemoryMax"}, ""},
		{"start limit", failed("start-limit-hit", "odoo19e-prod-acme.service: Start request repeated too quickly.", "Failed to start odoo19e-prod-acme.service - Odoo acme."),
			provision.KindBroken, []string{"systemd gave up starting it", "systemctl reset-failed " + unit}, ""},
		{"no such unit", godbus.NewError("org.freedesktop.systemd1.NoSuchUnit", []any{"Unit " + unit + " not found."}),
			provision.KindBroken, []string{"systemd does not know " + unit + " (unit not found)", "systemctl status " + unit}, "not found."},
		{"no such unit (value)", godbus.Error{Name: "org.freedesktop.systemd1.NoSuchUnit", Body: []any{"Unit x not loaded."}},
			provision.KindBroken, []string{"systemd does not know " + unit}, "not loaded"},
		{"access denied", godbus.Error{Name: "org.freedesktop.DBus.Error.AccessDenied"},
			provision.KindRefused, []string{"systemd refused odoobot (access denied): odoobot must run as root"}, ""},
		{"other D-Bus error", godbus.Error{Name: "org.freedesktop.DBus.Error.Failed"},
			provision.KindBroken, []string{"systemd refused the operation (org.freedesktop.DBus.Error.Failed)"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := fmt.Errorf("systemd: start %s: %w", unit, tc.err)
			err := typed(unit, raw)
			e, ok := provision.AsError(err)
			if !ok {
				t.Fatalf("typed(%q) = %#v, not a provision.Error", raw, err)
			}
			if e.Kind != tc.kind {
				t.Errorf("kind %q, want %q", e.Kind, tc.kind)
			}
			got := e.Explain()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("Explain() = %q\nlacks %q", got, w)
				}
			}
			if tc.forbidden != "" && strings.Contains(got, tc.forbidden) {
				t.Errorf("Explain() = %q shows the raw %q", got, tc.forbidden)
			}
			if err.Error() != raw.Error() || errors.Unwrap(err) != raw {
				t.Errorf("the typed error lost the driver's: %q", err)
			}
		})
	}
	journal := []string{"l1", "l2", "l3", "l4", "l5", "l6: ImportError: No module named odoo"}
	e, _ := provision.AsError(typed(unit, &UnitError{Op: "start", Unit: unit, Result: "failed", Journal: journal}))
	if got := strings.Join(e.Detail, "|"); got != "l2|l3|l4|l5|l6: ImportError: No module named odoo" {
		t.Errorf("Detail = %q, want the last five journal lines", e.Detail)
	}
	if e, ok := provision.AsError(unreachable(errors.New("systemd: connect: dial unix: no such file"))); !ok || e.Kind != provision.KindUnavailable || strings.Contains(e.Explain(), "no such file") {
		t.Errorf("a failed connection: %#v", e)
	}
	bad := errors.New(`systemd: start: invalid unit name "x"`)
	if typed("x", bad) != bad {
		t.Error("odoobot's own error was changed")
	}
}
