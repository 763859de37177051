package app

import (
	"context"
	"fmt"
	"sync"
	"time"

	"odoobot/commands"
	"odoobot/internal/watch"
	"odoobot/provision"
)

// overviewSources are what overview and the Slack home view read: the
// store's instances, open jobs and last good backups (a succeeded
// backup job's end), in one query each; each unit through systemd; the
// watcher's verdicts (set by NewWatcher) or, without one, a live health
// check cut at commands.OverviewProbeTimeout.
func (a *App) overviewSources() *commands.OverviewSources {
	return &commands.OverviewSources{
		Instances: a.Store.Instances,
		OpenJobs:  a.Store.OpenJobs,
		LastBackups: func(ctx context.Context) (map[string]time.Time, error) {
			return a.Store.LastSucceeded(ctx, provision.JobBackup)
		},
		Unit: a.Services.Status,
		Health: func(ctx context.Context, port int) string {
			problem := watch.ProbeHealth(ctx, port)
			if problem != "" && ctx.Err() != nil {
				return fmt.Sprintf("port %d did not answer within %s", port, commands.OverviewProbeTimeout)
			}
			return problem
		},
	}
}

// jobEndHooks are the functions run after each job ends (OnJobEnd).
type jobEndHooks struct {
	mu    sync.Mutex
	hooks []func(ctx context.Context, job provision.Job)
}

// OnJobEnd adds f to what runs after each job this process ran has ended
// (its end recorded): the Slack home views are published again. f runs
// in the job's worker and must return quickly.
func (a *App) OnJobEnd(f func(ctx context.Context, job provision.Job)) {
	a.jobEnds.mu.Lock()
	defer a.jobEnds.mu.Unlock()
	a.jobEnds.hooks = append(a.jobEnds.hooks, f)
}

// runJobEndHooks runs the OnJobEnd functions.
func (a *App) runJobEndHooks(ctx context.Context, job provision.Job) {
	a.jobEnds.mu.Lock()
	hooks := append([]func(context.Context, provision.Job){}, a.jobEnds.hooks...)
	a.jobEnds.mu.Unlock()
	for _, f := range hooks {
		f(ctx, job)
	}
}
