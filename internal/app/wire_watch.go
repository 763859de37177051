package app

import (
	"context"
	"fmt"
	"time"

	"odoobot/commands"
	"odoobot/internal/watch"
	"odoobot/provision"
	"odoobot/provision/hostfacts"
	"odoobot/provision/ports"
	"odoobot/provision/sysusers"
)

// AddActionAlerts adds a place where alerts go with their buttons, as
// new messages (it cannot edit them): the watcher's card is posted there
// when the alert is raised and again when it ends. Alerts without
// buttons go there too.
func (a *App) AddActionAlerts(post func(ctx context.Context, alert commands.Alert) error) {
	a.AddAlertCards(watch.Channel{
		Post: func(ctx context.Context, alert commands.Alert) (string, error) { return "", post(ctx, alert) },
	})
}

// AddAlertCards adds a place where alerts go with their buttons, and
// whose adapter edits them (the watcher's alert cards, edited in place);
// serve adds one per configured adapter, each with its own Name (one
// is made up when it has none). Alerts without buttons go there too.
func (a *App) AddAlertCards(ch watch.Channel) {
	a.alertMu.Lock()
	defer a.alertMu.Unlock()
	if ch.Name == "" {
		ch.Name = fmt.Sprintf("alerts %d", len(a.actionAlerts)+1)
	}
	a.actionAlerts = append(a.actionAlerts, ch)
}

// alertChannels are the channels added by AddActionAlerts and
// AddAlertCards so far.
func (a *App) alertChannels() []watch.Channel {
	a.alertMu.Lock()
	defer a.alertMu.Unlock()
	return append([]watch.Channel(nil), a.actionAlerts...)
}

// postText delivers text to the alert channels that only take text
// (AddAlerts). A failed delivery is logged.
func (a *App) postText(ctx context.Context, text string) {
	a.alertMu.Lock()
	texts := append([]func(context.Context, string) error(nil), a.alerts...)
	a.alertMu.Unlock()
	for _, post := range texts {
		if err := post(ctx, text); err != nil {
			a.Log.Error("alert not delivered", "err", err)
		}
	}
}

// post delivers alert to every alert channel: with its buttons where
// they can be shown, its text alone elsewhere. A failed delivery is
// logged.
func (a *App) post(ctx context.Context, alert commands.Alert) {
	a.postText(ctx, alert.Text)
	for _, ch := range a.alertChannels() {
		if _, err := ch.Post(ctx, alert); err != nil {
			a.Log.Error("alert not delivered", "channel", ch.Name, "err", err)
		}
	}
}

// NewWatcher builds the on-call watcher from the configuration (nil when
// WATCH_INTERVAL is 0): every ready instance's unit, health with the
// database, who holds its ports, its certificate, and the disk under
// PROD_ROOT. Its alerts are cards (watch.Book), one per incident,
// edited as it develops, with Acknowledge, Restart, Logs and Silence 1 h
// buttons, repeated every ALERT_REPEAT until acknowledged; the
// dispatcher tells the watcher when an operator stops or starts an
// instance, and the book what operators did. The cards are kept in the
// state database: those a previous run left open are taken up again.
func (a *App) NewWatcher() *watch.Watcher {
	cfg := a.Config
	if cfg.WatchInterval <= 0 {
		return nil
	}
	layout := cfg.Layout()
	book := watch.NewBook(watch.BookConfig{Channels: a.alertChannels, Repeat: cfg.AlertRepeat, Store: a.Store, Logger: a.Log})
	w := watch.New(watch.Config{
		Interval:    cfg.WatchInterval,
		Policy:      watch.Policy{Failures: cfg.WatchFailures, Quiet: cfg.WatchQuiet},
		DiskFreeMin: uint64(cfg.WatchDiskFreeMB) << 20,
		CertMin:     time.Duration(cfg.WatchCertDays) * 24 * time.Hour,
		Checks: watch.Checks{
			Instances: a.Store.Instances,
			Busy: func(ctx context.Context, name string) bool {
				_, busy, err := a.Store.ActiveJob(ctx, name)
				return err == nil && busy
			},
			Unit:   a.Services.Status,
			Health: watch.ProbeHealth,
			Ports:  watch.ProbePorts(ports.Host{}, sysusers.Host{}, cfg.ServiceUser),
			DiskFree: func() (uint64, error) {
				f, err := hostfacts.Read(cfg.ProdRoot)
				return f.DiskFree, err
			},
			CertNotAfter: func(inst provision.Instance) (time.Time, string) {
				row := commands.ReadCertRow(inst, layout.Paths(inst).CertDir)
				if row.File == "" && inst.SSLMode == provision.SSLCloudflare {
					return time.Time{}, "" // the shared origin certificate, checked at start
				}
				return row.NotAfter, row.Problem
			},
		},
		Post: func(ctx context.Context, e watch.Event) error {
			text := e.Text(time.Now())
			a.Log.Warn("watch", "text", text)
			a.postText(ctx, text)
			book.Event(ctx, e)
			return nil
		},
		AfterRound: book.AfterRound,
		Logger:     a.Log,
	})
	// The cards a previous run left open are edited in place: their
	// alerts count as raised, so that a recovery ends them.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	open, err := book.Resume(ctx)
	if err != nil {
		a.Log.Error("watch: the alert cards of the previous run could not be read; instances still failing get new cards", "err", err)
	}
	w.Resume(open)
	a.Dispatcher.Watch = w
	a.Dispatcher.Alerts = book
	if src := a.Dispatcher.OverviewSources; src != nil {
		src.Verdict = func(name string) (string, time.Time, bool) {
			v, ok := w.Verdict(name)
			return v.Problem, v.At, ok
		}
	}
	return w
}

// StartWatch runs the on-call watcher until ctx ends, when
// WATCH_INTERVAL is not 0.
func (a *App) StartWatch(ctx context.Context) {
	w := a.NewWatcher()
	if w == nil {
		a.Log.Info("watch: off (WATCH_INTERVAL=0)")
		return
	}
	go func() {
		if err := w.Run(ctx); err != nil {
			a.Log.Error("watch: stopped", "err", err)
		}
	}()
}
