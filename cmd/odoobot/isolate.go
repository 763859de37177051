package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"odoobot/bot/shell"
	"odoobot/config"
	"odoobot/internal/app"
	"odoobot/provision"
)

// isolateVerb is `odoobot isolate NAME [--yes]`: it moves an instance
// imported from API-DEV, which shares the service user and odoobot's
// database role, to a system user and role of its own, as every instance
// odoobot creates has. The instance is stopped for the move (seconds);
// any failure puts it back as it was. It asks for --yes, as delete does.
func isolateVerb(ctx context.Context, stdout, stderr io.Writer, cfg *config.Config, args []string) error {
	yes, name := false, ""
	for _, a := range args {
		switch {
		case a == "--yes" || a == "-y":
			yes = true
		case name == "" && !strings.HasPrefix(a, "-"):
			name = a
		default:
			return &usageError{msg: "usage: odoobot isolate NAME [--yes]"}
		}
	}
	if name == "" {
		return &usageError{msg: "usage: odoobot isolate NAME [--yes]"}
	}
	if !yes {
		return &usageError{msg: "isolate stops " + name + " while it moves it to its own user and database role: run it again with --yes"}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := app.New(ctx, cfg, log, hookOptions())
	if err != nil {
		return err
	}
	defer a.Close()
	if err := recoverJobs(ctx, stderr, a, nil); err != nil {
		return err
	}
	print := printEvents(stdout)
	by := shell.Identity().UserName
	task, err := a.Service.Isolate(ctx, provision.JobRequest{Name: name, By: by, Subscribe: []provision.Subscriber{print}})
	if err != nil {
		return err
	}
	job, err := task.Wait(ctx)
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil || job.State != provision.JobSucceeded {
		return jobFailed("isolate", []string{name}, job, err)
	}
	inst, err := a.Store.Instance(ctx, name)
	if err != nil {
		return err
	}
	if inst.User == "" {
		return errors.New("isolate " + name + ": the store does not record its user")
	}
	fmt.Fprintf(stdout, "%s now runs as system user %s, with database role %s owning %s\n", name, inst.User, inst.DBRole, inst.Internal)
	return printSharedRoleNote(ctx, stdout, a.Store.Instances, cfg.DBUser, true)
}
