package provision

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// instancesStore answers Instances; any other call panics.
type instancesStore struct {
	Store
	list []Instance
}

func (s instancesStore) Instances(context.Context) ([]Instance, error) { return s.list, nil }

// recordingCollector calls inUse once and keeps its answer.
type recordingCollector struct {
	got ReleasesInUse
	err error
}

func (c *recordingCollector) Collect(ctx context.Context, _ string, inUse func(context.Context) (ReleasesInUse, error)) (GCReport, error) {
	c.got, c.err = inUse(ctx)
	return GCReport{}, c.err
}

func TestCollectGarbageKeepsWhatInstancesRun(t *testing.T) {
	layout := Layout{Zone: "example.com", UnitPrefix: "odoo19e", ProdRoot: "/srv/odoo", UnitDir: "/etc/systemd/system"}
	acme := layout.NewInstance("acme", SSLHTTP)
	acme.State, acme.Release = StateReady, ReleaseRecord{Key: "0123456789abcdef", Commit: "c"}
	old := layout.NewInstance("old", SSLHTTP) // records no release
	old.State = StateReady
	gone := layout.NewInstance("gone", SSLHTTP)
	gone.State, gone.Release = StateDeleting, ReleaseRecord{Key: "fedcba9876543210", Commit: "d"}

	gc := &recordingCollector{}
	c := NewService(Config{Host: Host{Store: instancesStore{list: []Instance{acme, old, gone}}, GC: gc}, Layout: layout}, BackupConfig{})
	if _, err := c.CollectGarbage(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !gc.got.Keys[acme.Release.Key] || !gc.got.Keys[gone.Release.Key] || len(gc.got.Keys) != 2 {
		t.Errorf("in use: %v, want acme's and the instance being deleted's releases", gc.got.Keys)
	}
	p := layout.Paths(old)
	if !slices.Equal(gc.got.Files, []string{p.Conf, p.Unit}) {
		t.Errorf("files naming releases: %v, want old's odoo.conf and unit (it records no release)", gc.got.Files)
	}

	busy := layout.NewInstance("new", SSLHTTP)
	busy.State = StateCreating
	c = NewService(Config{Host: Host{Store: instancesStore{list: []Instance{acme, busy}}, GC: gc}, Layout: layout}, BackupConfig{})
	if _, err := c.CollectGarbage(context.Background()); !errors.Is(err, ErrCreationRunning) {
		t.Errorf("gc while new is being created: %v, want ErrCreationRunning", err)
	}

	c = NewService(Config{Host: Host{Store: instancesStore{}}, Layout: layout}, BackupConfig{})
	if _, err := c.CollectGarbage(context.Background()); err == nil {
		t.Error("gc without a collector configured succeeded; want an error saying so")
	}
}
