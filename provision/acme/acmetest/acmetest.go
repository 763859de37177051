// Package acmetest runs a real ACME server for tests: pebble, with
// pebble-challtestsrv as its DNS server so that every name resolves to
// 127.0.0.1, validating HTTP-01 challenges on a port the test chooses
// (where its nginx, or a file server on the webroot, listens), and DNS-01
// challenges against the TXT records the test puts in challtestsrv
// (SetTXT).
package acmetest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"odoobot/internal/testenv"
)

// Pebble is a running pebble; it stops when the test ends.
type Pebble struct {
	// DirectoryURL is the ACME directory (https://127.0.0.1:PORT/dir).
	DirectoryURL string
	// HTTPClient trusts pebble's own HTTPS certificate.
	HTTPClient *http.Client
	// ServerRoots holds the CA of pebble's own HTTPS listener.
	ServerRoots *x509.CertPool
	// ServerRootsPEM is that CA in PEM, for a process of its own
	// (lego's LEGO_CA_CERTIFICATES names a file holding it).
	ServerRootsPEM []byte

	// DNSAddr is pebble-challtestsrv's DNS server (127.0.0.1:PORT), the
	// one pebble resolves through: the nameserver to check DNS-01
	// records against.
	DNSAddr string

	mgmt      string // https://127.0.0.1:PORT of the management interface
	challMgmt string // http://127.0.0.1:PORT of challtestsrv's management interface
	cmds      []*exec.Cmd
}

// Options tune Start.
type Options struct {
	// HTTPPort is where pebble connects to validate HTTP-01 challenges;
	// 0 picks a free port where nothing listens (for DNS-01 only).
	HTTPPort int
	// Validity of the issued certificates; 0 means 90 days, like Let's
	// Encrypt.
	Validity time.Duration
}

// Start runs pebble-challtestsrv and pebble on free loopback ports and
// waits until pebble's directory answers. It skips (or fails under make
// test) when pebble is not installed.
func Start(t testing.TB, o Options) *Pebble {
	t.Helper()
	bin := testenv.LookPath(t, "pebble")
	chall := testenv.LookPath(t, "pebble-challtestsrv")
	if o.HTTPPort == 0 {
		o.HTTPPort = FreePort(t)
	}
	if o.Validity == 0 {
		o.Validity = 90 * 24 * time.Hour
	}
	dir := t.TempDir()
	certPEM, keyPEM, pool, caPEM := serverCert(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	write(t, certFile, certPEM)
	write(t, keyFile, keyPEM)

	dnsPort, mgmtChall := FreePort(t), FreePort(t)
	p := &Pebble{
		ServerRoots: pool, ServerRootsPEM: caPEM,
		DNSAddr:   "127.0.0.1:" + strconv.Itoa(dnsPort),
		challMgmt: "http://127.0.0.1:" + strconv.Itoa(mgmtChall),
	}
	p.start(t, dir, "pebble-challtestsrv", chall,
		"-dns01", "127.0.0.1:"+strconv.Itoa(dnsPort), "-http01", "", "-https01", "", "-tlsalpn01", "",
		"-management", "127.0.0.1:"+strconv.Itoa(mgmtChall),
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "")

	acmePort, mgmtPort := FreePort(t), FreePort(t)
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress":                  "127.0.0.1:" + strconv.Itoa(acmePort),
		"managementListenAddress":        "127.0.0.1:" + strconv.Itoa(mgmtPort),
		"certificate":                    certFile,
		"privateKey":                     keyFile,
		"httpPort":                       o.HTTPPort,
		"tlsPort":                        FreePort(t),
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"certificateValidityPeriod":      uint64(o.Validity / time.Second),
	}}
	b, err := json.Marshal(conf)
	if err != nil {
		t.Fatal(err)
	}
	confFile := filepath.Join(dir, "pebble.json")
	write(t, confFile, b)
	p.start(t, dir, "pebble", bin, "-config", confFile, "-dnsserver", "127.0.0.1:"+strconv.Itoa(dnsPort))

	p.DirectoryURL = "https://127.0.0.1:" + strconv.Itoa(acmePort) + "/dir"
	p.mgmt = "https://127.0.0.1:" + strconv.Itoa(mgmtPort)
	p.HTTPClient = &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := p.HTTPClient.Get(p.DirectoryURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not answer at %s: %v (logs in %s)", p.DirectoryURL, err, dir)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return p
}

// Roots returns the pool of the root that signs the certificates pebble
// issues (from its management interface, /roots/0). Pebble makes a new
// root each time it starts.
func (p *Pebble) Roots(t testing.TB) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if b := p.RootsPEM(t); !pool.AppendCertsFromPEM(b) {
		t.Fatalf("pebble root: no PEM certificate in %q", b)
	}
	return pool
}

// RootsPEM is pebble's root certificate, PEM, as Roots trusts it.
func (p *Pebble) RootsPEM(t testing.TB) []byte {
	t.Helper()
	resp, err := p.HTTPClient.Get(p.mgmt + "/roots/0")
	if err != nil {
		t.Fatalf("pebble root: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("pebble root: %s %v", resp.Status, err)
	}
	return b
}

// SetTXT adds value to the TXT records challtestsrv answers for host
// (a name, with or without its trailing dot), as pebble will see them
// when it validates a DNS-01 challenge. It returns an error rather than
// failing a test, so that it can be called from any goroutine.
func (p *Pebble) SetTXT(host, value string) error {
	return p.challPost("/set-txt", map[string]string{"host": fqdn(host), "value": value})
}

// ClearTXT removes every TXT record challtestsrv answers for host.
func (p *Pebble) ClearTXT(host string) error {
	return p.challPost("/clear-txt", map[string]string{"host": fqdn(host)})
}

func fqdn(host string) string {
	if len(host) > 0 && host[len(host)-1] == '.' {
		return host
	}
	return host + "."
}

func (p *Pebble) challPost(path string, body map[string]string) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("acmetest: %w", err)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Post(p.challMgmt+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("acmetest: challtestsrv %s: %w", path, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("acmetest: challtestsrv %s: %s %s", path, resp.Status, msg)
	}
	return nil
}

func (p *Pebble) start(t testing.TB, dir, name, bin string, args ...string) {
	t.Helper()
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_VA_ALWAYS_VALID=0", "PEBBLE_AUTHZREUSE=0", "PEBBLE_WFE_NONCEREJECT=0")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logf.Name()); err == nil {
				t.Logf("%s log:\n%s", name, tail(b, 4000))
			}
		}
	})
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// FreePort returns a TCP port free on 127.0.0.1 now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// serverCert makes a CA and a certificate for 127.0.0.1 and localhost
// signed by it, for pebble's own HTTPS listeners.
func serverCert(t testing.TB) (certPEM, keyPEM []byte, pool *x509.CertPool, caPEM []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "acmetest pebble listener CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(caCert)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), pool,
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
}

func write(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(fmt.Errorf("acmetest: %w", err))
	}
}
