package acme_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/provision"
	"odoobot/provision/acme"
	"odoobot/provision/acme/acmetest"
)

// env is pebble validating on a port where a Go file server serves the
// webroot, as nginx's challenge location does.
type env struct {
	pebble  *acmetest.Pebble
	webroot string
	state   string
	layout  provision.Layout
	srv     *http.Server
	addr    string // where srv listens
}

func newEnv(t *testing.T) *env {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{webroot: filepath.Join(t.TempDir(), "webroot"), state: t.TempDir(), addr: l.Addr().String()}
	e.layout = provision.Layout{CertDir: filepath.Join(e.state, "certs")}
	e.srv = &http.Server{Handler: http.FileServer(http.Dir(e.webroot)), ReadHeaderTimeout: 5 * time.Second}
	go e.srv.Serve(l)
	t.Cleanup(func() { e.srv.Close() })
	e.pebble = acmetest.Start(t, acmetest.Options{HTTPPort: l.Addr().(*net.TCPAddr).Port})
	return e
}

func (e *env) issuer(t *testing.T, now func() time.Time) *acme.Issuer {
	t.Helper()
	is, err := acme.New(acme.Config{
		DirectoryURL: e.pebble.DirectoryURL, Email: "ops@example.com",
		AccountDir: filepath.Join(e.state, "acme"), Webroot: e.webroot,
		HTTPClient: e.pebble.HTTPClient, Now: now,
		ChallengeAddr: e.addr, ChallengeWait: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return is
}

func instance(name string) provision.Instance {
	return provision.Instance{
		Name: name, Internal: "prod-" + name, Domain: name + ".example.com",
		SSLMode: provision.SSLLetsEncrypt, State: provision.StateReady,
	}
}

// leaf reads the chain at path and verifies it against roots for domain.
func leaf(t *testing.T, path, domain string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var chain []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, c)
	}
	if len(chain) < 2 {
		t.Fatalf("%s holds %d certificates, want the leaf and its chain", path, len(chain))
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{DNSName: domain, Roots: roots, Intermediates: inter}); err != nil {
		t.Fatalf("%s does not verify for %s against pebble's root: %v", path, domain, err)
	}
	return chain[0]
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func TestIssueKeepRenew(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now()
	var clock struct {
		sync.Mutex
		t time.Time
	}
	clock.t = now
	tick := func() time.Time { clock.Lock(); defer clock.Unlock(); return clock.t }
	is := e.issuer(t, tick)
	inst := instance("acme")
	dir := e.layout.Paths(inst).CertDir

	files, err := is.Issue(ctx, inst, dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(files, acme.Files(dir)); diff != "" {
		t.Errorf("files (-got +want):\n%s", diff)
	}
	roots := e.pebble.Roots(t)
	first := leaf(t, files.Cert, inst.Domain, roots)
	if got := mode(t, files.Key); got != 0o600 {
		t.Errorf("privkey.pem mode %o, want 600", got)
	}
	if got := mode(t, files.Cert); got != 0o644 {
		t.Errorf("fullchain.pem mode %o, want 644", got)
	}
	if got := mode(t, filepath.Join(e.state, "acme", "account.key")); got != 0o600 {
		t.Errorf("account.key mode %o, want 600", got)
	}
	if left := time.Until(first.NotAfter); left < 80*24*time.Hour {
		t.Errorf("certificate valid %v, want about 90 days", left)
	}
	notAfter, names, err := acme.ReadCert(files.Cert)
	if err != nil || !notAfter.Equal(first.NotAfter) || !cmp.Equal(names, []string{inst.Domain}) {
		t.Errorf("ReadCert = %v %v %v, want %v [%s]", notAfter, names, err, first.NotAfter, inst.Domain)
	}

	// A second Issue, even from a new Issuer on the same account, keeps it.
	if _, err := e.issuer(t, tick).Issue(ctx, inst, dir); err != nil {
		t.Fatal(err)
	}
	if again := leaf(t, files.Cert, inst.Domain, roots); again.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Errorf("second Issue replaced a valid certificate (serial %v → %v)", first.SerialNumber, again.SerialNumber)
	}

	// The renewer does nothing now, and renews 70 days later.
	reloads := 0
	var reports []string
	r := &acme.Renewer{
		Instances: lister{inst, {Name: "plain", Internal: "prod-plain", Domain: "plain.example.com", SSLMode: provision.SSLHTTP, State: provision.StateReady}},
		Layout:    e.layout, Issuer: is, Now: tick,
		Reload: func(context.Context) error { reloads++; return nil },
		Report: func(inst provision.Instance, err error) { reports = append(reports, inst.Name+": "+err.Error()) },
	}
	if got, err := r.RenewDue(ctx); err != nil || len(got) != 0 || reloads != 0 {
		t.Fatalf("RenewDue on a fresh certificate = %v, %v (reloads %d), want nothing done", got, err, reloads)
	}
	clock.Lock()
	clock.t = now.Add(70 * 24 * time.Hour)
	clock.Unlock()
	got, err := r.RenewDue(ctx)
	if err != nil || !cmp.Equal(got, []string{"acme"}) {
		t.Fatalf("RenewDue 70 days later = %v, %v, want [acme]", got, err)
	}
	renewed := leaf(t, files.Cert, inst.Domain, roots)
	if renewed.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Error("renewal kept the old certificate")
	}
	if reloads != 1 || len(reports) != 0 {
		t.Errorf("after renewal: %d reloads, reports %q; want 1 and none", reloads, reports)
	}

	// 150 days later, with nothing answering the challenge, renewal fails
	// and is reported, the old certificate stays and nginx is not reloaded.
	e.srv.Close()
	clock.Lock()
	clock.t = now.Add(150 * 24 * time.Hour)
	clock.Unlock()
	got, err = r.RenewDue(ctx)
	if err == nil || len(got) != 0 {
		t.Fatalf("RenewDue without the challenge server = %v, %v, want an error", got, err)
	}
	if len(reports) != 1 || !strings.HasPrefix(reports[0], "acme: ") {
		t.Errorf("reports = %q, want one for acme", reports)
	}
	if still := leaf(t, files.Cert, inst.Domain, roots); still.SerialNumber.Cmp(renewed.SerialNumber) != 0 {
		t.Error("a failed renewal replaced the certificate")
	}
	if reloads != 1 {
		t.Errorf("reloads = %d after a failed renewal, want still 1", reloads)
	}

	if err := is.Remove(ctx, inst, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Remove left %s: %v", dir, err)
	}
}

// TestIssueFailsWithoutChallenge: an unreachable challenge is an error
// naming the domain, and writes no files: found by the probe before the
// ACME server is asked, or by the ACME server's validation without it.
func TestIssueFailsWithoutChallenge(t *testing.T) {
	e := newEnv(t)
	e.srv.Close()
	for name, probe := range map[string]bool{"probe": true, "validation": false} {
		t.Run(name, func(t *testing.T) {
			is := e.issuer(t, nil)
			if !probe {
				var err error
				is, err = acme.New(acme.Config{
					DirectoryURL: e.pebble.DirectoryURL, AccountDir: filepath.Join(e.state, "acme"),
					Webroot: e.webroot, HTTPClient: e.pebble.HTTPClient,
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			inst := instance("no" + name)
			dir := e.layout.Paths(inst).CertDir
			_, err := is.Issue(context.Background(), inst, dir)
			if err == nil || !strings.Contains(err.Error(), inst.Domain) {
				t.Fatalf("Issue = %v, want an error naming %s", err, inst.Domain)
			}
			if probe != strings.Contains(err.Error(), "is not served at") {
				t.Errorf("Issue = %v; the probe found it: %v", err, probe)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a failed Issue left %s", dir)
			}
		})
	}
}

type lister []provision.Instance

func (l lister) Instances(context.Context) ([]provision.Instance, error) { return l, nil }
