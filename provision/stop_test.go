package provision_test

import (
	"context"
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
