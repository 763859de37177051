package provision

import "context"

// NeutralizeForTest runs a clone's neutralize step on inst.
func (s *Service) NeutralizeForTest(ctx context.Context, inst Instance) error {
	cl := &cloning{d: s, cr: &creation{c: s, inst: inst, paths: s.cfg.Layout.Paths(inst)}, src: inst}
	return cl.neutralize(ctx)
}

// OdooUpdateForTest runs an upgrade's module update on inst's database.
func (s *Service) OdooUpdateForTest(ctx context.Context, inst Instance) error {
	u := s.upgradeRun(inst, "tester")
	return u.odooUpdate(ctx, u.paths.Conf, inst.Internal)
}
