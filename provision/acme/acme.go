// Package acme gives instances their TLS certificate in letsencrypt mode:
// certificates from an ACME server (Let's Encrypt production or staging,
// or pebble in tests) obtained in-process with lego, and renewed before
// they expire. Challenges are answered either over HTTP-01, through nginx
// from a webroot directory, or over DNS-01, through a DNSChallenger (the
// Cloudflare driver) when one is configured: DNS-01 works while the
// instance's A record is proxied, where HTTP-01 would reach Cloudflare's
// edge rather than this host.
package acme

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	legoacme "github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/certcrypto"
	"github.com/go-acme/lego/v5/certificate"
	"github.com/go-acme/lego/v5/lego"
	legolog "github.com/go-acme/lego/v5/log"
	"github.com/go-acme/lego/v5/providers/http/webroot"
	"github.com/go-acme/lego/v5/registration"

	"odoobot/internal/atomicfile"
	"odoobot/provision"
)

// DefaultBefore is how long before expiry a certificate is renewed, and
// how much validity an existing certificate must have left to be kept.
const DefaultBefore = 30 * 24 * time.Hour

// Config configures an Issuer.
type Config struct {
	// DirectoryURL is the ACME directory (ACME_DIRECTORY_URL); required.
	DirectoryURL string
	// Email is the account's contact address; "" registers none.
	Email string
	// AccountDir holds the ACME account: account.key (ECDSA P-256, mode
	// 0600) and account.json (its registration); required. The account
	// is made once and reused.
	AccountDir string
	// Webroot is where HTTP-01 challenge files are written, under
	// .well-known/acme-challenge/; nginx serves it on port 80; required
	// unless DNS is set.
	Webroot string
	// DNS, when set, answers DNS-01 challenges instead of HTTP-01: the
	// Issuer then writes nothing in the webroot and ignores
	// ChallengeAddr.
	DNS DNSChallenger
	// Nameservers ("host" or "host:port"), when set, are the only servers
	// asked whether the DNS-01 record is visible before the ACME server is
	// told to validate (tests give pebble-challtestsrv's). Empty keeps
	// lego's check: the system's resolvers, then the zone's authoritative
	// servers. lego also follows a CNAME at the challenge name through the
	// system's resolvers unless LEGO_DISABLE_CNAME_SUPPORT=true.
	Nameservers []string
	// ChallengeAddr is where this host's nginx answers plain HTTP
	// ("127.0.0.1:80"). When set, Renew first waits until a probe file
	// written in the webroot is served there for the domain, so that the
	// ACME server is not asked before a just-reloaded site is live; ""
	// skips the check.
	ChallengeAddr string
	// ChallengeWait bounds that wait; 0 means 15 s.
	ChallengeWait time.Duration
	// HTTPClient talks to the ACME server; nil means a client trusting
	// the system roots (set one trusting pebble's root in tests).
	HTTPClient *http.Client
	// Before: a certificate with less validity left is not kept by Issue;
	// 0 means DefaultBefore.
	Before time.Duration
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Issuer obtains Let's Encrypt certificates. It is safe for concurrent
// use; issuances run one at a time. It contacts the ACME server only
// when a certificate is first needed.
type Issuer struct {
	cfg Config

	mu     sync.Mutex // serialises issuance and guards client
	client *lego.Client
}

var _ provision.CertIssuer = (*Issuer)(nil)

// New checks cfg and creates the account and webroot directories. It
// does not contact the ACME server.
func New(cfg Config) (*Issuer, error) {
	if cfg.DirectoryURL == "" || cfg.AccountDir == "" || (cfg.Webroot == "" && cfg.DNS == nil) {
		return nil, errors.New("acme: DirectoryURL, AccountDir and Webroot (or DNS) are required")
	}
	if cfg.Before == 0 {
		cfg.Before = DefaultBefore
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ChallengeWait == 0 {
		cfg.ChallengeWait = 15 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	// lego logs through one process-wide logger, to stdout unless told
	// otherwise: its lines go to odoobot's log instead, never between a
	// CLI command's answers.
	legolog.SetDefault(cfg.Logger.With("component", "lego"))
	if err := os.MkdirAll(cfg.AccountDir, 0o700); err != nil {
		return nil, fmt.Errorf("acme: account dir: %w", err)
	}
	if cfg.Webroot != "" {
		if err := os.MkdirAll(cfg.Webroot, 0o755); err != nil {
			return nil, fmt.Errorf("acme: webroot: %w", err)
		}
	}
	return &Issuer{cfg: cfg}, nil
}

// Files are where an instance's certificate chain and key live in its
// certificate directory.
func Files(dir string) provision.CertFiles {
	return provision.CertFiles{Cert: filepath.Join(dir, "fullchain.pem"), Key: filepath.Join(dir, "privkey.pem")}
}

// Issue returns the instance's certificate, obtaining one for its domain
// (through HTTP-01, or DNS-01 when Config.DNS is set) unless dir already
// holds a certificate for the domain with more than Before left (then
// nothing is asked of the server). For HTTP-01 the challenge must be
// reachable: the instance's plain-HTTP site serves the webroot. For
// DNS-01 the TXT record is published and removed again around the
// validation. It writes fullchain.pem (leaf and chain, 0644) and privkey.pem
// (0600) into dir.
func (is *Issuer) Issue(ctx context.Context, inst provision.Instance, dir string) (provision.CertFiles, error) {
	f := Files(dir)
	if notAfter, names, err := ReadCert(f.Cert); err == nil && covers(names, inst.Domain) &&
		notAfter.Sub(is.cfg.Now()) > is.cfg.Before && exists(f.Key) {
		return f, nil
	}
	return is.Renew(ctx, inst, dir)
}

// Renew obtains a new certificate and key for the instance's domain,
// whatever dir holds, and replaces the files atomically (a reader sees
// the old pair or the new one). nginx must be reloaded to serve it.
func (is *Issuer) Renew(ctx context.Context, inst provision.Instance, dir string) (provision.CertFiles, error) {
	f := Files(dir)
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.cfg.DNS == nil {
		if err := is.waitChallenge(ctx, inst.Domain); err != nil {
			return f, err
		}
	}
	client, err := is.clientLocked(ctx)
	if err != nil {
		return f, err
	}
	key, err := certcrypto.GeneratePrivateKey(certcrypto.EC256)
	if err != nil {
		return f, fmt.Errorf("acme: key: %w", err)
	}
	res, err := client.Certificate.Obtain(ctx, certificate.ObtainRequest{
		Domains: []string{inst.Domain}, PrivateKey: key, Bundle: true,
	})
	if err != nil {
		return f, fmt.Errorf("acme: obtain a certificate for %s: %w", inst.Domain, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return f, fmt.Errorf("acme: %w", err)
	}
	if err := atomicfile.Write(f.Key, certcrypto.PEMEncode(key), 0o600); err != nil {
		return f, fmt.Errorf("acme: %w", err)
	}
	if err := atomicfile.Write(f.Cert, res.Certificate, 0o644); err != nil {
		return f, fmt.Errorf("acme: %w", err)
	}
	is.cfg.Logger.Info("certificate obtained", "domain", inst.Domain, "dir", dir)
	return f, nil
}

// Remove deletes the instance's certificate directory. The certificate
// is not revoked: it expires unused.
func (is *Issuer) Remove(ctx context.Context, inst provision.Instance, dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("acme: %w", err)
	}
	return nil
}

// clientLocked returns the lego client, registering the account or
// loading it on first use. is.mu must be held.
func (is *Issuer) clientLocked(ctx context.Context) (*lego.Client, error) {
	if is.client != nil {
		return is.client, nil
	}
	acct, err := is.loadAccount()
	if err != nil {
		return nil, err
	}
	lc := lego.NewConfig(acct)
	lc.CADirURL = is.cfg.DirectoryURL
	if is.cfg.HTTPClient != nil {
		lc.HTTPClient = is.cfg.HTTPClient
	}
	client, err := lego.NewClient(lc)
	if err != nil {
		return nil, fmt.Errorf("acme: connect to %s: %w", is.cfg.DirectoryURL, err)
	}
	if acct.Registration == nil {
		reg, err := client.Registration.Register(ctx, registration.RegisterOptions{TermsOfServiceAgreed: true})
		if err != nil {
			return nil, fmt.Errorf("acme: register the account at %s: %w", is.cfg.DirectoryURL, err)
		}
		acct.Registration = reg
		if err := is.saveAccount(acct); err != nil {
			return nil, err
		}
	}
	if is.cfg.DNS != nil {
		if err := client.Challenge.SetDNS01Provider(dnsProvider{dns: is.cfg.DNS}, dns01Options(is.cfg)...); err != nil {
			return nil, fmt.Errorf("acme: dns-01: %w", err)
		}
		is.client = client
		return client, nil
	}
	wr, err := webroot.NewHTTPProvider(is.cfg.Webroot)
	if err != nil {
		return nil, fmt.Errorf("acme: webroot %s: %w", is.cfg.Webroot, err)
	}
	if err := client.Challenge.SetHTTP01Provider(wr); err != nil {
		return nil, fmt.Errorf("acme: http-01: %w", err)
	}
	is.client = client
	return client, nil
}

// account is the ACME account, a registration.User.
type account struct {
	Directory    string                    `json:"directory"`
	Email        string                    `json:"email,omitempty"`
	Registration *legoacme.ExtendedAccount `json:"registration,omitempty"`
	key          crypto.Signer
}

func (a *account) GetEmail() string                           { return a.Email }
func (a *account) GetRegistration() *legoacme.ExtendedAccount { return a.Registration }
func (a *account) GetPrivateKey() crypto.Signer               { return a.key }

func (is *Issuer) keyPath() string  { return filepath.Join(is.cfg.AccountDir, "account.key") }
func (is *Issuer) jsonPath() string { return filepath.Join(is.cfg.AccountDir, "account.json") }

// loadAccount reads the account key (making it the first time) and the
// registration, which is kept only if it was made at the same directory
// with the same email.
func (is *Issuer) loadAccount() (*account, error) {
	a := &account{Directory: is.cfg.DirectoryURL, Email: is.cfg.Email}
	b, err := os.ReadFile(is.keyPath())
	switch {
	case err == nil:
		k, err := certcrypto.ParsePEMPrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("acme: account key %s: %w", is.keyPath(), err)
		}
		a.key = k
	case errors.Is(err, os.ErrNotExist):
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("acme: account key: %w", err)
		}
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, fmt.Errorf("acme: account key: %w", err)
		}
		if err := atomicfile.Write(is.keyPath(), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, fmt.Errorf("acme: account key: %w", err)
		}
		a.key = k
	default:
		return nil, fmt.Errorf("acme: account key: %w", err)
	}
	b, err = os.ReadFile(is.jsonPath())
	if errors.Is(err, os.ErrNotExist) {
		return a, nil
	}
	if err != nil {
		return nil, fmt.Errorf("acme: account: %w", err)
	}
	var stored account
	if err := json.Unmarshal(b, &stored); err != nil {
		return nil, fmt.Errorf("acme: account %s: %w", is.jsonPath(), err)
	}
	if stored.Directory == a.Directory && stored.Email == a.Email {
		a.Registration = stored.Registration
	}
	return a, nil
}

func (is *Issuer) saveAccount(a *account) error {
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return fmt.Errorf("acme: account: %w", err)
	}
	if err := atomicfile.Write(is.jsonPath(), b, 0o600); err != nil {
		return fmt.Errorf("acme: account: %w", err)
	}
	return nil
}

// ReadCert parses the first certificate of a PEM file (a leaf, or a full
// chain) and returns its expiry and the DNS names it covers.
func ReadCert(path string) (notAfter time.Time, names []string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}, nil, fmt.Errorf("acme: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return time.Time{}, nil, fmt.Errorf("acme: %s holds no PEM certificate", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return time.Time{}, nil, fmt.Errorf("acme: %s: %w", path, err)
	}
	return c.NotAfter, c.DNSNames, nil
}

func covers(names []string, domain string) bool {
	for _, n := range names {
		if n == domain {
			return true
		}
	}
	return false
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// waitChallenge writes a probe file in the webroot and waits until nginx
// serves it for domain at ChallengeAddr, as the ACME server will fetch
// the challenge.
func (is *Issuer) waitChallenge(ctx context.Context, domain string) error {
	if is.cfg.ChallengeAddr == "" {
		return nil
	}
	dir := filepath.Join(is.cfg.Webroot, ".well-known", "acme-challenge")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("acme: webroot: %w", err)
	}
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("acme: probe: %w", err)
	}
	token := "odoobot-probe-" + fmt.Sprintf("%x", b)
	path := filepath.Join(dir, token)
	if err := os.WriteFile(path, []byte(token), 0o644); err != nil {
		return fmt.Errorf("acme: probe: %w", err)
	}
	defer os.Remove(path)
	ctx, cancel := context.WithTimeout(ctx, is.cfg.ChallengeWait)
	defer cancel()
	client := &http.Client{
		Timeout:       5 * time.Second,
		Transport:     &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	url := "http://" + is.cfg.ChallengeAddr + "/.well-known/acme-challenge/" + token
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("acme: probe: %w", err)
		}
		req.Host = domain
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && string(body) == token {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("acme: the HTTP-01 challenge for %s is not served at http://%s/.well-known/acme-challenge/ (last: %s): is its plain-HTTP site enabled?", domain, is.cfg.ChallengeAddr, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
