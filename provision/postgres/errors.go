package postgres

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"odoobot/internal/pgerr"
	"odoobot/provision"
)

// errorf is fmt.Errorf typed at the driver's edge (Typed): every error the
// store returns goes through it.
func errorf(format string, args ...any) error {
	return Typed(fmt.Errorf(format, args...))
}

// unreachable is what the store says when PostgreSQL cannot be reached.
const (
	unreachableWhat = "odoobot's state database (PostgreSQL) cannot be reached"
	unreachableHint = "check that PostgreSQL is running (systemctl status postgresql) and that DB_HOST and DB_PORT point at it; nothing was changed"
)

// Typed returns err as a *provision.Error when it holds a PostgreSQL
// failure, and err unchanged otherwise (nil, odoobot's own errors, one
// typed already): the state store's errors, in words about odoobot's
// own database. Its kind is pgerr's (the one classifier), by the
// SQLSTATE's class:
//
//   - 28 (login refused) and 42501 (a right missing): refused;
//   - 08 (connection), 57P01–57P03 (shutting down, starting up) and 53
//     (out of disk, memory or connections): unavailable; so is a failed
//     connection (nothing listens, DNS) and a closed pool;
//   - 23505 (unique violation) and 40 (serialisation, deadlock): conflict;
//   - any other SQLSTATE: broken.
//
// The error's text is err's, for the log; its What and Hint say it in
// words, without PostgreSQL's message.
func Typed(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := provision.AsError(err); ok {
		return err
	}
	pe := func(kind provision.ErrorKind, what, hint string) error {
		return &provision.Error{Kind: kind, What: what, Hint: hint, Err: err}
	}
	f := pgerr.Classify(err)
	code := f.Code
	switch f.Cause {
	case pgerr.None:
		if errors.Is(err, puddle.ErrClosedPool) {
			return pe(provision.KindUnavailable, unreachableWhat, unreachableHint)
		}
		return err
	case pgerr.Login:
		return pe(f.Cause.Kind(), fmt.Sprintf("PostgreSQL refused odoobot's login (SQLSTATE %s)", code),
			"check DB_USER and DB_PASSWORD (or DB_PASSWORD_FILE), and pg_hba.conf")
	case pgerr.Restarting:
		return pe(f.Cause.Kind(), fmt.Sprintf("PostgreSQL is restarting or shutting down (SQLSTATE %s)", code),
			"try again in a minute; if it lasts, check systemctl status postgresql")
	case pgerr.Resources:
		return pe(f.Cause.Kind(), fmt.Sprintf("PostgreSQL is out of resources (SQLSTATE %s: connections, disk or memory)", code),
			"check the server's free disk (df -h) and its connections (pg_stat_activity), then run the command again")
	case pgerr.Denied:
		return pe(f.Cause.Kind(), fmt.Sprintf("PostgreSQL denied odoobot a right it needs (SQLSTATE %s)", code),
			"DB_USER must own the instance databases and have CREATEDB and CREATEROLE (odoobot checks at start and says how); the bot's log names the object")
	case pgerr.Concurrent:
		return pe(f.Cause.Kind(), fmt.Sprintf("PostgreSQL gave up the operation because of a concurrent one (SQLSTATE %s)", code),
			"run the command again")
	case pgerr.Duplicate:
		return pe(f.Cause.Kind(), fmt.Sprintf("a record of that name exists already in odoobot's state database (SQLSTATE %s)", code),
			"see list, and choose another name or run the command again")
	case pgerr.MissingDatabase:
		return pe(f.Cause.Kind(), fmt.Sprintf("a database odoobot needs does not exist in PostgreSQL (SQLSTATE %s)", code),
			"check STATE_DB_NAME and psql -l; the bot's log names the database")
	case pgerr.Unreachable:
		return pe(f.Cause.Kind(), unreachableWhat, unreachableHint)
	}
	var pgErr *pgconn.PgError
	errors.As(err, &pgErr)
	return pe(provision.KindBroken, fmt.Sprintf("PostgreSQL refused the operation (SQLSTATE %s: %s)", code, pgErr.Message),
		"the bot's log has the details")
}
