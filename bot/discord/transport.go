package discord

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// rebase sends discordgo's REST calls to the configured API base.
//
// discordgo builds every REST URL from package variables
// (discordgo.EndpointAPI and friends). Changing them would change every
// session in the process, so they are only read: this transport takes
// each request whose URL starts with the library's base and rewrites
// that prefix to the configured one (DISCORD_API_URL), leaving the rest
// of the path and the query as they are. Anything else is refused, so
// that the bot token, which discordgo puts on every request, never goes
// to another host.
type rebase struct {
	from string // discordgo's base, e.g. https://discord.com/api/v9/
	to   string // the configured base, with a trailing slash
	next http.RoundTripper
}

// RoundTrip implements http.RoundTripper. It does not change req.
func (t *rebase) RoundTrip(req *http.Request) (*http.Response, error) {
	u := *req.URL
	u.RawQuery, u.Fragment, u.RawFragment = "", "", ""
	full := u.String()
	if !strings.HasPrefix(full, t.from) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("discord: refusing a request outside the Discord API (%s %s://%s)", req.Method, req.URL.Scheme, req.URL.Host)
	}
	nu, err := url.Parse(t.to + strings.TrimPrefix(full, t.from))
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("discord: rebase request URL: %w", err)
	}
	nu.RawQuery = req.URL.RawQuery
	out := req.Clone(req.Context())
	out.URL = nu
	out.Host = ""
	return t.next.RoundTrip(out)
}

// retrying retries the REST calls that Discord's trouble made fail: an
// answer of 500, 502, 503 or 504 (Discord did not act on the request),
// and, for a request that is safe to send twice, a connection that
// failed or dropped before an answer. Safe to send twice are GET, HEAD,
// PUT, PATCH and DELETE, and an interaction's callback (Discord refuses a
// second acknowledgement of the same interaction, changing nothing). A
// POST that creates a message is not sent again after a dropped
// connection: it may have been posted. Each retry waits a little longer
// than the last and is logged; the request's context ends the waiting.
type retrying struct {
	next  http.RoundTripper
	waits []time.Duration // the pause before each retry; their count is the retries
	log   *slog.Logger
}

// defaultRetryWaits are the pauses before the retries of a failed call.
var defaultRetryWaits = []time.Duration{250 * time.Millisecond, time.Second, 2 * time.Second}

// RoundTrip implements http.RoundTripper.
func (t *retrying) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		out := req
		if attempt > 0 {
			out = req.Clone(req.Context())
			if req.Body != nil && req.Body != http.NoBody {
				body, err := req.GetBody()
				if err != nil {
					return nil, fmt.Errorf("discord: retry %s %s: %w", req.Method, req.URL.Path, err)
				}
				out.Body = body
			}
		}
		resp, err := t.next.RoundTrip(out)
		if attempt >= len(t.waits) || !t.again(req, resp, err) {
			return resp, err
		}
		why := ""
		if err != nil {
			why = "connection: " + err.Error()
		} else {
			why = resp.Status
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		t.log.Warn("discord: call failed; retrying", "method", req.Method, "path", redactPath(req.URL.Path), "why", why, "attempt", attempt+1, "wait", t.waits[attempt])
		timer := time.NewTimer(t.waits[attempt])
		select {
		case <-timer.C:
		case <-req.Context().Done():
			timer.Stop()
			return nil, req.Context().Err()
		}
	}
}

// again reports whether a call that ended with resp or err may be sent
// again.
func (t *retrying) again(req *http.Request, resp *http.Response, err error) bool {
	if req.Context().Err() != nil {
		return false
	}
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false // the body cannot be sent twice
	}
	if err != nil {
		switch req.Method {
		case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPatch, http.MethodDelete:
			return true
		}
		return req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/callback")
	}
	switch resp.StatusCode {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// interactionToken matches the token in an interaction's callback and
// webhook paths, which a log must not show.
var interactionToken = regexp.MustCompile(`^(/api/v[0-9]+)?/(interactions/[0-9]+|webhooks/[0-9]+)/[^/]+`)

// redactPath is path without an interaction token.
func redactPath(path string) string {
	return interactionToken.ReplaceAllString(path, "$1/$2/[interaction-token]")
}
