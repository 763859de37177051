package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"odoobot/provision"
	"odoobot/provision/acme"
	"odoobot/provision/cloudflare"
)

// letsEncryptIssuer builds the Let's Encrypt issuer; nil when this host
// cannot serve letsencrypt mode (no ACME_DIRECTORY_URL). When odoobot
// manages DNS (CF_API_TOKEN) it answers DNS-01 challenges with TXT
// records in the Cloudflare zone, which works while the A record is
// proxied; otherwise HTTP-01 challenges from <STATE_DIR>/acme-webroot,
// which every instance's plain-HTTP site serves. It keeps the ACME
// account under <STATE_DIR>/acme. It does not contact the ACME server.
func (a *App) letsEncryptIssuer(ctx context.Context, opt Options) (provision.CertIssuer, error) {
	is, err := a.newACMEIssuer(ctx, opt.ACMERoots, opt.ACMENameservers)
	if err != nil || is == nil {
		return nil, err
	}
	return is, nil
}

// newACMEIssuer is the issuer for this configuration, trusting roots
// (nil: the system's) for the ACME server's HTTPS; nil without a
// directory URL. With a Cloudflare token it uses DNS-01 through its own
// Cloudflare client, built like New's (building one does no I/O), and
// checks that the TXT record is visible at nameservers (nil: lego's
// defaults, the system's resolvers then the zone's authoritative
// servers).
func (a *App) newACMEIssuer(ctx context.Context, roots *x509.CertPool, nameservers []string) (*acme.Issuer, error) {
	cfg := a.Config
	if cfg.ACMEDirectory == "" {
		return nil, nil
	}
	var client *http.Client
	if roots != nil {
		client = &http.Client{
			Timeout: 2 * time.Minute,
			Transport: &http.Transport{
				Proxy:           http.ProxyFromEnvironment,
				TLSClientConfig: &tls.Config{RootCAs: roots},
			},
		}
	}
	var dns acme.DNSChallenger
	if cfg.ManagesDNS() {
		cf, err := cloudflare.New(ctx, a.cloudflareConfig())
		if err != nil {
			return nil, err
		}
		dns = cf
	}
	return acme.New(acme.Config{
		DirectoryURL: cfg.ACMEDirectory, Email: cfg.ACMEEmail,
		AccountDir: filepath.Join(cfg.StateDir, "acme"),
		Webroot:    filepath.Join(cfg.StateDir, "acme-webroot"),
		// Instances' sites listen on port 80 (provision.Config.ListenHTTP).
		ChallengeAddr: "127.0.0.1:80",
		DNS:           dns, Nameservers: nameservers,
		HTTPClient: client, Logger: a.Log,
	})
}

// StartRenewal starts the certificate renewal loop: every 12 hours it
// renews the certificates of letsencrypt instances that expire within 30
// days, then reloads nginx. Failures are logged. It stops with ctx.
func (a *App) StartRenewal(ctx context.Context) {
	is, err := a.newACMEIssuer(ctx, nil, nil)
	if err != nil {
		a.Log.Error("certificate renewal is off", "err", err)
		return
	}
	if is == nil {
		return
	}
	r := &acme.Renewer{
		Instances: a.Store, Layout: a.Config.Layout(), Issuer: is,
		Reload: func(ctx context.Context) error { return a.Services.Reload(ctx, "nginx.service") },
		Report: func(inst provision.Instance, err error) {
			a.Alert(ctx, fmt.Sprintf("certificate renewal failed for %s (%s): %v", inst.Name, inst.Domain, err))
		},
		Logger: a.Log,
	}
	go r.Run(ctx, acme.DefaultRenewInterval)
}
