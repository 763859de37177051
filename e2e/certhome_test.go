package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"odoobot/internal/app"
	"odoobot/provision"
	"odoobot/provision/acme/acmetest"
	"odoobot/provision/cloudflare/cftest"
)

// TestInstanceCertificatesBesideNginx: a TLS instance's certificate and
// key live beside nginx's configuration, not in odoobot's STATE_DIR, so
// that a lost state directory does not stop nginx (every instance would
// go down at the next reload or reboot). A server set up before keeps
// them in STATE_DIR/certs: serve moves them at start and rewrites the
// site. A certificate lost in both places does not stop nginx either:
// the site is served a placeholder and the operator is told.
func TestInstanceCertificatesBesideNginx(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	state := filepath.Join(env.root, "state")
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	env.set(t, "STATE_DIR", state)
	cf := cftest.New(os.Getenv("CF_ZONE_NAME"), "e2e-token")
	env.set(t, "CF_API_BASE_URL", cf.Start())
	t.Cleanup(cf.Close)
	env.set(t, "CF_API_TOKEN", "e2e-token")
	env.set(t, "PUBLIC_IP", "127.0.0.1")
	env.trustRoots(t, cf.CACertPEM())
	cfg := env.config(t)
	keepDefaultSite(t, cfg.NginxAvailable, cfg.NginxEnabled)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	name := uniqueName(t, "cert")
	job, r := createMode(t, ctx, a, name, provision.SSLCloudflare)
	inst := requireReady(t, ctx, a, name, job, r)
	p := a.Config.Layout().Paths(inst)
	newCert, newKey := filepath.Join(p.CertDir, "fullchain.pem"), filepath.Join(p.CertDir, "privkey.pem")

	// A new instance: nothing of its site is in STATE_DIR.
	requireSiteCertsOutside(t, p.SiteAvail, state)
	requireCertFiles(t, p.CertDir, state)

	// The state directory lost: nginx still passes its test, reloads and
	// serves the instance its certificate.
	lost := state + ".lost"
	if err := os.Rename(state, lost); err != nil {
		t.Fatal(err)
	}
	requireNginxTestPasses(t)
	reloadNginx(t)
	requireServedBy(t, inst.Domain, cf.CAPool())
	if err := os.Rename(lost, state); err != nil {
		t.Fatal(err)
	}

	// A server set up before: the certificate in STATE_DIR/certs, the
	// site naming it there. serve moves it beside nginx at start.
	old := filepath.Join(state, "certs", inst.Internal)
	if err := os.MkdirAll(old, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"fullchain.pem", "privkey.pem"} {
		if err := os.Rename(filepath.Join(p.CertDir, f), filepath.Join(old, f)); err != nil {
			t.Fatal(err)
		}
	}
	os.Remove(p.CertDir)
	site := readFile(p.SiteAvail)
	oldSite := strings.ReplaceAll(site, p.CertDir+"/", old+"/")
	if err := os.WriteFile(p.SiteAvail, []byte(oldSite), 0o644); err != nil {
		t.Fatal(err)
	}
	reloadNginx(t)
	out := serveBriefly(t, ctx, env, nil, "certs\n", 30*time.Second, func(out string) bool { return strings.Contains(out, name) })
	if got := readFile(p.SiteAvail); strings.Contains(got, state) || !strings.Contains(got, newCert) || !strings.Contains(got, newKey) {
		t.Errorf("after serve's start the site %s still names STATE_DIR or not %s:\n%s", p.SiteAvail, p.CertDir, got)
	}
	requireCertFiles(t, p.CertDir, state)
	if _, err := os.Lstat(old); !os.IsNotExist(err) {
		t.Errorf("the old certificate directory %s is still there (%v)", old, err)
	}
	if !strings.Contains(out, p.CertDir) {
		t.Errorf("certs does not show %s's certificate in %s:\n%s", name, p.CertDir, out)
	}
	requireNginxTestPasses(t)
	reloadNginx(t)
	requireServedBy(t, inst.Domain, cf.CAPool())

	// The certificate lost in both places (here the site names a file that
	// is gone: nginx would refuse to start). serve puts a placeholder in
	// its place, says so, and has the instance's certificate issued again.
	if err := os.RemoveAll(p.CertDir); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command(nginxBinary, "-t").Run(); err == nil {
		t.Fatal("nginx -t passes with the instance's certificate gone: the test does not test anything")
	}
	reissued := func(string) bool { return servedByOK(inst.Domain, cf.CAPool()) }
	out = serveBriefly(t, ctx, env, nil, "", 60*time.Second, reissued)
	requireNginxTestPasses(t)
	for _, want := range []string{"certificate of " + name, "placeholder"} {
		if !strings.Contains(out, want) {
			t.Errorf("serve does not say %q:\n%s", want, out)
		}
	}
	reloadNginx(t)
	requireServedBy(t, inst.Domain, cf.CAPool())
	requireCertFiles(t, p.CertDir, state)
}

// requireSiteCertsOutside checks that no ssl_certificate or
// ssl_certificate_key of the site names a file in STATE_DIR. (A
// letsencrypt site's ACME webroot may be there: a missing root does not
// stop nginx, it only fails a challenge until the renewal makes it again.)
func requireSiteCertsOutside(t *testing.T, site, state string) {
	t.Helper()
	text := readFile(site)
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, "ssl_certificate") && strings.Contains(line, state) {
			t.Errorf("the site %s names a certificate in STATE_DIR %s:\n%s", site, state, text)
			return
		}
	}
}

// requireCertFiles checks an instance's certificate directory as an
// auditor would: outside STATE_DIR, root's, mode 0700, the key 0600.
func requireCertFiles(t *testing.T, dir, state string) {
	t.Helper()
	if strings.HasPrefix(dir, state+"/") {
		t.Errorf("the certificate directory %s is in STATE_DIR %s", dir, state)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, filepath.Join(dir, "privkey.pem"): 0o600, filepath.Join(dir, "fullchain.pem"): 0o644} {
		st, err := os.Lstat(path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if st.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, st.Mode(), want)
		}
	}
}

// reloadNginx reloads the sandbox's nginx as odoobot does.
func reloadNginx(t *testing.T) {
	t.Helper()
	if out, err := exec.Command("systemctl", "reload", "nginx.service").CombinedOutput(); err != nil {
		t.Errorf("reload nginx: %v\n%s", err, out)
	}
}

// servedByOK reports whether nginx serves domain a certificate for it
// that roots trust.
func servedByOK(domain string, roots *x509.CertPool) bool {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{ServerName: domain, RootCAs: roots}}
	conn, err := d.DialContext(context.Background(), "tcp", "127.0.0.1:443")
	if err != nil {
		return false
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	return len(certs) > 0 && slices.Contains(certs[0].DNSNames, domain)
}

// requireServedBy waits a few seconds (a reload returns before the new
// configuration is live) for nginx to serve domain its certificate.
func requireServedBy(t *testing.T, domain string, roots *x509.CertPool) {
	t.Helper()
	if !waitFor(10*time.Second, func() bool { return servedByOK(domain, roots) }) {
		leaf := servedCert(t, domain, roots)
		t.Errorf("nginx serves %s a certificate for %v", domain, leaf.DNSNames)
	}
}

// TestLetsEncryptCertificateBesideNginx: a letsencrypt instance (pebble,
// HTTP-01 through the sandbox's nginx) is served over TLS with odoobot's
// state directory lost; its certificate lost too, serve's start puts a
// placeholder so that nginx starts, and the renewal pass made at start
// obtains a certificate for the domain again.
func TestLetsEncryptCertificateBesideNginx(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	state := filepath.Join(env.root, "state")
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	env.set(t, "STATE_DIR", state)
	pebble := acmetest.Start(t, acmetest.Options{HTTPPort: 80})
	env.set(t, "ACME_DIRECTORY_URL", pebble.DirectoryURL)
	// serve, a process of its own, trusts pebble's listener as an
	// operator's lego would be told to.
	serverRoots := filepath.Join(env.root, "pebble-listener.pem")
	if err := os.WriteFile(serverRoots, pebble.ServerRootsPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	env.set(t, "LEGO_CA_CERTIFICATES", serverRoots)
	roots := pebble.Roots(t)
	env.trustRoots(t, pebble.RootsPEM(t))
	cfg := env.config(t)
	keepDefaultSite(t, cfg.NginxAvailable, cfg.NginxEnabled)
	a, _ := env.newApp(t, app.Options{ACMERoots: pebble.ServerRoots})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	name := uniqueName(t, "lecert")
	job, r := createMode(t, ctx, a, name, provision.SSLLetsEncrypt)
	inst := requireReady(t, ctx, a, name, job, r)
	p := a.Config.Layout().Paths(inst)
	requireSiteCertsOutside(t, p.SiteAvail, state)
	requireCertFiles(t, p.CertDir, state)

	lost := state + ".lost"
	if err := os.Rename(state, lost); err != nil {
		t.Fatal(err)
	}
	requireNginxTestPasses(t)
	reloadNginx(t)
	requireServedBy(t, inst.Domain, roots)
	if err := os.Rename(lost, state); err != nil {
		t.Fatal(err)
	}

	if err := os.RemoveAll(p.CertDir); err != nil {
		t.Fatal(err)
	}
	renewed := func(string) bool { return servedByOK(inst.Domain, roots) }
	out := serveBriefly(t, ctx, env, nil, "", 2*time.Minute, renewed)
	requireNginxTestPasses(t)
	for _, want := range []string{"certificate of " + name, "placeholder"} {
		if !strings.Contains(out, want) {
			t.Errorf("serve does not say %q:\n%s", want, out)
		}
	}
	requireServedBy(t, inst.Domain, roots)
	requireCertFiles(t, p.CertDir, state)
}
