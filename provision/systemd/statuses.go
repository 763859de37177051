package systemd

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"

	"odoobot/provision"
)

var _ provision.UnitStatuses = (*Manager)(nil)

// statusChunk is how many units one ListUnitsByNames call asks for;
// statusReaders is how many property reads Statuses keeps in flight.
const (
	statusChunk   = 256
	statusReaders = 8
)

// Statuses reads the status of every unit in units, in their order, as
// Status reports each: one ListUnitsByNames call per 256 units for the
// load and active states, then, for the units not inactive only, their
// MainPID, MemoryCurrent and ActiveEnterTimestamp (three small property
// reads each, at most 8 units at a time, where Status reads every
// property of the unit twice). An
// invalid unit name is an error, and nothing is asked.
func (m *Manager) Statuses(ctx context.Context, units []string) ([]provision.ServiceStatus, error) {
	for _, u := range units {
		if err := checkUnit(u); err != nil {
			return nil, fmt.Errorf("systemd: statuses: %w", err)
		}
	}
	out := make([]provision.ServiceStatus, 0, len(units))
	for start := 0; start < len(units); start += statusChunk {
		chunk := units[start:min(start+statusChunk, len(units))]
		list, err := m.conn.ListUnitsByNamesContext(ctx, chunk)
		if err != nil {
			return nil, fmt.Errorf("systemd: statuses: list units: %w", err)
		}
		byName := make(map[string]int, len(list))
		for i, u := range list {
			byName[u.Name] = i
		}
		sts := make([]provision.ServiceStatus, len(chunk))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(statusReaders)
		for j, unit := range chunk {
			props := map[string]any{"LoadState": "not-found", "ActiveState": "inactive", "SubState": "dead"}
			if i, ok := byName[unit]; ok {
				props = map[string]any{"LoadState": list[i].LoadState, "ActiveState": list[i].ActiveState, "SubState": list[i].SubState}
			}
			if props["ActiveState"] == "inactive" || props["LoadState"] == "not-found" {
				sts[j] = statusFrom(unit, props, nil)
				continue
			}
			g.Go(func() error {
				svc, err := m.runtimeProps(gctx, unit, props)
				if err != nil {
					return typed(unit, fmt.Errorf("systemd: statuses: %s: %w", unit, err))
				}
				sts[j] = statusFrom(unit, props, svc)
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		out = append(out, sts...)
	}
	return out, nil
}

// runtimeProps reads what a unit that is not inactive has beyond its
// states: ActiveEnterTimestamp into props, MainPID and MemoryCurrent
// into the returned Service properties.
func (m *Manager) runtimeProps(ctx context.Context, unit string, props map[string]any) (map[string]any, error) {
	p, err := m.conn.GetUnitPropertyContext(ctx, unit, "ActiveEnterTimestamp")
	if err != nil {
		return nil, err
	}
	props["ActiveEnterTimestamp"] = p.Value.Value()
	svc := map[string]any{}
	for _, name := range []string{"MainPID", "MemoryCurrent"} {
		p, err := m.conn.GetUnitTypePropertyContext(ctx, unit, "Service", name)
		if err != nil {
			return nil, err
		}
		svc[name] = p.Value.Value()
	}
	return svc, nil
}
