package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"odoobot/config"
	"odoobot/provision"
	"odoobot/provision/odoo"
	"odoobot/provision/tenant"
)

// releaseConfig is the release builder's configuration from cfg, built as
// build. It installs no Debian package (InstallPackages nil): a release
// that lacks one fails naming it and `odoobot setup`, since odoobot's
// unit cannot write /usr. Setup adds the installer.
func releaseConfig(cfg *config.Config, build *odoo.BuildUser, log *slog.Logger) odoo.ReleaseConfig {
	return odoo.ReleaseConfig{
		CacheDir: filepath.Join(cfg.StateDir, "releases"), Repo: cfg.OdooRepo, Branch: cfg.Branch(), Commit: cfg.OdooCommit,
		EnterpriseRepo: cfg.EnterpriseRepo, Python: cfg.PythonVersion,
		Deps: cfg.PythonDeps, PipArgs: cfg.PipArguments(), BuildUser: build, Logger: log,
	}
}

// Setup is `odoobot setup`, run once as root outside odoobot's unit,
// and again after ODOO_REPO, ODOO_BRANCH or ODOO_COMMIT change: it makes
// BUILD_USER when missing and builds the configured release (the commit
// ODOO_COMMIT pins, else ODOO_BRANCH's head) into the release cache, as
// serve's first creation would, except that in debian mode it installs
// with apt-get the python3-* packages the source asks for and the host
// lacks (odoo.AptInstall). Serve then finds the release built, and
// installs nothing. progress receives the build's phases. It needs no
// PostgreSQL, systemd or nginx.
func Setup(ctx context.Context, cfg *config.Config, log *slog.Logger, progress func(phase string)) (provision.Release, error) {
	python, err := odoo.CheckPython(cfg.PythonVersion)
	if err == nil {
		err = odoo.CheckDeps(cfg.PythonDeps, python)
	}
	if err != nil {
		return provision.Release{}, fmt.Errorf("setup: %w", err)
	}
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return provision.Release{}, fmt.Errorf("setup: state dir: %w", err)
	}
	build, err := odoo.EnsureBuildUser(ctx, tenant.New(tenant.Config{Logger: log}), cfg.BuildUser, filepath.Join(cfg.StateDir, "build-home"))
	if err != nil {
		return provision.Release{}, fmt.Errorf("setup: %w", err)
	}
	rc := releaseConfig(cfg, build, log)
	rc.InstallPackages = odoo.AptInstall
	rel, err := odoo.NewReleases(rc).Ensure(ctx, progress)
	if err != nil {
		return provision.Release{}, fmt.Errorf("setup: %w", err)
	}
	return rel, nil
}
