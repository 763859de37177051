// Package certs gives instances their TLS certificate in cloudflare
// mode: a Cloudflare Origin CA certificate requested for the instance's
// name (key and CSR made here, the key never leaves the host), or an
// existing origin certificate (a wildcard, typically) shared by all.
package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"odoobot/provision"
)

// Origin issues a Cloudflare Origin CA certificate per instance.
type Origin struct {
	CA   provision.OriginCA
	Days int // requested validity; default 5475 (15 years, Cloudflare's longest)
}

var (
	_ provision.CertIssuer = (*Origin)(nil)
	_ provision.CertIssuer = (*Static)(nil)
)

// Files are where an instance's certificate and key live in its dir.
func Files(dir string) provision.CertFiles {
	return provision.CertFiles{Cert: filepath.Join(dir, "fullchain.pem"), Key: filepath.Join(dir, "privkey.pem")}
}

// Issue makes an ECDSA P-256 key (mode 0600) and a CSR for the
// instance's domain, and stores the certificate the Origin CA signs. An
// existing valid pair for the domain is kept (idempotent).
func (o *Origin) Issue(ctx context.Context, inst provision.Instance, dir string) (provision.CertFiles, error) {
	f := Files(dir)
	if ok, _ := validFor(f, inst.Domain); ok {
		return f, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return f, fmt.Errorf("certs: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return f, fmt.Errorf("certs: key: %w", err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: inst.Domain}, DNSNames: []string{inst.Domain},
	}, key)
	if err != nil {
		return f, fmt.Errorf("certs: csr: %w", err)
	}
	csr := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	days := o.Days
	if days == 0 {
		days = 5475
	}
	cert, err := o.CA.SignOrigin(ctx, csr, []string{inst.Domain}, days)
	if err != nil {
		return f, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return f, fmt.Errorf("certs: key: %w", err)
	}
	if err := os.WriteFile(f.Key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return f, fmt.Errorf("certs: %w", err)
	}
	if err := os.WriteFile(f.Cert, cert, 0o644); err != nil {
		return f, fmt.Errorf("certs: %w", err)
	}
	return f, nil
}

// Remove deletes the instance's certificate directory. The Origin CA
// certificate itself expires unused; nothing on the host names it.
func (o *Origin) Remove(ctx context.Context, inst provision.Instance, dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	return nil
}

// Static serves every instance with one existing certificate and key
// (CF_ORIGIN_CERT, CF_ORIGIN_KEY), which must cover the domain.
type Static struct {
	Cert, Key string
}

// Issue checks that the certificate covers the domain and returns it.
func (s *Static) Issue(ctx context.Context, inst provision.Instance, dir string) (provision.CertFiles, error) {
	f := provision.CertFiles{Cert: s.Cert, Key: s.Key}
	ok, err := validFor(f, inst.Domain)
	if err != nil {
		return f, err
	}
	if !ok {
		return f, fmt.Errorf("certs: %s does not cover %s: use a wildcard for the zone", s.Cert, inst.Domain)
	}
	return f, nil
}

// Remove does nothing: the shared certificate stays for the others.
func (s *Static) Remove(context.Context, provision.Instance, string) error { return nil }

// validFor reports whether the certificate at f exists, its key exists,
// and it names domain.
func validFor(f provision.CertFiles, domain string) (bool, error) {
	b, err := os.ReadFile(f.Cert)
	if err != nil {
		return false, fmt.Errorf("certs: %w", err)
	}
	if _, err := os.Stat(f.Key); err != nil {
		return false, fmt.Errorf("certs: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return false, errors.New("certs: " + f.Cert + " holds no PEM certificate")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return false, fmt.Errorf("certs: %s: %w", f.Cert, err)
	}
	return c.VerifyHostname(domain) == nil, nil
}
