package app

import (
	"context"

	"odoobot/provision"
)

// letsEncryptIssuer builds the Let's Encrypt issuer; nil when this host
// cannot serve letsencrypt mode.
func (a *App) letsEncryptIssuer(ctx context.Context, opt Options) (provision.CertIssuer, error) {
	return nil, nil
}

// StartRenewal starts the certificate renewal loop; it stops with ctx.
func (a *App) StartRenewal(ctx context.Context) {}
