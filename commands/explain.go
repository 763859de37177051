package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"odoobot/provision"
)

// failed answers a command that failed while running: the requester is
// told privately what an on-call engineer can act on (ExplainFor), the
// log keeps the raw error, and the returned outcome, for the audit, too.
// The requester is told through Failure, unless err is a refusal (the
// command cannot be done as asked), which goes through Private. A
// refusal, or a mistake in what was asked (mistake), is the user's to
// mend, not a fault of odoobot's: it is logged at INFO, a failure at
// ERROR.
func (d *Dispatcher) failed(ctx context.Context, r Responder, cmd Command, err error) (string, error) {
	text := echo(ExplainFor(err, cmd.Name))
	if mistake(err) {
		d.logger().Info("command refused", "verb", string(cmd.Verb), "instance", cmd.Name, "err", err)
	} else {
		d.logger().Error("command failed", "verb", string(cmd.Verb), "instance", cmd.Name, "err", err)
	}
	if !refusal(err) {
		return "failed: " + err.Error(), r.Failure(ctx, text)
	}
	return "failed: " + err.Error(), r.Private(ctx, text)
}

// mistake reports whether err comes from what the user asked (an
// instance or backup that does not exist, a name taken or not allowed,
// an instance busy or in the wrong state) rather than from odoobot or a
// system it drives.
func mistake(err error) bool {
	if refusal(err) {
		return true
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		return true
	}
	for _, e := range []error{provision.ErrInstanceExists, provision.ErrBackupNotFound, provision.ErrNameEmpty, provision.ErrNameFormat,
		provision.ErrNameReserved, provision.ErrNameNotOneLabel, provision.ErrUnknownSSLMode, provision.ErrModeUnavailable, provision.ErrAlreadyIsolated} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
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

// ExplainFor is Explain for a command on the instance name ("" when it
// names none): a user's mistake that a driver, not the domain, put into
// words ("postgres: create job: acme has create job #3 running: …") is
// told as a sentence that names the instance and says what to do; the
// driver's text stays in the log.
func ExplainFor(err error, name string) string {
	if s, ok := mistakeSentence(err, name); ok {
		return s
	}
	return Explain(err)
}

// mistakeSentence is the sentence for a user's mistake found below the
// domain, false when err is not one or the domain already said it in
// its own words (its text starts with the mistake's).
func mistakeSentence(err error, name string) (string, bool) {
	it := "that instance"
	if name != "" {
		it = name
	}
	for _, m := range []struct {
		err  error
		text string
	}{
		{provision.ErrInstanceNotFound, fmt.Sprintf("no instance is named %s: `list` shows them", it)},
		{provision.ErrInstanceBusy, fmt.Sprintf("%s is busy with another job: wait for it to end (`list` shows it), then try again", it)},
		{provision.ErrInstanceExists, fmt.Sprintf("%s is taken: an instance or a database of that name already exists; pick another name", it)},
		{provision.ErrBackupNotFound, fmt.Sprintf("no such backup of %s: `backups NAME` lists them", it)},
	} {
		if !errors.Is(err, m.err) {
			continue
		}
		if strings.HasPrefix(err.Error(), m.err.Error()) {
			return "", false
		}
		return m.text, true
	}
	return "", false
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
