package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The embedded roots are Cloudflare's two Origin CAs, valid until 2029.
func TestCloudflareOriginRoots(t *testing.T) {
	var subjects []string
	rest := cloudflareOriginCA
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if !c.IsCA || c.CheckSignatureFrom(c) != nil || c.NotAfter.Year() != 2029 {
			t.Errorf("%s: CA %v, self-signed %v, until %s", c.Subject, c.IsCA, c.CheckSignatureFrom(c) == nil, c.NotAfter)
		}
		subjects = append(subjects, strings.Join(c.Subject.OrganizationalUnit, ","))
	}
	want := "CloudFlare Origin SSL ECC Certificate Authority|CloudFlare Origin SSL Certificate Authority"
	if got := strings.Join(subjects, "|"); got != want {
		t.Errorf("roots %q, want %q", got, want)
	}
	if _, err := VerifyRoots(""); err != nil {
		t.Fatal(err)
	}
}

// An extra file adds its roots; a missing or empty one is refused.
func TestVerifyRootsExtraFile(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(der)
	dir := t.TempDir()
	file := filepath.Join(dir, "roots.pem")
	os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	pool, err := VerifyRoots(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.Verify(x509.VerifyOptions{Roots: pool}); err != nil {
		t.Errorf("the extra root is not trusted: %v", err)
	}
	empty := filepath.Join(dir, "empty.pem")
	os.WriteFile(empty, []byte("no certificate here\n"), 0o644)
	for _, f := range []string{filepath.Join(dir, "missing.pem"), empty} {
		if _, err := VerifyRoots(f); err == nil || !strings.Contains(err.Error(), "TLS_VERIFY_CA_FILE") {
			t.Errorf("VerifyRoots(%s) = %v, want an error naming TLS_VERIFY_CA_FILE", f, err)
		}
	}
}
