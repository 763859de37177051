package cloudflare

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/cloudflare/cloudflare-go/v6/ips"
	"github.com/cloudflare/cloudflare-go/v6/option"

	"odoobot/internal/atomicfile"
)

// IPRanges is Cloudflare's published list of the addresses its proxy
// connects to origins from (https://www.cloudflare.com/ips/, the API's
// GET /ips).
type IPRanges struct {
	IPv4 []string `json:"ipv4_cidrs"`
	IPv6 []string `json:"ipv6_cidrs"`
	// Etag is Cloudflare's version of the list.
	Etag string `json:"etag,omitempty"`
	// FetchedAt is when this list was last fetched from Cloudflare.
	FetchedAt time.Time `json:"fetched_at"`
}

// All is IPv4 then IPv6, as CIDR prefixes.
func (r IPRanges) All() []string { return slices.Concat(r.IPv4, r.IPv6) }

// sameRanges reports whether a and b list the same prefixes in the same
// order.
func sameRanges(a, b IPRanges) bool {
	return slices.Equal(a.IPv4, b.IPv4) && slices.Equal(a.IPv6, b.IPv6)
}

// check refuses a list that cannot be Cloudflare's: no IPv4 range, or an
// entry that is not a prefix of its family. An empty list would lock
// Cloudflare itself out of every cloudflare-mode site.
func (r IPRanges) check() error {
	if len(r.IPv4) == 0 {
		return errors.New("the list has no IPv4 range")
	}
	for _, list := range []struct {
		v4    bool
		items []string
	}{{true, r.IPv4}, {false, r.IPv6}} {
		for _, s := range list.items {
			p, err := netip.ParsePrefix(s)
			if err != nil || p.Addr().Is4() != list.v4 || p != p.Masked() {
				return fmt.Errorf("%q is not an IPv%s CIDR prefix", s, map[bool]string{true: "4", false: "6"}[list.v4])
			}
		}
	}
	return nil
}

// FetchIPRanges asks Cloudflare's API at baseURL (DefaultBaseURL when
// empty) for its published ranges, through cloudflare-go's IPs.List. The
// call needs no API token and sends none. A list with no IPv4 range or a
// malformed entry is refused. hc nil means a client with a 30 s timeout.
func FetchIPRanges(ctx context.Context, baseURL string, hc *http.Client) (IPRanges, error) {
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	if u, err := url.Parse(baseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return IPRanges{}, fmt.Errorf("cloudflare: fetch IP ranges: CF_API_BASE_URL %q is not an http(s) URL", baseURL)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	svc := ips.NewIPService(option.WithBaseURL(baseURL), option.WithHTTPClient(hc), option.WithMaxRetries(2))
	res, err := svc.List(ctx, ips.IPListParams{})
	if err != nil {
		return IPRanges{}, fmt.Errorf("cloudflare: fetch IP ranges (GET /ips): %w", err)
	}
	var r IPRanges
	switch u := res.AsUnion().(type) {
	case ips.IPListResponsePublicIPIPs:
		r = IPRanges{IPv4: u.IPV4CIDRs, IPv6: u.IPV6CIDRs, Etag: u.Etag}
	case ips.IPListResponsePublicIPIPsJDCloud:
		r = IPRanges{IPv4: u.IPV4CIDRs, IPv6: u.IPV6CIDRs, Etag: u.Etag}
	default:
		return IPRanges{}, errors.New("cloudflare: fetch IP ranges (GET /ips): the answer holds no list")
	}
	if err := r.check(); err != nil {
		return IPRanges{}, fmt.Errorf("cloudflare: fetch IP ranges (GET /ips): refused: %w", err)
	}
	r.FetchedAt = time.Now().UTC()
	return r, nil
}

// IPRangesCache keeps the last list fetched from Cloudflare in a file, so
// that a start without Cloudflare reachable still has a current list.
// Fallback, the copy built into odoobot, is used only when no list was
// ever fetched. It is safe for concurrent use.
type IPRangesCache struct {
	// Path is the cache file (JSON; mode 0644: the list is public).
	Path string
	// Fetch gets the list from Cloudflare (FetchIPRanges in production).
	Fetch func(ctx context.Context) (IPRanges, error)
	// Fallback is the list used when the cache holds none.
	Fallback []string
	// Logger receives a line for each change of the list; nil discards.
	Logger *slog.Logger

	mu sync.Mutex
}

// Source names where a list came from, for a comment in nginx's files.
const (
	SourceFallback = "odoobot's built-in copy (Cloudflare's list was never fetched)"
	SourceFetched  = "Cloudflare's API, cached by odoobot"
)

// Current returns the cached list, or Fallback when the cache holds none,
// with its source (SourceFetched or SourceFallback). A cache file that
// cannot be read or parsed is reported in the log and treated as absent.
func (c *IPRangesCache) Current() (ranges []string, source string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.load()
	if !ok {
		return slices.Clone(c.Fallback), SourceFallback
	}
	return r.All(), SourceFetched
}

// Cached reports whether the cache holds a list fetched from Cloudflare.
func (c *IPRangesCache) Cached() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.load()
	return ok
}

// Refresh fetches the list and, when it differs from the cached one (or
// none was cached), writes it to the cache and reports changed. A failed
// fetch leaves the cache as it was and returns the error.
func (c *IPRangesCache) Refresh(ctx context.Context) (changed bool, err error) {
	r, err := c.Fetch(ctx)
	if err != nil {
		return false, err
	}
	if err := r.check(); err != nil {
		return false, fmt.Errorf("cloudflare: IP ranges refused: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old, had := c.load()
	changed = !had || !sameRanges(old, r)
	if err := c.save(r); err != nil {
		return false, err
	}
	if changed {
		c.log().Info("cloudflare: IP ranges changed", "ranges", len(r.All()), "etag", r.Etag, "cache", c.Path, "first", !had)
	}
	return changed, nil
}

func (c *IPRangesCache) log() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// load reads the cache file; false when it is absent or unusable.
func (c *IPRangesCache) load() (IPRanges, bool) {
	b, err := os.ReadFile(c.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return IPRanges{}, false
	}
	var r IPRanges
	if err == nil {
		err = json.Unmarshal(b, &r)
	}
	if err == nil {
		err = r.check()
	}
	if err != nil {
		c.log().Warn("cloudflare: IP ranges cache unusable; ignoring it", "cache", c.Path, "err", err)
		return IPRanges{}, false
	}
	return r, true
}

// save writes r to the cache file (0644) with atomicfile.Write, creating
// its directory when missing.
func (c *IPRangesCache) save(r IPRanges) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("cloudflare: IP ranges cache: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(c.Path), 0o755); err != nil {
		return fmt.Errorf("cloudflare: IP ranges cache: %w", err)
	}
	if err := atomicfile.Write(c.Path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("cloudflare: IP ranges cache: %w", err)
	}
	return nil
}
