package app

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"odoobot/provision"
	"odoobot/provision/nginx"
)

// OldCertDir is where instances' certificates were kept before they
// moved beside nginx's configuration (provision.Layout.CertDir):
// <STATE_DIR>/certs.
func OldCertDir(stateDir string) string { return filepath.Join(stateDir, "certs") }

// RepairCertificates makes nginx's configuration independent of
// odoobot's state directory at start, before anything tests or reloads
// nginx: the default server's certificate is made again when it is
// missing (nginx.EnsureSelfSigned), and the certificates of the TLS
// instances of the store still in <STATE_DIR>/certs (a server set up
// before) are moved beside nginx's configuration and their sites
// rewritten (nginx.CertHome.Repair). An instance whose certificate is in
// neither place is served a placeholder, so that nginx starts, and this
// is alerted; its certificate is then asked for again in the background
// (cloudflare mode: from the Origin CA at once; letsencrypt mode: by the
// renewal pass StartRenewal makes at start). A failure is alerted and
// does not stop serve.
func (a *App) RepairCertificates(ctx context.Context) {
	cfg := a.Config
	if _, _, err := nginx.EnsureSelfSigned(OriginCertDir(cfg.NginxConf)); err != nil {
		a.Log.Warn("nginx: the default server's certificate could not be made", "err", err)
	}
	list, err := a.Store.Instances(ctx)
	if err != nil {
		a.Alert(ctx, "the instances' certificates could not be checked at start: "+err.Error())
		return
	}
	byInternal := map[string]provision.Instance{}
	var names []string
	for _, inst := range list {
		if inst.SSLMode.TLS() {
			byInternal[inst.Internal] = inst
			names = append(names, inst.Internal)
		}
	}
	if len(names) == 0 {
		return
	}
	layout := cfg.Layout()
	home := &nginx.CertHome{Sites: a.originWiring.origin.Sites, Old: OldCertDir(cfg.StateDir), New: layout.CertDir}
	res, err := home.Repair(ctx, names)
	if err != nil {
		a.Alert(ctx, "the instances' certificates could not be moved beside nginx's configuration ("+layout.CertDir+"): "+err.Error()+
			"; their sites still name "+home.Old+", which nginx needs until odoobot's next start moves them")
	}
	var again []provision.Instance
	var moved []string
	for _, r := range res {
		inst := byInternal[r.Site]
		switch {
		case r.Err != nil:
			a.Alert(ctx, fmt.Sprintf("the certificate of %s could not be checked at start: %v", inst.Name, r.Err))
		case r.Placeholder:
			a.Alert(ctx, fmt.Sprintf("the certificate of %s (%s) was missing (neither in %s nor in %s): nginx serves it a placeholder (an expired self-signed certificate) so that nginx starts; odoobot asks for a new one now, and `certs` shows it",
				inst.Name, inst.Domain, layout.Paths(inst).CertDir, filepath.Join(home.Old, inst.Internal)))
			again = append(again, inst)
		case r.Moved:
			moved = append(moved, inst.Name)
		}
	}
	if len(moved) > 0 {
		a.Log.Info("nginx: certificates moved beside nginx's configuration", "instances", strings.Join(moved, ","), "dir", layout.CertDir)
	}
	if len(again) > 0 {
		go a.issueAgain(ctx, again)
	}
}

// issueAgain asks for a new certificate for each instance served a
// placeholder, then tests and reloads nginx. letsencrypt instances are
// left to the renewal pass (StartRenewal), which sees the placeholder
// does not cover their domain.
func (a *App) issueAgain(ctx context.Context, list []provision.Instance) {
	layout := a.Config.Layout()
	issued := 0
	for _, inst := range list {
		if inst.SSLMode == provision.SSLLetsEncrypt {
			continue
		}
		is := a.certIssuers[inst.SSLMode]
		if is == nil {
			a.Alert(ctx, fmt.Sprintf("the certificate of %s cannot be asked for again: this server has no issuer for %s mode (CF_API_TOKEN or CF_ORIGIN_CERT)", inst.Name, inst.SSLMode))
			continue
		}
		if _, err := is.Issue(ctx, inst, layout.Paths(inst).CertDir); err != nil {
			a.Alert(ctx, fmt.Sprintf("the certificate of %s could not be issued again: %v", inst.Name, err))
			continue
		}
		issued++
	}
	if issued == 0 {
		return
	}
	sites := a.originWiring.origin.Sites
	if err := sites.Test(ctx); err != nil {
		a.Alert(ctx, "nginx refused the certificates issued again: "+err.Error())
		return
	}
	if err := a.Services.Reload(ctx, "nginx.service"); err != nil {
		a.Alert(ctx, "nginx could not be reloaded with the certificates issued again: "+err.Error())
		return
	}
	a.Log.Warn("nginx: certificates issued again in place of placeholders", "count", issued)
}
