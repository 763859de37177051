package cloudflare

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/cloudflare/cloudflare-go/v6/origin_ca_certificates"
	"github.com/cloudflare/cloudflare-go/v6/shared"
	"github.com/cloudflare/cloudflare-go/v6/ssl"
)

// validities are the validities, in days, that Cloudflare's Origin CA
// accepts, in increasing order.
var validities = [...]int{7, 30, 90, 365, 730, 1095, 5475}

// Validity returns the smallest validity Cloudflare accepts that is at
// least days, or an error when days is not positive or exceeds 5475.
func Validity(days int) (int, error) {
	if days <= 0 {
		return 0, fmt.Errorf("cloudflare: validity of %d days: must be positive", days)
	}
	for _, v := range validities {
		if v >= days {
			return v, nil
		}
	}
	return 0, fmt.Errorf("cloudflare: validity of %d days: the Origin CA issues at most %d days", days, validities[len(validities)-1])
}

// SignOrigin asks Cloudflare's Origin CA for a certificate for hostnames,
// with the public key of csrPEM (a PEM "CERTIFICATE REQUEST"), valid for
// the smallest allowed validity that covers days (see Validity). The request
// type is origin-rsa for an RSA key and origin-ecc for an ECDSA key. Every
// hostname must pass the apex guard, checked before any request. It
// returns the certificate PEM-encoded. The token needs the zone's
// "SSL and Certificates edit" permission.
func (c *Client) SignOrigin(ctx context.Context, csrPEM []byte, hostnames []string, days int) ([]byte, error) {
	cert, err := c.signOrigin(c.call(ctx), csrPEM, hostnames, days)
	return cert, c.scrub(err)
}

func (c *Client) signOrigin(ctx context.Context, csrPEM []byte, hostnames []string, days int) ([]byte, error) {
	if len(hostnames) == 0 {
		return nil, errors.New("cloudflare: sign origin certificate: no hostname given")
	}
	for _, h := range hostnames {
		if _, err := guard("sign origin certificate", h, c.zone); err != nil {
			return nil, err
		}
	}
	op := "sign origin certificate for " + strings.Join(hostnames, ", ")
	validity, err := Validity(days)
	if err != nil {
		return nil, err
	}
	reqType, err := requestType(csrPEM)
	if err != nil {
		return nil, fmt.Errorf("cloudflare: %s: %w", op, err)
	}

	var p origin_ca_certificates.OriginCACertificateNewParams
	p.Csr.Value, p.Csr.Present = string(csrPEM), true
	p.Hostnames.Value, p.Hostnames.Present = hostnames, true
	p.RequestType.Value, p.RequestType.Present = reqType, true
	p.RequestedValidity.Value, p.RequestedValidity.Present = ssl.RequestValidity(validity), true
	res, err := c.certs.New(ctx, p)
	if err != nil {
		return nil, wrap(op, "SSL and Certificates edit", err)
	}
	certPEM := []byte(strings.TrimSpace(res.Certificate) + "\n")
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("cloudflare: %s: the answer holds no PEM certificate", op)
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return nil, fmt.Errorf("cloudflare: %s: the answer's certificate: %w", op, err)
	}
	c.log.InfoContext(ctx, "cloudflare: origin certificate issued", "hostnames", hostnames,
		"id", res.ID, "type", string(reqType), "validity_days", validity, "expires_on", res.ExpiresOn)
	return certPEM, nil
}

// requestType reads the CSR and names its key type the way the API wants.
func requestType(csrPEM []byte) (shared.CertificateRequestType, error) {
	block, _ := pem.Decode(csrPEM)
	if block == nil || (block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST") {
		return "", errors.New("the CSR is not a PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("parse CSR: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return "", fmt.Errorf("CSR signature: %w", err)
	}
	switch csr.PublicKey.(type) {
	case *rsa.PublicKey:
		return shared.CertificateRequestTypeOriginRSA, nil
	case *ecdsa.PublicKey:
		return shared.CertificateRequestTypeOriginECC, nil
	default:
		return "", fmt.Errorf("the CSR's %T key is neither RSA nor ECDSA", csr.PublicKey)
	}
}
