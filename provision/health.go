package provision

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// healthPath is what the health checks ask Odoo. Odoo 19's /web/health
// also connects to PostgreSQL when given db_server_status, and answers 500
// when it cannot; 16 to 18 ignore the argument and answer 200 whenever
// the HTTP server runs (web/controllers/home.py).
const healthPath = "/web/health?db_server_status=1"

// healthURL is the health check URL of an instance's HTTP port.
func healthURL(port int) string {
	return "http://127.0.0.1:" + strconv.Itoa(port) + healthPath
}

// WaitHealthy polls http://127.0.0.1:<port>/web/health?db_server_status=1
// (healthPath) until it answers 200 or the timeout passes. On timeout the error carries the last lines
// of the instance's log, which is where Odoo says why it did not start.
// It says nothing of who answered: odoobot's verbs wait with
// waitOwnHealthy, which does.
func WaitHealthy(ctx context.Context, port int, timeout time.Duration, logPath string) error {
	return waitHealthy(ctx, port, timeout, logPath, nil, nil)
}

// waitOwnHealthy is WaitHealthy for instance inst that also fails, at
// once, when a listening socket on its HTTP or gevent port belongs to a
// user inst does not run as (CheckPortOwners): an answer from there is
// not inst's, and inst cannot bind its port while it is held.
func waitOwnHealthy(ctx context.Context, inst Instance, serviceUser string, timeout time.Duration, logPath string, alive func(context.Context) error) error {
	return waitHealthy(ctx, inst.Ports.HTTP, timeout, logPath, alive, func() error { return CheckPortOwners(inst, serviceUser) })
}

// waitHealthy is WaitHealthy that also gives up at once when alive, asked
// between polls, says the process is gone: a crashed Odoo fails the step
// in a second, not at the deadline; and when owned, asked after each
// poll, fails: the port is someone else's.
func waitHealthy(ctx context.Context, port int, timeout time.Duration, logPath string, alive func(context.Context) error, owned func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	url := healthURL(port)
	client := &http.Client{Timeout: 2 * time.Second}
	var last string
	// A steady 50 ms: Odoo answers within seconds, and a longer backoff
	// would add up to its length to every creation.
	for delay := 50 * time.Millisecond; ; {
		last = probe(ctx, client, url)
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
				if tail := TailFile(logPath, 10); len(tail) > 0 {
					msg += "; last lines of " + logPath + ":\n" + strings.Join(tail, "\n")
				}
				return fmt.Errorf("%s", msg)
			}
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("health: %s did not answer within %s (last: %s)", url, timeout, last)
			if tail := TailFile(logPath, 10); len(tail) > 0 {
				msg += "; last lines of " + logPath + ":\n" + strings.Join(tail, "\n")
			}
			return fmt.Errorf("%s", msg)
		case <-time.After(delay):
		}
	}
}

// Healthy reports whether port answers the health check (healthPath)
// with 200 now: for Odoo 19, that also says it reaches PostgreSQL. It
// says nothing of who answered: Operator.Status also asks
// CheckPortOwners.
func Healthy(ctx context.Context, port int) bool {
	client := &http.Client{Timeout: 2 * time.Second}
	return probe(ctx, client, healthURL(port)) == ""
}

// probe returns "" when url answers 200, else what went wrong.
func probe(ctx context.Context, client *http.Client, url string) string {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := client.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return "status " + resp.Status
	}
	return ""
}
