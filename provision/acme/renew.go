package acme

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"odoobot/provision"
)

// Lister gives the instances whose certificates the Renewer looks after
// (the state store).
type Lister interface {
	Instances(ctx context.Context) ([]provision.Instance, error)
}

// DefaultRenewInterval is how often Run looks for certificates to renew.
const DefaultRenewInterval = 12 * time.Hour

// Renewer renews the certificates of ready letsencrypt instances before
// they expire. Instances, Layout and Issuer are required.
type Renewer struct {
	Instances Lister
	Layout    provision.Layout // gives each instance's certificate dir
	Issuer    *Issuer
	// Before: a certificate expiring within it (or missing, or not naming
	// the domain) is renewed; 0 means DefaultBefore.
	Before time.Duration
	// Reload, when set, is called once after a pass that renewed any
	// certificate, so nginx serves the new ones.
	Reload func(ctx context.Context) error
	// Report, when set, is told of each instance whose renewal failed
	// (inst is the zero Instance for a failure of the pass itself: the
	// listing, the reload).
	Report func(inst provision.Instance, err error)
	Now    func() time.Time // nil means time.Now
	Logger *slog.Logger
}

// RenewDue makes one pass: it renews every due certificate, reloads
// nginx if any was renewed, and returns the instances renewed. Every
// failure is reported; the returned error joins them.
func (r *Renewer) RenewDue(ctx context.Context) ([]string, error) {
	now, before, log := time.Now, r.Before, r.Logger
	if r.Now != nil {
		now = r.Now
	}
	if before == 0 {
		before = DefaultBefore
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	report := func(inst provision.Instance, err error) {
		if r.Report != nil {
			r.Report(inst, err)
		}
	}
	all, err := r.Instances.Instances(ctx)
	if err != nil {
		err = fmt.Errorf("acme: renew: list instances: %w", err)
		report(provision.Instance{}, err)
		return nil, err
	}
	var renewed []string
	var errs []error
	for _, inst := range all {
		if inst.SSLMode != provision.SSLLetsEncrypt || inst.State != provision.StateReady {
			continue
		}
		dir := r.Layout.Paths(inst).CertDir
		notAfter, names, rerr := ReadCert(Files(dir).Cert)
		if rerr == nil && covers(names, inst.Domain) && notAfter.Sub(now()) > before {
			continue
		}
		log.Info("renewing certificate", "instance", inst.Name, "domain", inst.Domain, "not_after", notAfter)
		if _, err := r.Issuer.Renew(ctx, inst, dir); err != nil {
			err = fmt.Errorf("acme: renew %s: %w", inst.Name, err)
			log.Error("certificate renewal failed", "instance", inst.Name, "err", err)
			report(inst, err)
			errs = append(errs, err)
			continue
		}
		renewed = append(renewed, inst.Name)
	}
	if len(renewed) > 0 && r.Reload != nil {
		if err := r.Reload(ctx); err != nil {
			err = fmt.Errorf("acme: renew: reload nginx: %w", err)
			report(provision.Instance{}, err)
			errs = append(errs, err)
		}
	}
	return renewed, errors.Join(errs...)
}

// Run makes a pass at once and then every interval (0 means
// DefaultRenewInterval) until ctx ends.
func (r *Renewer) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultRenewInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		_, _ = r.RenewDue(ctx) // failures went to Report
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
