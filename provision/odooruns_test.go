package provision_test

import (
	"context"
	"strings"
	"testing"

	. "odoobot/provision"
	"odoobot/provision/sysusers"
	"odoobot/provision/tree"
)

// oneInstanceStore answers Instance with inst and nothing else: any other
// call (a job recorded, an instance reserved) panics.
type oneInstanceStore struct {
	Store
	inst Instance
}

func (s oneInstanceStore) Instance(_ context.Context, name string) (Instance, error) {
	if name != s.inst.Name {
		return Instance{}, ErrInstanceNotFound
	}
	return s.inst, nil
}

// TestOdooRunsRequired: a host wired without OdooRuns refuses a
// neutralized clone and an upgrade when they are asked for, saying why,
// recording nothing; the steps that run Odoo fail the same way rather
// than panic.
func TestOdooRunsRequired(t *testing.T) {
	l := Layout{Zone: "example.com", UnitPrefix: "odoo19e", ProdRoot: t.TempDir(), UnitDir: t.TempDir()}
	src := l.NewInstance("acme", SSLHTTP)
	src.State, src.Release = StateReady, ReleaseRecord{Key: "0123456789abcdef", Commit: "c0ffee"}
	d := NewServiceForTest(Config{
		Host:   Host{Users: sysusers.Host{}, Files: tree.New(l), Store: oneInstanceStore{inst: src}, Copies: struct{ DatabaseCopies }{}, Targets: struct{ ReleaseTargets }{}},
		Layout: l, Rules: NameRules{Zone: "example.com", UnitPrefix: "odoo19e"}, ServiceUser: "daemon",
	})
	ctx := context.Background()
	const want = "no Odoo runner configured"

	if _, err := d.Clone(ctx, CloneRequest{Source: "acme", Name: "acme-staging", Neutralize: true}); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("a neutralized clone without OdooRuns: %v, want a refusal saying %q", err, want)
	}
	if _, err := d.Upgrade(ctx, UpgradeRequest{JobRequest: JobRequest{Name: "acme"}, Commit: "feedface"}); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("an upgrade without OdooRuns: %v, want a refusal saying %q", err, want)
	}

	if err := d.NeutralizeForTest(ctx, src); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("the neutralize step without OdooRuns: %v, want %q", err, want)
	}
	if err := d.OdooUpdateForTest(ctx, src); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("the update step without OdooRuns: %v, want %q", err, want)
	}
}
