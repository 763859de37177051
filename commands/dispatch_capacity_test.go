package commands

import (
	"context"
	"errors"
	"strings"
	"testing"

	"odoobot/provision"
	"odoobot/provision/ports"
	"odoobot/provision/probe"
	"odoobot/provision/sysusers"
	"odoobot/provision/tree"
)

// capacityCreator is a Creator that also reports capacity.
type capacityCreator struct {
	countingCreator
	rep provision.CapacityReport
	err error
}

func (c *capacityCreator) Capacity(context.Context) (provision.CapacityReport, error) {
	return c.rep, c.err
}

// lookupStore is the store side of an Operator for the capacity verb.
type lookupStore struct{ list []provision.Instance }

func (s lookupStore) Instance(_ context.Context, name string) (provision.Instance, error) {
	for _, i := range s.list {
		if i.Name == name {
			return i, nil
		}
	}
	return provision.Instance{}, provision.ErrInstanceNotFound
}
func (s lookupStore) Instances(context.Context) ([]provision.Instance, error) { return s.list, nil }
func (s lookupStore) ActiveJob(context.Context, string) (provision.Job, bool, error) {
	return provision.Job{}, false, nil
}

// statusServices answers Status from a table; the other methods are not
// called by the capacity verb.
type statusServices struct {
	provision.ServiceManager
	status map[string]provision.ServiceStatus
}

func (s statusServices) Status(_ context.Context, unit string) (provision.ServiceStatus, error) {
	st, ok := s.status[unit]
	if !ok {
		return st, errors.New("no such unit")
	}
	return st, nil
}

func TestCapacityVerb(t *testing.T) {
	d, _, _ := newTestDispatcher(t)
	layout := provision.Layout{Zone: "example.com", UnitPrefix: "odoo19e"}
	var insts []provision.Instance
	for _, name := range []string{"acme", "beta", "gone"} {
		inst := layout.NewInstance(name, provision.SSLHTTP)
		inst.State = provision.StateReady
		insts = append(insts, inst)
	}
	const gib = 1 << 30
	c := &capacityCreator{rep: provision.CapacityReport{
		Root:      "/home/mtg/apps/production/odoo",
		Facts:     provision.HostFacts{MemTotal: 4 * gib, MemAvailable: 2 * gib, DiskFree: 50 * gib},
		Model:     provision.DefaultCapacityModel(),
		Instances: insts, Fits: 3, More: 0,
		Next: provision.Check(provision.HostFacts{MemTotal: 4 * gib, MemAvailable: 2 * gib, DiskFree: 50 * gib}, 3, provision.DefaultCapacityModel()),
	}}
	d.Capacity = c
	d.Operator = &provision.Operator{Files: tree.New(layout), Health: probe.Health{}, Ports: ports.Host{}, Users: sysusers.Host{}, Store: lookupStore{insts}, Layout: layout, Services: statusServices{status: map[string]provision.ServiceStatus{
		"odoo19e-prod-acme.service": {ActiveState: "active", SubState: "running", MainPID: 10, MemoryBytes: 300 << 20},
		"odoo19e-prod-beta.service": {ActiveState: "inactive", SubState: "dead"},
	}}}
	viewer := Identity{Platform: "slack", UserID: "U0VIEW001"}
	r := &recordingResponder{}
	if _, err := d.Handle(context.Background(), Request{Identity: viewer, Channel: "C1", Text: "capacity"}, r); err != nil {
		t.Fatal(err)
	}
	// A table: sent as long output, which chat shows as a code block.
	if len(r.long) != 1 || len(r.replies) != 0 {
		t.Fatalf("long %q replies %q privates %q, want one long answer", r.long, r.replies, r.privates)
	}
	out := r.long[0]
	for _, want := range []string{
		"memory     4.0 GiB total, 2.0 GiB available",
		"disk       50.0 GiB free under /home/mtg/apps/production/odoo",
		"1.0 GiB of memory and 2.0 GiB of disk per instance",
		"instances  3 now, 3 in all under the model: 0 more fit",
		"next       refused: this host has 4.0 GiB of memory: 3 instances take 3.0 GiB",
		"acme                 ready     300.0 MiB",
		"beta                 ready     - (inactive)",
		"gone                 ready     ? (",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the reply lacks %q:\n%s", want, out)
		}
	}

	c.err = errors.New("capacity: read memory: boom")
	r = &recordingResponder{}
	d.Handle(context.Background(), Request{Identity: viewer, Channel: "C1", Text: "capacity"}, r)
	if len(r.privates) != 1 || !strings.Contains(r.privates[0], "boom") {
		t.Errorf("a failing report: privates %q replies %q", r.privates, r.replies)
	}

	d.Capacity = nil
	r = &recordingResponder{}
	d.Handle(context.Background(), Request{Identity: viewer, Channel: "C1", Text: "capacity"}, r)
	if len(r.privates) != 1 || !strings.Contains(r.privates[0], "not available") {
		t.Errorf("no capacity report wired: privates %q", r.privates)
	}
}
