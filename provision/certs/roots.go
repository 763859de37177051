package certs

import (
	"crypto/x509"
	_ "embed"
	"errors"
	"fmt"
	"os"
)

// cloudflareOriginCA holds Cloudflare's Origin CA roots (ECC and RSA).
//
//go:embed cloudflare-origin-ca.pem
var cloudflareOriginCA []byte

// VerifyRoots is the pool odoobot trusts when it verifies an instance's
// HTTPS through nginx: the system's roots (Let's Encrypt), Cloudflare's
// Origin CA roots (an Origin CA certificate, whether odoobot requested it
// or the operator gave it as CF_ORIGIN_CERT, is trusted by Cloudflare's
// edge, not by browsers), and the PEM certificates in extraFile when it is
// not empty (TLS_VERIFY_CA_FILE: a private ACME server's root). A file
// that cannot be read or holds no certificate is an error.
func VerifyRoots(extraFile string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(cloudflareOriginCA) {
		return nil, errors.New("certs: the embedded Cloudflare Origin CA roots do not parse")
	}
	if extraFile == "" {
		return pool, nil
	}
	b, err := os.ReadFile(extraFile)
	if err != nil {
		return nil, fmt.Errorf("certs: TLS_VERIFY_CA_FILE: %w", err)
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("certs: TLS_VERIFY_CA_FILE %s holds no PEM certificate", extraFile)
	}
	return pool, nil
}
