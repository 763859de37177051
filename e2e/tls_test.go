package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"odoobot/internal/app"
	"odoobot/provision"
	"odoobot/provision/acme/acmetest"
	"odoobot/provision/cloudflare/cftest"
)

// createMode creates an instance in mode through the dispatcher, waits
// for the job (which may fail) and returns it with what the thread got. The instance and
// its certificate directory are removed when the test ends.
func createMode(t *testing.T, ctx context.Context, a *app.App, name string, mode provision.SSLMode) (provision.Job, *recorder) {
	t.Helper()
	destroyLater(t, a, name)
	certDir := a.Config.Layout().Paths(a.Config.Layout().NewInstance(name, mode)).CertDir
	t.Cleanup(func() { os.RemoveAll(certDir) })
	r, task := dispatch(t, ctx, a, "create "+name+" "+string(mode))
	if task == nil {
		t.Fatalf("create %s %s was not accepted:\n%s", name, mode, r.text())
	}
	job, err := task.Wait(ctx)
	if err != nil && ctx.Err() != nil {
		t.Fatalf("create %s: %v\n%s", name, err, r.text())
	}
	if err != nil && job.Error == "" {
		job.Error = err.Error()
	}
	return job, r
}

// requireReady fails unless the job succeeded and the instance is ready.
func requireReady(t *testing.T, ctx context.Context, a *app.App, name string, job provision.Job, r *recorder) provision.Instance {
	t.Helper()
	if job.State != provision.JobSucceeded {
		log := readFile(a.Config.Layout().Paths(a.Config.Layout().NewInstance(name, provision.SSLHTTP)).CreateLog)
		t.Fatalf("create %s: job %s: %s\nthread:\n%s\ncreation log:\n%s", name, job.State, job.Error, r.text(), log)
	}
	inst, err := a.Store.Instance(ctx, name)
	if err != nil || inst.State != provision.StateReady {
		t.Fatalf("instance %s after its creation: %+v, %v; want ready", name, inst, err)
	}
	return inst
}

// servedCert connects to nginx on 127.0.0.1:443 with SNI domain, as a
// browser trusting roots would, and returns the leaf certificate served.
func servedCert(t *testing.T, domain string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: &tls.Config{ServerName: domain, RootCAs: roots}}
	conn, err := d.DialContext(context.Background(), "tcp", "127.0.0.1:443")
	if err != nil {
		t.Fatalf("TLS to 127.0.0.1:443 with SNI %s: %v", domain, err)
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		t.Fatalf("TLS with SNI %s: no certificate", domain)
	}
	return certs[0]
}

// TestLetsEncryptCreate creates an instance in letsencrypt mode against
// pebble (a real ACME server) validating HTTP-01 on the sandbox's nginx
// (port 80): the challenge is answered through the instance's plain-HTTP
// site, the certificate is issued, the TLS site serves it, and the
// pipeline's verify step passes trusting pebble's root.
func TestLetsEncryptCreate(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	pebble := acmetest.Start(t, acmetest.Options{HTTPPort: 80})
	t.Setenv("ACME_DIRECTORY_URL", pebble.DirectoryURL)
	roots := pebble.Roots(t)
	env.trustRoots(t, pebble.RootsPEM(t))
	a, _ := env.newApp(t, app.Options{ACMERoots: pebble.ServerRoots})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	name := uniqueName(t, "le")
	job, r := createMode(t, ctx, a, name, provision.SSLLetsEncrypt)
	inst := requireReady(t, ctx, a, name, job, r)

	leaf := servedCert(t, inst.Domain, roots)
	if !slices.Contains(leaf.DNSNames, inst.Domain) {
		t.Errorf("nginx served a certificate for %v, want %s", leaf.DNSNames, inst.Domain)
	}
	if left := time.Until(leaf.NotAfter); left < 80*24*time.Hour {
		t.Errorf("the certificate has %v left, want about 90 days", left)
	}
	p := a.Config.Layout().Paths(inst)
	for file, want := range map[string]os.FileMode{"fullchain.pem": 0o644, "privkey.pem": 0o600} {
		st, err := os.Stat(p.CertDir + "/" + file)
		if err != nil {
			t.Errorf("%s: %v", file, err)
		} else if st.Mode().Perm() != want {
			t.Errorf("%s mode %o, want %o", file, st.Mode().Perm(), want)
		}
	}
	site := readFile(p.SiteAvail)
	for _, w := range []string{"listen 443 ssl", "/.well-known/acme-challenge/", p.CertDir + "/fullchain.pem"} {
		if !strings.Contains(site, w) {
			t.Errorf("the site %s lacks %q", p.SiteAvail, w)
		}
	}
	requireNginxTestPasses(t)

	// certs lists it with its expiry.
	cr, _ := dispatch(t, ctx, a, "certs")
	if out := cr.text(); !strings.Contains(out, inst.Name) || !strings.Contains(out, "letsencrypt") || !strings.Contains(out, leaf.NotAfter.UTC().Format("2006-01-02")) {
		t.Errorf("certs does not list %s's certificate (expires %s):\n%s", inst.Name, leaf.NotAfter.UTC().Format("2006-01-02"), out)
	}
}

// TestCloudflareCreate creates an instance in cloudflare mode against the
// Cloudflare double: its Origin CA certificate is served by nginx with
// SNI, one proxied A record is made for it; and a creation that fails at
// verify leaves neither a record nor certificate files.
func TestCloudflareCreate(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	cf := cftest.New(os.Getenv("CF_ZONE_NAME"), "e2e-token")
	t.Setenv("CF_API_BASE_URL", cf.Start())
	t.Cleanup(cf.Close)
	t.Setenv("CF_API_TOKEN", "e2e-token")
	t.Setenv("PUBLIC_IP", "127.0.0.1")
	env.trustRoots(t, cf.CACertPEM())
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	name := uniqueName(t, "cf")
	job, r := createMode(t, ctx, a, name, provision.SSLCloudflare)
	inst := requireReady(t, ctx, a, name, job, r)

	leaf := servedCert(t, inst.Domain, cf.CAPool())
	if !slices.Contains(leaf.DNSNames, inst.Domain) {
		t.Errorf("nginx served a certificate for %v, want %s", leaf.DNSNames, inst.Domain)
	}
	creates := 0
	for _, req := range cf.Requests() {
		if req.Method == "POST" && strings.HasSuffix(req.Path, "/dns_records") {
			creates++
		}
	}
	recs := recordsOf(cf, inst.Domain)
	if creates != 1 || len(recs) != 1 {
		t.Fatalf("%d record creations, records for %s: %+v; want exactly one", creates, inst.Domain, recs)
	}
	if rec := recs[0]; rec.Type != "A" || rec.Content != "127.0.0.1" || !rec.Proxied {
		t.Errorf("record %+v, want a proxied A to 127.0.0.1", rec)
	}
	requireNginxTestPasses(t)

	// A creation failing at its last checked step undoes the record and
	// the certificate.
	failing, _ := env.newApp(t, app.Options{FailAt: provision.StepVerify})
	bad := uniqueName(t, "cf-fail")
	job, r = createMode(t, ctx, failing, bad, provision.SSLCloudflare)
	if job.State == provision.JobSucceeded {
		t.Fatalf("create %s succeeded with a failure injected at verify:\n%s", bad, r.text())
	}
	requireNoRecord(t, cf, failing.Config.NameRules().Domain(bad))
	certDir := failing.Config.Layout().Paths(failing.Config.Layout().NewInstance(bad, provision.SSLCloudflare)).CertDir
	if _, err := os.Stat(certDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the failed creation left its certificate directory %s (%v)", certDir, err)
	}
	requireGone(t, ctx, failing, bad)
	if _, err := a.Store.Instance(ctx, name); err != nil {
		t.Errorf("the failed creation disturbed %s: %v", name, err)
	}
	servedCert(t, inst.Domain, cf.CAPool())
}
