package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"odoobot/config"
	"odoobot/internal/app"
)

// gcVerb is `odoobot gc`: it removes the releases under STATE_DIR/releases
// and the template databases (with their spare, _init database, _owner
// role and filestore) that no instance uses, keeping the release used
// last for the next creation, and prints what it removed and kept. It
// removes nothing while an instance is being created or cloned, and
// fails saying so.
func gcVerb(ctx context.Context, stdout, stderr io.Writer, cfg *config.Config, args []string) error {
	if len(args) > 0 {
		return &usageError{msg: "usage: odoobot gc"}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := app.New(ctx, cfg, log, app.Options{Version: version})
	if err != nil {
		return err
	}
	defer a.Close()
	rep, err := a.Service.CollectGarbage(ctx)
	if err != nil {
		if len(rep.RemovedReleases)+len(rep.RemovedTemplates) > 0 {
			fmt.Fprintln(stdout, rep.String()) // what went before it stopped
		}
		return fmt.Errorf("gc: %w", err)
	}
	fmt.Fprintln(stdout, rep.String())
	return nil
}
