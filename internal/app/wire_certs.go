package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"odoobot/provision"
	"odoobot/provision/acme"
)

// letsEncryptIssuer builds the Let's Encrypt issuer; nil when this host
// cannot serve letsencrypt mode (no ACME_DIRECTORY_URL). It answers
// HTTP-01 challenges from <STATE_DIR>/acme-webroot, which every
// instance's plain-HTTP site serves, and keeps the ACME account under
// <STATE_DIR>/acme. It does not contact the ACME server.
func (a *App) letsEncryptIssuer(ctx context.Context, opt Options) (provision.CertIssuer, error) {
	is, err := a.newACMEIssuer(opt.ACMERoots)
	if err != nil || is == nil {
		return nil, err
	}
	return is, nil
}

// newACMEIssuer is the issuer for this configuration, trusting roots
// (nil: the system's) for the ACME server's HTTPS; nil without a
// directory URL.
func (a *App) newACMEIssuer(roots *x509.CertPool) (*acme.Issuer, error) {
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
	return acme.New(acme.Config{
		DirectoryURL: cfg.ACMEDirectory, Email: cfg.ACMEEmail,
		AccountDir: filepath.Join(cfg.StateDir, "acme"),
		Webroot:    filepath.Join(cfg.StateDir, "acme-webroot"),
		// Instances' sites listen on port 80 (CreatorConfig.ListenHTTP).
		ChallengeAddr: "127.0.0.1:80",
		HTTPClient:    client, Logger: a.Log,
	})
}

// StartRenewal starts the certificate renewal loop: every 12 hours it
// renews the certificates of letsencrypt instances that expire within 30
// days, then reloads nginx. Failures are logged. It stops with ctx.
func (a *App) StartRenewal(ctx context.Context) {
	is, err := a.newACMEIssuer(nil)
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
			a.Log.Error("certificate renewal failed", slog.String("instance", inst.Name), slog.Any("err", err))
		},
		Logger: a.Log,
	}
	go r.Run(ctx, acme.DefaultRenewInterval)
}
