package provision

import "context"

// NeutralizeForTest runs a clone's neutralize step on inst.
func (d *Service) NeutralizeForTest(ctx context.Context, inst Instance) error {
	cl := &cloning{d: d, cr: &creation{c: d, inst: inst, paths: d.cfg.Layout.Paths(inst)}, src: inst}
	return cl.neutralize(ctx)
}

// OdooUpdateForTest runs an upgrade's module update on inst's database.
func (d *Service) OdooUpdateForTest(ctx context.Context, inst Instance) error {
	u := d.upgradeRun(inst, "tester")
	return u.odooUpdate(ctx, u.paths.Conf, inst.Internal)
}
