package cloudflare

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/cloudflare/cloudflare-go/v6/option"
)

// budget is the time one call of the Client (EnsureRecord, Sweep …) may
// spend waiting before retries, across all its requests.
type budget struct {
	mu   sync.Mutex
	left time.Duration
}

// take reserves d of the budget; false, reserving nothing, when less is
// left.
func (b *budget) take(d time.Duration) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if d > b.left {
		return false
	}
	b.left -= d
	return true
}

type budgetKey struct{}

// call marks ctx as one call of the Client: every wait of its requests is
// taken from one budget of Config.MaxWait. A ctx already inside a call
// keeps its budget.
func (c *Client) call(ctx context.Context) context.Context {
	if _, ok := ctx.Value(budgetKey{}).(*budget); ok {
		return ctx
	}
	return context.WithValue(ctx, budgetKey{}, &budget{left: c.maxWait})
}

func (c *Client) budgetOf(ctx context.Context) *budget {
	if b, ok := ctx.Value(budgetKey{}).(*budget); ok {
		return b
	}
	return &budget{left: c.maxWait}
}

// waitTooLongError is a retryable answer whose wait would exceed what is
// left of Config.MaxWait: the call gives up instead of sitting silent.
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

// roundTrip is an SDK middleware and the only retry loop of the Client
// (the SDK's own is turned off). Per attempt it logs the method, path and
// status, never a header. It retries transport errors and answers 408,
// 409, 429 and 5xx, up to Config.MaxRetries times, except that a POST —
// which may have been applied even when its answer was lost — is retried
// only after 429 (Cloudflare applied nothing). It waits as Retry-After-Ms
// or Retry-After say, else 2 s, 4 s, 8 s … capped at 30 s with jitter;
// every wait is announced to Config.OnWait and taken from the call's
// budget, and a wait longer than what is left ends the call with an error
// instead. A 2xx answer whose envelope says success false becomes an
// *APIError with that status.
func (c *Client) roundTrip(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	ctx := req.Context()
	b := c.budgetOf(ctx)
	for attempt := 0; ; attempt++ {
		start := time.Now()
		res, err := next(req)
		c.logAttempt(req, attempt, time.Since(start), res, err)
		if err == nil && res.StatusCode < 300 {
			return checkEnvelope(res)
		}
		if !c.retryable(req, res, err) || attempt >= c.retries {
			return res, err
		}
		if req.Body != nil && req.GetBody == nil {
			return res, err
		}
		wait := retryDelay(res, attempt)
		if !b.take(wait) {
			if err != nil {
				return res, err
			}
			api := readAPIError(res)
			return nil, &waitTooLongError{api: api, wait: wait, max: c.maxWait}
		}
		why := "Cloudflare did not answer (" + c.redact(errString(err)) + ")"
		if res != nil {
			why = fmt.Sprintf("Cloudflare answered HTTP %d", res.StatusCode)
			if res.StatusCode == http.StatusTooManyRequests {
				why = "Cloudflare rate limit (HTTP 429)"
			}
			_ = res.Body.Close()
		}
		why += fmt.Sprintf(" on %s %s; retry %d of %d", req.Method, c.redact(req.URL.Path), attempt+1, c.retries)
		c.log.WarnContext(ctx, "cloudflare: waiting before a retry", "wait", wait, "why", why)
		if c.onWait != nil {
			c.onWait(wait, why)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		if req.GetBody != nil {
			body, gerr := req.GetBody()
			if gerr != nil {
				return nil, gerr
			}
			req = req.Clone(ctx)
			req.Body = body
		}
	}
}

func errString(err error) string {
	if err == nil {
		return "no answer"
	}
	return err.Error()
}

// retryable reports whether the attempt may be repeated without risk.
func (c *Client) retryable(req *http.Request, res *http.Response, err error) bool {
	if err != nil {
		if req.Context().Err() != nil {
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
