package nginx

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"odoobot/internal/atomicfile"
	"odoobot/internal/safefs"
)

// Names of an instance's certificate files in its certificate directory
// (<CertHome.New>/<site>/): the chain, mode 0644, and the key, 0600.
const (
	CertFile = "fullchain.pem"
	KeyFile  = "privkey.pem"
)

// CertHome keeps the instances' certificates where nginx's configuration
// is (New, /etc/nginx/odoobot/certs on Debian), never in odoobot's state
// directory: a site naming a file that is gone makes nginx refuse to
// start, and with it every instance on the host. Repair moves the
// certificates of a server set up before from Old (<STATE_DIR>/certs)
// and rewrites their sites.
type CertHome struct {
	Sites *Sites
	// Old is where certificates were kept before (<STATE_DIR>/certs):
	// <Old>/<site>/{fullchain.pem,privkey.pem}.
	Old string
	// New is where they are kept: <New>/<site>/, root's, mode 0700.
	New string
	// Now is the clock for the placeholder; nil means time.Now.
	Now func() time.Time
}

// CertRepair is what Repair did for one site.
type CertRepair struct {
	Site string
	// Moved: the certificate was copied from Old and the site rewritten
	// to name it in New; Old's copy was then removed.
	Moved bool
	// Placeholder: the certificate was in neither place (or Old's was
	// refused: a link, not root's, not a pair); an expired self-signed
	// certificate naming no domain was put in New in its place, so that
	// nginx starts. The instance's certificate must be issued again:
	// every check of it (the renewal, the watcher, certs) sees one that
	// does not cover the domain or has expired.
	Placeholder bool
	// Err is why the site could not be repaired; nil otherwise.
	Err error
}

// sslLine matches an ssl_certificate or ssl_certificate_key directive
// and its one argument.
var sslLine = regexp.MustCompile(`(?m)^(\s*ssl_certificate(?:_key)?\s+)(\S+?)(;)`)

// Repair makes each named site (an instance's internal name, whose site
// is <Available>/<name>) name its certificate in New, when it names one
// in Old or New (other sites, a shared CF_ORIGIN_CERT's included, are
// left as they are). The order is safe if interrupted at any point:
//  1. a certificate in New (both files, root's, regular) is kept;
//     otherwise Old's pair is copied to New (synced), opened without
//     following any link and only when it is root's; otherwise a
//     placeholder is written;
//  2. every site is rewritten at once, nginx -t is run, and on a refusal
//     every site is put back (Old is still there) and the error
//     returned; then nginx is reloaded;
//  3. only then is <Old>/<name> removed (of a site that names its
//     certificate in Old or New; any other is left alone).
//
// Running it again changes nothing. A site that could not be read or
// whose files could not be written is reported in its CertRepair and
// left as it is.
func (h *CertHome) Repair(ctx context.Context, names []string) ([]CertRepair, error) {
	h.Sites.mu.Lock()
	defer h.Sites.mu.Unlock()

	if err := os.MkdirAll(h.New, 0o700); err != nil {
		return nil, fmt.Errorf("nginx: certificates: %w", err)
	}
	newRoot, err := safefs.OpenDir(h.New)
	if err != nil {
		return nil, fmt.Errorf("nginx: certificates: %w", err)
	}
	defer newRoot.Close()
	if err := newRoot.Chmod(".", 0o700); err != nil {
		return nil, fmt.Errorf("nginx: certificates: %w", err)
	}
	oldRoot, err := safefs.OpenDir(h.Old)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		h.Sites.log.Warn("nginx: certificates: the old certificate directory cannot be opened; certificates not found beside nginx get a placeholder", "dir", h.Old, "err", err)
	}
	if err != nil {
		oldRoot = nil
	} else {
		defer oldRoot.Close()
	}

	type change struct {
		i        int
		avail    string
		old, new []byte
	}
	out := make([]CertRepair, len(names))
	ours := make([]bool, len(names)) // the site names a certificate in Old or New
	var changes []change
	var reload bool
	for i, name := range names {
		out[i].Site = name
		if err := checkName(name); err != nil {
			out[i].Err = fmt.Errorf("nginx: certificates: %w", err)
			continue
		}
		avail := filepath.Join(h.Sites.cfg.Available, name)
		text, err := os.ReadFile(avail)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			out[i].Err = fmt.Errorf("nginx: certificates: %w", err)
			continue
		}
		rewritten, named := h.rewrite(text, name)
		if !named {
			continue
		}
		ours[i] = true
		moved, placeholder, err := h.ensurePair(newRoot, oldRoot, name)
		if err != nil {
			out[i].Err = err
			continue
		}
		out[i].Moved, out[i].Placeholder = moved, placeholder
		if placeholder {
			reload = true
		}
		if !bytes.Equal(text, rewritten) {
			changes = append(changes, change{i: i, avail: avail, old: text, new: rewritten})
		}
	}
	restore := func() error {
		var errs []error
		for _, c := range changes {
			errs = append(errs, atomicfile.Write(c.avail, c.old, 0o644))
		}
		return errors.Join(errs...)
	}
	for _, c := range changes {
		if err := atomicfile.Write(c.avail, c.new, 0o644); err != nil {
			return out, errors.Join(fmt.Errorf("nginx: certificates: rewrite %s: %w", c.avail, err), restore())
		}
	}
	if len(changes) > 0 || reload {
		if err := h.Sites.test(ctx); err != nil {
			return out, errors.Join(fmt.Errorf("nginx: certificates: the sites naming certificates beside nginx were refused, and put back as they were: %w", err), restore())
		}
		if err := h.Sites.reload(ctx); err != nil {
			return out, fmt.Errorf("nginx: certificates: %w", err)
		}
	}
	for _, c := range changes {
		out[c.i].Moved = out[c.i].Moved || !out[c.i].Placeholder
	}
	for i := range out {
		if !ours[i] || out[i].Err != nil || oldRoot == nil {
			continue
		}
		if ok, _ := oldRoot.Exists(out[i].Site); !ok {
			continue
		}
		if site, err := os.ReadFile(filepath.Join(h.Sites.cfg.Available, out[i].Site)); err != nil || bytes.Contains(site, []byte(filepath.Join(h.Old, out[i].Site)+"/")) {
			continue // still named by the site (it was refused): kept
		}
		if err := oldRoot.RemoveAll(out[i].Site); err != nil {
			out[i].Err = fmt.Errorf("nginx: certificates: remove the old copy: %w", err)
			continue
		}
		h.Sites.log.Info("nginx: certificates: removed the old copy", "site", out[i].Site, "dir", filepath.Join(h.Old, out[i].Site))
	}
	return out, nil
}

// rewrite returns text with every ssl_certificate and
// ssl_certificate_key naming a file of <Old>/<name>/ pointed at the same
// file in <New>/<name>/, and whether text names a certificate in either.
func (h *CertHome) rewrite(text []byte, name string) ([]byte, bool) {
	oldDir, newDir := filepath.Join(h.Old, name), filepath.Join(h.New, name)
	ours := false
	out := sslLine.ReplaceAllFunc(text, func(m []byte) []byte {
		sub := sslLine.FindSubmatch(m)
		path := string(sub[2])
		dir, file := filepath.Dir(path), filepath.Base(path)
		if file != CertFile && file != KeyFile {
			return m
		}
		switch dir {
		case newDir:
			ours = true
			return m
		case oldDir:
			ours = true
			return []byte(string(sub[1]) + filepath.Join(newDir, file) + string(sub[3]))
		}
		return m
	})
	return out, ours
}

// ensurePair makes <New>/<name>/ hold a certificate and key: kept when
// both are there, copied from <Old>/<name>/ when both are there (root's
// regular files, reached without following a link), a placeholder
// otherwise.
func (h *CertHome) ensurePair(newRoot, oldRoot *safefs.Dir, name string) (moved, placeholder bool, err error) {
	dir, err := newRoot.MkdirAll(name, 0o700, 0, 0)
	if err != nil {
		return false, false, fmt.Errorf("nginx: certificates: %w", err)
	}
	defer dir.Close()
	if err := dir.Chmod(".", 0o700); err != nil {
		return false, false, fmt.Errorf("nginx: certificates: %w", err)
	}
	if rootsPair(dir) {
		return false, false, nil
	}
	if oldRoot != nil {
		cert, key, err := readPair(oldRoot, name)
		switch {
		case err == nil:
			// The key first: a certificate is never left without its key.
			if err := dir.WriteFile(KeyFile, key, 0o600, 0, 0); err != nil {
				return false, false, fmt.Errorf("nginx: certificates: %w", err)
			}
			if err := dir.WriteFile(CertFile, cert, 0o644, 0, 0); err != nil {
				return false, false, fmt.Errorf("nginx: certificates: %w", err)
			}
			h.Sites.log.Info("nginx: certificates: copied beside nginx", "site", name, "from", filepath.Join(h.Old, name), "to", filepath.Join(h.New, name))
			return true, false, nil
		case !errors.Is(err, fs.ErrNotExist):
			h.Sites.log.Warn("nginx: certificates: the old copy is refused; a placeholder takes its place", "site", name, "err", err)
		}
	}
	cert, key, err := placeholderPair(h.now())
	if err != nil {
		return false, false, err
	}
	if err := dir.WriteFile(KeyFile, key, 0o600, 0, 0); err != nil {
		return false, false, fmt.Errorf("nginx: certificates: %w", err)
	}
	if err := dir.WriteFile(CertFile, cert, 0o644, 0, 0); err != nil {
		return false, false, fmt.Errorf("nginx: certificates: %w", err)
	}
	h.Sites.log.Warn("nginx: certificates: the certificate is missing; a placeholder takes its place so that nginx starts", "site", name, "dir", filepath.Join(h.New, name))
	return false, true, nil
}

func (h *CertHome) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// rootsPair reports whether dir holds both files as root's regular
// files.
func rootsPair(dir *safefs.Dir) bool {
	for _, f := range []string{CertFile, KeyFile} {
		st, err := dir.Lstat(f)
		if err != nil || !st.Mode.IsRegular() || st.UID != 0 {
			return false
		}
	}
	return true
}

// maxPEM bounds what is read of a certificate or key file.
const maxPEM = 1 << 20

// readPair reads <name>/fullchain.pem and privkey.pem beneath old: no
// link is followed, and each must be a regular file of root's holding a
// PEM block. A missing file or directory matches fs.ErrNotExist.
func readPair(old *safefs.Dir, name string) (cert, key []byte, err error) {
	d, err := old.Dir(name)
	if err != nil {
		return nil, nil, err
	}
	defer d.Close()
	read := func(file string) ([]byte, error) {
		f, st, err := d.Open(file, 0)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if st.UID != 0 {
			return nil, fmt.Errorf("%s/%s is not root's (uid %d): %w", d.Path(), file, st.UID, safefs.ErrRefused)
		}
		b, err := io.ReadAll(io.LimitReader(f, maxPEM+1))
		if err != nil {
			return nil, err
		}
		if block, _ := pem.Decode(b); block == nil || len(b) > maxPEM {
			return nil, fmt.Errorf("%s/%s holds no PEM: %w", d.Path(), file, safefs.ErrRefused)
		}
		return b, nil
	}
	if cert, err = read(CertFile); err != nil {
		return nil, nil, err
	}
	if key, err = read(KeyFile); err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// placeholderPair makes a self-signed certificate and its key that name
// no domain and expired a day before now: nginx loads it, and nothing
// takes it for the instance's certificate.
func placeholderPair(now time.Time) (cert, key []byte, err error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("nginx: placeholder certificate: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("nginx: placeholder certificate: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "odoobot placeholder: the instance's certificate is missing"},
		NotBefore:             now.Add(-48 * time.Hour),
		NotAfter:              now.Add(-24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return nil, nil, fmt.Errorf("nginx: placeholder certificate: %w", err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, fmt.Errorf("nginx: placeholder certificate: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), nil
}
