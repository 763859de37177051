package templates

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// The SSL modes a Site is rendered for; the values are provision's
// SSLMode strings.
const (
	ModeCloudflare  = "cloudflare"  // TLS with a Cloudflare Origin certificate, behind Cloudflare's proxy
	ModeLetsEncrypt = "letsencrypt" // TLS with a Let's Encrypt certificate, HTTP-01 challenges served from a webroot
	ModeHTTP        = "http"        // plain HTTP, unencrypted: testing only
)

// CloudflareIPRanges are Cloudflare's published IPv4 and IPv6 ranges,
// from https://www.cloudflare.com/ips/ (ips-v4 and ips-v6). A cloudflare
// site trusts CF-Connecting-IP only from these addresses. It is the
// default of Site.CloudflareIPs; set that field when Cloudflare publishes
// a new list.
func CloudflareIPRanges() []string {
	return []string{
		"173.245.48.0/20",
		"103.21.244.0/22",
		"103.22.200.0/22",
		"103.31.4.0/22",
		"141.101.64.0/18",
		"108.162.192.0/18",
		"190.93.240.0/20",
		"188.114.96.0/20",
		"197.234.240.0/22",
		"198.41.128.0/17",
		"162.158.0.0/15",
		"104.16.0.0/13",
		"104.24.0.0/14",
		"172.64.0.0/13",
		"131.0.72.0/22",
		"2400:cb00::/32",
		"2606:4700::/32",
		"2803:f800::/32",
		"2405:b500::/32",
		"2405:8100::/32",
		"2a06:98c0::/29",
		"2c0f:f248::/32",
	}
}

// Defaults of Site.
const (
	DefaultListenHTTP        = 80
	DefaultListenHTTPS       = 443
	DefaultClientMaxBodySize = "100m"
	DefaultNginxLogDir       = "/var/log/nginx"
)

// Site is the nginx site of one instance (sites-available/prod-acme),
// meant to be included in nginx's http block next to other instances'
// sites. Everything it declares at http level is named after the
// instance, so two sites never collide: the upstreams <Name>-http and
// <Name>-gevent (Odoo's HTTP and gevent ports on 127.0.0.1) and the
// websocket map variable $<name>_connection_upgrade (hyphens become
// underscores). server_name is exactly Domain.
//
// /websocket goes to the gevent upstream with Upgrade/Connection, the rest
// to the HTTP upstream, both with X-Forwarded-* headers (Odoo runs with
// proxy_mode), 720 s timeouts and proxy_redirect off.
//
// The TLS modes listen on ListenHTTPS with http2 (written for nginx 1.22,
// Debian 12's: "listen ... ssl http2"), TLS 1.2 and 1.3 only, HSTS, and
// redirect ListenHTTP to https; letsencrypt serves
// /.well-known/acme-challenge/ from ACMEWebroot before that redirect;
// cloudflare takes the client address from CF-Connecting-IP when the peer
// is one of CloudflareIPs. ModeHTTP listens on ListenHTTP only, and serves
// /.well-known/acme-challenge/ from ACMEWebroot when that is set (the
// site a letsencrypt instance has while its first certificate is issued);
// without ACMEWebroot it has no such location.
type Site struct {
	Mode   string // ModeCloudflare, ModeLetsEncrypt or ModeHTTP
	Name   string // the internal name, "prod-acme"; required
	Domain string // server_name; required

	HTTPPort   int // Odoo's http_port; required
	GeventPort int // Odoo's gevent_port; required

	ListenHTTP  int // port of the plain server; 0 means DefaultListenHTTP
	ListenHTTPS int // port of the TLS server; 0 means DefaultListenHTTPS

	CertFile string // ssl_certificate (full chain); required in TLS modes
	KeyFile  string // ssl_certificate_key; required in TLS modes

	ACMEWebroot string // root of /.well-known/acme-challenge/; required in letsencrypt mode, optional in http mode

	CloudflareIPs []string // cloudflare: trusted proxy ranges (CIDR); nil means CloudflareIPRanges()

	ClientMaxBodySize string // client_max_body_size; "" means DefaultClientMaxBodySize
	AccessLog         string // "" means <DefaultNginxLogDir>/<Name>.access.log
	ErrorLog          string // "" means <DefaultNginxLogDir>/<Name>.error.log
}

// siteView is what the site templates see.
type siteView struct {
	Site
	UpstreamHTTP, UpstreamGevent string
	UpgradeVar                   string // without '$'
	SSLCache                     string // ssl_session_cache zone name
	HTTPSHostPort                string // $host or $host:port for redirects
}

// bodySizePattern is an nginx size: digits with an optional k/m/g suffix.
var bodySizePattern = regexp.MustCompile(`^[0-9]+[kKmMgG]?$`)

// Site renders the nginx site for s.Mode. It fails, wrapping ErrInvalid,
// on an unknown mode, a name or domain that is not lower-case labels, a
// bad port, a path that is not absolute or holds whitespace or nginx
// syntax, a missing certificate or webroot in the modes that need them,
// or a Cloudflare range that is not a CIDR prefix.
func (s *Set) Site(st Site) ([]byte, error) {
	f := &fieldErrors{what: "nginx site"}
	if st.ListenHTTP == 0 {
		st.ListenHTTP = DefaultListenHTTP
	}
	if st.ListenHTTPS == 0 {
		st.ListenHTTPS = DefaultListenHTTPS
	}
	if st.ClientMaxBodySize == "" {
		st.ClientMaxBodySize = DefaultClientMaxBodySize
	}
	if st.AccessLog == "" {
		st.AccessLog = DefaultNginxLogDir + "/" + st.Name + ".access.log"
	}
	if st.ErrorLog == "" {
		st.ErrorLog = DefaultNginxLogDir + "/" + st.Name + ".error.log"
	}
	if st.Mode == ModeCloudflare && st.CloudflareIPs == nil {
		st.CloudflareIPs = CloudflareIPRanges()
	}

	var tmpl string
	switch st.Mode {
	case ModeCloudflare:
		tmpl = tmplSiteCloudflare
	case ModeLetsEncrypt:
		tmpl = tmplSiteLetsEncrypt
	case ModeHTTP:
		tmpl = tmplSiteHTTP
	default:
		f.add("Mode", "%q is not cloudflare, letsencrypt or http", st.Mode)
	}
	f.name("Name", st.Name)
	f.domain("Domain", st.Domain)
	f.port("HTTPPort", st.HTTPPort)
	f.port("GeventPort", st.GeventPort)
	f.port("ListenHTTP", st.ListenHTTP)
	if st.Mode != ModeHTTP {
		f.port("ListenHTTPS", st.ListenHTTPS)
		if st.ListenHTTP == st.ListenHTTPS {
			f.add("ListenHTTPS", "%d is also ListenHTTP", st.ListenHTTPS)
		}
		f.path("CertFile", st.CertFile)
		f.path("KeyFile", st.KeyFile)
	}
	if st.Mode == ModeLetsEncrypt || (st.Mode == ModeHTTP && st.ACMEWebroot != "") {
		f.path("ACMEWebroot", st.ACMEWebroot)
	}
	if st.Mode == ModeCloudflare {
		if len(st.CloudflareIPs) == 0 {
			f.add("CloudflareIPs", "is empty")
		}
		for i, r := range st.CloudflareIPs {
			if _, err := netip.ParsePrefix(r); err != nil {
				f.add("CloudflareIPs["+strconv.Itoa(i)+"]", "%q is not a CIDR prefix", r)
			}
		}
	}
	if !bodySizePattern.MatchString(st.ClientMaxBodySize) {
		f.add("ClientMaxBodySize", "%q is not an nginx size such as 100m", st.ClientMaxBodySize)
	}
	f.path("AccessLog", st.AccessLog)
	f.path("ErrorLog", st.ErrorLog)
	if err := f.err(); err != nil {
		return nil, err
	}

	under := strings.ReplaceAll(st.Name, "-", "_")
	v := siteView{
		Site:           st,
		UpstreamHTTP:   st.Name + "-http",
		UpstreamGevent: st.Name + "-gevent",
		UpgradeVar:     under + "_connection_upgrade",
		SSLCache:       under + "_ssl",
		HTTPSHostPort:  "$host",
	}
	if st.ListenHTTPS != DefaultListenHTTPS {
		v.HTTPSHostPort = "$host:" + strconv.Itoa(st.ListenHTTPS)
	}
	return s.render("nginx site", tmpl, v)
}
