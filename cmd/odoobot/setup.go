package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"odoobot/config"
	"odoobot/internal/app"
	"odoobot/provision"
)

// setupVerb is `odoobot setup`: as root, outside odoobot's unit, it
// installs what serve needs and may not install itself (app.Setup: the
// configured release built, with the Debian packages it asks for), and
// prints each phase and the release it built.
func setupVerb(ctx context.Context, stdout, stderr io.Writer, cfg *config.Config, args []string) error {
	if len(args) > 0 {
		return &usageError{msg: "usage: odoobot setup"}
	}
	if os.Geteuid() != 0 {
		return errors.New("setup installs Debian packages and makes BUILD_USER: run it as root (sudo odoobot setup)")
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	fmt.Fprintf(stdout, "setup: the release of %s (%s) in %s mode\n", provision.RedactURLs(cfg.OdooRepo), pinOrBranch(cfg), cfg.PythonDeps)
	said, err := app.InitOffsite(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "setup:", said)
	if err := app.SetupPITR(ctx, cfg, func(s string) { fmt.Fprintln(stdout, "setup:", s) }); err != nil {
		return err
	}
	rel, err := app.Setup(ctx, cfg, log, func(phase string) { fmt.Fprintln(stdout, "setup:", phase) })
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "setup: done: Odoo %s %s at %s in %s, with every package it needs; serve installs nothing\n", rel.Version, rel.Edition, rel.Commit, rel.Dir)
	return nil
}

// pinOrBranch says which commit the configuration asks for.
func pinOrBranch(cfg *config.Config) string {
	if cfg.OdooCommit != "" {
		return "pinned at " + cfg.OdooCommit
	}
	return "the head of " + cfg.Branch()
}
