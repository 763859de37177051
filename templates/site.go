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

// CloudflareIPRanges is a copy of Cloudflare's published IPv4 and IPv6
// ranges, from https://www.cloudflare.com/ips/ (ips-v4 and ips-v6), made
// when this code was written. It is the last-resort fallback of the
// Cloudflare origin files (CloudflareOrigin, DefaultServer): odoobot uses
// it only when it never fetched Cloudflare's current list.
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
	// DefaultCloudflareSnippet is where a cloudflare site includes its
	// CloudflareOrigin snippet from, relative to nginx's configuration
	// directory (Debian: /etc/nginx/snippets/odoobot-cloudflare.conf).
	DefaultCloudflareSnippet = "snippets/odoobot-cloudflare.conf"
)

// Site is the nginx site of one instance (sites-available/prod-acme),
// meant to be included in nginx's http block next to other instances'
// sites. Everything it declares at http level is named after the
// instance, so two sites never collide: the upstreams UpstreamHTTP and
// UpstreamGevent (Odoo's HTTP and gevent ports on 127.0.0.1) and the TLS
// session cache SSLCache. It declares no variable (no map): each map
// costs nginx a fixed time at every test and reload, for every site.
// provision.Names derives these names; left empty, each is derived from
// Name by the same rule (<Name>-http, <Name>-gevent and <name>_ssl,
// hyphens becoming underscores).
// server_name is exactly Domain.
//
// /websocket goes to the gevent upstream with Upgrade/Connection, the rest
// to the HTTP upstream, both with X-Forwarded-* headers (Odoo runs with
// proxy_mode), 720 s timeouts and proxy_redirect off.
//
// The TLS modes listen on ListenHTTPS with http2 (written for nginx 1.22,
// Debian 12's: "listen ... ssl http2"), TLS 1.2 and 1.3 only, HSTS, and
// redirect ListenHTTP to https; letsencrypt serves
// /.well-known/acme-challenge/ from ACMEWebroot before that redirect;
// cloudflare includes CloudflareSnippet (a CloudflareOrigin: Cloudflare's
// ranges for CF-Connecting-IP, and the origin lock) in both its servers,
// so that a new list from Cloudflare changes that one file, not every
// site; the snippet refers to the variable the DefaultServer site
// defines, so a cloudflare site passes `nginx -t` only beside those two
// files. ModeHTTP listens on ListenHTTP only, and serves
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

	// CloudflareSnippet is the file a cloudflare site includes: absolute,
	// or relative to nginx's configuration directory; "" means
	// DefaultCloudflareSnippet.
	CloudflareSnippet string

	// The names the site declares at http level (see Site); "" derives
	// each from Name.
	UpstreamHTTP   string // upstream of HTTPPort: letters, digits, '-', '_'
	UpstreamGevent string // upstream of GeventPort: letters, digits, '-', '_'
	SSLCache       string // ssl_session_cache zone: letters, digits, '-', '_'

	// NoIndex tells robots not to index the site (an X-Robots-Tag header
	// and a robots.txt that disallows everything): a staging copy.
	NoIndex bool

	ClientMaxBodySize string // client_max_body_size; "" means DefaultClientMaxBodySize
	AccessLog         string // "" means <DefaultNginxLogDir>/<Name>.access.log
	ErrorLog          string // "" means <DefaultNginxLogDir>/<Name>.error.log
}

// siteView is what the site templates see.
type siteView struct {
	Site
	HTTPSHostPort string // $host or $host:port for redirects
}

// nginxIdentifier matches the names a site declares at http level; for
// a variable, '-' is excluded (nginx would end the variable there).
var (
	nginxIdentifier = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,254}$`)
)

// siteNames fills the names st declares at http level that are empty,
// from st.Name (the rule of provision.Names).
func siteNames(st *Site) {
	under := strings.ReplaceAll(st.Name, "-", "_")
	for _, d := range []struct {
		field *string
		value string
	}{
		{&st.UpstreamHTTP, st.Name + "-http"},
		{&st.UpstreamGevent, st.Name + "-gevent"},
		{&st.SSLCache, under + "_ssl"},
	} {
		if *d.field == "" {
			*d.field = d.value
		}
	}
}

// bodySizePattern is an nginx size: digits with an optional k/m/g suffix.
var bodySizePattern = regexp.MustCompile(`^[0-9]+[kKmMgG]?$`)

// Site renders the nginx site for s.Mode. It fails, wrapping ErrInvalid,
// on an unknown mode, a name or domain that is not lower-case labels, a
// bad port, a path that is not absolute or holds whitespace or nginx
// syntax, a missing certificate or webroot in the modes that need them,
// or a Cloudflare snippet path that leaves nginx's directory or holds
// nginx syntax.
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
	if st.Mode == ModeCloudflare && st.CloudflareSnippet == "" {
		st.CloudflareSnippet = DefaultCloudflareSnippet
	}
	siteNames(&st)

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
		f.includePath("CloudflareSnippet", st.CloudflareSnippet)
	}
	if !bodySizePattern.MatchString(st.ClientMaxBodySize) {
		f.add("ClientMaxBodySize", "%q is not an nginx size such as 100m", st.ClientMaxBodySize)
	}
	f.path("AccessLog", st.AccessLog)
	f.path("ErrorLog", st.ErrorLog)
	for _, n := range []struct{ field, v string }{
		{"UpstreamHTTP", st.UpstreamHTTP}, {"UpstreamGevent", st.UpstreamGevent}, {"SSLCache", st.SSLCache},
	} {
		if !nginxIdentifier.MatchString(n.v) {
			f.add(n.field, "%q is not a name of lower-case letters, digits, '-' and '_'", n.v)
		}
	}
	if st.UpstreamHTTP == st.UpstreamGevent {
		f.add("UpstreamGevent", "%q is also UpstreamHTTP", st.UpstreamGevent)
	}
	if err := f.err(); err != nil {
		return nil, err
	}

	v := siteView{Site: st, HTTPSHostPort: "$host"}
	if st.ListenHTTPS != DefaultListenHTTPS {
		v.HTTPSHostPort = "$host:" + strconv.Itoa(st.ListenHTTPS)
	}
	return s.render("nginx site", tmpl, v)
}

// OriginVar is the nginx variable, without '$', that the DefaultServer
// site defines for every request: 1 when the peer (the address nginx
// accepted the connection from, before CF-Connecting-IP replaces it) may
// reach a cloudflare site, 0 otherwise. The CloudflareOrigin snippet
// refuses a request when it is 0.
const OriginVar = "odoobot_cloudflare_origin"

// Names of the templates of odoobot's own nginx files.
const (
	tmplSiteDefault          = "site-default.tmpl"
	tmplSiteCloudflareOrigin = "site-cloudflare-origin.tmpl"
)

// DefaultServer is odoobot's own site in nginx's http block, beside the
// instances' sites:
//   - a catch-all default server on ListenHTTP and one on ListenHTTPS
//     that refuse every request naming no instance (an unknown Host, the
//     bare IP address): nginx closes the connection without an answer
//     (return 444), and refuses the TLS handshake of a server name it has
//     no site for (ssl_reject_handshake); CertFile and KeyFile, a
//     self-signed certificate naming no instance, are the TLS server's
//     own, so that no customer's certificate is ever the default;
//   - the geo block defining $OriginVar from the peer address: 1 for
//     loopback (odoobot verifies sites through nginx from 127.0.0.1) and
//     CloudflareIPs when OriginLock, 1 for every peer otherwise;
//   - the http-level hash sizes the instances' names need, when set
//     (nginx refuses a second setting of either, so a host whose own
//     configuration sets one leaves it 0 here).
type DefaultServer struct {
	ListenHTTP  int // 0 means DefaultListenHTTP; the instances' sites listen on the same ports
	ListenHTTPS int // 0 means DefaultListenHTTPS

	CertFile string // ssl_certificate of the catch-all; required
	KeyFile  string // ssl_certificate_key; required

	CloudflareIPs []string // Cloudflare's ranges (CIDR); required
	OriginLock    bool     // CF_ORIGIN_LOCK: cloudflare sites answer only Cloudflare and loopback
	Source        string   // where CloudflareIPs come from, for a comment (one line)

	// ServerNamesHashBucketSize and VariablesHashBucketSize are nginx's
	// server_names_hash_bucket_size and variables_hash_bucket_size,
	// multiples of 64 (provision.NginxServerNamesHashBucketSize and
	// provision.NginxVariablesHashBucketSize); 0 leaves nginx's own.
	ServerNamesHashBucketSize int
	VariablesHashBucketSize   int
}

// CloudflareOrigin is the snippet every cloudflare site includes in its
// servers (Site.CloudflareSnippet): the client's address is taken from
// CF-Connecting-IP only when the peer is one of CloudflareIPs, and, when
// OriginLock, a request whose peer the DefaultServer's geo does not allow
// is refused with 403.
type CloudflareOrigin struct {
	CloudflareIPs []string // Cloudflare's ranges (CIDR); required
	OriginLock    bool
	Source        string // where CloudflareIPs come from, for a comment (one line)
}

// rangesView is what the origin templates see.
type rangesView struct {
	DefaultServer
	Var string
}

// cloudflareIPs checks a list of Cloudflare ranges: not empty, each a
// CIDR prefix.
func (f *fieldErrors) cloudflareIPs(field string, ranges []string) {
	if len(ranges) == 0 {
		f.add(field, "is empty")
	}
	for i, r := range ranges {
		if _, err := netip.ParsePrefix(r); err != nil {
			f.add(field+"["+strconv.Itoa(i)+"]", "%q is not a CIDR prefix", r)
		}
	}
}

// includePath checks a path nginx includes: absolute, or relative to
// nginx's configuration directory without leaving it; none of pathUnsafe.
func (f *fieldErrors) includePath(field, v string) {
	if strings.HasPrefix(v, "/") {
		f.path(field, v)
		return
	}
	switch {
	case v == "":
		f.add(field, "is required")
	case strings.ContainsAny(v, pathUnsafe):
		f.add(field, "%q holds whitespace or one of %s", v, `"'\;{}$%,#`)
	case v == ".." || strings.HasPrefix(v, "../") || strings.Contains(v, "/../") || strings.HasSuffix(v, "/.."):
		f.add(field, "%q leaves nginx's configuration directory", v)
	}
}

// bucketSize checks an nginx hash bucket size: 0 (unset) or a multiple
// of 64 up to 64 KiB.
func (f *fieldErrors) bucketSize(field string, n int) {
	if n < 0 || n%64 != 0 || n > 65536-64 {
		f.add(field, "%d is not 0 or a multiple of 64 below 65536", n)
	}
}

// DefaultServer renders odoobot's default site (see DefaultServer). It
// fails, wrapping ErrInvalid, on a bad port, a certificate path that is
// not absolute or holds nginx syntax, an empty list or a range that is
// not a CIDR prefix, or a bucket size that is not a multiple of 64.
func (s *Set) DefaultServer(d DefaultServer) ([]byte, error) {
	f := &fieldErrors{what: "nginx default server"}
	if d.ListenHTTP == 0 {
		d.ListenHTTP = DefaultListenHTTP
	}
	if d.ListenHTTPS == 0 {
		d.ListenHTTPS = DefaultListenHTTPS
	}
	f.port("ListenHTTP", d.ListenHTTP)
	f.port("ListenHTTPS", d.ListenHTTPS)
	if d.ListenHTTP == d.ListenHTTPS {
		f.add("ListenHTTPS", "%d is also ListenHTTP", d.ListenHTTPS)
	}
	f.path("CertFile", d.CertFile)
	f.path("KeyFile", d.KeyFile)
	f.cloudflareIPs("CloudflareIPs", d.CloudflareIPs)
	f.line("Source", d.Source)
	f.bucketSize("ServerNamesHashBucketSize", d.ServerNamesHashBucketSize)
	f.bucketSize("VariablesHashBucketSize", d.VariablesHashBucketSize)
	if err := f.err(); err != nil {
		return nil, err
	}
	return s.render("nginx default server", tmplSiteDefault, rangesView{DefaultServer: d, Var: OriginVar})
}

// CloudflareOrigin renders the snippet cloudflare sites include (see
// CloudflareOrigin). It fails, wrapping ErrInvalid, on an empty list or
// a range that is not a CIDR prefix.
func (s *Set) CloudflareOrigin(o CloudflareOrigin) ([]byte, error) {
	f := &fieldErrors{what: "nginx Cloudflare snippet"}
	f.cloudflareIPs("CloudflareIPs", o.CloudflareIPs)
	f.line("Source", o.Source)
	if err := f.err(); err != nil {
		return nil, err
	}
	d := DefaultServer{CloudflareIPs: o.CloudflareIPs, OriginLock: o.OriginLock, Source: o.Source}
	return s.render("nginx Cloudflare snippet", tmplSiteCloudflareOrigin, rangesView{DefaultServer: d, Var: OriginVar})
}
