package slack

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// tokenInHeader moves the `token` field that slack-go puts in the body of
// form-encoded Web API calls into the Authorization header, where Slack
// also accepts it: a token in a body is one proxy log away from a leak.
type tokenInHeader struct {
	next http.RoundTripper
}

func transportOf(c *http.Client) http.RoundTripper {
	if c.Transport != nil {
		return c.Transport
	}
	return http.DefaultTransport
}

// RoundTrip implements http.RoundTripper.
func (t *tokenInHeader) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil || !strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return t.next.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("slack: read request body: %w", err)
	}
	values, err := url.ParseQuery(string(body))
	if err != nil || !values.Has("token") {
		return t.next.RoundTrip(withBody(req, body))
	}
	token := values.Get("token")
	values.Del("token")
	out := withBody(req, []byte(values.Encode()))
	if out.Header.Get("Authorization") == "" && token != "" {
		out.Header.Set("Authorization", "Bearer "+token)
	}
	return t.next.RoundTrip(out)
}

// withBody is a clone of req (RoundTrip must not change its argument)
// carrying body.
func withBody(req *http.Request, body []byte) *http.Request {
	out := req.Clone(req.Context())
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.ContentLength = int64(len(body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return out
}
