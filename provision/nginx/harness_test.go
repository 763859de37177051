package nginx

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"odoobot/internal/testenv"
)

// nginxBinary finds nginx on PATH or in /usr/sbin, where Debian puts it.
func nginxBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	return testenv.LookPath(t, "nginx")
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

// host is a real nginx master on loopback ports with its own prefix, and
// the Sites that manage its sites directories.
type host struct {
	bin       string
	prefix    string
	conf      string
	avail     string
	enabled   string
	httpPort  int
	httpsPort int
	master    *exec.Cmd
	reloads   atomic.Int32
	sites     *Sites
}

// startNginx starts nginx with a main configuration that includes the
// enabled directory by absolute path, or, when relative, by a path
// relative to the configuration's directory (which makes Install test in
// place instead of on a candidate). Its main configuration has its own
// default servers (421 on HTTP, a refused handshake on HTTPS).
func startNginx(t *testing.T, relative bool) *host {
	t.Helper()
	return startNginxWith(t, relative, true)
}

// startNginxWith is startNginx; without defaults, the main configuration
// declares no server of its own, as Debian's does: the sites alone
// decide which server answers a request.
func startNginxWith(t *testing.T, relative, defaults bool) *host {
	t.Helper()
	h := &host{bin: nginxBinary(t), prefix: t.TempDir()}
	h.conf = filepath.Join(h.prefix, "nginx.conf")
	h.avail = filepath.Join(h.prefix, "sites-available")
	h.enabled = filepath.Join(h.prefix, "sites-enabled")
	for _, d := range []string{h.avail, h.enabled, filepath.Join(h.prefix, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	h.httpPort, h.httpsPort = freePort(t), freePort(t)
	include := h.enabled + "/*"
	if relative {
		include = "sites-enabled/*"
	}
	p := h.prefix
	ownDefaults := ""
	if defaults {
		ownDefaults = fmt.Sprintf(`    server { listen 127.0.0.1:%[1]d default_server; return 421 "no site for this host\n"; }
    server { listen 127.0.0.1:%[2]d ssl default_server; ssl_reject_handshake on; }
`, h.httpPort, h.httpsPort)
	}
	conf := fmt.Sprintf(`daemon off;
master_process on;
user root;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 128; }
http {
    access_log off;
    client_body_temp_path %[1]s/tmp/body;
    proxy_temp_path %[1]s/tmp/proxy;
    fastcgi_temp_path %[1]s/tmp/fastcgi;
    uwsgi_temp_path %[1]s/tmp/uwsgi;
    scgi_temp_path %[1]s/tmp/scgi;
%[5]s    include %[4]s;
}
`, p, h.httpPort, h.httpsPort, include, ownDefaults)
	if err := os.WriteFile(h.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-c", h.conf, "-p", h.prefix + "/"}
	h.master = exec.Command(h.bin, args...)
	var stderr bytes.Buffer
	h.master.Stderr = &stderr
	if err := h.master.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	t.Cleanup(func() {
		_ = h.master.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = h.master.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = h.master.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Without servers of its own nginx listens nowhere yet: its
		// workers running say the configuration is loaded.
		var err error
		if defaults {
			var c net.Conn
			if c, err = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", h.httpPort)); err == nil {
				c.Close()
				break
			}
		} else if len(h.workers()) > 0 {
			break
		} else {
			err = errors.New("no worker process yet")
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(h.prefix, "error.log"))
			t.Fatalf("nginx did not start listening: %v\nstderr: %s\nerror.log: %s", err, stderr.String(), log)
		}
		time.Sleep(20 * time.Millisecond)
	}

	h.sites = New(Config{
		Available: h.avail,
		Enabled:   h.enabled,
		Binary:    h.bin,
		TestArgs:  args,
		Reload:    h.reload,
		HTTPAddr:  fmt.Sprintf("127.0.0.1:%d", h.httpPort),
		HTTPSAddr: fmt.Sprintf("127.0.0.1:%d", h.httpsPort),
		Logger:    slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	return h
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// reload asks the master to reload, as `nginx -s reload` does, and waits
// until the old workers are gone and new ones run, so that the next
// request is served by the new configuration.
func (h *host) reload(ctx context.Context) error {
	h.reloads.Add(1)
	before := h.workers()
	out, err := exec.CommandContext(ctx, h.bin, "-c", h.conf, "-p", h.prefix+"/", "-s", "reload").CombinedOutput()
	if err != nil {
		return fmt.Errorf("nginx -s reload: %w: %s", err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		now := h.workers()
		if len(now) > 0 && !slices.ContainsFunc(now, func(p int) bool { return slices.Contains(before, p) }) {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("nginx did not replace its workers after reload (before %v, now %v)", before, h.workers())
}

// workers lists the pids whose parent is the master.
func (h *host) workers() []int {
	master := h.master.Process.Pid
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(master) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// backend is a stand-in for one Odoo instance: an HTTP port answering
// /web/health, and a gevent port answering websocket upgrades.
type backend struct {
	httpPort, geventPort int
}

func startBackend(t *testing.T, label string) backend {
	t.Helper()
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/web/health":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"status": "pass", "site": %q, "host": %q}`, label, r.Host)
		case "/websocket":
			// Odoo's HTTP workers cannot hold a websocket.
			http.Error(w, "websocket needs the gevent port", http.StatusBadRequest)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(web.Close)
	gevent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/websocket" || !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "expected a websocket upgrade on /websocket", http.StatusBadRequest)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			AcceptKey(r.Header.Get("Sec-WebSocket-Key")))
		_ = rw.Flush()
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.Copy(io.Discard, conn)
	}))
	t.Cleanup(gevent.Close)
	return backend{httpPort: serverPort(t, web), geventPort: serverPort(t, gevent)}
}

func serverPort(t *testing.T, s *httptest.Server) int {
	t.Helper()
	return s.Listener.Addr().(*net.TCPAddr).Port
}

// deadBackend has ports on which nothing listens.
func deadBackend(t *testing.T) backend {
	t.Helper()
	return backend{httpPort: freePort(t), geventPort: freePort(t)}
}

// site is the text of an instance's nginx site, in the shape the
// templates render: upstreams, a plain listener, optionally a TLS one,
// /websocket to the gevent upstream and the rest to the HTTP one.
type site struct {
	name, host string
	b          backend
	wsToHTTP   bool     // route /websocket to the HTTP port (a broken site)
	tls        *certPEM // serve HTTPS too
	extra      string   // appended inside the server block
}

func (s site) text(h *host) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "upstream %s-http { server 127.0.0.1:%d; }\n", s.name, s.b.httpPort)
	fmt.Fprintf(&b, "upstream %s-gevent { server 127.0.0.1:%d; }\n", s.name, s.b.geventPort)
	ws := s.name + "-gevent"
	if s.wsToHTTP {
		ws = s.name + "-http"
	}
	b.WriteString("server {\n")
	fmt.Fprintf(&b, "    listen 127.0.0.1:%d;\n", h.httpPort)
	if s.tls != nil {
		fmt.Fprintf(&b, "    listen 127.0.0.1:%d ssl;\n", h.httpsPort)
		fmt.Fprintf(&b, "    ssl_certificate %s;\n    ssl_certificate_key %s;\n", s.tls.cert, s.tls.key)
	}
	fmt.Fprintf(&b, "    server_name %s;\n", s.host)
	b.WriteString(s.extra)
	fmt.Fprintf(&b, `    location /websocket {
        proxy_pass http://%s;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_set_header Host $host;
    }
    location / {
        proxy_pass http://%s-http;
        proxy_set_header Host $host;
    }
}
`, ws, s.name)
	return []byte(b.String())
}

type certPEM struct {
	cert, key string
	pool      *x509.CertPool
}

// selfSigned writes a self-signed certificate for host and returns its
// files and a pool that trusts it.
func selfSigned(t *testing.T, dir, host string) *certPEM {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: host},
		DNSNames:              []string{host},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c := &certPEM{cert: filepath.Join(dir, host+".crt"), key: filepath.Join(dir, host+".key"), pool: x509.NewCertPool()}
	if err := os.WriteFile(c.cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	c.pool.AddCert(cert)
	return c
}

// get asks nginx's plain listener for path with the Host header host.
func (h *host) get(t *testing.T, hostHeader, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", h.httpPort, path), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = hostHeader
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s Host %s: %v", path, hostHeader, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// dirNames lists a directory's entries, hidden ones included.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
