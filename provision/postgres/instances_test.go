package postgres_test

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/internal/testenv"
	"odoobot/provision"
	"odoobot/provision/postgres"
)

var (
	httpRange   = provision.PortRange{First: 2100, Last: 3000}
	geventRange = provision.PortRange{First: 8072, Last: 8999}
	layout      = provision.Layout{Zone: "example.com", UnitPrefix: "odoo19e"}
)

func newInstance(name string) provision.Instance {
	inst := layout.NewInstance(name, provision.SSLCloudflare)
	inst.CreatedBy = "@ana"
	return inst
}

// reserve reserves name on the default ranges, failing the test on error.
func reserve(t *testing.T, s *postgres.Store, name string, inUse func(int) bool) provision.Instance {
	t.Helper()
	inst, err := s.ReserveInstance(testContext(t), newInstance(name), httpRange, geventRange, inUse)
	if err != nil {
		t.Fatalf("ReserveInstance(%s): %v", name, err)
	}
	return inst
}

func TestReserveTakesLowestPorts(t *testing.T) {
	s := openStore(t)
	ctx := testContext(t)
	before := time.Now().Add(-time.Minute)

	acme := reserve(t, s, "acme", nil)
	if diff := cmp.Diff(acme.Ports, provision.Ports{HTTP: 2100, Gevent: 8072}); diff != "" {
		t.Errorf("first reservation ports (-got +want):\n%s", diff)
	}
	if acme.State != provision.StateCreating {
		t.Errorf("state = %q, want creating", acme.State)
	}
	if acme.CreatedAt.Before(before) {
		t.Errorf("CreatedAt = %v, want about now", acme.CreatedAt)
	}
	beta := reserve(t, s, "beta", nil)
	if diff := cmp.Diff(beta.Ports, provision.Ports{HTTP: 2101, Gevent: 8073}); diff != "" {
		t.Errorf("second reservation ports (-got +want):\n%s", diff)
	}

	got, err := s.Instance(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, acme); diff != "" {
		t.Errorf("Instance(acme) (-got +want):\n%s", diff)
	}
	all, err := s.Instances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(all, []provision.Instance{acme, beta}); diff != "" {
		t.Errorf("Instances (-got +want):\n%s", diff)
	}
	ports, err := s.TakenPorts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []postgres.PortRow{
		{Instance: "acme", Kind: provision.PortGevent, Port: 8072},
		{Instance: "beta", Kind: provision.PortGevent, Port: 8073},
		{Instance: "acme", Kind: provision.PortHTTP, Port: 2100},
		{Instance: "beta", Kind: provision.PortHTTP, Port: 2101},
	}
	if diff := cmp.Diff(ports, want); diff != "" {
		t.Errorf("TakenPorts (-got +want):\n%s", diff)
	}
}

func TestReserveSkipsPortsInUseOnHost(t *testing.T) {
	s := openStore(t)
	var probed []int
	busy := map[int]bool{2100: true, 2101: true, 8072: true}
	inst := reserve(t, s, "acme", func(p int) bool {
		probed = append(probed, p)
		return busy[p]
	})
	if diff := cmp.Diff(inst.Ports, provision.Ports{HTTP: 2102, Gevent: 8073}); diff != "" {
		t.Errorf("ports (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(probed, []int{2100, 2101, 2102, 8072, 8073}); diff != "" {
		t.Errorf("probed ports (-got +want):\n%s", diff)
	}
}

func TestReleasedPortsAreReused(t *testing.T) {
	s := openStore(t)
	ctx := testContext(t)
	reserve(t, s, "acme", nil)
	reserve(t, s, "beta", nil)
	for range 2 { // idempotent
		if err := s.ReleaseInstance(ctx, "acme"); err != nil {
			t.Fatalf("ReleaseInstance: %v", err)
		}
	}
	if _, err := s.Instance(ctx, "acme"); !errors.Is(err, provision.ErrInstanceNotFound) {
		t.Errorf("Instance after release: err = %v, want ErrInstanceNotFound", err)
	}
	gamma := reserve(t, s, "gamma", nil)
	if diff := cmp.Diff(gamma.Ports, provision.Ports{HTTP: 2100, Gevent: 8072}); diff != "" {
		t.Errorf("ports after release (-got +want):\n%s", diff)
	}
	// The released name is free again too.
	acme := reserve(t, s, "acme", nil)
	if diff := cmp.Diff(acme.Ports, provision.Ports{HTTP: 2102, Gevent: 8074}); diff != "" {
		t.Errorf("ports of the re-reserved name (-got +want):\n%s", diff)
	}
}

func TestReserveDuplicate(t *testing.T) {
	s := openStore(t)
	ctx := testContext(t)
	reserve(t, s, "acme", nil)

	_, err := s.ReserveInstance(ctx, newInstance("acme"), httpRange, geventRange, nil)
	if !errors.Is(err, provision.ErrInstanceExists) {
		t.Fatalf("duplicate name: err = %v, want ErrInstanceExists", err)
	}
	var ne *provision.NameError
	if !errors.As(err, &ne) || ne.Rule != provision.RuleTaken || ne.Name != "acme" {
		t.Errorf("duplicate name: err = %#v, want a NameError with rule taken for acme", err)
	}

	// Another name whose domain is already used is refused the same way.
	other := newInstance("other")
	other.Domain = "acme.example.com"
	if _, err := s.ReserveInstance(ctx, other, httpRange, geventRange, nil); !errors.Is(err, provision.ErrInstanceExists) {
		t.Errorf("duplicate domain: err = %v, want ErrInstanceExists", err)
	}

	// The refusals took no port.
	beta := reserve(t, s, "beta", nil)
	if diff := cmp.Diff(beta.Ports, provision.Ports{HTTP: 2101, Gevent: 8073}); diff != "" {
		t.Errorf("ports after refusals (-got +want):\n%s", diff)
	}
}

func TestReservePortsExhausted(t *testing.T) {
	s := openStore(t)
	ctx := testContext(t)
	small := provision.PortRange{First: 2100, Last: 2102}
	for _, name := range []string{"a1", "a2", "a3"} {
		if _, err := s.ReserveInstance(ctx, newInstance(name), small, geventRange, nil); err != nil {
			t.Fatalf("ReserveInstance(%s): %v", name, err)
		}
	}
	_, err := s.ReserveInstance(ctx, newInstance("a4"), small, geventRange, nil)
	if !errors.Is(err, provision.ErrPortsExhausted) {
		t.Fatalf("fourth reservation: err = %v, want ErrPortsExhausted", err)
	}
	if want := "no free port left in range 2100-2102 (http)"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if _, err := s.Instance(ctx, "a4"); !errors.Is(err, provision.ErrInstanceNotFound) {
		t.Errorf("Instance(a4) after exhaustion: err = %v, want ErrInstanceNotFound (rolled back)", err)
	}

	// A range exhausted only because the host uses its ports.
	_, err = s.ReserveInstance(ctx, newInstance("b1"), httpRange, provision.PortRange{First: 9000, Last: 9001}, func(p int) bool { return p >= 9000 })
	if !errors.Is(err, provision.ErrPortsExhausted) || !strings.Contains(err.Error(), "9000-9001 (gevent)") {
		t.Fatalf("gevent exhaustion: err = %v, want ErrPortsExhausted naming 9000-9001 (gevent)", err)
	}
	ports, err := s.TakenPorts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) != 6 {
		t.Errorf("TakenPorts after failed reservations = %v, want the 6 ports of a1..a3", ports)
	}
	insts, err := s.Instances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(insts) != 3 {
		t.Errorf("Instances = %d rows, want 3", len(insts))
	}
}

func TestConcurrentReservations(t *testing.T) {
	const n = 50
	s := openDSN(t, withPoolSize(t, testenv.NewDatabase(t), 16))
	ctx := testContext(t)
	var wg sync.WaitGroup
	got := make([]provision.Instance, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			got[i], errs[i] = s.ReserveInstance(ctx, newInstance(fmt.Sprintf("c%02d", i)), httpRange, geventRange, nil)
		})
	}
	wg.Wait()
	var http, gevent []int
	for i, err := range errs {
		if err != nil {
			t.Fatalf("reservation %d: %v", i, err)
		}
		http = append(http, got[i].Ports.HTTP)
		gevent = append(gevent, got[i].Ports.Gevent)
	}
	sort.Ints(http)
	sort.Ints(gevent)
	// Distinct, in range, and the lowest ones: exactly the first n of each.
	var wantHTTP, wantGevent []int
	for i := range n {
		wantHTTP = append(wantHTTP, httpRange.First+i)
		wantGevent = append(wantGevent, geventRange.First+i)
	}
	if diff := cmp.Diff(http, wantHTTP); diff != "" {
		t.Errorf("http ports (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(gevent, wantGevent); diff != "" {
		t.Errorf("gevent ports (-got +want):\n%s", diff)
	}
	// What the store holds agrees with what the callers were told.
	for _, inst := range got {
		rec, err := s.Instance(ctx, inst.Name)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Ports != inst.Ports {
			t.Errorf("%s: stored ports %+v, returned %+v", inst.Name, rec.Ports, inst.Ports)
		}
	}
}

func TestConcurrentReservationsOnSmallRange(t *testing.T) {
	const n, size = 20, 10
	s := openDSN(t, withPoolSize(t, testenv.NewDatabase(t), 16))
	ctx := testContext(t)
	small := provision.PortRange{First: 2100, Last: 2100 + size - 1}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.ReserveInstance(ctx, newInstance(fmt.Sprintf("s%02d", i)), small, geventRange, nil)
		})
	}
	wg.Wait()
	ok, exhausted := 0, 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, provision.ErrPortsExhausted):
			exhausted++
		default:
			t.Errorf("reservation %d: unexpected error %v", i, err)
		}
	}
	if ok != size || exhausted != n-size {
		t.Errorf("%d succeeded and %d exhausted, want %d and %d", ok, exhausted, size, n-size)
	}
	insts, err := s.Instances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]string{}
	for _, inst := range insts {
		if !small.Contains(inst.Ports.HTTP) {
			t.Errorf("%s: http port %d outside %s", inst.Name, inst.Ports.HTTP, small)
		}
		if other, dup := seen[inst.Ports.HTTP]; dup {
			t.Errorf("http port %d given to %s and %s", inst.Ports.HTTP, other, inst.Name)
		}
		seen[inst.Ports.HTTP] = inst.Name
	}
	if len(insts) != size {
		t.Errorf("%d instances recorded, want %d", len(insts), size)
	}
}

func TestImportInstance(t *testing.T) {
	s := openStore(t)
	ctx := testContext(t)
	old := newInstance("legacy")
	old.Ports = provision.Ports{HTTP: 2105, Gevent: 8080}
	old.CreatedAt = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	old.CreatedBy = "import"
	if err := s.ImportInstance(ctx, old); err != nil {
		t.Fatalf("ImportInstance: %v", err)
	}
	got, err := s.Instance(ctx, "legacy")
	if err != nil {
		t.Fatal(err)
	}
	want := old
	want.State = provision.StateReady
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("imported instance (-got +want):\n%s", diff)
	}

	// Reservation still starts from the lowest free port, around the import.
	acme := reserve(t, s, "acme", nil)
	if acme.Ports != (provision.Ports{HTTP: 2100, Gevent: 8072}) {
		t.Errorf("ports next to an import = %+v, want 2100/8072", acme.Ports)
	}

	if err := s.ImportInstance(ctx, old); !errors.Is(err, provision.ErrInstanceExists) {
		t.Errorf("import of a known name: err = %v, want ErrInstanceExists", err)
	}
	clash := newInstance("clash")
	clash.Ports = provision.Ports{HTTP: 2200, Gevent: 8080}
	err = s.ImportInstance(ctx, clash)
	if !errors.Is(err, postgres.ErrPortTaken) || !strings.Contains(err.Error(), "legacy") {
		t.Errorf("import on a taken port: err = %v, want ErrPortTaken naming legacy", err)
	}
	if _, err := s.Instance(ctx, "clash"); !errors.Is(err, provision.ErrInstanceNotFound) {
		t.Errorf("refused import left a row: err = %v", err)
	}
}

func TestSetState(t *testing.T) {
	s := openStore(t)
	ctx := testContext(t)
	reserve(t, s, "acme", nil)
	if err := s.SetState(ctx, "acme", provision.StateReady); err != nil {
		t.Fatal(err)
	}
	got, err := s.Instance(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != provision.StateReady {
		t.Errorf("state = %q, want ready", got.State)
	}
	if err := s.SetState(ctx, "nobody", provision.StateReady); !errors.Is(err, provision.ErrInstanceNotFound) {
		t.Errorf("SetState(nobody): err = %v, want ErrInstanceNotFound", err)
	}
}

// TestReserveRetriesPortLostToAnotherWriter holds port 2100 in an open
// transaction that does not take the reservation lock, lets a reservation
// block on it, then ends that transaction: a commit makes the reservation
// lose 2100 and retry with 2101; a rollback leaves it 2100.
func TestReserveRetriesPortLostToAnotherWriter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		commit bool
		want   int
	}{
		{"commit", true, 2101},
		{"rollback", false, 2100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t)
			ctx := testContext(t)
			tx, err := s.Pool().Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			if _, err := tx.Exec(ctx, `INSERT INTO odoobot.instances (name, domain, internal, unit, ssl_mode, state)
				VALUES ('other', 'other.example.com', 'prod-other', 'odoo19e-prod-other.service', 'http', 'ready')`); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO odoobot.ports (kind, port, instance) VALUES ('http', 2100, 'other')`); err != nil {
				t.Fatal(err)
			}

			type result struct {
				inst provision.Instance
				err  error
			}
			done := make(chan result, 1)
			go func() {
				inst, err := s.ReserveInstance(ctx, newInstance("acme"), httpRange, geventRange, nil)
				done <- result{inst, err}
			}()
			waitForLockWait(t, s)
			if tc.commit {
				err = tx.Commit(ctx)
			} else {
				err = tx.Rollback(ctx)
			}
			if err != nil {
				t.Fatal(err)
			}
			res := <-done
			if res.err != nil {
				t.Fatalf("ReserveInstance: %v", res.err)
			}
			if res.inst.Ports.HTTP != tc.want {
				t.Errorf("http port = %d, want %d", res.inst.Ports.HTTP, tc.want)
			}
		})
	}
}

// waitForLockWait returns once a session of the store's database waits on
// a row lock, i.e. the reservation is blocked on the uncommitted port.
func waitForLockWait(t *testing.T, s *postgres.Store) {
	t.Helper()
	ctx := testContext(t)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%odoobot.ports%'`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the reservation never waited on the held port")
}

// A stop on purpose is kept with who and when, read back by Instance and
// Instances, and cleared; an unknown instance is refused.
func TestSetStopped(t *testing.T) {
	s := openStore(t)
	ctx := testContext(t)
	reserve(t, s, "acme", nil)
	at := time.Date(2026, 12, 7, 3, 4, 5, 0, time.UTC)
	if err := s.SetStopped(ctx, "acme", "olga", at); err != nil {
		t.Fatal(err)
	}
	got, err := s.Instance(ctx, "acme")
	if err != nil || got.StoppedBy != "olga" || !got.StoppedAt.Equal(at) {
		t.Errorf("Instance after SetStopped: %q %v, %v", got.StoppedBy, got.StoppedAt, err)
	}
	list, err := s.Instances(ctx)
	if err != nil || len(list) != 1 || list[0].StoppedBy != "olga" {
		t.Errorf("Instances after SetStopped: %+v, %v", list, err)
	}
	if err := s.SetStopped(ctx, "acme", "", at); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Instance(ctx, "acme"); got.StoppedBy != "" || !got.StoppedAt.IsZero() {
		t.Errorf("Instance after the stop ended: %q %v", got.StoppedBy, got.StoppedAt)
	}
	if err := s.SetStopped(ctx, "nobody", "olga", at); !errors.Is(err, provision.ErrInstanceNotFound) {
		t.Errorf("SetStopped of an unknown instance = %v", err)
	}
}

// A maintenance window is kept with its end, who and why, and ended.
func TestSetMaintenance(t *testing.T) {
	s := openStore(t)
	ctx := testContext(t)
	reserve(t, s, "acme", nil)
	m := provision.Maintenance{Until: time.Date(2026, 12, 7, 3, 30, 0, 0, time.UTC), By: "olga", Reason: "moving the disk"}
	if err := s.SetMaintenance(ctx, "acme", m); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Instance(ctx, "acme"); err != nil || !got.Maintenance.Until.Equal(m.Until) || got.Maintenance.By != m.By || got.Maintenance.Reason != m.Reason {
		t.Errorf("Instance after SetMaintenance: %+v, %v", got.Maintenance, err)
	}
	if err := s.SetMaintenance(ctx, "acme", provision.Maintenance{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Instance(ctx, "acme"); got.Maintenance != (provision.Maintenance{}) {
		t.Errorf("Instance after the window ended: %+v", got.Maintenance)
	}
	if err := s.SetMaintenance(ctx, "nobody", m); !errors.Is(err, provision.ErrInstanceNotFound) {
		t.Errorf("SetMaintenance of an unknown instance = %v", err)
	}
}
