package provision

import (
	"context"
	"fmt"
	"time"
)

// OffsiteLoop says how the background push runs (Service.RunOffsite).
type OffsiteLoop struct {
	// Every is the wait between rounds while pushes succeed (a backup
	// taken by another process, the daily timer's, is pushed by then).
	// Zero means an hour.
	Every time.Duration
	// Retry is the first wait after a failed round; it doubles after
	// each failure in a row, up to Every. Zero means a minute.
	Retry time.Duration
	// AlertAfter is the number of failed rounds in a row after which
	// Alert is called, once, until a round succeeds. Zero means 3.
	AlertAfter int
	// Alert tells the on-call channel that pushes keep failing;
	// Recovered that they succeed again after an alert. Either may be
	// nil.
	Alert, Recovered func(ctx context.Context, text string)
	// After is the clock's timer (nil: time.After).
	After func(time.Duration) <-chan time.Time
}

// NudgeOffsite asks the background push for a round now (a backup was
// just taken); it never blocks.
func (s *Service) NudgeOffsite() {
	select {
	case s.nudge <- struct{}{}:
	default:
	}
}

// RunOffsite pushes the local backups offsite in the background until
// ctx ends: a round (PushOffsite) at once, after each NudgeOffsite, and
// every l.Every; after a failed round it waits l.Retry, doubling, and
// after l.AlertAfter failed rounds in a row it alerts once, saying what
// failed, since when and that the backups are kept here; the first round
// that succeeds after the alert says so. Without an offsite repository
// it returns at once.
func (s *Service) RunOffsite(ctx context.Context, l OffsiteLoop) {
	if s.bcfg.Offsite == nil {
		return
	}
	if l.Every <= 0 {
		l.Every = time.Hour
	}
	if l.Retry <= 0 {
		l.Retry = time.Minute
	}
	if l.AlertAfter <= 0 {
		l.AlertAfter = 3
	}
	after := l.After
	if after == nil {
		after = time.After
	}
	var failed int
	var since time.Time
	alerted := false
	wait := time.Duration(0)
	for {
		if wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-s.nudge:
			case <-after(wait):
			}
		}
		if ctx.Err() != nil {
			return
		}
		rep, err := s.PushOffsite(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			if len(rep.Pushed) > 0 || rep.Forgotten > 0 {
				s.cfg.Logger.InfoContext(ctx, "offsite: pushed", "backups", rep.Pushed, "forgotten", rep.Forgotten)
			}
			if alerted && l.Recovered != nil {
				l.Recovered(ctx, fmt.Sprintf("✅ offsite backups: pushing again after %d failed attempts since %s; every local backup is offsite", failed, since.UTC().Format("2006-01-02 15:04 UTC")))
			}
			failed, alerted, wait = 0, false, l.Every
			continue
		}
		if failed == 0 {
			since = s.cfg.Now()
		}
		failed++
		wait = min(l.Retry<<min(failed-1, 20), l.Every)
		s.cfg.Logger.WarnContext(ctx, "offsite: push failed", "attempt", failed, "waiting", rep.Waiting, "next", wait, "err", err)
		if failed >= l.AlertAfter && !alerted {
			alerted = true
			if l.Alert != nil {
				l.Alert(ctx, fmt.Sprintf("⚠️ offsite backups: %d pushes in a row failed since %s; %d backups are kept on this server only until one succeeds (next try in %s): %s",
					failed, since.UTC().Format("2006-01-02 15:04 UTC"), rep.Waiting, wait.Round(time.Second), explained(err)))
			}
		}
	}
}
