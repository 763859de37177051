package commands

import (
	"context"
	"fmt"

	"odoobot/provision"
)

// Driller runs restore drills (provision.Service has it). Without it,
// drill answers that it is not available on this server.
type Driller interface {
	Drill(ctx context.Context, req provision.JobRequest) (*provision.Task, error)
}

var _ Driller = (*provision.Service)(nil)

// drillVerb starts a restore drill of the instance and reports it in a
// thread: which backup, each step, and whether it restored, opened and
// matched what it recorded. A failed drill is also alerted (by the
// Service), since it says a backup may not restore.
func (d *Dispatcher) drillVerb(ctx context.Context, req Request, cmd Command, r Responder) (*provision.Task, string, error) {
	if d.Drills == nil {
		return noTask(d.unavailable(ctx, cmd, r))
	}
	internal := provision.InternalName(cmd.Name)
	who := displayName(req.Identity)
	return d.startJob(ctx, r, fmt.Sprintf("restore drill of %s, asked by %s", internal, who),
		func(jr provision.JobRequest) (*provision.Task, error) {
			jr.Name, jr.By = cmd.Name, who
			return d.Drills.Drill(ctx, jr)
		},
		func(_ context.Context, _ *provision.Task, job provision.Job) (string, string) {
			backup := job.Params["backup"]
			if job.State != provision.JobSucceeded {
				return fmt.Sprintf("❌ restore drill of %s failed (backup %s), asked by %s; the throwaway copy is dropped, production untouched", internal, backup, who), job.Error
			}
			return fmt.Sprintf("✅ restore drill of %s passed: backup %s restores, opens and holds what it recorded, asked by %s", internal, backup, who),
				"production was not touched; the throwaway copy is dropped; see backups " + cmd.Name
		})
}
