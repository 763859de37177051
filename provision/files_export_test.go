package provision

import "context"

// Hooks for the tests of package provision_test, which run the verbs'
// steps on real files through the tree driver (provision/tree imports
// provision, so those tests cannot be in package provision).

// NewServiceForTest is a Service with cfg as it is (no defaults).
func NewServiceForTest(cfg Config) *Service { return &Service{cfg: cfg} }

// IsolationForTest runs an isolation's odoo.conf step and its undo.
type IsolationForTest struct{ iso *isolation }

// IsolationForTest is an isolation of inst to user and role, its role's
// password already made.
func (s *Service) IsolationForTest(inst Instance, user, role, password string) IsolationForTest {
	return IsolationForTest{&isolation{d: s, inst: inst, user: user, role: role, paths: s.cfg.Layout.Paths(inst), password: password}}
}

// RewriteConf is the conf step.
func (x IsolationForTest) RewriteConf(ctx context.Context) error { return x.iso.rewriteConf(ctx) }

// RestoreConf is the conf step's undo.
func (x IsolationForTest) RestoreConf(ctx context.Context) error { return x.iso.restoreConf(ctx) }

// UpgradeForTest runs an upgrade's release switch.
type UpgradeForTest struct{ u *upgradeRun }

// UpgradeForTest is an upgrade of inst from the release in oldDir to the
// one in newDir.
func (s *Service) UpgradeForTest(inst Instance, oldDir, newDir string) UpgradeForTest {
	u := s.upgradeRun(inst, "test")
	u.old, u.rel = Release{Dir: oldDir}, Release{Dir: newDir}
	return UpgradeForTest{u}
}

// PrepareFiles makes the new release's odoo.conf and unit.
func (x UpgradeForTest) PrepareFiles(ctx context.Context) error { return x.u.prepareFiles(ctx) }

// SwitchRelease is the switch step.
func (x UpgradeForTest) SwitchRelease(ctx context.Context) error { return x.u.switchRelease(ctx) }

// SwitchBack is the switch step's undo.
func (x UpgradeForTest) SwitchBack(ctx context.Context) error { return x.u.switchBack(ctx) }

// WriteTestConf writes the test copy's odoo.conf.
func (x UpgradeForTest) WriteTestConf(ctx context.Context) error {
	return x.u.writeConf(ctx, ConfUpgradeTest, x.u.newConf)
}

// WriteFilesForTest runs a creation's files step for inst on release.
func (s *Service) WriteFilesForTest(ctx context.Context, inst Instance, release Release) error {
	cr := &creation{c: s, inst: inst, paths: s.cfg.Layout.Paths(inst), release: release}
	return cr.writeFiles(ctx)
}

// The verbs a trust check is for.
const (
	TrustJob     = trustJob
	TrustIsolate = trustIsolate
	TrustDelete  = trustDelete
)

// TrustedForTest is the check a job makes of an instance read back from
// the store.
func (s *Service) TrustedForTest(inst Instance, verb trustFor) error { return s.trusted(inst, verb) }
