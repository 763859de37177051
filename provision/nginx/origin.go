package nginx

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/renameio/v2"

	"odoobot/internal/atomicfile"
	"odoobot/provision"
	"odoobot/templates"
)

// DefaultSiteName is the site odoobot installs for itself beside the
// instances' sites (<Enabled>/odoobot-default): see templates.DefaultServer.
const DefaultSiteName = "odoobot-default"

// Origin keeps odoobot's own part of nginx's configuration, which every
// instance's site relies on:
//   - the site DefaultSiteName: catch-all default servers on the HTTP and
//     HTTPS ports, refusing every request that names no instance, with a
//     self-signed certificate made here (CertDir/default-server.crt and
//     .key, the key 0600), and the geo that tells Cloudflare's addresses
//     for the origin lock;
//   - the snippet every cloudflare site includes
//     (templates.DefaultCloudflareSnippet, under the directory of nginx's
//     main configuration): Cloudflare's ranges for CF-Connecting-IP and,
//     when Lock, the refusal of every other peer but loopback;
//   - in the default site, nginx's server_names_hash_bucket_size and
//     variables_hash_bucket_size, large enough for the longest domain and
//     map variable provision's name rules accept
//     (provision.NginxServerNamesHashBucketSize), unless the host's own
//     configuration sets them.
//
// Both files are written from the same list, by Ensure, through Sites' tested
// path.
type Origin struct {
	Sites     *Sites
	Templates *templates.Set
	// CertDir holds the catch-all's self-signed certificate; created 0700.
	CertDir string
	// ListenHTTP and ListenHTTPS are the instances' ports (0: 80 and 443).
	ListenHTTP, ListenHTTPS int
	// Lock is CF_ORIGIN_LOCK: cloudflare sites answer only Cloudflare's
	// ranges and loopback.
	Lock bool
	// Ranges returns Cloudflare's current list and where it comes from
	// (for a comment in the files).
	Ranges func(ctx context.Context) (ranges []string, source string)
	// Logger receives what was done; nil discards.
	Logger *slog.Logger

	// hashes are the hash bucket sizes the default server sets.
	hashes hashSizes
}

func (o *Origin) log() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// SnippetPath is the file cloudflare sites include: DefaultCloudflareSnippet
// under the directory of nginx's main configuration.
func (o *Origin) SnippetPath() string {
	return filepath.Join(filepath.Dir(o.Sites.mainConf()), templates.DefaultCloudflareSnippet)
}

// Ensure makes nginx's configuration hold odoobot's default server and
// Cloudflare snippet as they should be now: the certificate is made when
// missing, unreadable or within 30 days of its end; the files are
// rendered from Ranges; when they and the link are already as rendered
// and nothing else needs doing, nothing is written, tested or reloaded.
// Otherwise Debian's stock default site, when enabled and unmodified, is
// disabled (its link removed, the file kept in <Available>) and said so
// in the log; the snippet is written and the default site installed
// through Install's tested path, which reloads nginx. A refusal by
// `nginx -t` puts back the previous snippet and the stock site's link,
// and, when another site declares default_server, says what to do. When
// `nginx -t` says a hash bucket size the default site sets is set twice
// (the host's own configuration sets it), the default site is rendered
// again without it, said so in the log, and installed.
func (o *Origin) Ensure(ctx context.Context) error {
	cert, key, err := EnsureSelfSigned(o.CertDir)
	if err != nil {
		return fmt.Errorf("nginx: default server: %w", err)
	}
	ranges, source := o.Ranges(ctx)
	snippet, err := o.Templates.CloudflareOrigin(templates.CloudflareOrigin{CloudflareIPs: ranges, OriginLock: o.Lock, Source: source})
	if err != nil {
		return fmt.Errorf("nginx: default server: %w", err)
	}
	for {
		d := templates.DefaultServer{
			ListenHTTP: o.ListenHTTP, ListenHTTPS: o.ListenHTTPS, CertFile: cert, KeyFile: key,
			CloudflareIPs: ranges, OriginLock: o.Lock, Source: source,
		}
		o.hashes.apply(&d)
		site, err := o.Templates.DefaultServer(d)
		if err != nil {
			return fmt.Errorf("nginx: default server: %w", err)
		}
		changed, err := o.Sites.installOrigin(ctx, o.SnippetPath(), snippet, site)
		if hd, dup := o.hashes.learnDuplicate(err); dup {
			o.log().Warn("nginx: the host's own configuration sets "+hd.name+", so odoobot's default server leaves it to the host; "+
				"with less than what odoobot would set, nginx -t refuses an instance whose names are longer than that size holds",
				"directive", hd.name, "odoobot_would_set", hd.size)
			continue
		}
		if err != nil {
			return err
		}
		if changed {
			o.log().Info("nginx: odoobot's default server and Cloudflare snippet installed",
				"site", filepath.Join(o.Sites.cfg.Enabled, DefaultSiteName), "snippet", o.SnippetPath(),
				"origin_lock", o.Lock, "cloudflare_ranges", len(ranges), "source", source)
		}
		return nil
	}
}

// Guarded returns o.Sites as a provision.SiteManager whose Install first
// runs Ensure, so that no site goes in before the default server and the
// snippet a cloudflare site includes.
func (o *Origin) Guarded() provision.SiteManager { return guarded{o} }

type guarded struct{ o *Origin }

func (g guarded) Install(ctx context.Context, name string, site []byte) error {
	if err := g.o.Ensure(ctx); err != nil {
		return fmt.Errorf("nginx: install %s: %w", name, err)
	}
	return g.o.Sites.Install(ctx, name, site)
}

func (g guarded) Remove(ctx context.Context, name string) error {
	return g.o.Sites.Remove(ctx, name)
}

func (g guarded) Verify(ctx context.Context, host string, useTLS bool, roots *x509.CertPool) error {
	return g.o.Sites.Verify(ctx, host, useTLS, roots)
}

// installOrigin writes snippet at snippetPath and installs site as
// DefaultSiteName, under one hold of the lock; see Origin.Ensure. It
// reports whether anything changed.
func (s *Sites) installOrigin(ctx context.Context, snippetPath string, snippet, site []byte) (changed bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	avail := filepath.Join(s.cfg.Available, DefaultSiteName)
	oldSnippet, err := os.ReadFile(snippetPath)
	hadSnippet := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("nginx: read %s: %w", snippetPath, err)
	}
	stock, err := s.stockDefaultEnabled()
	if err != nil {
		return false, err
	}
	if !stock && hadSnippet && bytes.Equal(oldSnippet, snippet) {
		oldSite, err := os.ReadFile(avail)
		target, linked, _ := readLink(filepath.Join(s.cfg.Enabled, DefaultSiteName))
		if err == nil && bytes.Equal(oldSite, site) && linked && target == avail {
			return false, nil
		}
	}

	var undo []func() error
	rollback := func() error {
		var errs []error
		for i := len(undo) - 1; i >= 0; i-- {
			errs = append(errs, undo[i]())
		}
		return errors.Join(errs...)
	}
	if stock {
		link := filepath.Join(s.cfg.Enabled, "default")
		target, _, _ := readLink(link)
		if err := os.Remove(link); err != nil {
			return false, fmt.Errorf("nginx: disable Debian's stock default site %s: %w", link, err)
		}
		undo = append(undo, func() error { return renameio.Symlink(target, link) })
		s.log.Warn("nginx: disabled Debian's stock default site: it answered every request naming no site with nginx's welcome page; odoobot's default server refuses them instead. Its file stays in sites-available",
			"link", link, "file", target)
	}
	if !hadSnippet || !bytes.Equal(oldSnippet, snippet) {
		if err := os.MkdirAll(filepath.Dir(snippetPath), 0o755); err != nil {
			return false, errors.Join(fmt.Errorf("nginx: %w", err), rollback())
		}
		if err := atomicfile.Write(snippetPath, snippet, 0o644); err != nil {
			return false, errors.Join(fmt.Errorf("nginx: %w", err), rollback())
		}
		undo = append(undo, func() error {
			if hadSnippet {
				return atomicfile.Write(snippetPath, oldSnippet, 0o644)
			}
			if err := os.Remove(snippetPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			return nil
		})
	}
	if err := s.install(ctx, DefaultSiteName, site); err != nil {
		if rerr := rollback(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("nginx: putting back the previous files: %w", rerr))
		}
		var te *TestError
		if errors.As(err, &te) && strings.Contains(te.Output, "duplicate default server") {
			which := "another site"
			if others := s.otherDefaultServers(); len(others) > 0 {
				which = strings.Join(others, ", ")
			}
			return false, fmt.Errorf("nginx: %s is nginx's default server, so odoobot cannot install its own (%s), which refuses every request naming no instance instead of letting the first site loaded answer it. "+
				"Remove default_server from that site's listen lines, or disable the site (remove its link in %s), then start odoobot again: %w",
				which, filepath.Join(s.cfg.Enabled, DefaultSiteName), s.cfg.Enabled, err)
		}
		return false, err
	}
	return true, nil
}

// otherDefaultServers lists the enabled sites, other than odoobot's own,
// that declare default_server outside a comment.
func (s *Sites) otherDefaultServers() []string {
	entries, err := os.ReadDir(s.cfg.Enabled)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if e.Name() == DefaultSiteName || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(s.cfg.Enabled, e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if i := strings.IndexByte(line, '#'); i >= 0 {
				line = line[:i]
			}
			if strings.Contains(line, "default_server") {
				out = append(out, path)
				break
			}
		}
	}
	return out
}

// stockDebianDefault are the SHA-256 sums of Debian's stock
// sites-available/default (nginx-common of Debian 11 and 12), recognised
// even without dpkg's records.
var stockDebianDefault = map[string]bool{
	"ce0901350a021608139b5639cf4ccd7717bef8c3a9e4f79031eb46386b67b03f": true, // Debian 12, nginx 1.22.1
}

// stockDefaultEnabled reports whether <Enabled>/default is a link to
// <Available>/default holding Debian's stock default site, unmodified:
// its MD5 is the one dpkg recorded for the conffile
// /etc/nginx/sites-available/default (Config.DpkgStatus), or its SHA-256
// is a known stock one. A modified or foreign default site is not
// touched: `nginx -t` then says whether it conflicts.
func (s *Sites) stockDefaultEnabled() (bool, error) {
	link := filepath.Join(s.cfg.Enabled, "default")
	fi, err := os.Lstat(link)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("nginx: inspect %s: %w", link, err)
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		return false, nil
	}
	target, err := os.Readlink(link)
	if err != nil {
		return false, fmt.Errorf("nginx: read link %s: %w", link, err)
	}
	if !filepath.IsAbs(target) {
		target = filepath.Join(s.cfg.Enabled, target)
	}
	if filepath.Clean(target) != filepath.Join(s.cfg.Available, "default") {
		return false, nil
	}
	b, err := os.ReadFile(target)
	if err != nil {
		return false, nil // a dangling link: nginx -t says what is wrong
	}
	return isStockDefault(b, s.cfg.DpkgStatus), nil
}

// isStockDefault reports whether b is Debian's stock default site: a
// known SHA-256, or the MD5 that dpkg's status file records for the
// conffile /etc/nginx/sites-available/default.
func isStockDefault(b []byte, dpkgStatus string) bool {
	sha := sha256.Sum256(b)
	if stockDebianDefault[hex.EncodeToString(sha[:])] {
		return true
	}
	sum := md5.Sum(b)
	return dpkgConffileMD5(dpkgStatus, "/etc/nginx/sites-available/default", hex.EncodeToString(sum[:]))
}

// dpkgConffileMD5 reports whether dpkg's status file records md5 for the
// conffile path, in any package's Conffiles.
func dpkgConffileMD5(status, path, md5 string) bool {
	f, err := os.Open(status)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, " ") {
			continue
		}
		if fields := strings.Fields(line); len(fields) >= 2 && fields[0] == path && fields[1] == md5 {
			return true
		}
	}
	return false
}
