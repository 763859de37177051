package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"odoobot/config"
	"odoobot/internal/pgdb"
	"odoobot/provision"
	"odoobot/provision/logrotate"
	"odoobot/provision/postgres"
	"odoobot/provision/tree"
)

// defaultAPIDEVData is where API-DEV keeps its tracking files.
const defaultAPIDEVData = "/home/mtg/api-dev/data"

// importVerb is `odoobot import [--dry-run] [--tracking-dir DIR]`:
// adopting API-DEV's instances. It scans the instance root and API-DEV's
// tracking files (DIR; default TRACKING_DIR, else /home/mtg/api-dev/data),
// prints what it found, and, without --dry-run, records in the store the
// instances without problems, changing nothing on the host.
func importVerb(ctx context.Context, w io.Writer, cfg *config.Config, args []string) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dryRun := fs.Bool("dry-run", false, "show what would be imported; record nothing")
	dir := fs.String("tracking-dir", "", "API-DEV's data directory")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return &usageError{msg: "usage: odoobot import [--dry-run] [--tracking-dir DIR]"}
	}
	if *dir == "" {
		*dir = cfg.TrackingDir
	}
	if *dir == "" {
		*dir = defaultAPIDEVData
	}
	cands, err := provision.ScanAPIDEV(ctx, tree.New(cfg.Layout()), cfg.Layout(), *dir, cfg.Zone(), cfg.NameRules())
	if err != nil {
		return err
	}
	if err := pgdb.Ensure(ctx, cfg.AdminDSN(), cfg.StateDBName); err != nil {
		return fmt.Errorf("import: the state database %s: %w", cfg.StateDBName, err)
	}
	store, err := postgres.Open(ctx, cfg.StateDSN(), slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer store.Close()
	fmt.Fprintf(w, "API-DEV instances under %s (tracking files in %s)\n", cfg.ProdRoot, *dir)
	err = runImport(ctx, w, store, cands, *dryRun)
	if !*dryRun {
		rotateLogs(ctx, w, cfg, store.Instances)
	}
	if nerr := printSharedRoleNote(ctx, w, store.Instances, cfg.DBUser, false); nerr != nil && err == nil {
		err = nerr
	}
	return err
}

// rotateLogs rewrites the rotation of every instance's odoo.log
// (logrotate.Rotation) from the store, so that an imported instance's
// log is rotated as SERVICE_USER, who owns its directory; what is left
// out, and a failure, are printed, never failing the import.
func rotateLogs(ctx context.Context, w io.Writer, cfg *config.Config, instances func(context.Context) ([]provision.Instance, error)) {
	list, err := instances(ctx)
	if err == nil {
		var left []string
		r := logrotate.Rotation{File: cfg.LogrotateFile, ProdRoot: cfg.ProdRoot, ServiceUser: cfg.ServiceUser}
		_, left, err = r.Install(list)
		for _, l := range left {
			fmt.Fprintln(w, "odoo.log rotation:", l)
		}
	}
	if err != nil {
		fmt.Fprintln(w, "odoo.log rotation not rewritten (serve does it at its start):", err)
	}
}

// importStore is what the import needs from the state store.
type importStore interface {
	Instance(ctx context.Context, name string) (provision.Instance, error)
	TakenPorts(ctx context.Context) ([]postgres.PortRow, error)
	ImportInstance(ctx context.Context, inst provision.Instance) error
}

var _ importStore = (*postgres.Store)(nil)

// runImport prints the candidates as a table with their problems and
// notes, and, unless dryRun, records each one without problems that the
// store does not hold yet. A port the store gives another instance is a
// problem too. It fails when, for real, an instance was left out because
// of a problem or a refusal of the store; skipping one already recorded
// is not a failure.
func runImport(ctx context.Context, w io.Writer, store importStore, cands []provision.Candidate, dryRun bool) error {
	taken, err := store.TakenPorts(ctx)
	if err != nil {
		return err
	}
	holder := map[int]string{}
	for _, p := range taken {
		holder[p.Port] = p.Instance
	}
	if len(cands) == 0 {
		fmt.Fprintln(w, "nothing to import: no prod-* directory and no tracked instance")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDOMAIN\tHTTP\tGEVENT\tSSL\tCREATED\tACTION")
	var imported, skipped, left int
	var details []string // problems and notes, under the table
	for _, c := range cands {
		inst := c.Instance
		problems := c.Problems
		action := ""
		recorded := false
		if _, err := store.Instance(ctx, inst.Name); err == nil {
			recorded = true
		} else if !errors.Is(err, provision.ErrInstanceNotFound) {
			return fmt.Errorf("import: look up %s: %w", inst.Name, err)
		}
		if !recorded {
			for _, p := range []int{inst.Ports.HTTP, inst.Ports.Gevent} {
				if h, ok := holder[p]; ok && p != 0 && h != inst.Name {
					problems = append(problems, fmt.Sprintf("port %d is held by %s in odoobot's store", p, h))
				}
			}
		}
		switch {
		case recorded:
			action, problems = "skipped: already recorded by odoobot", nil
			skipped++
		case len(problems) > 0:
			action = fmt.Sprintf("not imported: %d %s", len(problems), plural(len(problems), "problem", "problems"))
			left++
		case dryRun:
			action = "would import"
			imported++
		default:
			if err := store.ImportInstance(ctx, inst); err != nil {
				action = "not imported: " + err.Error()
				left++
			} else {
				action = "imported"
				imported++
			}
		}
		created := "-"
		if !inst.CreatedAt.IsZero() {
			created = inst.CreatedAt.Format("2006-01-02")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", inst.Name, inst.Domain, port(inst.Ports.HTTP), port(inst.Ports.Gevent), inst.SSLMode, created, action)
		var lines []string
		for _, p := range problems {
			lines = append(lines, "  problem: "+p)
		}
		if !recorded {
			for _, n := range c.Notes {
				lines = append(lines, "  note: "+n)
			}
		}
		if len(lines) > 0 {
			details = append(details, inst.Internal+":")
			details = append(details, lines...)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(details) > 0 {
		fmt.Fprintf(w, "\n%s\n\n", strings.Join(details, "\n"))
	}
	verb := "imported"
	if dryRun {
		verb = "would be imported"
	}
	fmt.Fprintf(w, "%d %s, %d already recorded, %d not imported", imported, verb, skipped, left)
	if dryRun {
		fmt.Fprint(w, " (dry run: nothing recorded)")
	}
	fmt.Fprintln(w)
	if left > 0 && !dryRun {
		return fmt.Errorf("import: %d %s not imported: fix the problems above and run import again", left, plural(left, "instance", "instances"))
	}
	return nil
}

func port(p int) string {
	if p == 0 {
		return "-"
	}
	return fmt.Sprint(p)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
