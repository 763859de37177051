package watch

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/user"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"odoobot/provision"
	"odoobot/provision/ports"
	"odoobot/provision/sysusers"
)

// host is a fake host for the watcher's checks: units, health answers,
// disk and certificates set by the test.
type host struct {
	mu        sync.Mutex
	busy      map[string]bool
	instances []provision.Instance
	listErr   error
	units     map[string]string // unit → ActiveState
	health    map[int]string    // port → problem
	disk      uint64
	notAfter  map[string]time.Time
}

func (h *host) checks() Checks {
	return Checks{
		Instances: func(context.Context) ([]provision.Instance, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			return h.instances, h.listErr
		},
		Busy: func(_ context.Context, name string) bool {
			h.mu.Lock()
			defer h.mu.Unlock()
			return h.busy[name]
		},
		Unit: func(_ context.Context, unit string) (provision.ServiceStatus, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			return provision.ServiceStatus{Unit: unit, ActiveState: h.units[unit], SubState: "x"}, nil
		},
		Health: func(_ context.Context, port int) string {
			h.mu.Lock()
			defer h.mu.Unlock()
			return h.health[port]
		},
		DiskFree: func() (uint64, error) { return h.disk, nil },
		CertNotAfter: func(inst provision.Instance) (time.Time, string) {
			return h.notAfter[inst.Name], ""
		},
	}
}

func instance(name string, port int, mode provision.SSLMode, state provision.State) provision.Instance {
	return provision.Instance{Name: name, Unit: "odoo19e-prod-" + name + ".service", SSLMode: mode, State: state, Ports: provision.Ports{HTTP: port}}
}

func TestRoundChecksUnitHealthDiskAndCertificate(t *testing.T) {
	now := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	h := &host{
		instances: []provision.Instance{
			instance("up", 2100, provision.SSLHTTP, provision.StateReady),
			instance("dead", 2101, provision.SSLHTTP, provision.StateReady),
			instance("frozen", 2102, provision.SSLHTTP, provision.StateReady),
			instance("expiring", 2103, provision.SSLLetsEncrypt, provision.StateReady),
			instance("creating", 2104, provision.SSLHTTP, provision.StateCreating),
		},
		units: map[string]string{
			"odoo19e-prod-up.service": "active", "odoo19e-prod-dead.service": "failed",
			"odoo19e-prod-frozen.service": "active", "odoo19e-prod-expiring.service": "active",
			"odoo19e-prod-creating.service": "inactive",
		},
		health:   map[int]string{2102: "port 2102 did not answer within 10s", 2101: "never asked: the unit is down"},
		disk:     512 << 20,
		notAfter: map[string]time.Time{"expiring": now.Add(10 * 24 * time.Hour)},
	}
	var posted []Event
	w := New(Config{
		Policy: Policy{Failures: 1}, DiskFreeMin: 1 << 30, CertMin: 14 * 24 * time.Hour,
		Checks: h.checks(), Now: func() time.Time { return now },
		Post: func(_ context.Context, e Event) error { posted = append(posted, e); return nil },
	})
	events := w.Round(context.Background())
	got := map[string]string{}
	for _, e := range events {
		got[e.Key] = e.Problem
	}
	want := map[string]string{
		HostKey:    "only 0.5 GiB free under PROD_ROOT",
		"dead":     "its unit odoo19e-prod-dead.service is failed",
		"frozen":   "health check: port 2102 did not answer within 10s",
		"expiring": "its certificate expires in 10 days",
	}
	if len(got) != len(want) || len(posted) != len(events) {
		t.Errorf("events %v (posted %d), want exactly %v", got, len(posted), want)
	}
	for k, w := range want {
		if !strings.Contains(got[k], w) {
			t.Errorf("%q: problem %q, want it to say %q", k, got[k], w)
		}
	}
	if strings.Contains(got["dead"], "never asked") {
		t.Errorf("the health of a unit that is down was asked: %q", got["dead"])
	}

	// The next round: dead is held (an operator stopped it), the rest
	// recover; only the alerted ones say so.
	w.Hold("dead")
	h.mu.Lock()
	h.health, h.disk, h.notAfter = nil, 8<<30, nil
	h.units["odoo19e-prod-frozen.service"] = "active"
	h.mu.Unlock()
	var rec []string
	for _, e := range w.Round(context.Background()) {
		if e.Kind != Recovered {
			t.Errorf("second round: unexpected %+v", e)
		}
		rec = append(rec, e.Key)
	}
	if strings.Join(rec, ",") != ",expiring,frozen" {
		t.Errorf("recovered %q, want the host, expiring and frozen (dead is held)", rec)
	}
}

// TestRoundLeavesBusyInstancesAlone: an instance a job runs on (an
// upgrade stops it on purpose) is not checked: no alert while the job
// runs, however long; its record is kept, so an instance alerted before
// the job recovers once, after it.
func TestRoundLeavesBusyInstancesAlone(t *testing.T) {
	h := &host{
		instances: []provision.Instance{instance("acme", 2100, provision.SSLHTTP, provision.StateReady)},
		units:     map[string]string{"odoo19e-prod-acme.service": "inactive"},
		busy:      map[string]bool{"acme": true},
		disk:      8 << 30,
	}
	w := New(Config{Policy: Policy{Failures: 2}, DiskFreeMin: 1, Checks: h.checks()})
	for i := 0; i < 5; i++ {
		if ev := w.Round(context.Background()); len(ev) != 0 {
			t.Fatalf("round %d while a job runs: %+v, want nothing", i, ev)
		}
	}
	h.mu.Lock()
	h.busy = nil
	h.mu.Unlock()
	w.Round(context.Background())
	ev := w.Round(context.Background())
	if len(ev) != 1 || ev[0].Kind != Alerted || ev[0].Failures != 2 {
		t.Fatalf("once the job is over, a stopped unit: %+v, want one alert after 2 failures (none counted during the job)", ev)
	}
	h.mu.Lock()
	h.busy = map[string]bool{"acme": true}
	h.mu.Unlock()
	if ev := w.Round(context.Background()); len(ev) != 0 {
		t.Fatalf("a job on an alerted instance: %+v, want nothing", ev)
	}
	h.mu.Lock()
	h.busy, h.units["odoo19e-prod-acme.service"] = nil, "active"
	h.mu.Unlock()
	if ev := w.Round(context.Background()); len(ev) != 1 || ev[0].Kind != Recovered {
		t.Fatalf("after the job, healthy: %+v, want one recovery (the alert was kept)", ev)
	}
}

func TestRoundSkippedWhenTheInstancesCannotBeListed(t *testing.T) {
	h := &host{listErr: errors.New("PostgreSQL is away"), disk: 0}
	w := New(Config{Policy: Policy{Failures: 1}, DiskFreeMin: 1, Checks: h.checks(),
		Post: func(context.Context, Event) error { t.Error("posted during a skipped round"); return nil }})
	if ev := w.Round(context.Background()); len(ev) != 0 {
		t.Errorf("a round without the instance list raised %+v", ev)
	}
}

func TestProbeHealth(t *testing.T) {
	var status int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/web/health" || r.URL.Query().Get("db_server_status") != "1" {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		w.WriteHeader(status)
	}))
	defer srv.Close()
	_, p, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	port, _ := strconv.Atoi(p)
	status = http.StatusOK
	if got := ProbeHealth(context.Background(), port); got != "" {
		t.Errorf("200: %q, want healthy", got)
	}
	mu.Lock()
	status = http.StatusInternalServerError // Odoo 19 without its database
	mu.Unlock()
	if got := ProbeHealth(context.Background(), port); !strings.Contains(got, "answered 500") {
		t.Errorf("500: %q, want it to say so", got)
	}
	srv.Close()
	if got := ProbeHealth(context.Background(), port); got == "" {
		t.Error("a closed port is healthy")
	}
}

// TestRoundAlertsOnACapturedPort: another user listens on an instance's
// HTTP port and answers its health check with 200 (here this test's
// process, not odoo-acme, with the real probes): the round alerts,
// naming the holder, whether the instance's unit runs or not.
func TestRoundAlertsOnACapturedPort(t *testing.T) {
	if _, err := user.Lookup(provision.SystemUser("acme")); err == nil {
		t.Skip("this host has a user odoo-acme")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	inst := instance("acme", port, provision.SSLHTTP, provision.StateReady)
	inst.User, inst.DBRole = "odoo-acme", "prod-acme"
	for _, state := range []string{"active", "inactive"} {
		h := &host{instances: []provision.Instance{inst}, units: map[string]string{inst.Unit: state}, disk: 8 << 30}
		checks := h.checks()
		checks.Health, checks.Ports = ProbeHealth, ProbePorts(ports.Host{}, sysusers.Host{}, "odoo")
		w := New(Config{Policy: Policy{Failures: 1}, DiskFreeMin: 1, Checks: checks})
		ev := w.Round(context.Background())
		want := "port " + strconv.Itoa(port) + " of acme is held by user "
		if len(ev) != 1 || ev[0].Kind != Alerted || !strings.Contains(ev[0].Problem, want) || !strings.Contains(ev[0].Problem, "not odoo-acme") {
			t.Errorf("unit %s, port held by uid %d: %+v, want one alert saying %q…not odoo-acme", state, os.Getuid(), ev, want)
		}
	}
}

// TestRoundAlertsOnAHeldInstancesPort: an instance an operator stopped
// is not watched, but for its ports: another user listening on one is
// alerted at the first round (nginx still sends its users there), once,
// and its end is a recovery; a free port says nothing.
func TestRoundAlertsOnAHeldInstancesPort(t *testing.T) {
	inst := instance("acme", 2100, provision.SSLHTTP, provision.StateReady)
	var mu sync.Mutex
	problem := ""
	h := &host{instances: []provision.Instance{inst}, units: map[string]string{inst.Unit: "inactive"}, disk: 8 << 30}
	checks := h.checks()
	checks.Ports = func(provision.Instance) string { mu.Lock(); defer mu.Unlock(); return problem }
	w := New(Config{Policy: Policy{Failures: 3}, DiskFreeMin: 1, Checks: checks})
	w.Hold("acme")
	set := func(p string) { mu.Lock(); problem = p; mu.Unlock() }
	if ev := w.Round(context.Background()); len(ev) != 0 {
		t.Fatalf("a held, stopped instance with free ports: %+v, want nothing", ev)
	}
	held := "port 2100 of acme is held by user odoo-globex (uid 1003), not odoo-acme: another instance took it"
	set(held)
	if ev := w.Round(context.Background()); len(ev) != 1 || ev[0].Kind != Alerted || ev[0].Key != "acme" || ev[0].Problem != held {
		t.Fatalf("its port taken: %+v, want one alert saying %q", ev, held)
	}
	if ev := w.Round(context.Background()); len(ev) != 0 {
		t.Fatalf("still taken: %+v, want nothing more", ev)
	}
	set("")
	if ev := w.Round(context.Background()); len(ev) != 1 || ev[0].Kind != Recovered {
		t.Fatalf("the port let go: %+v, want one recovery", ev)
	}
}

// An instance in a maintenance window raises nothing, however long it
// fails; once the window has ended, it is alerted as any other, its
// failures counted from then.
func TestRoundSilencesAnInstanceInMaintenance(t *testing.T) {
	now := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	acme := instance("acme", 2100, provision.SSLHTTP, provision.StateReady)
	acme.Maintenance = provision.Maintenance{Until: now.Add(30 * time.Minute), By: "olga", Reason: "moving the disk"}
	h := &host{
		instances: []provision.Instance{acme},
		units:     map[string]string{"odoo19e-prod-acme.service": "inactive"},
		disk:      8 << 30,
	}
	clock := now
	w := New(Config{Policy: Policy{Failures: 2}, DiskFreeMin: 1, Checks: h.checks(), Now: func() time.Time { return clock }})
	for i := range 5 {
		clock = now.Add(time.Duration(i) * 5 * time.Minute)
		if ev := w.Round(context.Background()); len(ev) != 0 {
			t.Fatalf("round %d in the maintenance window: %+v, want nothing", i, ev)
		}
	}
	clock = now.Add(31 * time.Minute)
	w.Round(context.Background())
	ev := w.Round(context.Background())
	if len(ev) != 1 || ev[0].Kind != Alerted || ev[0].Failures != 2 {
		t.Fatalf("after the window, a stopped unit: %+v, want one alert after 2 failures", ev)
	}
}

// AfterRound is told, after each round, which alerts are still open: an
// instance alerted and still failing, or busy (its record kept), is; one
// recovered, held (stopped on purpose) or gone is not.
func TestAfterRoundNamesTheOpenAlerts(t *testing.T) {
	h := &host{
		instances: []provision.Instance{instance("acme", 2100, provision.SSLHTTP, provision.StateReady), instance("beta", 2101, provision.SSLHTTP, provision.StateReady)},
		units:     map[string]string{"odoo19e-prod-acme.service": "inactive", "odoo19e-prod-beta.service": "inactive"},
		disk:      8 << 30,
	}
	var open []string
	w := New(Config{Policy: Policy{Failures: 1}, DiskFreeMin: 1, Checks: h.checks(),
		AfterRound: func(_ context.Context, _ time.Time, alerting map[string]bool) {
			open = open[:0]
			for k := range alerting {
				open = append(open, k)
			}
			sort.Strings(open)
		}})
	round := func() string { w.Round(context.Background()); return strings.Join(open, ",") }
	if got := round(); got != "acme,beta" {
		t.Fatalf("both failing: %q", got)
	}
	h.mu.Lock()
	h.busy = map[string]bool{"acme": true}
	h.units["odoo19e-prod-beta.service"] = "active"
	h.mu.Unlock()
	if got := round(); got != "acme" {
		t.Errorf("acme busy, beta recovered: %q, want acme (its record kept)", got)
	}
	w.Hold("acme")
	if got := round(); got != "" {
		t.Errorf("acme held: %q, want nothing open", got)
	}
}
