package commands

import (
	"context"
	"fmt"

	"odoobot/provision"
)

// Upgrader moves instances to another Odoo release (provision.Service has
// it); without it, upgrade answers that it is not available on this
// server. UpgradeTarget resolves the target once, for the confirmation;
// Upgrade is then given the confirmed commit (UpgradeRequest.Commit).
type Upgrader interface {
	UpgradeTarget(ctx context.Context, name, target string) (provision.Instance, string, error)
	Upgrade(ctx context.Context, req provision.UpgradeRequest) (*provision.Task, error)
}

var _ Upgrader = (*provision.Service)(nil)

// upgradeVerb runs upgrade NAME [COMMIT|TAG|latest]: the target is
// resolved and refused at once when there is nothing to do or it does
// not exist; otherwise the requester confirms the move from one commit
// to the other, and the job reports in a thread.
func (d *Dispatcher) upgradeVerb(ctx context.Context, req Request, cmd Command, r Responder) (string, error) {
	up := d.Upgrader
	if up == nil {
		return d.unavailable(ctx, cmd, r)
	}
	inst, commit, err := up.UpgradeTarget(ctx, cmd.Name, cmd.Release)
	if err != nil {
		return d.failed(ctx, r, cmd, err)
	}
	who := displayName(req.Identity)
	from, to := short12(inst.Release.Commit), short12(commit)
	what := fmt.Sprintf("upgrade %s from Odoo commit %s to %s (a safety backup first, then a test on a copy; production stops while its database is updated, and is put back as it was if anything fails)", inst.Internal, from, to)
	return d.ask(ctx, req, what, r, func(ctx context.Context, r Responder) (*provision.Task, string, error) {
		return d.startJob(ctx, r, fmt.Sprintf("upgrading %s from %s to %s, asked by %s", inst.Internal, from, to, who),
			func(jr provision.JobRequest) (*provision.Task, error) {
				jr.Name, jr.By = cmd.Name, who
				return up.Upgrade(ctx, provision.UpgradeRequest{JobRequest: jr, Target: cmd.Release, Commit: commit})
			},
			func(_ context.Context, _ *provision.Task, job provision.Job) (string, string) {
				switch job.State {
				case provision.JobSucceeded:
					return fmt.Sprintf("✅ %s upgraded from %s to %s, asked by %s", inst.Internal, from, to, who), "tested on a copy first; the service is running, healthy and answers through nginx"
				case provision.JobRolledBack:
					return fmt.Sprintf("❌ upgrading %s to %s failed; it runs %s as before, with its data, asked by %s", inst.Internal, to, from, who), job.Error
				}
				return fmt.Sprintf("❌ upgrading %s to %s failed and could NOT be fully rolled back, asked by %s: see the upgrade log", inst.Internal, to, who), job.Error
			})
	})
}

// short12 is a commit's first 12 hex digits.
func short12(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}
