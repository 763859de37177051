// Package cloudflare is the Cloudflare driver of provision: it keeps the A
// record of each instance (provision.DNS) and issues Origin CA certificates
// (provision.OriginCA) through github.com/cloudflare/cloudflare-go/v6.
//
// No cloudflare-go type crosses this package's boundary: callers see
// Config, Client, APIError and the sentinels below.
//
// Every method first applies the apex guard: a name that is not exactly one
// valid label under the configured zone (or is www) is refused with an error
// matching provision.ErrApexGuard before any request leaves the process.
//
// Ownership: a record is this server's only when this server made it, as
// its Ledger (odoobot's state database) says: the record's ID is kept
// there when a create succeeds, and each create is journaled before its
// POST, so that a record Cloudflare applies after its answer was lost is
// recognised by its name, type, content and creation time. The comment
// (Comment: the Marker, Config.ServerID and the instance's label) is a
// courtesy to humans: a record that only carries it — copied, or made by
// a version that kept no IDs and not adopted (Adopt) — is someone else's,
// never changed or deleted, and said so. Records are deleted by
// DeleteRecord and, from the tombstones it leaves, by Sweep; never
// because a store does not list their instance.
//
// Retries: one loop of this package's (the SDK's own is off) retries
// transport errors and answers 408, 409, 429 and 5xx, honouring
// Retry-After-Ms and Retry-After, else backing off 2s, 4s, 8s … capped at
// 30s. A POST is retried only after a 429, since a lost answer may hide an
// applied create; creations are instead reconciled by name (see
// EnsureRecord, Sweep). The waits of one call are bounded together by
// Config.MaxWait and announced to Config.OnWait.
//
// Time: every attempt is bounded by Config.RequestTimeout, and every call
// (EnsureRecord, DeleteRecord, SignOrigin …), its attempts, pauses and
// pacing included, by Config.CallTimeout; Check, asked before a creation
// opens its thread, by RequestTimeout alone. Sweep, whose length grows
// with the zone, bounds each of its requests by CallTimeout instead. A
// call that runs out of time fails with an error matching ErrTimeout that
// says how long Cloudflare was given.
//
// Pace: every attempt of every call of a Client takes a token from one
// limiter (golang.org/x/time/rate) that keeps the Client under
// Config.RateLimit requests per Config.RateWindow, below Cloudflare's
// limit of 1,200 requests per 5 minutes per user; Sweep's requests take
// a second token from a limiter of half that rate, so a long sweep leaves
// room for creations. A 429's Retry-After holds every call of the Client,
// not only the one that got it.
package cloudflare

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/cloudflare/cloudflare-go/v6/dns"
	"github.com/cloudflare/cloudflare-go/v6/option"
	"github.com/cloudflare/cloudflare-go/v6/origin_ca_certificates"
	"github.com/cloudflare/cloudflare-go/v6/user"
	"github.com/cloudflare/cloudflare-go/v6/zones"

	"odoobot/provision"
)

var (
	_ provision.DNS      = (*Client)(nil)
	_ provision.OriginCA = (*Client)(nil)
)

// Marker starts the comment of every record odoobot makes. Alone, it is
// the mark of earlier versions, which did not say which server made the
// record; see Client.Comment for the full mark.
const Marker = "managed-by: odoobot"

// DefaultMaxWait is the bound of Config.MaxWait when it is zero.
const DefaultMaxWait = 2 * time.Minute

// DefaultRequestTimeout bounds one attempt when Config.RequestTimeout is
// zero: Cloudflare answers a DNS call in well under a second; one that
// has not answered in 15 s is hung, and trying again is better.
const DefaultRequestTimeout = 15 * time.Second

// DefaultCallTimeout bounds one call, attempts and pauses included, when
// Config.CallTimeout is zero: room for three hung attempts and their
// pauses, or a Retry-After of up to about 45 s, after which a creation
// fails and is rolled back rather than sit silent.
const DefaultCallTimeout = 60 * time.Second

// CloudflareRateLimit is Cloudflare's documented limit on API requests:
// 1,200 per 5 minutes per user, every token of the user together.
const (
	CloudflareRateLimit  = 1200
	CloudflareRateWindow = 5 * time.Minute
)

// DefaultRateLimit is the number of requests per Config.RateWindow a
// Client sends at most when Config.RateLimit is zero: 1,000 per 5
// minutes, leaving a sixth of Cloudflare's limit to the user's other
// tools and tokens.
const (
	DefaultRateLimit  = 1000
	DefaultRateWindow = CloudflareRateWindow
)

// ErrTimeout is matched by the error of a call that Cloudflare did not
// answer within Config.CallTimeout (or, for Check, RequestTimeout).
var ErrTimeout = errors.New("Cloudflare did not answer in time")

// DefaultBaseURL is Cloudflare's v4 API, used when Config.BaseURL is empty.
const DefaultBaseURL = "https://api.cloudflare.com/client/v4/"

// DefaultMaxRetries is the number of retries used when Config.MaxRetries is
// zero.
const DefaultMaxRetries = 3

// Sentinel errors, matched with errors.Is.
var (
	// ErrAuth is matched by an error for an answer 401 or 403: the API
	// token is invalid or lacks the permission the call needs.
	ErrAuth = errors.New("the API token (CF_API_TOKEN) is invalid or lacks a permission")
	// ErrForeignRecord is matched when a record at the instance's name is
	// not this server's for that instance (another type than A, no mark,
	// another server's or instance's mark; see Client.Comment).
	ErrForeignRecord = provision.ErrForeignRecord
	// ErrZoneNotFound is matched when the zone cannot be found with the
	// token, or CF_ZONE_ID names another zone than CF_ZONE_NAME.
	ErrZoneNotFound = errors.New("zone not found")
	// ErrNameTaken is matched by an error of EnsureRecord when a record
	// this server did not make holds the instance's name; it is
	// provision.ErrNameTakenInDNS, and the error also matches
	// ErrForeignRecord. errors.As with *NameTakenError gives the details.
	ErrNameTaken = provision.ErrNameTakenInDNS
	// ErrRateLimited is matched when Cloudflare kept answering 429 and
	// asked for a wait longer than what is left of Config.MaxWait.
	ErrRateLimited = errors.New("Cloudflare is rate limiting this server's API requests")
)

// Config configures a Client. APIToken, ZoneName and PublicIP are required.
type Config struct {
	// APIToken is CF_API_TOKEN, sent as a bearer token. It needs Zone.Zone
	// read and Zone.DNS edit on the zone, and SSL and Certificates edit for
	// SignOrigin. It never appears in a log line or an error.
	APIToken string
	// ZoneName is CF_ZONE_NAME, e.g. example.com. It is lower-cased and a
	// trailing dot is dropped; every label must be a valid DNS label.
	ZoneName string
	// ZoneID is CF_ZONE_ID, optional: when empty the zone is looked up by
	// name on first use. When set, it is checked once against ZoneName.
	ZoneID string
	// PublicIP is PUBLIC_IP, the IPv4 address every A record points to.
	PublicIP string
	// BaseURL is CF_API_BASE_URL; DefaultBaseURL when empty.
	BaseURL string
	// HTTPClient is used for every request; a client with a 60 s timeout
	// when nil.
	HTTPClient *http.Client
	// Logger receives one line per request and per change; discarded when
	// nil.
	Logger *slog.Logger
	// MaxRetries is the number of retries of a request answered 429 or
	// 5xx (or lost in transit): DefaultMaxRetries when 0, none when
	// negative.
	MaxRetries int
	// ServerID names this server in the comment of the records it makes
	// (see Client.Comment), so that people reading the zone can tell the
	// servers sharing it apart; ownership is the Ledger's, not the
	// comment's. It must be stable across restarts and
	// unique among the servers using the zone: 1 to 40 characters among
	// letters, digits and ".-_:". PublicIP when empty.
	ServerID string
	// MaxWait bounds the time one call (EnsureRecord, DeleteRecord, Sweep,
	// Check …) spends waiting before retries and re-reads, all its
	// requests together: DefaultMaxWait when 0, no wait when negative. A
	// wait Cloudflare asks for that would go past it ends the call with
	// an error (matching ErrRateLimited for a 429) instead.
	MaxWait time.Duration
	// Ledger keeps the records this server made (see the package doc).
	// Without it, the Client changes no record: EnsureRecord,
	// DeleteRecord, Sweep and the challenge records fail before any
	// request; Check, ZoneID and SignOrigin work.
	Ledger Ledger
	// OnWait, when set, is called before each such wait with its length
	// and a short reason safe to show in chat ("Cloudflare rate limit
	// (HTTP 429) on GET …; retry 1 of 3"). It is called from the calling
	// goroutine and must not block.
	OnWait func(d time.Duration, why string)
	// RequestTimeout bounds one HTTP attempt: DefaultRequestTimeout when
	// zero. HTTPClient's own timeout, when shorter, still applies.
	RequestTimeout time.Duration
	// CallTimeout bounds one call of the Client, all its attempts, pauses
	// and pacing together (see the package doc): DefaultCallTimeout when
	// zero.
	CallTimeout time.Duration
	// RateLimit is the most requests the Client sends in any RateWindow:
	// DefaultRateLimit when zero. Keep it at or below
	// CloudflareRateLimit per CloudflareRateWindow, less what other users
	// of the token send.
	RateLimit int
	// RateWindow is the window of RateLimit: DefaultRateWindow when zero.
	// Only tests shorten it.
	RateWindow time.Duration
}

// Client talks to one Cloudflare zone. It is safe for concurrent use. Build
// it with New.
type Client struct {
	zone    string
	zoneCfg string // Config.ZoneID
	ip      string
	server  string // Config.ServerID, or ip
	token   string
	log     *slog.Logger
	retries int
	maxWait time.Duration
	onWait  func(time.Duration, string)
	ledger  Ledger

	basePath       string // the base URL's path, such as /client/v4
	requestTimeout time.Duration
	callTimeout    time.Duration
	rateLimit      int
	rateWindow     time.Duration

	// report hears the waits of this view's calls (ReportingWaits);
	// nil for the Client New returns.
	report func(time.Duration, string)

	records *dns.RecordService
	zones   *zones.ZoneService
	certs   *origin_ca_certificates.OriginCACertificateService
	tokens  *user.TokenService

	*common
}

// common is the state every view of one Client (see ReportingWaits)
// holds in common.
type common struct {
	mu     sync.Mutex
	zoneID string // resolved and checked, "" until then

	takenMu sync.Mutex
	taken   map[string]bool // names EnsureRecord refused, having made nothing

	paceLim *rate.Limiter // every attempt
	slowLim *rate.Limiter // Sweep's attempts, besides paceLim
	holdM   sync.Mutex
	hold    time.Time // no attempt before this: a 429's Retry-After
}

// New validates cfg and returns a Client. It sends no request: the zone is
// resolved on first use and cached (see ZoneID).
func New(ctx context.Context, cfg Config) (*Client, error) {
	_ = ctx // reserved: New does no I/O.
	if cfg.APIToken == "" {
		return nil, errors.New("cloudflare: new client: CF_API_TOKEN is empty")
	}
	zone := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(cfg.ZoneName), "."))
	if err := checkZone(zone); err != nil {
		return nil, fmt.Errorf("cloudflare: new client: CF_ZONE_NAME %q: %w", cfg.ZoneName, err)
	}
	ip, err := netip.ParseAddr(strings.TrimSpace(cfg.PublicIP))
	if err != nil || !ip.Is4() || ip.IsUnspecified() {
		return nil, fmt.Errorf("cloudflare: new client: PUBLIC_IP %q is not an IPv4 address", cfg.PublicIP)
	}
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("cloudflare: new client: CF_API_BASE_URL %q is not an http(s) URL", base)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	retries := cfg.MaxRetries
	switch {
	case retries == 0:
		retries = DefaultMaxRetries
	case retries < 0:
		retries = 0
	}
	server := strings.TrimSpace(cfg.ServerID)
	if server == "" {
		server = ip.String()
	}
	if !validServerID(server) {
		return nil, fmt.Errorf("cloudflare: new client: server ID %q: want 1 to 40 characters among letters, digits and .-_:", cfg.ServerID)
	}
	maxWait := cfg.MaxWait
	switch {
	case maxWait == 0:
		maxWait = DefaultMaxWait
	case maxWait < 0:
		maxWait = 0
	}
	requestTimeout := cmp.Or(max(cfg.RequestTimeout, 0), DefaultRequestTimeout)
	callTimeout := cmp.Or(max(cfg.CallTimeout, 0), DefaultCallTimeout)
	rateLimit := cmp.Or(max(cfg.RateLimit, 0), DefaultRateLimit)
	rateWindow := cmp.Or(max(cfg.RateWindow, 0), DefaultRateWindow)
	pace, slow := limiters(rateLimit, rateWindow)
	c := &Client{
		zone:           zone,
		zoneCfg:        strings.TrimSpace(cfg.ZoneID),
		ip:             ip.String(),
		server:         server,
		token:          cfg.APIToken,
		log:            log,
		retries:        retries,
		maxWait:        maxWait,
		onWait:         cfg.OnWait,
		basePath:       strings.TrimSuffix(u.Path, "/"),
		requestTimeout: requestTimeout,
		callTimeout:    callTimeout,
		rateLimit:      rateLimit,
		rateWindow:     rateWindow,
		common:         &common{taken: map[string]bool{}, paceLim: pace, slowLim: slow},
		ledger:         cfg.Ledger,
	}
	opts := []option.RequestOption{
		option.WithBaseURL(base),
		option.WithAPIToken(cfg.APIToken),
		option.WithHTTPClient(hc),
		option.WithMaxRetries(0), // roundTrip retries.
		option.WithMiddleware(c.roundTrip),
	}
	c.records = dns.NewRecordService(opts...)
	c.zones = zones.NewZoneService(opts...)
	c.certs = origin_ca_certificates.NewOriginCACertificateService(opts...)
	c.tokens = user.NewTokenService(opts...)
	return c, nil
}

// ReportingWaits returns a view of c whose calls tell report, besides
// Config.OnWait, about each pause before it begins (a retry, a 429's
// Retry-After, pacing of a second or more), with its length and a reason
// safe to show in chat that says how long ("Cloudflare asked to wait
// 30s …"). The view shares everything else with c: its zone, its
// limiters, its holds. The DNS step of a creation shows these in its
// thread. report is called from the calling goroutine and must not block.
func (c *Client) ReportingWaits(report func(wait time.Duration, why string)) provision.DNS {
	v := *c
	v.report = report
	return &v
}

// ServerID is the name of this server in its records' comments.
func (c *Client) ServerID() string { return c.server }

func validServerID(s string) bool {
	if len(s) == 0 || len(s) > 40 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune(".-_:", r):
		default:
			return false
		}
	}
	return true
}

// Zone returns the zone name the client works in, normalised.
func (c *Client) Zone() string { return c.zone }

// ZoneID returns the zone's identifier: CF_ZONE_ID once checked against the
// zone name, or the one found by name. The first success is cached; a
// failure is not.
func (c *Client) ZoneID(ctx context.Context) (string, error) {
	ctx = c.call(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.zoneID != "" {
		return c.zoneID, nil
	}
	id, err := c.lookupZone(ctx)
	if err != nil {
		return "", c.scrub(err)
	}
	c.zoneID = id
	c.log.InfoContext(ctx, "cloudflare: zone resolved", "zone", c.zone, "zone_id", id)
	return id, nil
}

func (c *Client) lookupZone(ctx context.Context) (string, error) {
	const perm = dnsPerm
	if c.zoneCfg != "" {
		op := "get zone " + c.zoneCfg
		var p zones.ZoneGetParams
		p.ZoneID.Value, p.ZoneID.Present = c.zoneCfg, true
		z, err := c.zones.Get(ctx, p)
		var api *APIError
		if err = wrap(op, perm, err); errors.As(err, &api) && !errors.Is(err, ErrAuth) {
			return "", fmt.Errorf("%w (check CF_ZONE_ID): %w", err, ErrZoneNotFound)
		}
		if err != nil {
			return "", err
		}
		if !strings.EqualFold(strings.TrimSuffix(z.Name, "."), c.zone) {
			return "", fmt.Errorf("cloudflare: %s: CF_ZONE_ID names zone %q, not CF_ZONE_NAME %q: %w", op, z.Name, c.zone, ErrZoneNotFound)
		}
		return c.zoneCfg, nil
	}
	op := "find zone " + c.zone
	var p zones.ZoneListParams
	p.Name.Value, p.Name.Present = c.zone, true
	page, err := c.zones.List(ctx, p)
	if err != nil {
		return "", wrap(op, perm, err)
	}
	for _, z := range page.Result {
		if strings.EqualFold(strings.TrimSuffix(z.Name, "."), c.zone) && z.ID != "" {
			return z.ID, nil
		}
	}
	return "", fmt.Errorf("cloudflare: %s: no such zone visible to the API token (check CF_ZONE_NAME and the token's zone resources): %w", op, ErrZoneNotFound)
}

// APIMessage is one entry of the errors array of Cloudflare's envelope.
type APIMessage struct {
	Code    int64
	Message string
}

// APIError is an answer of the Cloudflare API with an HTTP status >= 400,
// or any answer whose envelope says success false (error 81057 has come
// with HTTP 200). Its message carries Cloudflare's codes and messages, e.g.
// "81057 Record already exists".
type APIError struct {
	StatusCode int
	Errors     []APIMessage
}

func (e *APIError) Error() string {
	if len(e.Errors) == 0 {
		return fmt.Sprintf("HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	parts := make([]string, len(e.Errors))
	for i, m := range e.Errors {
		parts[i] = strconv.FormatInt(m.Code, 10) + " " + m.Message
	}
	return strings.Join(parts, "; ")
}

// authError is an APIError with status 401 or 403; it names the permission
// the failed call needs and matches ErrAuth.
type authError struct {
	api  *APIError
	perm string
}

func (e *authError) Error() string {
	return fmt.Sprintf("%s: the API token (CF_API_TOKEN) is invalid or lacks the %s permission", e.api.Error(), e.perm)
}

func (e *authError) Unwrap() []error { return []error{e.api, ErrAuth} }

// wrap turns an SDK error into this package's errors, prefixed with
// "cloudflare: op:". perm names the permission the call needs, for a 403.
func wrap(op, perm string, err error) error {
	if err == nil {
		return nil
	}
	var sdkErr *dns.Error
	if !errors.As(err, &sdkErr) {
		return fmt.Errorf("cloudflare: %s: %w", op, err)
	}
	api := &APIError{StatusCode: sdkErr.StatusCode}
	for _, e := range sdkErr.Errors {
		api.Errors = append(api.Errors, APIMessage{Code: e.Code, Message: e.Message})
	}
	if api.StatusCode == http.StatusUnauthorized || api.StatusCode == http.StatusForbidden {
		return fmt.Errorf("cloudflare: %s: %w", op, &authError{api: api, perm: perm})
	}
	return fmt.Errorf("cloudflare: %s: %w", op, api)
}

// redactedError hides the API token from an error's message while keeping
// its chain for errors.Is and errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// scrub is the last line of defence: no error leaves the Client with the
// token in its message.
func (c *Client) scrub(err error) error {
	if err == nil || !strings.Contains(err.Error(), c.token) {
		return err
	}
	return &redactedError{msg: c.redact(err.Error()), err: err}
}

func (c *Client) redact(s string) string {
	return strings.ReplaceAll(s, c.token, "[redacted]")
}

func checkZone(zone string) error {
	labels := strings.Split(zone, ".")
	if len(labels) < 2 {
		return errors.New("a zone has at least two labels, such as example.com")
	}
	for _, l := range labels {
		if !provision.IsLabel(l) {
			return fmt.Errorf("label %q is not a valid DNS label", l)
		}
	}
	return nil
}
