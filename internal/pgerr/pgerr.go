// Package pgerr is the one classifier of PostgreSQL's failures: it tells
// by a failure's SQLSTATE (or, for a connection that failed before
// PostgreSQL answered, by the network's error) what kind of failure it
// is, and says it as a provision.Error in words chat may show, without
// PostgreSQL's own text. The drivers that talk to PostgreSQL
// (provision/postgres, provision/odoo) type their errors with it at
// their edge; neither imports the other.
package pgerr

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"odoobot/provision"
)

// Cause is what went wrong, as far as what to do about it goes.
type Cause int

// The causes of a PostgreSQL failure.
const (
	None            Cause = iota // not a PostgreSQL failure
	Login                        // class 28: a login refused
	Denied                       // 42501: a right missing
	MissingDatabase              // 3D000: the database does not exist
	Restarting                   // class 08, 57P01–57P03: shutting down, starting up, connection lost
	Resources                    // class 53: out of disk, memory or connections
	Concurrent                   // class 40: serialisation failure, deadlock
	Duplicate                    // 23505: a unique violation
	Unreachable                  // the connection failed before PostgreSQL answered
	Other                        // any other SQLSTATE
)

// Kind is the provision.ErrorKind of c: Login and Denied are refused;
// Restarting, Resources and Unreachable unavailable; Concurrent and
// Duplicate a conflict; MissingDatabase and Other broken; None "".
func (c Cause) Kind() provision.ErrorKind {
	switch c {
	case Login, Denied:
		return provision.KindRefused
	case Restarting, Resources, Unreachable:
		return provision.KindUnavailable
	case Concurrent, Duplicate:
		return provision.KindConflict
	case MissingDatabase, Other:
		return provision.KindBroken
	}
	return ""
}

// Failure is a classified PostgreSQL failure.
type Failure struct {
	Cause Cause
	// Code is the SQLSTATE, "" when PostgreSQL did not answer (or the
	// failure was told by a program, not by a code).
	Code string
	// Database is the missing database's name (MissingDatabase), when
	// PostgreSQL named it.
	Database string
}

var missingDB = regexp.MustCompile(`database "([^"]+)" does not exist`)

// Classify returns what err's PostgreSQL failure is; its Cause is None
// when err holds none (nil, odoobot's own errors, a context ended).
func Classify(err error) Failure {
	if err == nil {
		return Failure{}
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return FromCode(pgErr.Code, pgErr.Message)
	}
	var connErr *pgconn.ConnectError
	var netErr *net.OpError
	if errors.As(err, &connErr) || errors.As(err, &netErr) {
		return Failure{Cause: Unreachable}
	}
	return Failure{}
}

// FromCode classifies SQLSTATE code; message, PostgreSQL's message,
// only gives the name of a missing database.
func FromCode(code, message string) Failure {
	class := code
	if len(class) > 2 {
		class = class[:2]
	}
	f := Failure{Code: code, Cause: Other}
	switch {
	case class == "28":
		f.Cause = Login
	case code == "42501":
		f.Cause = Denied
	case code == "3D000":
		f.Cause = MissingDatabase
		if m := missingDB.FindStringSubmatch(message); m != nil {
			f.Database = m[1]
		}
	case class == "08" || code == "57P01" || code == "57P02" || code == "57P03":
		f.Cause = Restarting
	case class == "53":
		f.Cause = Resources
	case class == "40":
		f.Cause = Concurrent
	case code == "23505":
		f.Cause = Duplicate
	}
	return f
}

// Error is f as a provision.Error of f.Cause's kind wrapping err, in
// words that say what happened and what to do (Explain), without
// PostgreSQL's message. It is nil when f.Cause is None.
func (f Failure) Error(err error) *provision.Error {
	e := &provision.Error{Kind: f.Cause.Kind(), Err: err}
	switch f.Cause {
	case None:
		return nil
	case Login:
		e.What = "PostgreSQL refused a login (password authentication failed)"
		if f.Code != "" && f.Code != "28P01" {
			e.What = fmt.Sprintf("PostgreSQL refused a login (SQLSTATE %s)", f.Code)
		}
		e.Hint = "check DB_USER and DB_PASSWORD (or DB_PASSWORD_FILE) for odoobot's role, and pg_hba.conf; the bot's log names the role"
	case Denied:
		e.What = "PostgreSQL denied odoobot a right it needs (permission denied)"
		e.Hint = "DB_USER needs CREATEDB and CREATEROLE and must be granted each instance's role (odoobot checks at start and says how); the bot's log names the object"
	case MissingDatabase:
		e.What = "a database odoobot needs does not exist in PostgreSQL"
		if f.Database != "" {
			e.What = "the database " + f.Database + " does not exist in PostgreSQL"
		}
		e.Hint = "it was dropped or never made; check with psql -l, and run the command again (a template is made again when missing)"
	case Restarting:
		e.What = "PostgreSQL was restarting or shutting down"
		e.Hint = "run the command again in a minute; if it lasts, check systemctl status postgresql"
	case Resources:
		e.What = "the server is out of resources (disk, memory or PostgreSQL connections)"
		e.Hint = "check the free disk (df -h) and PostgreSQL's connections (pg_stat_activity), then run the command again"
	case Concurrent:
		e.What = "PostgreSQL gave up the operation because of a concurrent one"
		e.Hint = "run the command again"
	case Duplicate:
		e.What = "something of that name exists already in PostgreSQL"
		e.Hint = "choose another name, or run the command again"
	case Unreachable:
		e.What = "PostgreSQL cannot be reached"
		if errors.Is(err, syscall.ECONNREFUSED) {
			e.What += " (connection refused)"
		}
		e.Hint = "check that it runs (systemctl status postgresql) and that DB_HOST and DB_PORT point at it, then run the command again"
	default:
		e.What = "PostgreSQL refused the operation"
		if f.Code != "" {
			e.What = fmt.Sprintf("PostgreSQL refused the operation (SQLSTATE %s)", f.Code)
		}
		e.Hint = "the bot's log has its message"
	}
	return e
}

// Typed returns err as a *provision.Error when it holds a PostgreSQL
// failure (Classify), told in Failure.Error's words; err unchanged
// otherwise (nil, odoobot's own errors, an error typed already). The
// error's text stays err's, for the log.
func Typed(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := provision.AsError(err); ok {
		return err
	}
	if e := Classify(err).Error(err); e != nil {
		return e
	}
	return err
}

// Type sets *err to Typed(*err): deferred by a driver's exported method,
// it types whatever that method returns.
func Type(err *error) { *err = Typed(*err) }
