package provision_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"odoobot/provision"
)

func TestUpdateSetFor(t *testing.T) {
	base := func() provision.ModuleSums {
		return provision.ModuleSums{Core: "c", Modules: map[string]provision.ModuleSum{
			"base": {Sum: "b"}, "web": {Sum: "w"}, "sale": {Sum: "s"}, "stock": {Sum: "k"},
		}}
	}
	with := func(edit func(*provision.ModuleSums)) provision.ModuleSums {
		s := base()
		edit(&s)
		return s
	}
	cases := []struct {
		name    string
		new     provision.ModuleSums
		old     provision.ModuleSums
		all     bool
		modules string
		auto    string
		why     string
	}{
		{name: "nothing changed", new: base(), why: "no module changed"},
		{name: "one module", new: with(func(s *provision.ModuleSums) { s.Modules["sale"] = provision.ModuleSum{Sum: "s2"} }), modules: "sale", why: "sale changed"},
		{name: "two modules", new: with(func(s *provision.ModuleSums) {
			s.Modules["sale"] = provision.ModuleSum{Sum: "s2"}
			s.Modules["stock"] = provision.ModuleSum{Sum: "k2"}
		}), modules: "sale,stock", why: "sale, stock changed"},
		{name: "core", new: with(func(s *provision.ModuleSums) { s.Core = "c2" }), all: true, why: "core changed"},
		{name: "base", new: with(func(s *provision.ModuleSums) { s.Modules["base"] = provision.ModuleSum{Sum: "b2"} }), all: true, why: "base module changed"},
		{name: "old unknown", old: provision.ModuleSums{}, new: base(), all: true, why: "unknown"},
		{name: "new auto-install module", new: with(func(s *provision.ModuleSums) {
			s.Modules["sale_stock"] = provision.ModuleSum{Sum: "x", AutoInstall: true}
			s.Modules["extra"] = provision.ModuleSum{Sum: "y"}
		}), auto: "sale_stock", why: "new auto-install modules"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			old := c.old
			if old.Modules == nil && c.name != "old unknown" {
				old = base()
			}
			set := provision.UpdateSetFor(old, c.new)
			if set.All != c.all || strings.Join(set.Modules, ",") != c.modules || strings.Join(set.NewAutoInstall, ",") != c.auto {
				t.Errorf("set = %+v, want all=%v modules=%q auto=%q", set, c.all, c.modules, c.auto)
			}
			if !strings.Contains(set.Why, c.why) {
				t.Errorf("why = %q, want it to say %q", set.Why, c.why)
			}
			if set.Empty() != (!c.all && c.modules == "") {
				t.Errorf("Empty() = %v", set.Empty())
			}
		})
	}
}

// upgradeSaying upgrades acme on w and returns what its thread said.
func upgradeSaying(t *testing.T, w *world) string {
	t.Helper()
	var said []string
	var mu sync.Mutex
	task, err := w.s.Upgrade(context.Background(), provision.UpgradeRequest{JobRequest: provision.JobRequest{Name: "acme", By: "test", Subscribe: []provision.Subscriber{func(e provision.Event) {
		mu.Lock()
		defer mu.Unlock()
		said = append(said, e.Step+": "+e.Message)
	}}}, Target: "latest"})
	if err != nil {
		t.Fatal(err)
	}
	job, _ := task.Wait(context.Background())
	if job.State != provision.JobSucceeded {
		t.Fatalf("upgrade ended %s: %s", job.State, job.Error)
	}
	mu.Lock()
	defer mu.Unlock()
	return strings.Join(said, "\n")
}

func TestUpgradeUpdatesOnlyTheChangedModules(t *testing.T) {
	h := newHost()
	h.Sums = releaseSums("sale")
	w := newWorld(t, h, nil)
	create(t, w, "acme", provision.SSLHTTP)
	said := upgradeSaying(t, w)
	db, _ := h.Database("prod-acme")
	if db.UpdatedTo != "beef00 (sale)" {
		t.Errorf("production was updated to %q, want only sale updated to beef00", db.UpdatedTo)
	}
	for _, want := range []string{"release: Odoo", "sale changed: Odoo updates it where installed"} {
		if !strings.Contains(said, want) {
			t.Errorf("the thread does not say %q:\n%s", want, said)
		}
	}
}

func TestUpgradeThatChangesNoModuleOnlyRestarts(t *testing.T) {
	h := newHost()
	h.Sums = releaseSums()
	w := newWorld(t, h, nil)
	create(t, w, "acme", provision.SSLHTTP)
	said := upgradeSaying(t, w)
	db, _ := h.Database("prod-acme")
	if db.UpdatedTo != "" {
		t.Errorf("production's database was updated (%q); nothing changed, it must be left alone", db.UpdatedTo)
	}
	if !strings.Contains(said, "update: no module to update") {
		t.Errorf("the thread does not say nothing was updated:\n%s", said)
	}
	inst, err := h.Store().Instance(context.Background(), "acme")
	if err != nil || inst.Release.Commit != "beef00" {
		t.Errorf("acme runs %q (%v), want the new release recorded", inst.Release.Commit, err)
	}
}

func TestUpgradeWithoutChecksumsUpdatesEveryModule(t *testing.T) {
	h := newHost()
	w := newWorld(t, h, nil)
	create(t, w, "acme", provision.SSLHTTP)
	said := upgradeSaying(t, w)
	db, _ := h.Database("prod-acme")
	if db.UpdatedTo != "beef00" {
		t.Errorf("production was updated to %q, want every module (-u all) to beef00", db.UpdatedTo)
	}
	if !strings.Contains(said, "-u all") {
		t.Errorf("the thread does not say every module is updated:\n%s", said)
	}
}
