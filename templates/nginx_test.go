package templates

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"odoobot/internal/testenv"
)

// lookPath finds a program on PATH or at its Debian location (sbin is not
// always on a test's PATH), else stops the test through testenv.
func lookPath(t *testing.T, prog, debian string) string {
	t.Helper()
	if p, err := exec.LookPath(prog); err == nil {
		return p
	}
	if fi, err := os.Stat(debian); err == nil && fi.Mode()&0o111 != 0 {
		return debian
	}
	return testenv.LookPath(t, prog)
}

// selfSigned writes a self-signed certificate for domain and its key into
// dir, returning their paths.
func selfSigned(t *testing.T, dir, domain string) (cert, key string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: domain},
		DNSNames:     []string{domain},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, domain+".crt"), filepath.Join(dir, domain+".key")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// testSite is an instance's site with every file it names inside dir.
func testSite(t *testing.T, dir, name, mode string, n int) Site {
	t.Helper()
	domain := strings.TrimPrefix(name, "prod-") + ".example.com"
	cert, key := selfSigned(t, dir, domain)
	webroot := filepath.Join(dir, "acme-webroot")
	if err := os.MkdirAll(webroot, 0o755); err != nil {
		t.Fatal(err)
	}
	return Site{
		Mode:        mode,
		Name:        name,
		Domain:      domain,
		HTTPPort:    2100 + n,
		GeventPort:  8072 + n,
		ListenHTTP:  18080,
		ListenHTTPS: 18443,
		CertFile:    cert,
		KeyFile:     key,
		ACMEWebroot: webroot,
		AccessLog:   filepath.Join(dir, name+".access.log"),
		ErrorLog:    filepath.Join(dir, name+".error.log"),
	}
}

// nginxT runs `nginx -t` on a main configuration that includes the given
// sites in its http block, as sites-enabled/* would be, and fails the test
// on an error or on any output of `nginx -t -q` (a warning such as a
// conflicting server name included).
func nginxT(t *testing.T, nginx, dir string, sites map[string][]byte) {
	t.Helper()
	out, err := runNginxT(t, nginx, dir, sites)
	if err != nil || len(out) > 0 {
		var all strings.Builder
		for name, b := range sites {
			fmt.Fprintf(&all, "--- %s\n%s\n", name, b)
		}
		t.Fatalf("nginx -t: %v\n%s\nsites:\n%s", err, out, all.String())
	}
}

// writeOrigin writes, as odoobot does next to the instances' sites,
// its default server into enabled (listening on httpPort and httpsPort,
// allowing cloudflare as Cloudflare's list) and the Cloudflare snippet
// under dir, nginx's configuration directory in these tests.
func writeOrigin(t *testing.T, dir, enabled string, httpPort, httpsPort int, cloudflare []string) {
	t.Helper()
	s := mustLoad(t)
	cert, key := selfSigned(t, dir, "default.invalid")
	def, err := s.DefaultServer(DefaultServer{ListenHTTP: httpPort, ListenHTTPS: httpsPort, CertFile: cert, KeyFile: key,
		CloudflareIPs: cloudflare, OriginLock: true, Source: "a test"})
	if err != nil {
		t.Fatal(err)
	}
	snip, err := s.CloudflareOrigin(CloudflareOrigin{CloudflareIPs: cloudflare, OriginLock: true, Source: "a test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "snippets"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, DefaultCloudflareSnippet), snip, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(enabled, "odoobot-default"), def, 0o644); err != nil {
		t.Fatal(err)
	}
}

// runNginxT writes the sites, odoobot's default server and Cloudflare
// snippet, and a main configuration into dir, with every file nginx
// writes (pid, logs, temp paths) inside dir, and runs `nginx -t -q` on it.
func runNginxT(t *testing.T, nginx, dir string, sites map[string][]byte) ([]byte, error) {
	t.Helper()
	enabled := filepath.Join(dir, "sites-enabled")
	if err := os.MkdirAll(enabled, 0o755); err != nil {
		t.Fatal(err)
	}
	writeOrigin(t, dir, enabled, 18080, 18443, CloudflareIPRanges())
	for name, b := range sites {
		if err := os.WriteFile(filepath.Join(enabled, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	conf := writeMainConf(t, dir, enabled, "")
	return exec.Command(nginx, "-t", "-q", "-p", dir+"/", "-c", conf, "-e", filepath.Join(dir, "error.log")).CombinedOutput()
}

// writeMainConf writes dir/nginx.conf: a main configuration whose http
// block includes every file of enabled, with the pid file, logs and temp
// paths inside dir; extra goes at the main level.
func writeMainConf(t *testing.T, dir, enabled, extra string) string {
	t.Helper()
	main := fmt.Sprintf(`%[3]s
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events {}
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[2]s/*;
}
`, dir, enabled, extra)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	return conf
}

func TestSitesPassNginxT(t *testing.T) {
	nginx := lookPath(t, "nginx", "/usr/sbin/nginx")
	s := mustLoad(t)
	for _, mode := range []string{ModeCloudflare, ModeLetsEncrypt, ModeHTTP} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			b, err := s.Site(testSite(t, dir, "prod-acme", mode, 0))
			if err != nil {
				t.Fatal(err)
			}
			nginxT(t, nginx, dir, map[string][]byte{"prod-acme": b})
		})
	}
}

// TestTwoInstancesPassNginxT enables two instances' sites together, in the
// same mode and in mixed modes: their upstreams, maps and TLS session
// caches must not collide.
func TestTwoInstancesPassNginxT(t *testing.T) {
	nginx := lookPath(t, "nginx", "/usr/sbin/nginx")
	s := mustLoad(t)
	cases := map[string][2]string{
		"cloudflare":             {ModeCloudflare, ModeCloudflare},
		"letsencrypt":            {ModeLetsEncrypt, ModeLetsEncrypt},
		"http":                   {ModeHTTP, ModeHTTP},
		"cloudflare+letsencrypt": {ModeCloudflare, ModeLetsEncrypt},
		"letsencrypt+http":       {ModeLetsEncrypt, ModeHTTP},
	}
	for name, modes := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			sites := map[string][]byte{}
			for i, inst := range []string{"prod-acme", "prod-acme-2"} {
				b, err := s.Site(testSite(t, dir, inst, modes[i], i))
				if err != nil {
					t.Fatal(err)
				}
				sites[inst] = b
			}
			nginxT(t, nginx, dir, sites)
		})
	}
}

// TestNginxTCatchesCollisions proves nginxT can fail: the same site
// included twice redefines its upstreams.
func TestNginxTCatchesCollisions(t *testing.T) {
	nginx := lookPath(t, "nginx", "/usr/sbin/nginx")
	s := mustLoad(t)
	dir := t.TempDir()
	b, err := s.Site(testSite(t, dir, "prod-acme", ModeHTTP, 0))
	if err != nil {
		t.Fatal(err)
	}
	out, err := runNginxT(t, nginx, dir, map[string][]byte{"a": b, "b": b})
	if err == nil {
		t.Fatalf("nginx -t accepted the same site twice:\n%s", out)
	}
	if !strings.Contains(string(out), "duplicate upstream") {
		t.Errorf("nginx -t failed for another reason than the duplicate upstream:\n%s", out)
	}
}
