package commands

import (
	"context"
	"strings"
	"testing"

	"odoobot/provision"
)

// capacity shows each instance's memory from the units the report read
// in bulk, without a status per instance: no Operator is wired here, and
// the lines are those a status each would have given.
func TestCapacityVerbUsesReportUnits(t *testing.T) {
	d, _, _ := newTestDispatcher(t)
	layout := provision.Layout{Zone: "example.com", UnitPrefix: "odoo19e"}
	var insts []provision.Instance
	for _, name := range []string{"acme", "beta", "cold"} {
		inst := layout.NewInstance(name, provision.SSLHTTP)
		inst.State = provision.StateReady
		insts = append(insts, inst)
	}
	const gib = 1 << 30
	facts := provision.HostFacts{MemTotal: 16 * gib, MemAvailable: 8 * gib, DiskFree: 50 * gib}
	rep := provision.CapacityReport{
		Root: "/srv/odoo", Facts: facts, Model: provision.DefaultCapacityModel(),
		Instances: insts, Fits: 15, More: 12, Next: provision.Check(facts, 3, provision.DefaultCapacityModel()),
		Services: []provision.ServiceStatus{
			{ActiveState: "active", SubState: "running", MainPID: 10, MemoryBytes: 300 << 20},
			{ActiveState: "failed", SubState: "failed"},
			{ActiveState: "active", SubState: "running", MainPID: 12},
		},
	}
	d.Capacity = &capacityCreator{rep: rep}
	d.Operator = nil
	viewer := Identity{Platform: "slack", UserID: "U0VIEW001"}
	r := &recordingResponder{}
	if _, err := d.Handle(context.Background(), Request{Identity: viewer, Channel: "C1", Text: "capacity"}, r); err != nil {
		t.Fatal(err)
	}
	if len(r.long) != 1 {
		t.Fatalf("long %q replies %q privates %q, want one long answer", r.long, r.replies, r.privates)
	}
	for _, want := range []string{
		"acme                 ready     300.0 MiB",
		"beta                 ready     - (failed)",
		"cold                 ready     ? (not accounted)",
	} {
		if !strings.Contains(r.long[0], want) {
			t.Errorf("the reply lacks %q:\n%s", want, r.long[0])
		}
	}

	rep.Services, rep.ServicesError = nil, "systemd: statuses: list units: connection closed"
	d.Capacity = &capacityCreator{rep: rep}
	r = &recordingResponder{}
	d.Handle(context.Background(), Request{Identity: viewer, Channel: "C1", Text: "capacity"}, r)
	if len(r.long) != 1 || !strings.Contains(r.long[0], "acme                 ready     ? (systemd: statuses: list units: connection closed)") {
		t.Errorf("a failed bulk read: long %q privates %q", r.long, r.privates)
	}
}
