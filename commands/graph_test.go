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

// fakeGrapher draws fixed bytes, or fails with err.
type fakeGrapher struct {
	png []byte
	err error
	got []string // the instances asked for
}

func (g *fakeGrapher) StatusGraph(_ context.Context, name string) ([]byte, error) {
	g.got = append(g.got, name)
	return g.png, g.err
}
func (g *fakeGrapher) CapacityGraph(context.Context) ([]byte, error) { return g.png, g.err }

// TestStatusAndCapacityAttachTheirGraph: the graph comes after the text
// answer; without samples the text says so and nothing is attached; a
// graph that cannot be drawn leaves the answer standing and says why.
func TestStatusAndCapacityAttachTheirGraph(t *testing.T) {
	d, _, _ := newTestDispatcher(t)
	layout := provision.Layout{Zone: "example.com", UnitPrefix: "odoo19e"}
	inst := layout.NewInstance("acme", provision.SSLHTTP)
	inst.State = provision.StateReady
	d.Capacity = &capacityCreator{rep: provision.CapacityReport{Root: "/srv", Instances: []provision.Instance{inst}, Model: provision.DefaultCapacityModel()}}
	d.Operator = &provision.Operator{Files: tree.New(layout), Health: probe.Health{}, Ports: ports.Host{}, Users: sysusers.Host{}, Store: lookupStore{[]provision.Instance{inst}}, Layout: layout,
		Services: statusServices{status: map[string]provision.ServiceStatus{"odoo19e-prod-acme.service": {ActiveState: "inactive", SubState: "dead"}}}}
	viewer := Identity{Platform: "slack", UserID: "U0VIEW001"}
	run := func(text string) *recordingResponder {
		t.Helper()
		r := &recordingResponder{}
		if _, err := d.Handle(context.Background(), Request{Identity: viewer, Channel: "C1", Text: text}, r); err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		return r
	}
	answer := func(r *recordingResponder) string { return strings.Join(append(r.replies, r.long...), "\n") }

	g := &fakeGrapher{png: []byte("\x89PNG fake")}
	d.Graphs = g
	for _, c := range []struct{ text, file string }{{"status acme", "acme-24h.png"}, {"capacity", "capacity-7d.png"}} {
		r := run(c.text)
		if len(r.attached) != 1 || r.attached[0].name != c.file || string(r.attached[0].png) != "\x89PNG fake" || r.attached[0].alt == "" {
			t.Errorf("%s: attached %+v, want %s with its text alternative", c.text, r.attached, c.file)
		}
		if answer(r) == "" || len(r.privates) != 0 {
			t.Errorf("%s: answer %q, privates %q; want the text answer and no complaint", c.text, answer(r), r.privates)
		}
	}
	if len(g.got) != 1 || g.got[0] != "acme" {
		t.Errorf("status graphs asked for %q, want acme's", g.got)
	}

	g.png, g.err = nil, provision.ErrNoSamples
	for _, text := range []string{"status acme", "capacity"} {
		r := run(text)
		if len(r.attached) != 0 || !strings.Contains(answer(r), "no samples yet") {
			t.Errorf("%s without samples: attached %d, answer %q; want the text to say so and no picture", text, len(r.attached), answer(r))
		}
	}

	g.err = errors.New("graph: draw: boom")
	for _, text := range []string{"status acme", "capacity"} {
		r := run(text)
		if len(r.attached) != 0 || !strings.Contains(answer(r), "could not be drawn (graph: draw: boom)") || len(r.privates) != 0 {
			t.Errorf("%s with a failing graph: answer %q, privates %q; want the text answer saying so", text, answer(r), r.privates)
		}
	}

	d.Graphs = nil
	if r := run("status acme"); len(r.attached) != 0 || len(r.replies) != 1 {
		t.Errorf("no grapher: attached %d replies %q, want the text alone", len(r.attached), r.replies)
	}
}
