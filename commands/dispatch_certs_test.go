package commands

import (
	"context"
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

	"github.com/google/go-cmp/cmp"

	"odoobot/provision"
	"odoobot/provision/tree"
)

// certStore is the store side of an Operator: a fixed list.
type certStore []provision.Instance

func (s certStore) Instance(_ context.Context, name string) (provision.Instance, error) {
	for _, i := range s {
		if i.Name == name {
			return i, nil
		}
	}
	return provision.Instance{}, provision.ErrInstanceNotFound
}
func (s certStore) Instances(context.Context) ([]provision.Instance, error) { return s, nil }
func (s certStore) ActiveJob(context.Context, string) (provision.Job, bool, error) {
	return provision.Job{}, false, nil
}

// writeCert writes a self-signed certificate for domain expiring at
// notAfter as <dir>/fullchain.pem.
func writeCert(t *testing.T, dir, domain string, notAfter time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: domain}, DNSNames: []string{domain},
		NotBefore: notAfter.Add(-90 * 24 * time.Hour), NotAfter: notAfter,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "fullchain.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCertsVerb(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	layout := provision.Layout{Zone: "example.com", CertDir: t.TempDir()}
	inst := func(name string, mode provision.SSLMode) provision.Instance {
		i := layout.NewInstance(name, mode)
		i.State = provision.StateReady
		return i
	}
	list := certStore{
		inst("acme", provision.SSLLetsEncrypt),
		inst("beta", provision.SSLCloudflare),
		inst("plain", provision.SSLHTTP),
		inst("lost", provision.SSLLetsEncrypt),
		inst("shared", provision.SSLCloudflare),
		inst("old", provision.SSLLetsEncrypt),
		inst("junk", provision.SSLLetsEncrypt),
	}
	dir := func(i int) string { return layout.Paths(list[i]).CertDir }
	writeCert(t, dir(0), "acme.example.com", now.Add(45*24*time.Hour+time.Hour))
	writeCert(t, dir(1), "beta.example.com", now.Add(5000*24*time.Hour))
	writeCert(t, dir(5), "old.example.com", now.Add(-time.Hour))
	if err := os.MkdirAll(dir(6), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir(6), "fullchain.pem"), []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}

	d, _, audit := newTestDispatcher(t)
	d.Operator = &provision.Operator{Files: tree.New(layout), Store: list, Layout: layout}
	d.Now = func() time.Time { return now }
	r := &recordingResponder{}
	viewer := Identity{Platform: "slack", UserID: "U0VIEW001"}
	if _, err := d.Handle(context.Background(), Request{Identity: viewer, Channel: "C1", Text: "certs"}, r); err != nil {
		t.Fatal(err)
	}
	// A table: sent as long output, which chat shows as a code block.
	if len(r.long) != 1 || len(r.replies) != 0 || len(r.privates) != 0 {
		t.Fatalf("long %q replies %q privates %q, want one long answer", r.long, r.replies, r.privates)
	}
	got := strings.Split(strings.TrimPrefix(r.long[0], "\n"), "\n")
	for i := range got {
		got[i] = strings.Join(strings.Fields(got[i]), " ")
	}
	want := []string{
		"INSTANCE MODE EXPIRES DAYS LEFT FILE",
		"acme letsencrypt 2027-01-11 45 " + filepath.Join(dir(0), "fullchain.pem"),
		"beta cloudflare 2040-08-05 5000 " + filepath.Join(dir(1), "fullchain.pem"),
		"plain http plain HTTP: none",
		"lost letsencrypt missing!",
		"shared cloudflare no per-instance certificate (shared origin certificate or missing)",
		"old letsencrypt 2026-11-27 EXPIRED! " + filepath.Join(dir(5), "fullchain.pem"),
		"junk letsencrypt " + filepath.Join(dir(6), "fullchain.pem") + " holds no certificate!",
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("certs (-got +want):\n%s", diff)
	}
	if last := audit.entries[len(audit.entries)-1]; last.Outcome != "ok" {
		t.Errorf("audit outcome %q, want ok", last.Outcome)
	}
}

func TestCertsVerbNoInstances(t *testing.T) {
	d, _, _ := newTestDispatcher(t)
	d.Operator = &provision.Operator{Store: certStore{}, Layout: provision.Layout{CertDir: t.TempDir()}}
	r := &recordingResponder{}
	if _, err := d.Handle(context.Background(), Request{Identity: Identity{Platform: "slack", UserID: "U0VIEW001"}, Channel: "C1", Text: "certs"}, r); err != nil {
		t.Fatal(err)
	}
	if len(r.replies) != 1 || !strings.Contains(r.replies[0], "no instances") {
		t.Errorf("replies %q", r.replies)
	}
}
