package templates

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// seen is what a stand-in Odoo backend reports about the request nginx
// forwarded to it.
type seen struct {
	Backend, Host, Path, Proto, FwdHost, RealIP, Upgrade, Connection string
}

func backend(t *testing.T, name string) (port int) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(seen{
			Backend:    name,
			Host:       r.Host,
			Path:       r.URL.Path,
			Proto:      r.Header.Get("X-Forwarded-Proto"),
			FwdHost:    r.Header.Get("X-Forwarded-Host"),
			RealIP:     r.Header.Get("X-Real-IP"),
			Upgrade:    r.Header.Get("Upgrade"),
			Connection: r.Header.Get("Connection"),
		})
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	port, _ = strconv.Atoi(u.Port())
	return port
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// fakeCloudflare is the peer address the live test's "Cloudflare" list
// holds: a loopback address that is not 127.0.0.1, which odoobot's
// default server allows as this host itself.
const fakeCloudflare = "127.0.0.3"

// startNginx runs nginx in the foreground on one site, beside odoobot's
// default server and Cloudflare snippet (with fakeCloudflare as
// Cloudflare's list), and stops it when the test ends.
func startNginx(t *testing.T, nginx, dir string, st Site, site []byte) {
	t.Helper()
	enabled := filepath.Join(dir, "sites-enabled")
	if err := os.MkdirAll(enabled, 0o755); err != nil {
		t.Fatal(err)
	}
	writeOrigin(t, dir, enabled, st.ListenHTTP, st.ListenHTTPS, []string{fakeCloudflare + "/32"})
	if err := os.WriteFile(filepath.Join(enabled, st.Name), site, 0o644); err != nil {
		t.Fatal(err)
	}
	extra := "daemon off;"
	if os.Geteuid() == 0 {
		extra += "\nuser root;" // workers must read the webroot inside the 0700 temp dir
	}
	conf := writeMainConf(t, dir, enabled, extra)
	errLog := filepath.Join(dir, "error.log")
	cmd := exec.Command(nginx, "-p", dir+"/", "-c", conf, "-e", errLog)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(st.ListenHTTP))
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-done:
			log, _ := os.ReadFile(errLog)
			t.Fatalf("nginx exited: %v\n%s", err, log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(errLog)
			t.Fatalf("nginx does not listen on %d: %v\n%s", st.ListenHTTP, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type liveClient struct {
	t      *testing.T
	st     Site
	client *http.Client
}

func newLiveClient(t *testing.T, st Site) *liveClient {
	t.Helper()
	return newLiveClientFrom(t, st, "127.0.0.1")
}

// newLiveClientFrom is a client whose connections come from the local
// address from (any 127.0.0.0/8 address on Linux).
func newLiveClientFrom(t *testing.T, st Site, from string) *liveClient {
	t.Helper()
	dialer := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	pool := x509.NewCertPool()
	if pem, err := os.ReadFile(st.CertFile); err == nil {
		pool.AppendCertsFromPEM(pem)
	}
	return &liveClient{t: t, st: st, client: &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{ServerName: st.Domain, RootCAs: pool},
			Proxy:           nil,
			DialContext:     dialer.DialContext,
		},
	}}
}

// get requests path from nginx on 127.0.0.1 with the site's Host; tls
// picks the HTTPS port.
func (c *liveClient) get(tls bool, path string, header map[string]string) (*http.Response, string) {
	c.t.Helper()
	u := "http://127.0.0.1:" + strconv.Itoa(c.st.ListenHTTP) + path
	if tls {
		u = "https://127.0.0.1:" + strconv.Itoa(c.st.ListenHTTPS) + path
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Host = c.st.Domain
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		c.t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (c *liveClient) proxied(tls bool, path string, header map[string]string) seen {
	c.t.Helper()
	resp, body := c.get(tls, path, header)
	var s seen
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &s) != nil {
		c.t.Fatalf("GET %s: %s\n%s", path, resp.Status, body)
	}
	return s
}

// TestSitesServeThroughNginx runs real nginx on each rendered site (high
// ports on this host, stand-in backends for Odoo's two ports) and checks
// what an operator would: the routing of / and /websocket, the forwarded
// headers, the redirect to https, HSTS, the ACME webroot, and
// Cloudflare's client address.
func TestSitesServeThroughNginx(t *testing.T) {
	nginx := lookPath(t, "nginx", "/usr/sbin/nginx")
	s := mustLoad(t)
	httpPort, geventPort := backend(t, "http"), backend(t, "gevent")
	ws := map[string]string{"Upgrade": "websocket", "Connection": "Upgrade"}

	for _, mode := range []string{ModeCloudflare, ModeLetsEncrypt, ModeHTTP} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			st := testSite(t, dir, "prod-acme", mode, 0)
			st.HTTPPort, st.GeventPort = httpPort, geventPort
			st.ListenHTTP, st.ListenHTTPS = freePort(t), freePort(t)
			challenge := filepath.Join(st.ACMEWebroot, ".well-known", "acme-challenge")
			if err := os.MkdirAll(challenge, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(challenge, "tok123"), []byte("tok123.key"), 0o644); err != nil {
				t.Fatal(err)
			}
			site, err := s.Site(st)
			if err != nil {
				t.Fatal(err)
			}
			startNginx(t, nginx, dir, st, site)
			c := newLiveClient(t, st)

			tls, scheme := mode != ModeHTTP, "http"
			if tls {
				scheme = "https"
				resp, _ := c.get(false, "/web/login?db=x", nil)
				want := "https://" + st.Domain + ":" + strconv.Itoa(st.ListenHTTPS) + "/web/login?db=x"
				if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != want {
					t.Errorf("plain GET: %s Location %q, want 301 %q", resp.Status, resp.Header.Get("Location"), want)
				}
			}
			// letsencrypt, and http with a webroot (a letsencrypt instance's
			// site before its certificate), answer the challenge.
			resp, body := c.get(false, "/.well-known/acme-challenge/tok123", nil)
			if mode != ModeCloudflare && (resp.StatusCode != http.StatusOK || body != "tok123.key") {
				t.Errorf("ACME challenge: %s %q, want 200 %q", resp.Status, body, "tok123.key")
			}

			got := c.proxied(tls, "/web/login", nil)
			want := seen{Backend: "http", Host: st.Domain, Path: "/web/login", Proto: scheme, FwdHost: st.Domain, RealIP: "127.0.0.1", Connection: "close"}
			if got != want {
				t.Errorf("GET /web/login reached %+v, want %+v", got, want)
			}
			got = c.proxied(tls, "/websocket", ws)
			want = seen{Backend: "gevent", Host: st.Domain, Path: "/websocket", Proto: scheme, FwdHost: st.Domain, RealIP: "127.0.0.1", Upgrade: "websocket", Connection: "upgrade"}
			if got != want {
				t.Errorf("GET /websocket reached %+v, want %+v", got, want)
			}
			// Without a map per site (each costs nginx time at every
			// test and reload), Connection is always "upgrade" there;
			// no Upgrade reaches Odoo, which refuses the handshake.
			if got := c.proxied(tls, "/websocket", nil); got.Upgrade != "" || got.Backend != "gevent" {
				t.Errorf("GET /websocket without Upgrade reached %+v, want gevent with no Upgrade", got)
			}
			if tls {
				resp, _ := c.get(true, "/", nil)
				if h := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(h, "max-age=31536000") {
					t.Errorf("Strict-Transport-Security = %q", h)
				}
			}
			cfHeader := map[string]string{"CF-Connecting-IP": "203.0.113.9"}
			if mode == ModeCloudflare {
				// Through Cloudflare: CF-Connecting-IP is the client.
				got := newLiveClientFrom(t, st, fakeCloudflare).proxied(true, "/", cfHeader)
				if got.RealIP != "203.0.113.9" {
					t.Errorf("X-Real-IP behind Cloudflare = %q, want the CF-Connecting-IP 203.0.113.9", got.RealIP)
				}
				// This host itself is let in, but not believed.
				if got := c.proxied(true, "/", cfHeader); got.RealIP != "127.0.0.1" {
					t.Errorf("X-Real-IP from loopback with CF-Connecting-IP = %q, want 127.0.0.1", got.RealIP)
				}
				// Anyone else is refused on both servers, whatever it claims.
				other := newLiveClientFrom(t, st, "127.0.0.2")
				for _, tls := range []bool{true, false} {
					if resp, body := other.get(tls, "/web/login", cfHeader); resp.StatusCode != http.StatusForbidden {
						t.Errorf("GET (tls %v) from 127.0.0.2, not Cloudflare: %s %q, want 403", tls, resp.Status, body)
					}
				}
			} else {
				// The origin lock is for cloudflare sites only.
				other := newLiveClientFrom(t, st, "127.0.0.2")
				if got := other.proxied(tls, "/web/login", cfHeader); got.RealIP != "127.0.0.2" {
					t.Errorf("X-Real-IP of a %s site from 127.0.0.2 = %q, want 127.0.0.2", mode, got.RealIP)
				}
			}
		})
	}
}
