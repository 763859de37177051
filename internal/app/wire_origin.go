package app

import (
	"context"
	"path/filepath"
	"sync"
	"time"

	"odoobot/provision/cloudflare"
	"odoobot/provision/nginx"
	"odoobot/templates"
)

// OriginRefreshInterval is how often serve fetches Cloudflare's list of
// address ranges again.
const OriginRefreshInterval = 24 * time.Hour

// originFetchTimeout bounds one fetch of Cloudflare's list made in the
// background; a fetch that serve's start waits for is bounded by
// CF_REQUEST_TIMEOUT instead.
const originFetchTimeout = time.Minute

// originWiring is odoobot's own part of nginx (the default server and the
// Cloudflare snippet) and the cache of Cloudflare's list it is written
// from.
type originWiring struct {
	origin *nginx.Origin
	ips    *cloudflare.IPRangesCache
	// fetches is whether this host serves cloudflare mode (CF_API_TOKEN
	// or CF_ORIGIN_CERT): only then is Cloudflare's list fetched.
	fetches   bool
	firstOnce sync.Once
	// firstFetch bounds the one fetch a start waits for, when no list was
	// ever fetched (CF_REQUEST_TIMEOUT).
	firstFetch time.Duration
}

// newOrigin wires the origin over sites: the default server's
// certificate beside nginx's configuration (OriginCertDir), so that
// nginx starts whatever becomes of odoobot's state; Cloudflare's list
// cached in <STATE_DIR>/cloudflare-ips.json, fetched from
// CF_API_BASE_URL.
func (a *App) newOrigin(sites *nginx.Sites, tpl *templates.Set) *originWiring {
	cfg := a.Config
	w := &originWiring{fetches: cfg.ManagesDNS() || cfg.OriginCert != "", firstFetch: cfg.CFRequestTimeout}
	w.ips = &cloudflare.IPRangesCache{
		Path: filepath.Join(cfg.StateDir, "cloudflare-ips.json"),
		Fetch: func(ctx context.Context) (cloudflare.IPRanges, error) {
			return cloudflare.FetchIPRanges(ctx, cfg.CFBaseURL, nil)
		},
		Fallback: templates.CloudflareIPRanges(),
		Logger:   a.Log,
	}
	w.origin = &nginx.Origin{
		Sites: sites, Templates: tpl, CertDir: OriginCertDir(cfg.NginxConf),
		Lock: cfg.OriginLock, Ranges: w.ranges, Logger: a.Log,
	}
	return w
}

// OriginCertDir is where the default server's self-signed certificate
// is kept: odoobot/ in the directory of nginx's main configuration conf
// (Debian: /etc/nginx/odoobot), with nginx's own files.
func OriginCertDir(conf string) string {
	return filepath.Join(filepath.Dir(conf), "odoobot")
}

// ranges is Cloudflare's list for the origin files: the cached one; when
// none was ever fetched and this host serves cloudflare mode, one fetch
// is tried first (once per process); the built-in copy as a last resort.
func (w *originWiring) ranges(ctx context.Context) ([]string, string) {
	if w.fetches && !w.ips.Cached() {
		w.firstOnce.Do(func() {
			ctx, cancel := context.WithTimeout(ctx, w.firstFetch)
			defer cancel()
			if _, err := w.ips.Refresh(ctx); err != nil {
				w.origin.Logger.Warn("cloudflare: could not fetch Cloudflare's IP ranges; using odoobot's built-in copy until a fetch succeeds", "err", err)
			}
		})
	}
	return w.ips.Current()
}

// StartOrigin puts odoobot's default server and Cloudflare snippet in
// place (nginx.Origin.Ensure) with the list odoobot has (when none was
// ever fetched and this host serves cloudflare mode, one fetch bounded by
// CF_REQUEST_TIMEOUT is tried first, then the built-in copy), so that a
// slow or silent Cloudflare never holds serve's start. Then, in the
// background, it fetches the list at once and again every
// OriginRefreshInterval until ctx ends, rewriting the files and reloading
// nginx when it changed. A failed fetch keeps the list odoobot has and is
// logged; a change that nginx refuses is alerted. Ensure's failure at
// start (another site is nginx's default server, nginx's configuration
// is broken, NGINX_CONF is wrong) does not stop serve: the chat comes up,
// and the failure is alerted, saying that creations may fail until it
// is fixed; the next start tries again.
func (a *App) StartOrigin(ctx context.Context) {
	w := a.originWiring
	if err := w.origin.Ensure(ctx); err != nil {
		a.Alert(ctx, "odoobot's default server could not be put in nginx at start: "+err.Error()+
			"; instances already served go on, a creation or a change of a site may fail until it is fixed (odoobot tries again at its next start)")
	}
	if !w.fetches {
		return
	}
	go func() {
		t := time.NewTicker(OriginRefreshInterval)
		defer t.Stop()
		for first := true; ; first = false {
			if !first {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
			fctx, cancel := context.WithTimeout(ctx, originFetchTimeout)
			changed, err := w.ips.Refresh(fctx)
			cancel()
			if err != nil {
				a.Log.Warn("cloudflare: could not fetch Cloudflare's IP ranges; keeping the list odoobot has", "err", err)
				continue
			}
			if !changed {
				continue
			}
			if err := w.origin.Ensure(ctx); err != nil {
				a.Alert(ctx, "Cloudflare published new IP ranges but nginx refused odoobot's files for them: "+err.Error())
			}
		}
	}()
}
