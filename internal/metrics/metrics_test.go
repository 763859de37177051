package metrics

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"odoobot/provision"
)

// TestRoundRecordsWhatItReadsAndMissingAsMissing: a ready instance's
// memory and CPU come from its unit and its response time from its
// site; what systemd does not know (0) or could not say, and a site
// that answers 500, are recorded as missing, never 0; instances not
// ready or stopped on purpose are not sampled; the host's figures go
// with the round.
func TestRoundRecordsWhatItReadsAndMissingAsMissing(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/web/health" {
			http.NotFound(w, r)
			return
		}
		if r.Host == "down.example.com" || r.Host == "lost.example.com" {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}))
	defer site.Close()
	addr := strings.TrimPrefix(site.URL, "http://")
	p := &Prober{HTTP: addr, HTTPS: addr}
	ready := func(name string) provision.Instance {
		return provision.Instance{Name: name, Unit: "odoo-" + name + ".service", Domain: name + ".example.com", State: provision.StateReady, SSLMode: provision.SSLHTTP}
	}
	stopped := ready("resting")
	stopped.StoppedBy = "@ana"
	creating := ready("young")
	creating.State = provision.StateCreating
	var got []provision.Sample
	var host *provision.HostSample
	s := New(Config{
		Every: time.Minute,
		Instances: func(context.Context) ([]provision.Instance, error) {
			return []provision.Instance{ready("acme"), ready("down"), ready("lost"), stopped, creating}, nil
		},
		Unit: func(_ context.Context, unit string) (provision.ServiceStatus, error) {
			switch unit {
			case "odoo-acme.service":
				return provision.ServiceStatus{ActiveState: "active", MemoryBytes: 300 << 20, CPUNanos: 7e9}, nil
			case "odoo-down.service":
				return provision.ServiceStatus{ActiveState: "active"}, nil // cgroup v1 without accounting
			case "odoo-lost.service":
				return provision.ServiceStatus{}, errors.New("D-Bus: no answer")
			}
			t.Errorf("unit %s sampled, want only ready instances not stopped on purpose", unit)
			return provision.ServiceStatus{}, nil
		},
		Response: p.ProbeResponse,
		Host: func() (provision.HostFacts, error) {
			return provision.HostFacts{MemTotal: 8 << 30, MemAvailable: 6 << 30, DiskTotal: 100 << 30, DiskFree: 30 << 30}, nil
		},
		Store: func(_ context.Context, _ time.Time, h *provision.HostSample, samples []provision.Sample) error {
			got, host = samples, h
			return nil
		},
	})
	if err := s.Round(t.Context()); err != nil {
		t.Fatal(err)
	}
	by := map[string]provision.Sample{}
	for _, smp := range got {
		by[smp.Instance] = smp
	}
	if len(got) != 3 {
		t.Fatalf("%d samples, want acme, down and lost: %+v", len(got), got)
	}
	acme := by["acme"]
	if acme.MemoryBytes == nil || *acme.MemoryBytes != 300<<20 || acme.CPUNanos == nil || *acme.CPUNanos != 7e9 {
		t.Errorf("acme: memory %v, CPU %v; want 300 MiB and 7 s from its unit", acme.MemoryBytes, acme.CPUNanos)
	}
	if acme.Response == nil || *acme.Response < 20*time.Millisecond || *acme.Response > 5*time.Second {
		t.Errorf("acme: response %v, want the site's 20 ms or a little more", acme.Response)
	}
	for _, name := range []string{"down", "lost"} {
		if smp := by[name]; smp.MemoryBytes != nil || smp.CPUNanos != nil || smp.Response != nil {
			t.Errorf("%s: %+v, want every figure missing (nil), not 0", name, smp)
		}
	}
	if host == nil || host.MemUsed != 2<<30 || host.MemTotal != 8<<30 || host.DiskFree != 30<<30 || host.DiskTotal != 100<<30 {
		t.Errorf("host: %+v, want 2 GiB of 8 used, 30 GiB of 100 free", host)
	}
}

// TestProbeGoesThroughNginxWithTheDomain: a TLS instance is asked over
// TLS with its domain as server name and Host, at nginx's local
// address; a redirect is not followed (it is not the instance
// answering).
func TestProbeGoesThroughNginxWithTheDomain(t *testing.T) {
	var mu sync.Mutex
	var sni, host string
	tlsSite := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sni, host = r.TLS.ServerName, r.Host
		mu.Unlock()
	}))
	defer tlsSite.Close()
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://"+r.Host+r.URL.Path, http.StatusMovedPermanently)
	}))
	defer plain.Close()
	p := &Prober{HTTP: strings.TrimPrefix(plain.URL, "http://"), HTTPS: strings.TrimPrefix(tlsSite.URL, "https://")}
	inst := provision.Instance{Name: "acme", Domain: "acme.example.com", SSLMode: provision.SSLCloudflare}
	if _, err := p.ProbeResponse(t.Context(), inst); err != nil {
		t.Fatalf("TLS probe: %v", err)
	}
	mu.Lock()
	if sni != "acme.example.com" || host != "acme.example.com" {
		t.Errorf("TLS probe: server name %q, Host %q; want the instance's domain for both", sni, host)
	}
	mu.Unlock()
	inst.SSLMode = provision.SSLHTTP
	if d, err := p.ProbeResponse(t.Context(), inst); err == nil {
		t.Errorf("a 301 was timed as an answer (%s), want it missing", d)
	}
}
