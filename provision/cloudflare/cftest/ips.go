package cftest

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
)

// CloudflareIPv4 and CloudflareIPv6 are what GET /ips answers until
// SetIPRanges: Cloudflare's published list (https://www.cloudflare.com/ips/)
// when this double was written.
var (
	CloudflareIPv4 = []string{
		"173.245.48.0/20", "103.21.244.0/22", "103.22.200.0/22", "103.31.4.0/22",
		"141.101.64.0/18", "108.162.192.0/18", "190.93.240.0/20", "188.114.96.0/20",
		"197.234.240.0/22", "198.41.128.0/17", "162.158.0.0/15", "104.16.0.0/13",
		"104.24.0.0/14", "172.64.0.0/13", "131.0.72.0/22",
	}
	CloudflareIPv6 = []string{
		"2400:cb00::/32", "2606:4700::/32", "2803:f800::/32", "2405:b500::/32",
		"2405:8100::/32", "2a06:98c0::/29", "2c0f:f248::/32",
	}
)

// ipRanges is the list GET /ips answers; nil fields mean the defaults.
type ipRanges struct {
	v4, v6 []string
	set    bool
}

// SetIPRanges makes GET /ips answer v4 and v6 (as given, even malformed:
// a test can check that the client refuses them), with an etag derived
// from them, as Cloudflare changes its etag with its list.
func (s *Server) SetIPRanges(v4, v6 []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ips = ipRanges{v4: slices.Clone(v4), v6: slices.Clone(v6), set: true}
}

// serveIPs answers GET /ips as Cloudflare does: without authentication,
// in the v4 envelope, the result holding ipv4_cidrs, ipv6_cidrs and etag.
// Called with s.mu held.
func (s *Server) serveIPs(w http.ResponseWriter) {
	v4, v6 := CloudflareIPv4, CloudflareIPv6
	if s.ips.set {
		v4, v6 = s.ips.v4, s.ips.v6
	}
	sum := sha256.Sum256([]byte(strings.Join(v4, ",") + "|" + strings.Join(v6, ",")))
	writeOK(w, map[string]any{
		"ipv4_cidrs": nonNil(v4),
		"ipv6_cidrs": nonNil(v6),
		"etag":       hex.EncodeToString(sum[:16]),
	}, nil)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
