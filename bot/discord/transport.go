package discord

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
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
