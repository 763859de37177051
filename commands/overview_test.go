package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"odoobot/provision"
)

// overviewFixture is four instances, one in each state an operator
// tells apart, with their units, the watcher's verdicts and the records.
func overviewFixture(now time.Time) (*OverviewSources, *atomic.Int32) {
	layout := provision.Layout{Zone: "example.com", UnitPrefix: "odoo19e"}
	mk := func(name string) provision.Instance {
		i := layout.NewInstance(name, provision.SSLHTTP)
		i.State = provision.StateReady
		i.Ports = provision.Ports{HTTP: 8100 + len(name), Gevent: 9100 + len(name)}
		return i
	}
	acme, beta, gamma, delta := mk("acme"), mk("beta"), mk("gamma"), mk("delta")
	beta.Maintenance = provision.Maintenance{Until: now.Add(90 * time.Minute), By: "ana", Reason: "disk swap"}
	gamma.StoppedBy, gamma.StoppedAt = "bob", now.Add(-time.Hour)
	units := map[string]provision.ServiceStatus{
		acme.Unit:  {ActiveState: "active", SubState: "running", MemoryBytes: 300 << 20},
		beta.Unit:  {ActiveState: "active", SubState: "running", MemoryBytes: 200 << 20},
		gamma.Unit: {ActiveState: "inactive", SubState: "dead"},
		delta.Unit: {ActiveState: "failed", SubState: "failed"},
	}
	var live atomic.Int32
	return &OverviewSources{
		Instances: func(context.Context) ([]provision.Instance, error) {
			return []provision.Instance{acme, beta, delta, gamma}, nil
		},
		OpenJobs: func(context.Context) ([]provision.Job, error) {
			return []provision.Job{{ID: 42, Kind: provision.JobBackup, Instance: "beta", State: provision.JobRunning, RequestedBy: "ana"}}, nil
		},
		LastBackups: func(context.Context) (map[string]time.Time, error) {
			return map[string]time.Time{"acme": now.Add(-3 * time.Hour), "beta": now.Add(-50 * time.Hour)}, nil
		},
		Unit: func(_ context.Context, unit string) (provision.ServiceStatus, error) {
			st, ok := units[unit]
			if !ok {
				return st, errors.New("no such unit")
			}
			return st, nil
		},
		Verdict: func(name string) (string, time.Time, bool) {
			if name == "acme" {
				return "", now.Add(-2 * time.Minute), true
			}
			return "", time.Time{}, false
		},
		Health: func(context.Context, int) string { live.Add(1); return "" },
	}, &live
}

// TestOverviewShowsEachInstancesState: one row per instance with its
// state (a maintenance window as a banner until when, by whom and why;
// stopped on purpose; failing), health from the watcher when it has a
// verdict and checked live otherwise, memory, the age of the last good
// backup, its running job; then the confirmations and approvals waiting,
// without their codes.
func TestOverviewShowsEachInstancesState(t *testing.T) {
	now := time.Date(2026, 12, 7, 17, 0, 0, 0, time.UTC)
	d, _, _ := newTestDispatcher(t)
	d.Now = func() time.Time { return now }
	src, live := overviewFixture(now)
	d.OverviewSources = src
	d.confirm.pending = map[string]pendingAction{
		"c0ffee0000000001": {userID: "U0ADMIN01", what: "delete acme", expires: now.Add(4 * time.Minute)},
		"c0ffee0000000002": {userID: "U0ADMIN01", what: "delete old", expires: now.Add(-time.Minute)},
	}
	d.approve.pending = map[string]*pendingApproval{
		"c0ffee0000000003": {requester: Identity{UserID: "U0ADMIN01", UserName: "ana"}, what: "restore gamma", expires: now.Add(20 * time.Minute)},
	}
	r := &recordingResponder{}
	if _, err := d.Handle(context.Background(), Request{Identity: Identity{Platform: "slack", UserID: "U0VIEW001"}, Channel: "C1", Text: "overview"}, r); err != nil {
		t.Fatal(err)
	}
	if len(r.long) != 1 {
		t.Fatalf("overview answered %v (privately %v), want one table", r.long, r.privates)
	}
	got := r.long[0]
	for _, want := range []string{
		"4 instances, 1 failing, 1 job running, 2 commands waiting — at 2026-12-07 17:00 UTC",
		"🟢 acme (acme.example.com) — running\n    health healthy (watch, 2m ago) · memory 300.0 MiB · last good backup 3h ago",
		"🔧 beta (beta.example.com) — in maintenance until 2026-12-07 18:30 UTC (1h30m more), by ana: disk swap\n    health healthy (checked now) · memory 200.0 MiB · last good backup 2d ago · job 42 backup running (asked by ana)",
		"🔴 delta (delta.example.com) — failing: its unit is failed\n    health not checked: its unit is failed · memory - · no good backup recorded",
		"⏸ gamma (gamma.example.com) — stopped on purpose by bob at 2026-12-07 16:00 UTC",
		"waiting:\n    delete acme, asked by U0ADMIN01, awaits its requester's confirmation until 17:04 UTC\n    restore gamma, asked by ana, awaits a second admin's approval until 17:20 UTC",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the overview lacks %q:\n%s", want, got)
		}
	}
	for _, secret := range []string{"c0ffee", "delete old"} {
		if strings.Contains(got, secret) {
			t.Errorf("the overview shows %q:\n%s", secret, got)
		}
	}
	if n := live.Load(); n != 1 {
		t.Errorf("%d live health checks, want 1 (beta: acme has the watcher's verdict, the others do not run)", n)
	}
}

// TestOverviewIsBounded: 100 instances, ten of them frozen (their health
// check never answers), are read at most OverviewParallel at a time, and
// the overview comes back once the frozen ones hit OverviewProbeTimeout,
// not after 10 of them in a row; each frozen row says what went wrong.
func TestOverviewIsBounded(t *testing.T) {
	now := time.Now()
	d, _, _ := newTestDispatcher(t)
	layout := provision.Layout{Zone: "example.com", UnitPrefix: "odoo19e"}
	var list []provision.Instance
	for i := range 100 {
		inst := layout.NewInstance(fmt.Sprintf("i%03d", i), provision.SSLHTTP)
		inst.State, inst.Ports.HTTP = provision.StateReady, 8000+i
		list = append(list, inst)
	}
	var mu sync.Mutex
	at, most := 0, 0
	d.OverviewSources = &OverviewSources{
		Instances: func(context.Context) ([]provision.Instance, error) { return list, nil },
		Unit: func(context.Context, string) (provision.ServiceStatus, error) {
			mu.Lock()
			at++
			most = max(most, at)
			mu.Unlock()
			time.Sleep(5 * time.Millisecond) // a D-Bus round trip, generously
			mu.Lock()
			at--
			mu.Unlock()
			return provision.ServiceStatus{ActiveState: "active", SubState: "running", MemoryBytes: 100 << 20}, nil
		},
		Health: func(ctx context.Context, port int) string {
			if port%10 == 0 {
				<-ctx.Done()
				return "no answer: " + ctx.Err().Error()
			}
			return ""
		},
	}
	start := time.Now()
	ov, err := d.Overview(context.Background())
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if took > OverviewProbeTimeout+time.Second {
		t.Errorf("the overview of 100 instances, 10 frozen, took %s; want about %s", took, OverviewProbeTimeout)
	}
	if most > OverviewParallel {
		t.Errorf("%d units read at once, want at most %d", most, OverviewParallel)
	}
	failing := 0
	for _, o := range ov.Instances {
		if o.Condition == ConditionFailing {
			failing++
			if !strings.Contains(o.Health, "deadline exceeded") {
				t.Errorf("%s: health %q", o.Instance.Name, o.Health)
			}
		}
	}
	if failing != 10 || len(ov.Instances) != 100 {
		t.Errorf("%d rows, %d failing; want 100 and 10", len(ov.Instances), failing)
	}
	t.Logf("overview of 100 instances (10 frozen): %s", took.Round(time.Millisecond))

	// Without frozen ones, with the watcher's verdicts: no live check.
	d.OverviewSources.Verdict = func(string) (string, time.Time, bool) { return "", now, true }
	start = time.Now()
	if _, err := d.Overview(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("overview of 100 instances from the watcher's verdicts: %s", time.Since(start).Round(time.Millisecond))
}

// TestHomeHonoursTheRole: a user off the allowlist holds RoleNone, a
// viewer RoleViewer; a grant limited to another channel gives nothing.
func TestHomeHonoursTheRole(t *testing.T) {
	al, err := ParseAllowlist(strings.NewReader("viewer slack user U0VIEW001\nadmin slack user U0ELSE001 C0OPS0001\n"), "test")
	if err != nil {
		t.Fatal(err)
	}
	d := &Dispatcher{Allowlist: al}
	for _, c := range []struct {
		user string
		want Role
	}{{"U0STRANGE", RoleNone}, {"U0VIEW001", RoleViewer}, {"U0ELSE001", RoleNone}} {
		if got := d.HomeRole(Identity{Platform: "slack", UserID: c.user}, "D0HOME001"); got != c.want {
			t.Errorf("the home role of %s is %v, want %v", c.user, got, c.want)
		}
	}
}
