package commands

import (
	"context"
	"fmt"

	"odoobot/provision"
)

// Cloner makes staging copies (provision.Service has it); without it,
// clone answers that it is not available on this server. The task it
// returns carries the copy's instance and, once done, its summary.
type Cloner interface {
	Clone(ctx context.Context, req provision.CloneRequest) (*provision.Task, error)
}

var _ Cloner = (*provision.Service)(nil)

// cloneVerb runs clone SRC DST: a staging copy of SRC, progress in a
// thread, its summary at the end. It returns the job's task once it is
// queued.
func (d *Dispatcher) cloneVerb(ctx context.Context, req Request, cmd Command, r Responder) (*provision.Task, string, error) {
	cl := d.Cloner
	if cl == nil {
		return noTask(d.unavailable(ctx, cmd, r))
	}
	who := displayName(req.Identity)
	how := "neutralized"
	if cmd.KeepLive {
		how = "NOT neutralized: its mail servers and crons are live"
	}
	root := fmt.Sprintf("cloning %s to %s (%s), asked by %s", cmd.Name, cmd.Target, how, who)
	return d.startJob(ctx, r, root,
		func(jr provision.JobRequest) (*provision.Task, error) {
			return cl.Clone(ctx, provision.CloneRequest{
				Source: cmd.Name, Name: cmd.Target, Neutralize: !cmd.KeepLive, By: who,
				Subscribe: jr.Subscribe, ChatRef: jr.ChatRef, Finished: jr.Finished,
			})
		},
		func(fctx context.Context, task *provision.Task, job provision.Job) (string, string) {
			if job.State != provision.JobSucceeded {
				return fmt.Sprintf("❌ cloning %s to %s failed and was rolled back; %s is untouched, asked by %s", cmd.Name, cmd.Target, cmd.Name, who), job.Error
			}
			summary := d.summary(fctx, task, cmd.Target)
			return fmt.Sprintf("✅ %s is a staging copy of %s (%s), asked by %s", cmd.Target, cmd.Name, how, who), summary
		})
}
