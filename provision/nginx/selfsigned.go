package nginx

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"odoobot/internal/atomicfile"
)

// Names of the default server's certificate files in Origin.CertDir.
const (
	DefaultCertFile = "default-server.crt"
	DefaultKeyFile  = "default-server.key"
)

// selfSignedLife is how long a new default-server certificate is valid;
// it is made again when less than selfSignedRenew is left.
const (
	selfSignedLife  = 10 * 365 * 24 * time.Hour
	selfSignedRenew = 30 * 24 * time.Hour
)

// EnsureSelfSigned returns the paths of the default server's self-signed
// certificate and key in dir, making them when either is missing, they
// do not form a pair, or the certificate ends within 30 days. The
// certificate (ECDSA P-256, CN "odoobot default server", no DNS name:
// it names no instance) is made in this process; the key is written 0600
// and dir is created 0700.
func EnsureSelfSigned(dir string) (cert, key string, err error) {
	cert, key = filepath.Join(dir, DefaultCertFile), filepath.Join(dir, DefaultKeyFile)
	if pair, err := tls.LoadX509KeyPair(cert, key); err == nil && pair.Leaf != nil && time.Until(pair.Leaf.NotAfter) > selfSignedRenew {
		return cert, key, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("self-signed certificate: %w", err)
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("self-signed certificate: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return "", "", fmt.Errorf("self-signed certificate: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "odoobot default server"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedLife),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return "", "", fmt.Errorf("self-signed certificate: %w", err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", "", fmt.Errorf("self-signed certificate: %w", err)
	}
	// The key first: a certificate without its key is never left behind.
	if err := atomicfile.Write(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600); err != nil {
		return "", "", fmt.Errorf("self-signed certificate: %w", err)
	}
	if err := atomicfile.Write(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", fmt.Errorf("self-signed certificate: %w", err)
	}
	return cert, key, nil
}
