package provision_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"odoobot/provision"
)

// A stop on purpose disables the unit and records who stopped it and
// when; status says so; start enables the unit again and ends it.
func TestStopOnPurposeIsKeptUntilStart(t *testing.T) {
	w := newWorld(t, newHost(), nil)
	create(t, w, "acme", provision.SSLHTTP)
	at := time.Date(2026, 12, 7, 3, 4, 0, 0, time.UTC)
	h := w.h
	o := &provision.Operator{Store: h.Store(), Stopped: h.Store(), Services: h.Units(), Layout: planLayout,
		Health: h.Health(), Ports: h.Ports(), Users: h.Users(), Now: func() time.Time { return at }}
	ctx := context.Background()
	unitPath := planLayout.Paths(planLayout.NewInstance("acme", provision.SSLHTTP)).Unit

	if err := o.Stop(ctx, "acme", "olga"); err != nil {
		t.Fatal(err)
	}
	inst, _ := h.Store().Instance(ctx, "acme")
	if inst.StoppedBy != "olga" || !inst.StoppedAt.Equal(at) {
		t.Errorf("after stop: stopped by %q at %v, want olga at %v", inst.StoppedBy, inst.StoppedAt, at)
	}
	if u, _ := h.Unit(unitPath); u.Active || !u.Disabled {
		t.Errorf("after stop the unit is %+v, want stopped and disabled at boot", u)
	}
	st, err := o.Status(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if got := provision.FormatStatus(st, at); !strings.Contains(got, "stopped  on purpose by olga at 2026-12-07 03:04 UTC") {
		t.Errorf("status does not say who stopped it on purpose:\n%s", got)
	}

	if err := o.Start(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	inst, _ = h.Store().Instance(ctx, "acme")
	if inst.StoppedBy != "" || !inst.StoppedAt.IsZero() {
		t.Errorf("after start: still stopped by %q at %v", inst.StoppedBy, inst.StoppedAt)
	}
	if u, _ := h.Unit(unitPath); !u.Active || u.Disabled {
		t.Errorf("after start the unit is %+v, want running and enabled at boot", u)
	}
}

// A maintenance window is recorded with its end, who and why, shown by
// status while open, and ended by off; bad lengths and reasons are
// refused, changing nothing.
func TestMaintenanceWindow(t *testing.T) {
	w := newWorld(t, newHost(), nil)
	create(t, w, "acme", provision.SSLHTTP)
	now := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	h := w.h
	o := &provision.Operator{Store: h.Store(), Maintenance: h.Store(), Services: h.Units(), Layout: planLayout,
		Health: h.Health(), Ports: h.Ports(), Users: h.Users(), Now: func() time.Time { return now }}
	ctx := context.Background()
	for _, bad := range []struct {
		d      time.Duration
		reason string
	}{{30 * time.Second, ""}, {provision.MaxMaintenance + time.Hour, ""}, {time.Hour, "two\nlines"}, {time.Hour, strings.Repeat("x", 201)}} {
		if _, err := o.SetMaintenance(ctx, "acme", bad.d, bad.reason, "olga"); !errors.Is(err, provision.ErrServiceState) {
			t.Errorf("SetMaintenance(%s, %q) = %v, want refused", bad.d, bad.reason, err)
		}
	}
	if _, err := o.SetMaintenance(ctx, "acme", 0, "", "olga"); !errors.Is(err, provision.ErrServiceState) {
		t.Errorf("off with no window open = %v, want refused", err)
	}
	if inst, _ := h.Store().Instance(ctx, "acme"); inst.Maintenance != (provision.Maintenance{}) {
		t.Fatalf("refusals recorded %+v", inst.Maintenance)
	}
	m, err := o.SetMaintenance(ctx, "acme", 30*time.Minute, "moving the disk", "olga")
	want := provision.Maintenance{Until: now.Add(30 * time.Minute), By: "olga", Reason: "moving the disk"}
	if err != nil || m != want {
		t.Fatalf("SetMaintenance = %+v, %v; want %+v", m, err, want)
	}
	st, err := o.Status(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if got := provision.FormatStatus(st, now.Add(10*time.Minute)); !strings.Contains(got, "maintenance until 2026-12-07 03:30 UTC (20m0s more), opened by olga: moving the disk") {
		t.Errorf("status in the window:\n%s", got)
	}
	if got := provision.FormatStatus(st, now.Add(31*time.Minute)); strings.Contains(got, "maintenance") {
		t.Errorf("status after the window still shows it:\n%s", got)
	}
	if _, err := o.SetMaintenance(ctx, "acme", 0, "", "ivan"); err != nil {
		t.Fatal(err)
	}
	if inst, _ := h.Store().Instance(ctx, "acme"); inst.Maintenance.Active(now) {
		t.Errorf("after off the window is still open: %+v", inst.Maintenance)
	}
}
