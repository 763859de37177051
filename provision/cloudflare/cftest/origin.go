package cftest

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"
)

type certRequest struct {
	Csr               string   `json:"csr"`
	Hostnames         []string `json:"hostnames"`
	RequestType       string   `json:"request_type"`
	RequestedValidity *int     `json:"requested_validity"`
}

// signCertificate is POST /certificates: it checks the request like the
// Origin CA does and signs the CSR's key with the double's CA, for the
// requested hostnames.
func (s *Server) signCertificate(w http.ResponseWriter, body []byte) {
	var req certRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeErr(w, http.StatusBadRequest, apiError{1001, "Invalid request body: " + err.Error()})
		return
	}
	days := 5475
	if req.RequestedValidity != nil {
		days = *req.RequestedValidity
	}
	if !slices.Contains([]int{7, 30, 90, 365, 730, 1095, 5475}, days) {
		writeErr(w, http.StatusBadRequest, apiError{1012, "Invalid requested_validity: must be one of 7, 30, 90, 365, 730, 1095, 5475"})
		return
	}
	if len(req.Hostnames) == 0 {
		writeErr(w, http.StatusBadRequest, apiError{1010, "At least one hostname is required"})
		return
	}
	for _, h := range req.Hostnames {
		base := strings.TrimPrefix(h, "*.")
		if base != s.zone && !strings.HasSuffix(base, "."+s.zone) {
			writeErr(w, http.StatusBadRequest, apiError{1010, "Hostname " + h + " is not in a zone of this account"})
			return
		}
	}
	block, _ := pem.Decode([]byte(req.Csr))
	if block == nil {
		writeErr(w, http.StatusBadRequest, apiError{1002, "Failed to decode CSR"})
		return
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err == nil {
		err = csr.CheckSignature()
	}
	if err != nil {
		writeErr(w, http.StatusBadRequest, apiError{1002, "Failed to parse CSR: " + err.Error()})
		return
	}
	var keyType string
	switch csr.PublicKey.(type) {
	case *rsa.PublicKey:
		keyType = "origin-rsa"
	case *ecdsa.PublicKey:
		keyType = "origin-ecc"
	}
	if req.RequestType != keyType {
		writeErr(w, http.StatusBadRequest, apiError{1013, "request_type " + req.RequestType + " does not match the CSR key (" + keyType + ")"})
		return
	}

	s.serial++
	now := time.Now().UTC()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(s.serial),
		Subject:      pkix.Name{Organization: []string{"CloudFlare, Inc."}, OrganizationalUnit: []string{"CloudFlare Origin CA (test double)"}, CommonName: csr.Subject.CommonName},
		DNSNames:     req.Hostnames,
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.AddDate(0, 0, days),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.ca, csr.PublicKey, s.caKey)
	if err != nil {
		writeErr(w, http.StatusBadRequest, apiError{1100, "Failed to sign: " + err.Error()})
		return
	}
	c := &Certificate{
		ID:                s.newID(),
		Certificate:       string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		Hostnames:         req.Hostnames,
		ExpiresOn:         tmpl.NotAfter.Format("2006-01-02 15:04:05 -0700 MST"),
		RequestType:       req.RequestType,
		RequestedValidity: days,
		Csr:               req.Csr,
	}
	s.certs[c.ID] = c
	writeOK(w, c, nil)
}
