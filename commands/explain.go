package commands

import (
	"context"
	"errors"
	"fmt"
	"net"
	"odoobot/provision"
	"strings"

	"github.com/godbus/dbus/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// failed answers a command that failed while running: the requester is
// told privately what an on-call engineer can act on (Explain), the log
// keeps the raw error, and the returned outcome, for the audit, too. A
// FailureResponder is told through Failure, unless err is a refusal
// (the command cannot be done as asked), which goes through Private.
func (d *Dispatcher) failed(ctx context.Context, r Responder, verb Verb, err error) (string, error) {
	d.logger().Error("command failed", "verb", string(verb), "err", err)
	text := echo(Explain(err))
	if fr, ok := r.(FailureResponder); ok && !refusal(err) {
		return "failed: " + err.Error(), fr.Failure(ctx, text)
	}
	return "failed: " + err.Error(), r.Private(ctx, text)
}

// refusal reports whether err says the command cannot be done as asked
// (no such instance, it is busy or in the wrong state, nothing to
// upgrade) rather than that something broke while doing it.
func refusal(err error) bool {
	for _, e := range []error{provision.ErrInstanceNotFound, provision.ErrInstanceBusy, provision.ErrServiceState, provision.ErrNoUpgrade, provision.ErrNotUpgradable} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Explain is a failure as chat shows it. odoobot's own errors already
// say what was wrong and what to do, and are shown as they are; the
// errors of PostgreSQL (odoobot's state database) and of systemd are
// turned into what happened, in words, and what to check, without the
// driver's text (which stays in the log).
func Explain(err error) string {
	var pgErr *pgconn.PgError
	var connErr *pgconn.ConnectError
	var unitErr *provision.UnitError
	var dbusErr dbus.Error
	var dbusPtr *dbus.Error
	var netErr *net.OpError
	var portErr *provision.PortTakenError
	switch {
	case errors.As(err, &portErr):
		// Why the service could not start comes first; what systemd
		// said of it follows.
		if portErr.Cause != nil {
			return portErr.Summary() + "\n" + Explain(portErr.Cause)
		}
		return portErr.Summary()
	case errors.As(err, &unitErr):
		return explainUnit(unitErr)
	case errors.As(err, &pgErr):
		return explainPostgres(pgErr)
	case errors.As(err, &connErr), errors.As(err, &netErr) && strings.HasPrefix(err.Error(), "postgres:"),
		strings.Contains(err.Error(), "closed pool"):
		return "odoobot's state database (PostgreSQL) cannot be reached: check that PostgreSQL is running (systemctl status postgresql) and that DB_HOST and DB_PORT point at it; nothing was changed"
	case errors.As(err, &dbusPtr) && dbusPtr != nil:
		return explainDBus(*dbusPtr)
	case errors.As(err, &dbusErr):
		return explainDBus(dbusErr)
	case strings.HasPrefix(err.Error(), "systemd: connect:"):
		return "systemd cannot be reached over D-Bus: check that this host runs systemd and that odoobot runs as root (/run/dbus/system_bus_socket); nothing was changed"
	}
	return err.Error()
}

// explainPostgres says what a PostgreSQL error means by its SQLSTATE.
func explainPostgres(e *pgconn.PgError) string {
	class := e.Code
	if len(class) > 2 {
		class = class[:2]
	}
	switch {
	case class == "28":
		return fmt.Sprintf("PostgreSQL refused odoobot's login (SQLSTATE %s): check DB_USER and DB_PASSWORD (or DB_PASSWORD_FILE)", e.Code)
	case class == "08" || e.Code == "57P01" || e.Code == "57P02" || e.Code == "57P03":
		return fmt.Sprintf("PostgreSQL is restarting or shutting down (SQLSTATE %s): try again in a minute; if it lasts, check systemctl status postgresql", e.Code)
	case class == "53":
		return fmt.Sprintf("PostgreSQL is out of resources (SQLSTATE %s: connections, disk or memory): check the server's free disk (df -h) and its connections (pg_stat_activity)", e.Code)
	case e.Code == "42501":
		return fmt.Sprintf("PostgreSQL denied odoobot a right it needs (SQLSTATE %s): DB_USER must own the instance databases and have CREATEDB; the bot's log names the object", e.Code)
	case class == "40":
		return fmt.Sprintf("PostgreSQL gave up the operation because of a concurrent one (SQLSTATE %s): run the command again", e.Code)
	}
	return fmt.Sprintf("PostgreSQL refused the operation (SQLSTATE %s): %s; the bot's log has the details", e.Code, e.Message)
}

// explainUnit says what a failed systemd job means, with the unit's last
// log lines (the requester alone sees a failure).
func explainUnit(e *provision.UnitError) string {
	var b strings.Builder
	fmt.Fprintf(&b, "the service %s did not %s: systemd says the job %s and the unit is %s (%s)", e.Unit, e.Op, e.Result, e.ActiveState, e.SubState)
	if e.Reason != "" && e.Reason != "success" {
		fmt.Fprintf(&b, ", ended by %s", e.Reason)
	}
	fmt.Fprintf(&b, ". Look at why in its log (journalctl -u %s, or the logs verb)", e.Unit)
	if n := len(e.Journal); n > 0 {
		b.WriteString("; its last lines:")
		for _, l := range e.Journal[max(0, n-5):] {
			b.WriteString("\n  " + l)
		}
	}
	return b.String()
}

// explainDBus says what a D-Bus error from systemd means.
func explainDBus(e dbus.Error) string {
	switch e.Name {
	case "org.freedesktop.systemd1.NoSuchUnit", "org.freedesktop.systemd1.LoadFailed":
		return "systemd does not know the instance's unit: its unit file is missing or broken in SYSTEMD_UNIT_DIR (systemctl status shows why); the bot's log has the details"
	case "org.freedesktop.DBus.Error.AccessDenied", "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired":
		return "systemd refused odoobot (access denied): odoobot must run as root to control the instances"
	}
	return "systemd refused the operation (" + e.Name + "); the bot's log has the details"
}
