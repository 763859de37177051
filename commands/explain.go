package commands

import (
	"context"
	"errors"

	"odoobot/provision"
)

// failed answers a command that failed while running: the requester is
// told privately what an on-call engineer can act on (Explain), the log
// keeps the raw error, and the returned outcome, for the audit, too. The
// requester is told through Failure, unless err is a refusal (the
// command cannot be done as asked), which goes through Private.
func (d *Dispatcher) failed(ctx context.Context, r Responder, verb Verb, err error) (string, error) {
	d.logger().Error("command failed", "verb", string(verb), "err", err)
	text := echo(Explain(err))
	if !refusal(err) {
		return "failed: " + err.Error(), r.Failure(ctx, text)
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
// failures of the systems it drives (PostgreSQL, systemd), which their
// drivers hand up as a provision.Error, are told by their kind: what
// happened and what to do, without the driver's text (which stays in
// the log).
func Explain(err error) string {
	var portErr *provision.PortTakenError
	if errors.As(err, &portErr) {
		// Why the service could not start comes first; what systemd
		// said of it follows.
		if portErr.Cause != nil {
			return portErr.Summary() + "\n" + Explain(portErr.Cause)
		}
		return portErr.Summary()
	}
	if e, ok := provision.AsError(err); ok {
		text := explainKind(e.Kind, e.Explain())
		if len(e.Detail) > 0 {
			// Failed answers go to the requester alone: the detail too.
			text += "; its last lines:"
			for _, l := range e.Detail {
				text += "\n  " + l
			}
		}
		return text
	}
	return err.Error()
}

// explainKind is a typed failure of kind as chat tells it: its hint, or,
// when it has none, what that kind of failure asks of the reader.
func explainKind(kind provision.ErrorKind, hint string) string {
	if hint != "" {
		return hint
	}
	switch kind {
	case provision.KindRefused:
		return "a system odoobot drives refused the operation: check odoobot's configuration; the bot's log has why"
	case provision.KindConflict:
		return "something else holds what was asked for, or changed it meanwhile: run the command again"
	case provision.KindUnavailable:
		return "a system odoobot needs cannot be reached right now: try again in a minute; the bot's log has which"
	case provision.KindBroken:
		return "a system odoobot drives failed: the bot's log has the details"
	}
	return "the operation failed: the bot's log has the details"
}
