package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/provision"
)

// TestSystemdStatusesMatchStatus: the bulk read capacity uses reports
// every unit as Status does one at a time (a running unit with its PID,
// memory and start time, a stopped one, one systemd does not know), in
// the order asked, across more units than one ListUnitsByNames call
// takes; and a bad name is refused before anything is asked.
func TestSystemdStatusesMatchStatus(t *testing.T) {
	needSandbox(t)
	m := newSystemdManager(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	running, path := testUnit(t, m)
	if err := m.Install(ctx, path, []byte("[Unit]\nDescription=odoobot e2e statuses\n\n[Service]\nExecStart=/bin/sleep 600\n\n[Install]\nWantedBy=multi-user.target\n")); err != nil {
		t.Fatalf("Install: %v", err)
	}
	if err := m.Start(ctx, running); err != nil {
		t.Fatalf("Start: %v", err)
	}
	stopped, spath := testUnit(t, m)
	if err := m.Install(ctx, spath, []byte("[Service]\nExecStart=/bin/sleep 600\n")); err != nil {
		t.Fatalf("Install: %v", err)
	}
	units := []string{running, "nginx.service", stopped}
	for i := range 600 {
		units = append(units, fmt.Sprintf("odoobot-test-absent-%d.service", i))
	}
	units = append(units, running)

	start := time.Now()
	got, err := m.Statuses(ctx, units)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("Statuses: %v", err)
	}
	if len(got) != len(units) {
		t.Fatalf("Statuses returned %d statuses for %d units", len(got), len(units))
	}
	for i, u := range units {
		want, err := m.Status(ctx, u)
		if err != nil {
			t.Fatalf("Status %s: %v", u, err)
		}
		// The bulk read carries no CPU figure (the capacity verb needs
		// none), and a running unit's memory moves between two reads.
		want.CPUNanos = 0
		live := want.Running()
		if diff := cmp.Diff(want, got[i], cmp.Comparer(func(a, b uint64) bool { return a == b || live })); diff != "" {
			t.Errorf("unit %d %s: Statuses differs from Status (-Status +Statuses):\n%s", i, u, diff)
		}
	}
	if st := got[0]; !st.Running() || st.MainPID == 0 || st.MemoryBytes == 0 || st.Since.IsZero() {
		t.Errorf("running unit read as %+v, want active with its PID, memory and start time", st)
	}
	if st := got[2]; !st.Loaded || st.ActiveState != "inactive" || st.MainPID != 0 {
		t.Errorf("stopped unit read as %+v", st)
	}
	if st := got[3]; st.Loaded || st.ActiveState != "inactive" {
		t.Errorf("absent unit read as %+v", st)
	}
	t.Logf("Statuses of %d units took %s", len(units), took)

	if _, err := m.Statuses(ctx, []string{running, "../etc/passwd"}); err == nil {
		t.Error("a bad unit name was accepted")
	}
	var _ provision.UnitStatuses = m
}
