package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"odoobot/provision"
)

// deleteVerb runs delete: it checks that the instance exists, asks the
// requester to confirm, and on confirmation starts the delete job with
// its progress in a thread. An instance left in state deleting by an
// interrupted delete may be deleted again: that finishes it. The job's
// task comes from the confirmation, never from the request itself.
func (d *Dispatcher) deleteVerb(ctx context.Context, req Request, cmd Command, r Responder) (string, error) {
	dt := d.DayTwo
	if dt == nil {
		return d.unavailable(ctx, cmd, r)
	}
	internal := provision.InternalName(cmd.Name)
	if msg, err := d.missingInstance(ctx, cmd.Name); err != nil {
		return d.failed(ctx, r, cmd, err)
	} else if msg != "" {
		return "refused: " + msg, r.Private(ctx, msg)
	}
	who := displayName(req.Identity)
	domain := d.Rules.Domain(cmd.Name)
	what := fmt.Sprintf("delete %s (%s) (a final backup is taken first)", internal, domain)
	return d.ask(ctx, req, what, r, func(ctx context.Context, r Responder) (*provision.Task, string, error) {
		return d.startJob(ctx, r, fmt.Sprintf("deleting %s → %s, asked by %s", internal, domain, who),
			func(jr provision.JobRequest) (*provision.Task, error) {
				jr.Name, jr.By = cmd.Name, who
				return dt.Delete(ctx, jr)
			},
			func(fctx context.Context, _ *provision.Task, job provision.Job) (string, string) {
				if job.State != provision.JobSucceeded {
					return fmt.Sprintf("❌ deleting %s stopped, asked by %s", internal, who),
						job.Error + "\nrun delete " + cmd.Name + " again to finish it (each step is safe to repeat)"
				}
				summary := "every resource removed"
				if l, err := dt.BackupPlaces(fctx, cmd.Name); err == nil {
					summary += finalBackupNote(l, job)
				}
				return fmt.Sprintf("🗑 deleted %s (%s), asked by %s", internal, domain, who), summary
			})
	})
}

// finalBackupNote is what a succeeded delete says of its final backup:
// the one it took (reason final, made since the job started), where it
// is kept; else that it took none (its database was already gone), and
// the final backup of an earlier delete when one stands. Another backup
// is never presented as the delete's.
func finalBackupNote(l provision.BackupListing, job provision.Job) string {
	var earlier *provision.ListedBackup
	for i, b := range l.Backups {
		if b.Reason != provision.ReasonFinal {
			continue
		}
		if !b.CreatedAt.Before(job.StartedAt.Truncate(time.Second)) {
			if b.Local {
				return fmt.Sprintf("; final backup %s kept in %s", b.ID, b.Dir)
			}
			return fmt.Sprintf("; final backup %s kept offsite", b.ID)
		}
		if earlier == nil {
			earlier = &l.Backups[i]
		}
	}
	note := "; no final backup was taken: the database was already gone"
	if earlier != nil {
		note += fmt.Sprintf("; the final backup %s of an earlier delete stands", earlier.ID)
	}
	return note
}

// missingInstance is the refusal for a verb on an instance that does
// not exist ("" when it does, or when the dispatcher has no Operator to
// ask), or the error of the lookup.
func (d *Dispatcher) missingInstance(ctx context.Context, name string) (string, error) {
	if d.Operator == nil {
		return "", nil
	}
	_, err := d.Operator.Instance(ctx, name)
	if errors.Is(err, provision.ErrInstanceNotFound) {
		return fmt.Sprintf("no instance named %q; see list", name), nil
	}
	return "", err
}
