package provision

import "errors"

// ErrorKind says what kind of failure an Error is, so that a caller
// (chat) can decide how to tell it without knowing the system it came
// from.
type ErrorKind string

// The kinds of Error.
const (
	// KindRefused: the outside system refused what was asked of it
	// (a login, a right, a unit it does not know); asking again the same
	// way fails again until someone changes its configuration.
	KindRefused ErrorKind = "refused"
	// KindConflict: something else holds what was asked for (a name, a
	// row) or changed it meanwhile; run the command again, or choose
	// another name.
	KindConflict ErrorKind = "conflict"
	// KindUnavailable: the outside system cannot be reached, or is
	// starting, stopping or out of resources; try again once it is back.
	KindUnavailable ErrorKind = "unavailable"
	// KindBroken: the outside system did it and it failed (a service
	// that does not start, a command that exits with an error); look at
	// why in its log.
	KindBroken ErrorKind = "broken"
)

// Error is a failure of an outside system as a driver hands it up: the
// kind, what happened and what to do in words chat may show (no secret,
// none of the driver's own text), and the driver's error for the log.
// Drivers make it at their edge (provision/postgres from PostgreSQL's
// errors, provision/systemd from D-Bus's and from a unit that did not
// start); the domain and chat never look into the driver's error.
type Error struct {
	Kind ErrorKind
	// What says what happened, in words: "PostgreSQL refused a login
	// (password authentication failed)".
	What string
	// Hint says what to do: "check DB_USER and DB_PASSWORD".
	Hint string
	// Detail are lines for the requester alone (a unit's last journal
	// lines, which may hold what its program logged): a private answer
	// may show them, a thread or a job record never does.
	Detail []string
	// Err is the driver's error, wrapped: Error returns its text, which
	// goes to the log and the job record, never to chat.
	Err error
}

// Error returns the driver's error's text (the log's), or What when
// there is none.
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	return e.What
}

// Unwrap returns the driver's error.
func (e *Error) Unwrap() error { return e.Err }

// Explain is the error as chat shows it: what happened, then what to do
// (never Detail).
func (e *Error) Explain() string {
	switch {
	case e.Hint == "":
		return e.What
	case e.What == "":
		return e.Hint
	}
	return e.What + ": " + e.Hint
}

// AsError returns the first Error in err's chain.
func AsError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) && e != nil {
		return e, true
	}
	return nil, false
}

// Hint is the Explain of the first Error in err's chain, "" when there
// is none.
func Hint(err error) string {
	if e, ok := AsError(err); ok {
		return e.Explain()
	}
	return ""
}

// KindOf is the kind of the first Error in err's chain, "" when there is
// none.
func KindOf(err error) ErrorKind {
	if e, ok := AsError(err); ok {
		return e.Kind
	}
	return ""
}

// IsKind reports whether err holds an Error of kind k.
func IsKind(err error, k ErrorKind) bool { return KindOf(err) == k }
