package app

import (
	"context"

	"odoobot/provision"
	"odoobot/provision/odoo"
)

// NewWarmer builds the ahead-of-need template builder from the
// configuration (nil when TEMPLATE_CHECK is 0): the configured release
// and its template for the configured instance modules, checked every
// TEMPLATE_CHECK, its failures alerted. The templates verb then marks
// the configured template and shows a failing check.
func (a *App) NewWarmer() *odoo.Warmer {
	if a.Config.TemplateCheck <= 0 || a.releases == nil || a.databases == nil {
		return nil
	}
	w := odoo.NewWarmer(odoo.WarmerConfig{
		Releases: a.releases, Databases: a.databases, Modules: a.Config.InstanceModules(),
		Interval: a.Config.TemplateCheck,
		Alert:    func(ctx context.Context, text string) { a.Alert(ctx, text) },
		Logger:   a.Log,
	})
	a.warmer.Store(w)
	a.Dispatcher.Templates = w
	return w
}

// StartTemplates runs the ahead-of-need template builder until ctx ends,
// when TEMPLATE_CHECK is not 0: serve calls it. Close stops it and waits
// for it (a build it runs is cancelled and left to the next creation).
func (a *App) StartTemplates(ctx context.Context) {
	w := a.NewWarmer()
	if w == nil {
		a.Log.Info("templates: no ahead-of-need build (TEMPLATE_CHECK=0)")
		return
	}
	ctx, a.stopWarming = context.WithCancel(ctx)
	a.warming.Go(func() {
		if err := w.Run(ctx); err != nil {
			a.Log.Error("templates: stopped", "err", err)
		}
	})
}

// kickWarmer asks the running warmer, if any, for a check now.
func (a *App) kickWarmer() {
	if w := a.warmer.Load(); w != nil {
		w.Kick()
	}
}

// warmAfterGC is a garbage collector that, once a collection ran, asks
// the warmer to make sure the configured template still exists.
type warmAfterGC struct {
	provision.GarbageCollector
	a *App
}

func (g warmAfterGC) Collect(ctx context.Context, only string, inUse func(context.Context) (provision.ReleasesInUse, error)) (provision.GCReport, error) {
	rep, err := g.GarbageCollector.Collect(ctx, only, inUse)
	g.a.kickWarmer()
	return rep, err
}

// warmAfterJob is the runner's Ended for the warmer: an upgrade that
// succeeded may have moved instances to a new release, whose template
// the warmer makes sure of.
func (a *App) warmAfterJob(job provision.Job) {
	if job.Kind == provision.JobUpgrade && job.State == provision.JobSucceeded {
		a.kickWarmer()
	}
}
