package cloudflare

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cloudflare/cloudflare-go/v6/option"
	"golang.org/x/time/rate"
)

// budget is the state of one call of the Client (EnsureRecord, Sweep …):
// the pauses it may still take (Config.MaxWait), its deadline
// (Config.CallTimeout), whether it is a background sweep, and who hears
// its waits.
type budget struct {
	mu   sync.Mutex
	left time.Duration

	// deadline ends the call; zero for a sweep, whose requests are each
	// bounded by within instead.
	deadline time.Time
	// within is how long the call, or each request of a sweep, is given,
	// for messages.
	within     time.Duration
	background bool
	report     func(time.Duration, string)
}

// take reserves d of the budget; false, reserving nothing, when less is
// left, or when the pause would end past the call's deadline.
func (b *budget) take(d time.Duration) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if d > b.left || (!b.deadline.IsZero() && time.Now().Add(d).After(b.deadline)) {
		return false
	}
	b.left -= d
	return true
}

type budgetKey struct{}

// call marks ctx as one call of the Client, bounded by Config.CallTimeout:
// every wait of its requests is taken from one budget of Config.MaxWait.
// A ctx already inside a call keeps its budget.
func (c *Client) call(ctx context.Context) context.Context {
	return c.callWithin(ctx, c.callTimeout, false)
}

// longCall marks ctx as one call of the Client whose length grows with
// the zone (Sweep): each of its requests, attempts and pauses included,
// is bounded by Config.CallTimeout rather than the call, and its requests
// are paced at half the rate, leaving room for creations.
func (c *Client) longCall(ctx context.Context) context.Context {
	return c.callWithin(ctx, c.callTimeout, true)
}

func (c *Client) callWithin(ctx context.Context, within time.Duration, background bool) context.Context {
	if _, ok := ctx.Value(budgetKey{}).(*budget); ok {
		return ctx
	}
	b := &budget{left: c.maxWait, within: within, background: background, report: c.report}
	if !background {
		b.deadline = time.Now().Add(within)
	}
	return context.WithValue(ctx, budgetKey{}, b)
}

func (c *Client) budgetOf(ctx context.Context) *budget {
	if b, ok := ctx.Value(budgetKey{}).(*budget); ok {
		return b
	}
	return &budget{left: c.maxWait, within: c.callTimeout, deadline: time.Now().Add(c.callTimeout), report: c.report}
}

// announce tells Config.OnWait and the call's reporter (ReportingWaits)
// about a pause of d before it begins.
func (c *Client) announce(ctx context.Context, d time.Duration, why string) {
	if c.onWait != nil {
		c.onWait(d, why)
	}
	if b := c.budgetOf(ctx); b.report != nil {
		b.report(d, why)
	}
}

// waitTooLongError is a retryable answer whose wait would exceed what is
// left of Config.MaxWait or of the call's time: the call gives up instead
// of sitting silent.
type waitTooLongError struct {
	api       *APIError
	wait, max time.Duration
}

func (e *waitTooLongError) Error() string {
	return fmt.Sprintf("%s: Cloudflare asks to wait %s before retrying, more than the %s this server waits for one DNS operation; try again later",
		e.api.Error(), e.wait.Round(time.Second), e.max)
}

func (e *waitTooLongError) Unwrap() []error {
	if e.api.StatusCode == http.StatusTooManyRequests {
		return []error{e.api, ErrRateLimited}
	}
	return []error{e.api}
}

// timeoutError is a call, or a request of a sweep, that ran out of time.
type timeoutError struct {
	within   time.Duration
	method   string
	path     string
	attempts int
	last     string // the last attempt's failure, redacted
}

func (e *timeoutError) Error() string {
	msg := fmt.Sprintf("Cloudflare did not answer within %s (%s %s, %d attempt%s", roundWait(e.within), e.method, e.path, e.attempts, plural(e.attempts))
	if e.last != "" {
		msg += "; last: " + e.last
	}
	return msg + "); see https://www.cloudflarestatus.com and try again later"
}

func (e *timeoutError) Unwrap() error { return ErrTimeout }

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// roundWait rounds d for a person: to the second from 10 s up, to the
// tenth of a second below.
func roundWait(d time.Duration) time.Duration {
	if d >= 10*time.Second {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}

// limiters returns the Client's pace, which lets through at most limit
// requests in any window (a burst of up to a twentieth of the limit, at
// most 50, then an even flow), and the pace of sweeps, half as fast with
// a fifth of the burst (10 by default: a sweep of a few records is not
// slowed).
func limiters(limit int, window time.Duration) (pace, slow *rate.Limiter) {
	burst := max(1, min(limit/20, 50))
	r := rate.Limit(float64(limit-burst) / window.Seconds())
	if limit <= burst {
		r = rate.Limit(float64(limit) / window.Seconds())
	}
	return rate.NewLimiter(r, burst), rate.NewLimiter(r/2, max(1, burst/5))
}

// announcePacing is the shortest pause of pacing that is announced.
const announcePacing = time.Second

// pace waits until the next attempt may go: past a hold a 429 asked for,
// then a token of the sweep's limiter (background calls), then one of the
// Client's. A wait that would end past ctx's deadline is not begun: it
// returns context.DeadlineExceeded at once.
func (c *Client) pace(ctx context.Context, b *budget) error {
	c.holdM.Lock()
	hold := time.Until(c.hold)
	c.holdM.Unlock()
	if hold > 0 {
		why := ""
		if hold >= announcePacing {
			why = fmt.Sprintf("Cloudflare asked to wait %s (HTTP 429, rate limit); holding this server's requests until then", roundWait(hold))
		}
		if err := c.sleep(ctx, hold, why); err != nil {
			return err
		}
	}
	lims := []*rate.Limiter{c.paceLim}
	if b.background {
		lims = []*rate.Limiter{c.slowLim, c.paceLim}
	}
	for _, lim := range lims {
		r := lim.Reserve()
		d := r.Delay()
		if d <= 0 {
			continue
		}
		why := ""
		if d >= announcePacing {
			why = fmt.Sprintf("pacing requests under Cloudflare's rate limit (%d per %s): waiting %s", c.rateLimit, c.rateWindow, roundWait(d))
		}
		if err := c.sleep(ctx, d, why); err != nil {
			r.Cancel()
			return err
		}
	}
	return nil
}

// sleep waits d, announced with why unless why is empty; it returns
// ctx's error when ctx ends first, and context.DeadlineExceeded at once
// when d would end past ctx's deadline.
func (c *Client) sleep(ctx context.Context, d time.Duration, why string) error {
	if dl, ok := ctx.Deadline(); ok && time.Now().Add(d).After(dl) {
		return context.DeadlineExceeded
	}
	if why != "" {
		c.announce(ctx, d, why)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// holdAll makes every call of the Client wait d before its next attempt.
func (c *Client) holdAll(d time.Duration) {
	c.holdM.Lock()
	defer c.holdM.Unlock()
	if until := time.Now().Add(d); until.After(c.hold) {
		c.hold = until
	}
}

// attempt sends req once, bounded by Config.RequestTimeout, and reads the
// answer whole, so that the attempt's deadline can end with it.
func (c *Client) attempt(ctx context.Context, req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	actx, cancel := context.WithTimeout(ctx, c.requestTimeout)
	defer cancel()
	res, err := next(req.WithContext(actx))
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, errors.New("no answer before the call's time ran out")
		case actx.Err() != nil:
			return nil, fmt.Errorf("no answer within %s", roundWait(c.requestTimeout))
		}
		return nil, err
	}
	raw, rerr := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	_ = res.Body.Close()
	if rerr != nil {
		if actx.Err() != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("answer not read within %s", roundWait(c.requestTimeout))
		}
		return nil, fmt.Errorf("read answer: %w", rerr)
	}
	res.Body = io.NopCloser(bytes.NewReader(raw))
	return res, nil
}

// roundTrip is an SDK middleware and the only retry loop of the Client
// (the SDK's own is turned off). Per attempt it logs the method, path and
// status, never a header. Each attempt is paced (see pace) and bounded by
// Config.RequestTimeout; the request, its attempts and pauses together,
// by the call's deadline (or, in a sweep, Config.CallTimeout), past which
// it fails with a *timeoutError matching ErrTimeout. It retries transport
// errors and answers 408, 409, 429 and 5xx, up to Config.MaxRetries
// times, except that a POST — which may have been applied even when its
// answer was lost — is retried only after 429 (Cloudflare applied
// nothing). It waits as Retry-After-Ms or Retry-After say, else 2 s, 4 s,
// 8 s … capped at 30 s with jitter; every wait is announced (see
// announce) and taken from the call's budget, and a wait longer than what
// is left ends the call with an error instead. A 429's wait holds every
// call of the Client. A 2xx answer whose envelope says success false
// becomes an *APIError with that status.
func (c *Client) roundTrip(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	parent := req.Context()
	b := c.budgetOf(parent)
	deadline := b.deadline
	if deadline.IsZero() {
		deadline = time.Now().Add(b.within)
	}
	ctx, cancel := context.WithDeadline(parent, deadline)
	defer cancel()
	path := c.apiPath(req)
	var last string
	timedOut := func(attempts int) error {
		if parent.Err() != nil {
			return parent.Err()
		}
		return &timeoutError{within: b.within, method: req.Method, path: path, attempts: attempts, last: last}
	}
	for attempt := 0; ; attempt++ {
		if err := c.pace(ctx, b); err != nil {
			return nil, timedOut(attempt)
		}
		start := time.Now()
		res, err := c.attempt(ctx, req, next)
		c.logAttempt(req, attempt, time.Since(start), res, err)
		if err == nil && res.StatusCode < 300 {
			return checkEnvelope(res)
		}
		if ctx.Err() != nil {
			if err == nil {
				last = fmt.Sprintf("HTTP %d", res.StatusCode)
			} else {
				last = c.redact(err.Error())
			}
			return nil, timedOut(attempt + 1)
		}
		if !c.retryable(ctx, req, res, err) || attempt >= c.retries {
			return res, err
		}
		if req.Body != nil && req.GetBody == nil {
			return res, err
		}
		wait := retryDelay(res, attempt)
		if res != nil && res.StatusCode == http.StatusTooManyRequests {
			c.holdAll(wait)
		}
		if past := time.Now().Add(wait).After(deadline); past || !b.take(wait) {
			switch {
			case res != nil && res.StatusCode == http.StatusTooManyRequests, res != nil && !past:
				return nil, &waitTooLongError{api: readAPIError(res), wait: wait, max: min(c.maxWait, b.within)}
			case past:
				if err != nil {
					last = c.redact(err.Error())
				} else {
					last = fmt.Sprintf("HTTP %d", res.StatusCode)
					_ = res.Body.Close()
				}
				return nil, timedOut(attempt + 1)
			}
			return res, err
		}
		retry := fmt.Sprintf("retry %d of %d", attempt+1, c.retries)
		var why string
		switch {
		case res == nil:
			last = c.redact(errString(err))
			why = fmt.Sprintf("Cloudflare did not answer %s %s (%s); waiting %s before %s", req.Method, path, last, roundWait(wait), retry)
		case res.StatusCode == http.StatusTooManyRequests && hasRetryAfter(res):
			last = "HTTP 429"
			why = fmt.Sprintf("Cloudflare asked to wait %s (HTTP 429, rate limit, on %s %s); %s", roundWait(wait), req.Method, path, retry)
		case res.StatusCode == http.StatusTooManyRequests:
			last = "HTTP 429"
			why = fmt.Sprintf("Cloudflare rate limit (HTTP 429 on %s %s); waiting %s before %s", req.Method, path, roundWait(wait), retry)
		default:
			last = fmt.Sprintf("HTTP %d", res.StatusCode)
			why = fmt.Sprintf("Cloudflare answered HTTP %d on %s %s; waiting %s before %s", res.StatusCode, req.Method, path, roundWait(wait), retry)
		}
		if res != nil {
			_ = res.Body.Close()
		}
		if err := c.sleep(ctx, wait, why); err != nil {
			return nil, timedOut(attempt + 1)
		}
		if req.GetBody != nil {
			body, gerr := req.GetBody()
			if gerr != nil {
				return nil, gerr
			}
			req = req.Clone(parent)
			req.Body = body
		}
	}
}

// apiPath is req's path for messages: under the API's base URL, redacted.
func (c *Client) apiPath(req *http.Request) string {
	p := strings.TrimPrefix(req.URL.Path, c.basePath)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return c.redact(p)
}

func hasRetryAfter(res *http.Response) bool {
	return res.Header.Get("Retry-After") != "" || res.Header.Get("Retry-After-Ms") != ""
}

func errString(err error) string {
	if err == nil {
		return "no answer"
	}
	return err.Error()
}

// retryable reports whether the attempt may be repeated without risk.
func (c *Client) retryable(ctx context.Context, req *http.Request, res *http.Response, err error) bool {
	if err != nil {
		if ctx.Err() != nil {
			return false // the caller gave up.
		}
		return req.Method != http.MethodPost // a lost POST may have been applied.
	}
	switch s := res.StatusCode; {
	case s == http.StatusTooManyRequests:
		return true
	case req.Method == http.MethodPost:
		return false
	default:
		return s == http.StatusRequestTimeout || s == http.StatusConflict || s >= 500
	}
}

// retryDelay is the wait before retry number attempt+1: Retry-After-Ms or
// Retry-After (seconds, fractional allowed, or an HTTP date) when given,
// else an exponential backoff of 2 s, 4 s, 8 s … capped at 30 s, less up
// to a quarter of jitter.
func retryDelay(res *http.Response, attempt int) time.Duration {
	if res != nil {
		if v := res.Header.Get("Retry-After-Ms"); v != "" {
			if ms, err := strconv.ParseFloat(v, 64); err == nil {
				return max(0, time.Duration(ms*float64(time.Millisecond)))
			}
		}
		if v := res.Header.Get("Retry-After"); v != "" {
			if s, err := strconv.ParseFloat(v, 64); err == nil {
				return max(0, time.Duration(s*float64(time.Second)))
			}
			if t, err := http.ParseTime(v); err == nil {
				return max(0, time.Until(t))
			}
		}
	}
	d := min(30*time.Second, 2*time.Second<<min(attempt, 5))
	return d - time.Duration(rand.Int64N(int64(d/4)))
}

// envelope is the part of Cloudflare's v4 answer this package checks.
type envelope struct {
	Success *bool `json:"success"`
	Errors  []struct {
		Code    int64  `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
}

// checkEnvelope reads a 2xx answer; when it is a JSON envelope saying
// success false, the answer is an *APIError, whatever its status.
func checkEnvelope(res *http.Response) (*http.Response, error) {
	raw, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	res.Body = io.NopCloser(bytes.NewReader(raw))
	var env envelope
	if json.Unmarshal(raw, &env) != nil || env.Success == nil || *env.Success {
		return res, nil
	}
	return nil, apiErrorOf(res.StatusCode, env)
}

// readAPIError makes an *APIError of a non-2xx answer, consuming its body.
func readAPIError(res *http.Response) *APIError {
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	_ = res.Body.Close()
	var env envelope
	_ = json.Unmarshal(raw, &env)
	return apiErrorOf(res.StatusCode, env)
}

func apiErrorOf(status int, env envelope) *APIError {
	api := &APIError{StatusCode: status}
	for _, e := range env.Errors {
		api.Errors = append(api.Errors, APIMessage{Code: e.Code, Message: e.Message})
	}
	return api
}

// logAttempt logs one attempt: the method, path and status, never a
// header.
func (c *Client) logAttempt(req *http.Request, attempt int, d time.Duration, res *http.Response, err error) {
	attrs := []any{
		"method", req.Method,
		"path", c.redact(req.URL.Path),
		"attempt", attempt,
		"duration", d,
	}
	switch {
	case err != nil:
		c.log.WarnContext(req.Context(), "cloudflare: request failed", append(attrs, "err", c.redact(err.Error()))...)
	case res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500:
		c.log.WarnContext(req.Context(), "cloudflare: request answered with a retryable status",
			append(attrs, "status", res.StatusCode, "retry_after", res.Header.Get("Retry-After"))...)
	default:
		c.log.DebugContext(req.Context(), "cloudflare: request", append(attrs, "status", res.StatusCode)...)
	}
}
