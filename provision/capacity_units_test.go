package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tableUnits answers Status from a table, counting the calls, and
// Statuses from the same table in one call.
type tableUnits struct {
	ServiceManager
	table            map[string]ServiceStatus
	status, statuses atomic.Int32
	err              error
}

func (u *tableUnits) lookup(unit string) ServiceStatus {
	if st, ok := u.table[unit]; ok {
		return st
	}
	return ServiceStatus{Unit: unit, ActiveState: "inactive", SubState: "dead"}
}

func (u *tableUnits) Status(_ context.Context, unit string) (ServiceStatus, error) {
	u.status.Add(1)
	return u.lookup(unit), nil
}

func (u *tableUnits) Statuses(_ context.Context, units []string) ([]ServiceStatus, error) {
	u.statuses.Add(1)
	if u.err != nil {
		return nil, u.err
	}
	out := make([]ServiceStatus, len(units))
	for i, unit := range units {
		out[i] = u.lookup(unit)
	}
	return out, nil
}

// Capacity reads every instance's unit in one bulk call when it can, and
// the report holds what one Status per instance would have said, in the
// order of the instances; without a bulk reader it asks Status per unit.
// A failed bulk read is said in the report, which is still given.
func TestCapacityReadsUnitsInBulk(t *testing.T) {
	layout := Layout{Zone: "example.com", UnitPrefix: "odoo19e", ProdRoot: "/srv/odoo", UnitDir: "/etc/systemd/system"}
	var list []Instance
	units := &tableUnits{table: map[string]ServiceStatus{}}
	for i := range 500 {
		inst := layout.NewInstance(fmt.Sprintf("shop%03d", i), SSLHTTP)
		inst.State = StateReady
		list = append(list, inst)
		if i%3 != 0 {
			units.table[inst.Unit] = ServiceStatus{Unit: inst.Unit, Loaded: true, ActiveState: "active", SubState: "running", MainPID: uint32(1000 + i), MemoryBytes: uint64(i+1) << 20}
		}
	}
	const gib = 1 << 30
	host := Host{Store: instancesStore{list: list}, Services: units, HostFacts: fixedFacts{MemTotal: 16 * gib, MemAvailable: 8 * gib, DiskFree: 100 * gib}}

	host.UnitStatuses = units
	rep, err := NewService(Config{Host: host, Layout: layout}, BackupConfig{}).Capacity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if units.statuses.Load() != 1 || units.status.Load() != 0 {
		t.Errorf("bulk reader: %d Statuses and %d Status calls, want 1 and 0", units.statuses.Load(), units.status.Load())
	}
	var want []ServiceStatus
	for _, inst := range list {
		st, _ := (&tableUnits{table: units.table}).Status(context.Background(), inst.Unit)
		want = append(want, st)
	}
	if diff := cmp.Diff(want, rep.Services); diff != "" {
		t.Errorf("report's units differ from one Status each (-Status +report):\n%s", diff)
	}

	host.UnitStatuses = nil
	units.statuses.Store(0)
	rep, err = NewService(Config{Host: host, Layout: layout}, BackupConfig{}).Capacity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, rep.Services); diff != "" || units.status.Load() != 500 {
		t.Errorf("without a bulk reader: %d Status calls, report differs (-want +got):\n%s", units.status.Load(), diff)
	}

	host.UnitStatuses = &tableUnits{err: errors.New("systemd: statuses: list units: connection closed")}
	rep, err = NewService(Config{Host: host, Layout: layout}, BackupConfig{}).Capacity(context.Background())
	if err != nil {
		t.Fatalf("a failed bulk read failed the report: %v", err)
	}
	if rep.Services != nil || !strings.Contains(rep.ServicesError, "connection closed") || len(rep.Instances) != 500 {
		t.Errorf("failed bulk read: services %d, error %q, instances %d", len(rep.Services), rep.ServicesError, len(rep.Instances))
	}
}
