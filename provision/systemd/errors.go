package systemd

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	godbus "github.com/godbus/dbus/v5"

	"odoobot/provision"
)

// typed returns err, an error of an operation on unit ("" when none is
// named), as a *provision.Error when it is a failure of systemd, and err
// unchanged otherwise (nil, one typed already, a bad unit name):
//
//   - a job that did not leave the unit where it was asked (UnitError):
//     broken, with the unit's last journal lines and what they say
//     (an exit status, a start limit hit);
//   - D-Bus's NoSuchUnit or LoadFailed: broken (the unit file is
//     missing or wrong); AccessDenied: refused; any other D-Bus error:
//     broken.
func typed(unit string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := provision.AsError(err); ok {
		return err
	}
	var ue *UnitError
	if errors.As(err, &ue) {
		return &provision.Error{Kind: provision.KindBroken, What: unitWhat(ue), Hint: unitHint(ue), Detail: lastLines(ue.Journal, 5), Err: err}
	}
	var de godbus.Error
	var dp *godbus.Error
	switch {
	case errors.As(err, &dp) && dp != nil:
		de = *dp
	case errors.As(err, &de):
	default:
		return err
	}
	pe := func(kind provision.ErrorKind, what, hint string) error {
		return &provision.Error{Kind: kind, What: what, Hint: hint, Err: err}
	}
	switch de.Name {
	case "org.freedesktop.systemd1.NoSuchUnit", "org.freedesktop.systemd1.LoadFailed":
		if unit == "" {
			return pe(provision.KindBroken, "systemd does not know the instance's unit (unit not found)",
				"its unit file is missing or broken in SYSTEMD_UNIT_DIR (systemctl status shows why); run the command again (each step is safe to repeat)")
		}
		return pe(provision.KindBroken, fmt.Sprintf("systemd does not know %s (unit not found)", unit),
			fmt.Sprintf("its unit file is missing from SYSTEMD_UNIT_DIR, or systemd was not reloaded; check with systemctl status %s, and run the command again (each step is safe to repeat)", unit))
	case "org.freedesktop.DBus.Error.AccessDenied", "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired":
		return pe(provision.KindRefused, "systemd refused odoobot (access denied)", "odoobot must run as root to control the instances")
	}
	return pe(provision.KindBroken, "systemd refused the operation ("+de.Name+")", "the bot's log has the details")
}

// unreachable types a failure to connect to systemd.
func unreachable(err error) error {
	return &provision.Error{Kind: provision.KindUnavailable, What: "systemd cannot be reached over D-Bus",
		Hint: "check that this host runs systemd and that odoobot runs as root (/run/dbus/system_bus_socket); nothing was changed", Err: err}
}

// unitWhat says what a failed job on a unit means.
func unitWhat(e *UnitError) string {
	what := fmt.Sprintf("the service %s did not %s: systemd says the job %s and the unit is %s (%s)", e.Unit, e.Op, e.Result, e.ActiveState, e.SubState)
	if e.Reason != "" && e.Reason != "success" {
		what += ", ended by " + e.Reason
	}
	return what
}

var exitStatus = regexp.MustCompile(`code=(exited|killed|dumped), status=([0-9]+)(?:/([A-Z]+))?`)

// unitHint says what the journal's last exit status or a start limit
// means, and where to look (its lines go to Detail, for the requester
// alone).
func unitHint(e *UnitError) string {
	var b strings.Builder
	for i := len(e.Journal) - 1; i >= 0; i-- {
		l := e.Journal[i]
		if strings.Contains(strings.ToLower(l), "start request repeated too quickly") {
			fmt.Fprintf(&b, "systemd gave up starting it: it failed several times in a row (start request repeated too quickly); once mended, run systemctl reset-failed %s and start it again; ", e.Unit)
			break
		}
		if m := exitStatus.FindStringSubmatch(l); m != nil {
			fmt.Fprintf(&b, "it %s with status %s (%s); ", m[1], m[2]+slashName(m[3]), exitWhy(m[2], m[3]))
			break
		}
	}
	fmt.Fprintf(&b, "look at why in its log (journalctl -u %s, or the logs verb)", e.Unit)
	return b.String()
}

// lastLines are the last n of lines, nil when there are none.
func lastLines(lines []string, n int) []string {
	if len(lines) == 0 {
		return nil
	}
	return append([]string(nil), lines[max(0, len(lines)-n):]...)
}

// exitWhy says what a unit's exit status means.
func exitWhy(status, name string) string {
	switch {
	case name == "EXEC" || status == "203":
		return "systemd could not run its program: the release's venv or odoo-bin is missing; run the command again, or create the release anew"
	case name == "USER" || status == "217":
		return "its system user does not exist; isolate or create the instance again"
	case name == "CHDIR" || status == "200" || name == "NAMESPACE" || status == "226":
		return "a directory the unit names is missing; check the instance's directory under PROD_ROOT"
	case name == "KILL" || status == "9":
		return "it was killed, most often for going over its memory limit (MemoryMax; see LIMIT_MEMORY_HARD_MB)"
	}
	return "Odoo stopped with an error"
}

func slashName(name string) string {
	if name == "" {
		return ""
	}
	return "/" + name
}
