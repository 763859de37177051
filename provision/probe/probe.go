// Package probe asks an instance's Odoo whether it is up: an HTTP GET of
// /web/health on its local port (provision.HealthChecker).
package probe

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"odoobot/provision"
)

var _ provision.HealthChecker = Health{}

// Path is what Health asks Odoo. Odoo 19's /web/health also connects to
// PostgreSQL when given db_server_status, and answers 500 when it
// cannot; 16 to 18 ignore the argument and answer 200 whenever the HTTP
// server runs (web/controllers/home.py).
const Path = "/web/health?db_server_status=1"

// Timeout bounds one Check when Health.Timeout is zero.
const Timeout = 2 * time.Second

// Health checks http://127.0.0.1:<port>/web/health. The zero value is
// ready to use; it is safe for concurrent use.
type Health struct {
	// Timeout bounds one Check; zero means Timeout (2 s).
	Timeout time.Duration
}

// URL is http://127.0.0.1:<port>/web/health?db_server_status=1.
func (Health) URL(port int) string {
	return "http://127.0.0.1:" + strconv.Itoa(port) + Path
}

// Check asks URL(port) once: nil when it answers 200, else an error
// saying what went wrong (the client's error, or "status 500 Internal
// Server Error"). A refused connection (nothing listens on port) is a
// provision.Error of kind unavailable that says so and what to do. At
// most 4 KiB of the body is read.
func (h Health) Check(ctx context.Context, port int) error {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = Timeout
	}
	client := &http.Client{Timeout: timeout}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL(port), nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return &provision.Error{Kind: provision.KindUnavailable,
				What: "nothing answered at 127.0.0.1:" + strconv.Itoa(port) + " (connection refused)",
				Hint: "the service meant to listen there is not running; check it with status NAME and the logs verb",
				Err:  err}
		}
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return errors.New("status " + resp.Status)
	}
	return nil
}

// Healthy reports whether port answers the health check with 200 now:
// for Odoo 19, that also says it reaches PostgreSQL. It says nothing of
// who answered.
func Healthy(ctx context.Context, port int) bool {
	return Health{}.Check(ctx, port) == nil
}
