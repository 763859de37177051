package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"

	"odoobot/bot/shell"
	"odoobot/config"
	"odoobot/internal/app"
	"odoobot/provision"
)

// recoverVerb is `odoobot recover NAME [BACKUP]` and `odoobot recover
// --all`: on a server that does not have them, instances served again
// from their backups alone (provision.Service.Rebuild), fetched from the
// offsite repository when they are not kept here. --all rebuilds every
// instance whose newest offsite copy is not a delete's final backup and
// that this server does not have, one after the other, and fails naming
// each that could not be rebuilt.
//
// --take-over-dns lets each rebuild take over the DNS record the lost
// server made for its instance and point it here (provision.DNS.TakeOver);
// without it such a record is refused, naming the flag.
func recoverVerb(ctx context.Context, stdout, stderr io.Writer, cfg *config.Config, args []string) error {
	takeOver := false
	if i := slices.Index(args, "--take-over-dns"); i >= 0 {
		takeOver, args = true, slices.Delete(slices.Clone(args), i, i+1)
	}
	all := len(args) == 1 && args[0] == "--all"
	if !all && (len(args) < 1 || len(args) > 2 || args[0] == "" || args[0][0] == '-' || len(args) == 2 && args[1][0] == '-') {
		return &usageError{msg: "usage: odoobot recover NAME [BACKUP] [--take-over-dns] | odoobot recover --all [--take-over-dns]"}
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
	if err := a.CheckOffsite(ctx); err != nil {
		return err
	}
	names := []string{}
	backup := ""
	if all {
		if names, err = a.Service.OffsiteInstances(ctx); err != nil {
			return fmt.Errorf("recover --all: %w", err)
		}
		if len(names) == 0 {
			fmt.Fprintln(stdout, "recover --all: no instance to recover: every one offsite is here, or was deleted")
			return nil
		}
		fmt.Fprintf(stdout, "recover --all: %d instances: %v\n", len(names), names)
	} else {
		names = append(names, args[0])
		if len(args) == 2 {
			backup = args[1]
		}
	}
	var errs []error
	for _, name := range names {
		if err := rebuildOne(ctx, stdout, a, provision.RebuildRequest{Name: name, Backup: backup, TakeOverDNS: takeOver}); err != nil {
			if !all {
				return err
			}
			fmt.Fprintf(stdout, "✗ %s: %v\n", name, err)
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("recover --all: %d of %d not recovered:\n%w", len(errs), len(names), errors.Join(errs...))
	}
	return nil
}

// rebuildOne rebuilds one instance as req asks, printing each event of
// its job, then its summary.
func rebuildOne(ctx context.Context, stdout io.Writer, a *app.App, req provision.RebuildRequest) error {
	name := req.Name
	req.By, req.Subscribe = shell.Identity().UserName, []provision.Subscriber{printEvents(stdout)}
	task, err := a.Service.Rebuild(ctx, req)
	if err != nil {
		return err
	}
	job, err := task.Wait(ctx)
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil || job.State != provision.JobSucceeded {
		return jobFailed("recover", []string{name}, job, err)
	}
	inst, err := a.Store.Instance(ctx, name)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "✅ recovered %s at %s from backup %s; its Odoo admin password is the one in the backup\n", name, inst.Domain, job.Params["backup"])
	if s := task.Summary(); s != "" {
		fmt.Fprintln(stdout, s)
	}
	return nil
}
