package odoo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"odoobot/provision"
)

// WarmerConfig configures a Warmer.
type WarmerConfig struct {
	// Releases and Databases are the ones creations use. Required.
	Releases  *Releases
	Databases *Databases
	// Modules are the modules a creation installs (the configured
	// instance modules): with the configured release, Lang and Country
	// of Databases, they name the template a creation needs.
	Modules []string
	// Interval is how often the configured branch is checked for a new
	// commit (TEMPLATE_CHECK); 0 checks only at start and when kicked.
	Interval time.Duration
	// Alert reports a failed check (a release or template that could not
	// be built) where someone sees it, once until a check succeeds again;
	// nil only logs it.
	Alert  func(ctx context.Context, text string)
	Logger *slog.Logger
}

// Warmer builds the configured release and its template ahead of need,
// so that no creation waits for one: at start, every Interval (when the
// configured branch moved, Releases.Ensure builds its new head), and
// when kicked (after an upgrade or a gc). One check runs at a time; a
// template a creation is building meanwhile is shared, not built twice
// (Databases.EnsureTemplate). A failed check is logged and alerted, and
// tried again at the next one.
type Warmer struct {
	cfg  WarmerConfig
	log  *slog.Logger
	kick chan struct{}

	mu      sync.Mutex
	failing string // the last check's error, "" when it succeeded
	last    string // the template the last successful check ensured
}

// NewWarmer returns a Warmer for cfg.
func NewWarmer(cfg WarmerConfig) *Warmer {
	return &Warmer{cfg: cfg, log: orDiscard(cfg.Logger).With("job", "templates"), kick: make(chan struct{}, 1)}
}

// Kick asks for a check as soon as the one running, if any, ends. It
// never blocks; kicks made while one is pending are one.
func (w *Warmer) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run checks at once, then every Interval and at every Kick, until ctx
// ends; it returns nil then.
func (w *Warmer) Run(ctx context.Context) error {
	if w.cfg.Releases == nil || w.cfg.Databases == nil {
		return errors.New("odoo: warmer: Releases and Databases must be set")
	}
	var tick <-chan time.Time
	if w.cfg.Interval > 0 {
		t := time.NewTicker(w.cfg.Interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		w.Check(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
		case <-w.kick:
		}
	}
}

// Check makes sure, once, that the configured release and its template
// exist, building what is missing; it returns the template's name. A
// failure is logged, and alerted when the previous check did not fail
// the same way.
func (w *Warmer) Check(ctx context.Context) (string, error) {
	start := time.Now()
	tpl, built, err := w.check(ctx)
	if ctx.Err() != nil {
		return tpl, err
	}
	w.mu.Lock()
	was := w.failing
	if err != nil {
		w.failing = err.Error()
	} else {
		w.failing, w.last = "", tpl
	}
	w.mu.Unlock()
	switch {
	case err != nil:
		w.log.Error("templates: the configured template is not built ahead of need; tried again at the next check", "err", err)
		if w.cfg.Alert != nil && was != err.Error() {
			w.cfg.Alert(ctx, "templates: the configured release's template could not be built ahead of need (the next creation builds it, or fails the same way); tried again at the next check: "+err.Error())
		}
	case built:
		w.log.Info("templates: configured template built ahead of need", "template", tpl, "took", time.Since(start).Round(time.Millisecond))
	case was != "":
		w.log.Info("templates: configured template ready again", "template", tpl)
	}
	return tpl, err
}

func (w *Warmer) check(ctx context.Context) (string, bool, error) {
	rel, err := w.cfg.Releases.Ensure(ctx, func(phase string) { w.log.Info("templates: building the configured release", "phase", phase) })
	if err != nil {
		return "", false, fmt.Errorf("release: %w", err)
	}
	tpl, built, err := w.cfg.Databases.EnsureTemplate(ctx, provision.DatabaseSpec{
		Release: rel, Modules: w.cfg.Modules,
		Progress: func(text string) { w.log.Debug("templates: "+text, "release", rel.Key) },
	})
	return tpl, built, err
}

// Configured returns the template the last successful check ensured
// ("" before one), and the error of the last check ("" when it
// succeeded).
func (w *Warmer) Configured() (tpl, failing string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last, w.failing
}

// Templates is Databases.Templates, with the configured template marked
// and, when the last check failed, a row saying why.
func (w *Warmer) Templates(ctx context.Context) ([]provision.TemplateInfo, error) {
	list, err := w.cfg.Databases.Templates(ctx)
	if err != nil {
		return nil, err
	}
	tpl, failing := w.Configured()
	for i := range list {
		list[i].Configured = list[i].Name == tpl
	}
	if failing != "" && !hasFailed(list) {
		list = append([]provision.TemplateInfo{{Name: "(configured)", State: provision.TemplateFailed, Error: failing, Configured: true}}, list...)
	}
	return list, nil
}

func hasFailed(list []provision.TemplateInfo) bool {
	for _, t := range list {
		if t.State == provision.TemplateFailed {
			return true
		}
	}
	return false
}
