package nginx

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/provision/cloudflare"
	"odoobot/provision/cloudflare/cftest"
	"odoobot/templates"
)

// Loopback addresses standing for the parties of these tests (Linux
// routes all of 127.0.0.0/8 to lo): odoobot itself is 127.0.0.1, the
// fake Cloudflare's list holds cfPeer, and stranger is anyone else.
const (
	cfPeer   = "127.0.0.3"
	stranger = "127.0.0.2"
)

func loadTemplates(t *testing.T) *templates.Set {
	t.Helper()
	s, err := templates.Load()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newOrigin is odoobot's origin for h, with Cloudflare's list from
// ranges and a log kept in logs.
func newOrigin(t *testing.T, h *host, ranges func(context.Context) ([]string, string), logs *bytes.Buffer) *Origin {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.MultiWriter(testWriter{t}, logs), nil))
	h.sites.log = log
	return &Origin{
		Sites: h.sites, Templates: loadTemplates(t), CertDir: filepath.Join(t.TempDir(), "nginx"),
		ListenHTTP: h.httpPort, ListenHTTPS: h.httpsPort, Lock: true, Ranges: ranges, Logger: log,
	}
}

func fixedRanges(r ...string) func(context.Context) ([]string, string) {
	return func(context.Context) ([]string, string) { return r, "a test list" }
}

// instanceSite renders an instance's site as odoobot does (templates),
// on h's ports, serving b, with its logs inside h's prefix.
func instanceSite(t *testing.T, h *host, name, domain, mode string, b backend, cert *certPEM) []byte {
	t.Helper()
	st := templates.Site{
		Mode: mode, Name: name, Domain: domain, HTTPPort: b.httpPort, GeventPort: b.geventPort,
		ListenHTTP: h.httpPort, ListenHTTPS: h.httpsPort,
		AccessLog: filepath.Join(h.prefix, name+".access.log"), ErrorLog: filepath.Join(h.prefix, name+".error.log"),
		ACMEWebroot: filepath.Join(h.prefix, "acme-webroot"),
	}
	if cert != nil {
		st.CertFile, st.KeyFile = cert.cert, cert.key
	}
	text, err := loadTemplates(t).Site(st)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// call is one request to h from the local address from, over TLS or
// not, with SNI sni (none when empty) and Host header hostHeader. It
// returns the status, or the error of a refused handshake or of a
// connection closed without an answer.
func (h *host) call(t *testing.T, from string, useTLS bool, sni, hostHeader string, header map[string]string) (int, string, error) {
	t.Helper()
	port, scheme := h.httpPort, "http"
	if useTLS {
		port, scheme = h.httpsPort, "https"
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	client := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{
			DialContext:       dialer.DialContext,
			DisableKeepAlives: true,
			// The certificate is not what these tests judge.
			TLSClientConfig: &tls.Config{ServerName: sni, InsecureSkipVerify: true},
		},
	}
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("%s://127.0.0.1:%d/web/health", scheme, port), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = hostHeader
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), nil
}

// TestDefaultServerRefusesUnknownHosts: without odoobot's default server,
// a request for an unknown Host or the bare IP reaches an instance (the
// first site nginx loaded); with it, it is refused on both ports, and
// the instance is still served.
func TestDefaultServerRefusesUnknownHosts(t *testing.T) {
	h := startNginxWith(t, false, false)
	ctx := context.Background()
	cert := selfSigned(t, t.TempDir(), "acme.example.test")
	site := instanceSite(t, h, "prod-acme", "acme.example.test", templates.ModeLetsEncrypt, startBackend(t, "acme"), cert)
	if err := h.sites.Install(ctx, "prod-acme", site); err != nil {
		t.Fatal(err)
	}
	// The problem: an unknown Host is answered by the instance.
	if code, _, err := h.call(t, "127.0.0.1", true, "", "unknown.example.test", nil); err != nil || code != 200 {
		t.Fatalf("before the default server, an unknown Host over TLS got %d, %v; want the instance's 200 (the setup shows the problem)", code, err)
	}

	var logs bytes.Buffer
	o := newOrigin(t, h, fixedRanges(cfPeer+"/32"), &logs)
	if err := o.Ensure(ctx); err != nil {
		t.Fatalf("Ensure: %v", err)
	}

	for _, tc := range []struct {
		name             string
		tls              bool
		sni, hostHeader  string
		wantHandshakeErr bool
	}{
		{"http unknown Host", false, "", "unknown.example.test", false},
		{"http bare IP", false, "", "127.0.0.1", false},
		{"http no Host", false, "", "", false},
		{"https unknown name", true, "unknown.example.test", "unknown.example.test", true},
		{"https bare IP", true, "", "127.0.0.1", true},
		{"https instance's name, unknown Host", true, "acme.example.test", "unknown.example.test", false},
	} {
		code, body, err := h.call(t, "127.0.0.1", tc.tls, tc.sni, tc.hostHeader, nil)
		if err == nil {
			t.Errorf("%s: answered %d %q; want the connection refused", tc.name, code, body)
			continue
		}
		t.Logf("%s: %v", tc.name, err)
		isHandshake := strings.Contains(err.Error(), "tls: ")
		if isHandshake != tc.wantHandshakeErr {
			t.Errorf("%s: %v; want a refused handshake: %v", tc.name, err, tc.wantHandshakeErr)
		}
	}
	// The instance still answers, over both ports.
	if err := h.sites.Verify(ctx, "acme.example.test", true, cert.pool); err != nil {
		t.Errorf("Verify of the instance over TLS: %v", err)
	}
	if code, _, err := h.call(t, "127.0.0.1", false, "", "acme.example.test", nil); err != nil || code != http.StatusMovedPermanently {
		t.Errorf("the instance over HTTP: %d, %v; want its redirect to https", code, err)
	}

	// The certificate was made here, its key kept private.
	key, err := os.Stat(filepath.Join(o.CertDir, DefaultKeyFile))
	if err != nil || key.Mode().Perm() != 0o600 {
		t.Errorf("default server key: %v, mode %v; want 0600", err, key)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(o.CertDir, DefaultCertFile), filepath.Join(o.CertDir, DefaultKeyFile))
	if err != nil {
		t.Fatalf("default server certificate: %v", err)
	}
	if cn := pair.Leaf.Subject.CommonName; cn != "odoobot default server" || len(pair.Leaf.DNSNames) != 0 {
		t.Errorf("default server certificate names %q %v; want no instance", cn, pair.Leaf.DNSNames)
	}
	want := []string{DefaultSiteName, "prod-acme"}
	if diff := cmp.Diff(dirNames(t, h.enabled), want); diff != "" {
		t.Errorf("sites-enabled (-got +want):\n%s", diff)
	}

	// Idempotent: a second Ensure changes, tests and reloads nothing, and
	// keeps the certificate.
	reloads := h.reloads.Load()
	certBefore, _ := os.ReadFile(filepath.Join(o.CertDir, DefaultCertFile))
	if err := o.Ensure(ctx); err != nil {
		t.Fatalf("Ensure again: %v", err)
	}
	if h.reloads.Load() != reloads {
		t.Errorf("a second Ensure reloaded nginx")
	}
	if certAfter, _ := os.ReadFile(filepath.Join(o.CertDir, DefaultCertFile)); !bytes.Equal(certBefore, certAfter) {
		t.Errorf("a second Ensure made a new certificate")
	}
}

// TestOriginLock: a cloudflare site answers Cloudflare (its list fetched
// through the fake Cloudflare API) and this host, and refuses anyone
// else; when Cloudflare's list changes, a refresh rewrites the files and
// the new list is what nginx enforces.
func TestOriginLock(t *testing.T) {
	h := startNginxWith(t, false, false)
	ctx := context.Background()
	cf := cftest.NewServer(t, "example.test", "token")
	cf.SetIPRanges([]string{cfPeer + "/32"}, []string{"2001:db8::/32"})
	cache := &cloudflare.IPRangesCache{
		Path: filepath.Join(t.TempDir(), "cloudflare-ips.json"),
		Fetch: func(ctx context.Context) (cloudflare.IPRanges, error) {
			return cloudflare.FetchIPRanges(ctx, cf.URL(), nil)
		},
		Fallback: templates.CloudflareIPRanges(),
	}
	if changed, err := cache.Refresh(ctx); err != nil || !changed {
		t.Fatalf("first Refresh: changed %v, %v; want a new list", changed, err)
	}
	var logs bytes.Buffer
	o := newOrigin(t, h, func(context.Context) ([]string, string) { return cache.Current() }, &logs)
	sites := o.Guarded()

	cert := selfSigned(t, t.TempDir(), "cf.example.test")
	site := instanceSite(t, h, "prod-cf", "cf.example.test", templates.ModeCloudflare, startBackend(t, "cf"), cert)
	// The guarded install puts the default server and the snippet in first:
	// the site alone would not pass nginx -t.
	if err := sites.Install(ctx, "prod-cf", site); err != nil {
		t.Fatalf("Install of a cloudflare site: %v", err)
	}
	snippet, err := os.ReadFile(o.SnippetPath())
	if err != nil || !strings.Contains(string(snippet), "set_real_ip_from "+cfPeer+"/32;") || strings.Contains(string(snippet), "173.245.48.0/20") {
		t.Fatalf("snippet %s (%v) does not hold the fetched list alone:\n%s", o.SnippetPath(), err, snippet)
	}
	cfHeader := map[string]string{"CF-Connecting-IP": "203.0.113.9"}
	expect := func(when, from string, want int) {
		t.Helper()
		for _, useTLS := range []bool{true, false} {
			code, body, err := h.call(t, from, useTLS, "cf.example.test", "cf.example.test", cfHeader)
			if useTLS && code != want || !useTLS && (want == 200) != (code == http.StatusMovedPermanently) || err != nil {
				t.Errorf("%s: from %s (tls %v): %d %q, %v; want %d", when, from, useTLS, code, body, err, want)
			}
		}
	}
	expect("Cloudflare's list fetched", cfPeer, 200)
	expect("Cloudflare's list fetched", stranger, 403)
	if err := h.sites.Verify(ctx, "cf.example.test", true, cert.pool); err != nil {
		t.Errorf("odoobot's verify from loopback: %v", err)
	}

	// Cloudflare publishes a new list: the stranger's address is in it now.
	cf.SetIPRanges([]string{stranger + "/32"}, nil)
	changed, err := cache.Refresh(ctx)
	if err != nil || !changed {
		t.Fatalf("Refresh after a change: changed %v, %v", changed, err)
	}
	if err := o.Ensure(ctx); err != nil {
		t.Fatalf("Ensure after a change: %v", err)
	}
	expect("Cloudflare's new list", stranger, 200)
	expect("Cloudflare's new list", cfPeer, 403)
	if err := h.sites.Verify(ctx, "cf.example.test", true, cert.pool); err != nil {
		t.Errorf("odoobot's verify from loopback after the change: %v", err)
	}

	// Lock off: everyone reaches the site.
	o.Lock = false
	if err := o.Ensure(ctx); err != nil {
		t.Fatalf("Ensure with the lock off: %v", err)
	}
	expect("lock off", cfPeer, 200)
}

// debianStockDefault is Debian 12's /etc/nginx/sites-available/default as
// nginx-common installs it, when this machine has it unmodified.
func debianStockDefault(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("/etc/nginx/sites-available/default")
	if err != nil {
		t.Skipf("Debian's stock default site is not on this machine: %v", err)
	}
	if !isStockDefault(b, "/var/lib/dpkg/status") {
		t.Skip("/etc/nginx/sites-available/default on this machine is not Debian's unmodified file")
	}
	return b
}

// TestStockDebianDefaultDisabled: Debian's stock default site, enabled
// and unmodified, is disabled (its link removed, its file kept) and the
// log says so; a modified one declaring default_server is refused with
// what to do, and nothing changes.
func TestStockDebianDefaultDisabled(t *testing.T) {
	stock := debianStockDefault(t)
	h := startNginxWith(t, false, false)
	ctx := context.Background()
	avail, link := filepath.Join(h.avail, "default"), filepath.Join(h.enabled, "default")
	if err := os.WriteFile(avail, stock, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(avail, link); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	o := newOrigin(t, h, fixedRanges(cfPeer+"/32"), &logs)
	o.Sites.cfg.DpkgStatus = filepath.Join(t.TempDir(), "no-dpkg") // recognised by its content alone
	if err := o.Ensure(ctx); err != nil {
		t.Fatalf("Ensure with the stock default enabled: %v", err)
	}
	if _, err := os.Lstat(link); !os.IsNotExist(err) {
		t.Errorf("the stock default's link is still there: %v", err)
	}
	if b, err := os.ReadFile(avail); err != nil || !bytes.Equal(b, stock) {
		t.Errorf("the stock default's file changed or went: %v", err)
	}
	if !strings.Contains(logs.String(), "disabled Debian's stock default site") {
		t.Errorf("the log does not say the stock default was disabled:\n%s", logs.String())
	}
	if _, _, err := h.call(t, "127.0.0.1", false, "", "unknown.example.test", nil); err == nil {
		t.Errorf("an unknown Host is answered after the stock default was replaced")
	}
}

func TestForeignDefaultServerRefused(t *testing.T) {
	h := startNginxWith(t, false, false)
	ctx := context.Background()
	foreign := fmt.Sprintf("server {\n    listen %d default_server;\n    server_name _;\n    return 200 \"mine\\n\";\n}\n", h.httpPort)
	avail, link := filepath.Join(h.avail, "default"), filepath.Join(h.enabled, "default")
	if err := os.WriteFile(avail, []byte(foreign), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(avail, link); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	o := newOrigin(t, h, fixedRanges(cfPeer+"/32"), &logs)
	reloads := h.reloads.Load()
	err := o.Ensure(ctx)
	if err == nil {
		t.Fatal("Ensure installed a second default server beside the operator's")
	}
	t.Logf("refusal: %v", err)
	for _, w := range []string{link + " is nginx's default server", "Remove default_server", "duplicate default server", link} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("refusal %q lacks %q", err, w)
		}
	}
	if target, err := os.Readlink(link); err != nil || target != avail {
		t.Errorf("the operator's default site's link: %q, %v", target, err)
	}
	if diff := cmp.Diff(dirNames(t, h.enabled), []string{"default"}); diff != "" {
		t.Errorf("sites-enabled after the refusal (-got +want):\n%s", diff)
	}
	if _, err := os.Stat(o.SnippetPath()); !os.IsNotExist(err) {
		t.Errorf("the snippet was left after the refusal: %v", err)
	}
	if h.reloads.Load() != reloads {
		t.Errorf("nginx was reloaded after the refusal")
	}
}

func TestEnsureSelfSignedRenews(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nginx")
	cert, key, err := EnsureSelfSigned(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("certificate directory: %v %v; want mode 0700", fi, err)
	}
	first, _ := os.ReadFile(cert)
	if c2, k2, err := EnsureSelfSigned(dir); err != nil || c2 != cert || k2 != key {
		t.Fatalf("second EnsureSelfSigned: %s %s %v", c2, k2, err)
	}
	if again, _ := os.ReadFile(cert); !bytes.Equal(first, again) {
		t.Errorf("a valid certificate was made again")
	}
	// A key that does not match is replaced, with its certificate.
	other, err := os.ReadFile(selfSigned(t, t.TempDir(), "x.test").key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, other, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := EnsureSelfSigned(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
		t.Errorf("after a mismatched key: %v", err)
	}
	if again, _ := os.ReadFile(cert); bytes.Equal(first, again) {
		t.Errorf("the certificate of a replaced key was kept")
	}
}
