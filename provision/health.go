package provision

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// HealthChecker asks an instance's Odoo, on its local HTTP port, whether
// it is up (provision/probe). Check is safe for concurrent use.
type HealthChecker interface {
	// Check asks URL(port) once, within a few seconds (and within ctx):
	// nil when it answers 200; otherwise an error whose text says what
	// went wrong (the connection's failure, or "status 500 …"), fit for a
	// message. A 200 says nothing of who answered (CheckPortOwners does).
	Check(ctx context.Context, port int) error
	// URL is the address Check asks for port, for messages:
	// http://127.0.0.1:<port>/web/health?db_server_status=1 (Odoo 19's
	// /web/health also connects to PostgreSQL when given
	// db_server_status, and answers 500 when it cannot; 16 to 18 ignore
	// the argument).
	URL(port int) string
}

// WaitHealthy polls health.Check(port) until it answers or the timeout
// passes. On timeout the error carries the last lines of the instance's
// log at logPath, which is where Odoo says why it did not start. It
// says nothing of who answered: odoobot's verbs wait with
// waitOwnHealthy, which does.
func WaitHealthy(ctx context.Context, health HealthChecker, port int, timeout time.Duration, log LogTail) error {
	return waitHealthy(ctx, health, port, timeout, log, nil, nil)
}

// waitOwnHealthy is WaitHealthy for instance inst that also fails, at
// once, when a listening socket on its HTTP or gevent port belongs to a
// user inst does not run as (CheckPortOwners with h's ports and users):
// an answer from there is not inst's, and inst cannot bind its port
// while it is held.
func waitOwnHealthy(ctx context.Context, h hostProbes, inst Instance, serviceUser string, timeout time.Duration, log LogTail, alive func(context.Context) error) error {
	return waitHealthy(ctx, h.health, inst.Ports.HTTP, timeout, log, alive, func() error { return CheckPortOwners(h.ports, h.users, inst, serviceUser) })
}

// LogTail is where a health wait finds what the instance said: its log's
// path, for messages, and its last lines (InstanceFiles.TailLog). The
// zero value shows nothing.
type LogTail struct {
	Path  string
	Lines func(ctx context.Context, n int) []string
}

// said is "; last lines of PATH:" and the log's last ten lines; "" when
// there are none.
func (l LogTail) said(ctx context.Context) string {
	if l.Lines == nil {
		return ""
	}
	tail := l.Lines(ctx, 10)
	if len(tail) == 0 {
		return ""
	}
	return "; last lines of " + l.Path + ":\n" + strings.Join(tail, "\n")
}

// hostProbes are the drivers a health wait and a port owner check ask.
type hostProbes struct {
	health HealthChecker
	ports  PortProbe
	users  Users
}

// waitHealthy is WaitHealthy that also gives up at once when alive, asked
// between polls, says the process is gone: a crashed Odoo fails the step
// in a second, not at the deadline; and when owned, asked after each
// poll, fails: the port is someone else's.
func waitHealthy(ctx context.Context, health HealthChecker, port int, timeout time.Duration, log LogTail, alive func(context.Context) error, owned func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	url := health.URL(port)
	var last string
	var lastErr error
	// A steady 50 ms: Odoo answers within seconds, and a longer backoff
	// would add up to its length to every creation.
	for delay := 50 * time.Millisecond; ; {
		last = ""
		if lastErr = health.Check(ctx, port); lastErr != nil {
			last = lastErr.Error()
		}
		if owned != nil {
			if err := owned(); err != nil {
				return fmt.Errorf("health: %w", err)
			}
		}
		if last == "" {
			return nil
		}
		if alive != nil {
			if err := alive(ctx); err != nil {
				msg := fmt.Sprintf("health: the instance stopped before %s answered: %v", url, err)
				msg += log.said(ctx)
				return fmt.Errorf("%s", msg)
			}
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("health: %s did not answer within %s (last: %s)", url, timeout, last)
			msg += log.said(context.WithoutCancel(ctx))
			return typedAs(lastErr, fmt.Errorf("%s", msg))
		case <-time.After(delay):
		}
	}
}

// typedAs is err with the kind and words of cause's Error (a check's
// typed failure, when the last check failed so), err as it is otherwise.
func typedAs(cause, err error) error {
	if e, ok := AsError(cause); ok {
		return &Error{Kind: e.Kind, What: e.What, Hint: e.Hint, Err: err}
	}
	return err
}
