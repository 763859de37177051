package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"odoobot/internal/app"
	"odoobot/provision"
	"odoobot/provision/acme/acmetest"
	"odoobot/provision/cloudflare/cftest"
)

// TestDNS01Create creates a letsencrypt instance on a host that manages
// DNS through Cloudflare (the double): the certificate comes from pebble
// through DNS-01, the challenge's TXT record being made and removed in
// the zone (and mirrored into pebble's DNS server), while the instance's
// A record is proxied. No plain-HTTP challenge site is installed, and
// nothing answers pebble's HTTP-01 port.
func TestDNS01Create(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	t.Setenv("LEGO_DISABLE_CNAME_SUPPORT", "true") // every DNS query goes to pebble's DNS server
	pebble := acmetest.Start(t, acmetest.Options{})
	t.Setenv("ACME_DIRECTORY_URL", pebble.DirectoryURL)
	roots := pebble.Roots(t)
	env.trustRoots(t, pebble.RootsPEM(t))

	cf := cftest.New(os.Getenv("CF_ZONE_NAME"), "e2e-dns01-token")
	var mirror struct {
		sync.Mutex
		events []string
		errs   []error
	}
	cf.OnRecord = func(r cftest.Record, deleted bool) {
		if r.Type != "TXT" {
			return
		}
		var err error
		verb := "set"
		if deleted {
			verb = "deleted"
			err = pebble.ClearTXT(r.Name)
		} else {
			err = pebble.SetTXT(r.Name, strings.Trim(r.Content, `"`))
		}
		mirror.Lock()
		defer mirror.Unlock()
		mirror.events = append(mirror.events, verb+" "+r.Name)
		if err != nil {
			mirror.errs = append(mirror.errs, err)
		}
	}
	t.Setenv("CF_API_BASE_URL", cf.Start())
	t.Cleanup(cf.Close)
	t.Setenv("CF_API_TOKEN", "e2e-dns01-token")
	t.Setenv("PUBLIC_IP", "127.0.0.1")
	a, _ := env.newApp(t, app.Options{
		ACMERoots:       pebble.ServerRoots,
		ACMENameservers: []string{pebble.DNSAddr},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	name := uniqueName(t, "dnsone")
	job, r := createMode(t, ctx, a, name, provision.SSLLetsEncrypt)
	inst := requireReady(t, ctx, a, name, job, r)

	// nginx serves a certificate pebble issued for the domain.
	leaf := servedCert(t, inst.Domain, roots)
	if !slices.Contains(leaf.DNSNames, inst.Domain) {
		t.Errorf("nginx served a certificate for %v, want %s", leaf.DNSNames, inst.Domain)
	}
	requireNginxTestPasses(t)

	// The challenge record was made in the zone and removed again.
	challenge := "_acme-challenge." + inst.Domain
	var created bool
	for _, req := range cf.Requests() {
		if req.Method != "POST" || !strings.HasSuffix(req.Path, "/dns_records") {
			continue
		}
		var body struct{ Type, Name, Comment string }
		if err := json.Unmarshal(req.Body, &body); err == nil && body.Type == "TXT" && body.Name == challenge {
			created = true
		}
	}
	if !created {
		t.Errorf("no TXT record was created at %s", challenge)
	}
	mirror.Lock()
	events, errs := slices.Clone(mirror.events), errors.Join(mirror.errs...)
	mirror.Unlock()
	if want := []string{"set " + challenge, "deleted " + challenge}; !slices.Equal(events, want) {
		t.Errorf("TXT record changes %q, want %q", events, want)
	}
	if errs != nil {
		t.Errorf("mirroring the TXT records into pebble's DNS: %v", errs)
	}
	var aRecs []cftest.Record
	for _, rec := range cf.Records() {
		switch {
		case rec.Type == "TXT":
			t.Errorf("a TXT record is left in the zone: %+v", rec)
		case rec.Name == inst.Domain:
			aRecs = append(aRecs, rec)
		}
	}
	if len(aRecs) != 1 || aRecs[0].Type != "A" || aRecs[0].Content != "127.0.0.1" || !aRecs[0].Proxied {
		t.Errorf("records for %s: %+v; want one proxied A to 127.0.0.1", inst.Domain, aRecs)
	}

	// No challenge site step ran; the DNS step came before the certificate.
	evs, err := a.Store.Events(ctx, job.ID)
	if err != nil {
		t.Fatalf("events of job %d: %v", job.ID, err)
	}
	var steps []string
	for _, e := range evs {
		if len(steps) == 0 || steps[len(steps)-1] != e.Step {
			steps = append(steps, e.Step)
		}
	}
	if slices.Contains(steps, string(provision.StepChallenge)) {
		t.Errorf("the %s step ran in DNS-01 mode: steps %q", provision.StepChallenge, steps)
	}
	iDNS, iCert := slices.Index(steps, string(provision.StepDNS)), slices.Index(steps, string(provision.StepCertificate))
	if iDNS < 0 || iCert < 0 || iDNS > iCert {
		t.Errorf("steps %q: want %s before %s", steps, provision.StepDNS, provision.StepCertificate)
	}
}
