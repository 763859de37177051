package nginx

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// certFixture is a host with one TLS instance site (prod-a, a.test)
// whose certificate is in the old place, <state>/certs/prod-a.
type certFixture struct {
	h         *host
	home      *CertHome
	state     string
	oldDir    string
	newDir    string
	cert, key []byte // the instance's pair
	pool      *x509.CertPool
	site      []byte // the site naming the old place
	availPath string
	ctx       context.Context
}

func newCertFixture(t *testing.T) *certFixture {
	t.Helper()
	h := startNginx(t, false)
	f := &certFixture{h: h, state: t.TempDir(), ctx: context.Background()}
	f.home = &CertHome{Sites: h.sites, Old: filepath.Join(f.state, "certs"), New: filepath.Join(t.TempDir(), "odoobot", "certs")}
	f.oldDir, f.newDir = filepath.Join(f.home.Old, "prod-a"), filepath.Join(f.home.New, "prod-a")
	made := selfSigned(t, t.TempDir(), "a.test")
	f.pool = made.pool
	f.cert, f.key = mustRead(t, made.cert), mustRead(t, made.key)
	if err := os.MkdirAll(f.oldDir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(f.oldDir, CertFile), f.cert, 0o644)
	writeFile(t, filepath.Join(f.oldDir, KeyFile), f.key, 0o600)
	f.site = site{name: "prod-a", host: "a.test", b: startBackend(t, "a"),
		tls: &certPEM{cert: filepath.Join(f.oldDir, CertFile), key: filepath.Join(f.oldDir, KeyFile)}}.text(h)
	if err := h.sites.Install(f.ctx, "prod-a", f.site); err != nil {
		t.Fatal(err)
	}
	f.availPath = filepath.Join(h.avail, "prod-a")
	return f
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path string, b []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, b, mode); err != nil {
		t.Fatal(err)
	}
}

// served is the leaf nginx serves for SNI a.test over TLS.
func (f *certFixture) served(t *testing.T) *x509.Certificate {
	t.Helper()
	var last error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", f.h.httpsPort), &tls.Config{ServerName: "a.test", InsecureSkipVerify: true})
		if err != nil {
			last = err
			continue
		}
		leaf := conn.ConnectionState().PeerCertificates[0]
		conn.Close()
		return leaf
	}
	t.Fatalf("TLS to nginx with SNI a.test: %v", last)
	return nil
}

// requireMoved checks, as an auditor would, that the site names the
// certificate beside nginx and nothing in the state directory, that the
// files are there with their modes, and that nginx passes its test.
func (f *certFixture) requireMoved(t *testing.T) {
	t.Helper()
	site := string(mustRead(t, f.availPath))
	if strings.Contains(site, f.state) || !strings.Contains(site, filepath.Join(f.newDir, CertFile)+";") || !strings.Contains(site, filepath.Join(f.newDir, KeyFile)+";") {
		t.Errorf("the site does not name the certificate in %s alone:\n%s", f.newDir, site)
	}
	for path, want := range map[string]os.FileMode{f.newDir: os.ModeDir | 0o700, f.home.New: os.ModeDir | 0o700,
		filepath.Join(f.newDir, CertFile): 0o644, filepath.Join(f.newDir, KeyFile): 0o600} {
		st, err := os.Lstat(path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
		} else if st.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, st.Mode(), want)
		}
	}
	if err := f.h.sites.Test(f.ctx); err != nil {
		t.Errorf("nginx -t after the repair: %v", err)
	}
}

// TestCertHomeMovesCertificates: a server set up before keeps an
// instance's certificate in STATE_DIR/certs. Repair copies it beside
// nginx, rewrites the site, reloads and removes the old copy; nginx then
// serves the same certificate with the state directory gone. A second
// Repair changes and reloads nothing.
func TestCertHomeMovesCertificates(t *testing.T) {
	f := newCertFixture(t)
	res, err := f.home.Repair(f.ctx, []string{"prod-a"})
	if err != nil || len(res) != 1 || !res[0].Moved || res[0].Placeholder || res[0].Err != nil {
		t.Fatalf("Repair: %+v, %v; want prod-a moved", res, err)
	}
	f.requireMoved(t)
	if !bytes.Equal(mustRead(t, filepath.Join(f.newDir, CertFile)), f.cert) || !bytes.Equal(mustRead(t, filepath.Join(f.newDir, KeyFile)), f.key) {
		t.Error("the files beside nginx are not the instance's certificate and key")
	}
	if _, err := os.Lstat(f.oldDir); !os.IsNotExist(err) {
		t.Errorf("the old copy %s is still there (%v)", f.oldDir, err)
	}
	if err := os.RemoveAll(f.state); err != nil {
		t.Fatal(err)
	}
	if err := f.h.sites.Test(f.ctx); err != nil {
		t.Errorf("nginx -t with the state directory gone: %v", err)
	}
	if err := f.h.reload(f.ctx); err != nil {
		t.Fatal(err)
	}
	if leaf := f.served(t); !slices.Contains(leaf.DNSNames, "a.test") {
		t.Errorf("nginx serves a certificate for %v, want a.test's", leaf.DNSNames)
	}

	site, reloads := mustRead(t, f.availPath), f.h.reloads.Load()
	res, err = f.home.Repair(f.ctx, []string{"prod-a"})
	if err != nil || len(res) != 1 || res[0].Moved || res[0].Placeholder || res[0].Err != nil {
		t.Errorf("Repair again: %+v, %v; want nothing done", res, err)
	}
	if !bytes.Equal(site, mustRead(t, f.availPath)) || f.h.reloads.Load() != reloads {
		t.Errorf("Repair again changed the site or reloaded nginx (%d reloads, was %d)", f.h.reloads.Load(), reloads)
	}
}

// TestCertHomeInterrupted: a Repair killed after the copy (the site
// still names the old place) or after the rewrite (the old copy still
// there), or during the copy (only the key written) is finished by the
// next one, with the instance's own files.
func TestCertHomeInterrupted(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state func(t *testing.T, f *certFixture)
	}{
		{"after the copy", func(t *testing.T, f *certFixture) {
			os.MkdirAll(f.newDir, 0o700)
			writeFile(t, filepath.Join(f.newDir, CertFile), f.cert, 0o644)
			writeFile(t, filepath.Join(f.newDir, KeyFile), f.key, 0o600)
		}},
		{"after the rewrite", func(t *testing.T, f *certFixture) {
			os.MkdirAll(f.newDir, 0o700)
			writeFile(t, filepath.Join(f.newDir, CertFile), f.cert, 0o644)
			writeFile(t, filepath.Join(f.newDir, KeyFile), f.key, 0o600)
			writeFile(t, f.availPath, bytes.ReplaceAll(f.site, []byte(f.oldDir), []byte(f.newDir)), 0o644)
		}},
		{"during the copy", func(t *testing.T, f *certFixture) {
			os.MkdirAll(f.newDir, 0o700)
			writeFile(t, filepath.Join(f.newDir, KeyFile), f.key, 0o600)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newCertFixture(t)
			tc.state(t, f)
			res, err := f.home.Repair(f.ctx, []string{"prod-a"})
			if err != nil || len(res) != 1 || res[0].Placeholder || res[0].Err != nil {
				t.Fatalf("Repair: %+v, %v", res, err)
			}
			f.requireMoved(t)
			if !bytes.Equal(mustRead(t, filepath.Join(f.newDir, CertFile)), f.cert) || !bytes.Equal(mustRead(t, filepath.Join(f.newDir, KeyFile)), f.key) {
				t.Error("the files beside nginx are not the instance's certificate and key")
			}
			if _, err := os.Lstat(f.oldDir); !os.IsNotExist(err) {
				t.Errorf("the old copy %s is still there (%v)", f.oldDir, err)
			}
		})
	}
}

// TestCertHomePlaceholder: a certificate lost in both places (the site
// names a file that is gone: nginx -t fails, nginx would not start) is
// replaced by a placeholder that names no domain and has expired, so
// that nginx starts and nothing takes it for the instance's.
func TestCertHomePlaceholder(t *testing.T) {
	f := newCertFixture(t)
	if err := os.RemoveAll(f.oldDir); err != nil {
		t.Fatal(err)
	}
	if err := f.h.sites.Test(f.ctx); err == nil {
		t.Fatal("nginx -t passes with the certificate gone: the test tests nothing")
	}
	res, err := f.home.Repair(f.ctx, []string{"prod-a"})
	if err != nil || len(res) != 1 || !res[0].Placeholder || res[0].Moved || res[0].Err != nil {
		t.Fatalf("Repair: %+v, %v; want a placeholder for prod-a", res, err)
	}
	f.requireMoved(t)
	leaf := f.served(t)
	if len(leaf.DNSNames) != 0 || !leaf.NotAfter.Before(time.Now()) {
		t.Errorf("the placeholder names %v and ends %s; want no name, expired", leaf.DNSNames, leaf.NotAfter)
	}
}

// TestCertHomeRefusesHostileOldFiles: what the old directory holds is
// copied only when it is root's regular files reached without a link: a
// link to a directory, or to a file elsewhere (a secret of the host),
// is not followed, and a file of another user is not taken; the site
// gets a placeholder and what the links pointed at is left untouched.
func TestCertHomeRefusesHostileOldFiles(t *testing.T) {
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, f *certFixture, secret string)
	}{
		{"directory link", func(t *testing.T, f *certFixture, secret string) {
			elsewhere := filepath.Join(t.TempDir(), "theirs")
			if err := os.Rename(f.oldDir, elsewhere); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(elsewhere, KeyFile), []byte(secret), 0o600)
			if err := os.Symlink(elsewhere, f.oldDir); err != nil {
				t.Fatal(err)
			}
		}},
		{"key link", func(t *testing.T, f *certFixture, secret string) {
			target := filepath.Join(t.TempDir(), "shadow")
			writeFile(t, target, []byte(secret), 0o600)
			os.Remove(filepath.Join(f.oldDir, KeyFile))
			if err := os.Symlink(target, filepath.Join(f.oldDir, KeyFile)); err != nil {
				t.Fatal(err)
			}
		}},
		{"not root's", func(t *testing.T, f *certFixture, secret string) {
			writeFile(t, filepath.Join(f.oldDir, KeyFile), []byte(secret), 0o600)
			if err := os.Chown(filepath.Join(f.oldDir, KeyFile), 65534, 65534); err != nil {
				t.Skipf("chown: %v (needs root)", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newCertFixture(t)
			secret := "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n"
			tc.plant(t, f, secret)
			res, err := f.home.Repair(f.ctx, []string{"prod-a"})
			if err != nil || len(res) != 1 || !res[0].Placeholder || res[0].Err != nil {
				t.Fatalf("Repair: %+v, %v; want a placeholder", res, err)
			}
			f.requireMoved(t)
			if key := mustRead(t, filepath.Join(f.newDir, KeyFile)); bytes.Equal(key, []byte(secret)) || bytes.Equal(key, f.key) {
				t.Error("the key beside nginx was copied through what was planted")
			}
		})
	}
}

// TestCertHomeLeavesOtherSites: a site naming a certificate elsewhere
// (a shared CF_ORIGIN_CERT) is left as it is, nothing is made for it and
// what the old directory holds under its name is kept; a site that is
// not there is skipped.
func TestCertHomeLeavesOtherSites(t *testing.T) {
	h := startNginx(t, false)
	shared := selfSigned(t, t.TempDir(), "b.test")
	text := site{name: "prod-b", host: "b.test", b: startBackend(t, "b"), tls: shared}.text(h)
	if err := h.sites.Install(context.Background(), "prod-b", text); err != nil {
		t.Fatal(err)
	}
	home := &CertHome{Sites: h.sites, Old: filepath.Join(t.TempDir(), "certs"), New: filepath.Join(t.TempDir(), "certs")}
	kept := filepath.Join(home.Old, "prod-b", CertFile)
	if err := os.MkdirAll(filepath.Dir(kept), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, kept, mustRead(t, shared.cert), 0o644)
	reloads := h.reloads.Load()
	res, err := home.Repair(context.Background(), []string{"prod-b", "prod-gone"})
	if err != nil || len(res) != 2 || res[0].Moved || res[0].Placeholder || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("Repair: %+v, %v; want nothing done", res, err)
	}
	if got := mustRead(t, filepath.Join(h.avail, "prod-b")); !bytes.Equal(got, text) {
		t.Errorf("the site was changed:\n%s", got)
	}
	if _, err := os.Lstat(filepath.Join(home.New, "prod-b")); !os.IsNotExist(err) {
		t.Errorf("a certificate directory was made for prod-b (%v)", err)
	}
	if h.reloads.Load() != reloads {
		t.Error("nginx was reloaded")
	}
	if _, err := os.Stat(kept); err != nil {
		t.Errorf("the old directory's file of a site naming no certificate there was removed: %v", err)
	}
}

// TestCertHomeRefusedKeepsOld: when nginx refuses the configuration for
// a reason of its own (another site is broken), the rewritten sites are
// put back and the old copies kept: no site is left naming a file that
// is not there.
func TestCertHomeRefusedKeepsOld(t *testing.T) {
	f := newCertFixture(t)
	broken := filepath.Join(f.h.avail, "zz-broken")
	writeFile(t, broken, []byte("this is not nginx;\n"), 0o644)
	if err := os.Symlink(broken, filepath.Join(f.h.enabled, "zz-broken")); err != nil {
		t.Fatal(err)
	}
	_, err := f.home.Repair(f.ctx, []string{"prod-a"})
	if err == nil {
		t.Fatal("Repair passed with nginx refusing its configuration")
	}
	if got := mustRead(t, f.availPath); !bytes.Equal(got, f.site) {
		t.Errorf("the site was not put back:\n%s", got)
	}
	for _, file := range []string{CertFile, KeyFile} {
		if _, err := os.Stat(filepath.Join(f.oldDir, file)); err != nil {
			t.Errorf("the old copy the site names is gone: %v", err)
		}
	}
}
