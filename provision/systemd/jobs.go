package systemd

import (
	"context"
	"fmt"
	"odoobot/provision"
	"time"
)

// jobFunc is one of go-systemd's job methods (StartUnitContext, …).
type jobFunc func(ctx context.Context, name, mode string, ch chan<- string) (int, error)

// UnitError is provision.UnitError: a job systemd ran on a unit that did
// not end where it was asked to be.
type UnitError = provision.UnitError

// Start starts unit (mode "replace") and waits for its job. It succeeds
// only when the job is "done" and the unit is then active and stays active
// for a short settling time (about a second), so that a service that dies
// at once is reported. A failure is a *UnitError carrying the unit's last
// journal lines; an unknown unit is a plain error. Every error is typed
// (a *provision.Error, see typed) when systemd caused it.
func (m *Manager) Start(ctx context.Context, unit string) error {
	return typed(unit, m.runActive(ctx, "start", unit, m.conn.StartUnitContext))
}

// Restart restarts unit (starting it when stopped), with the same waiting
// and errors as Start. The unit gets a new main process.
func (m *Manager) Restart(ctx context.Context, unit string) error {
	return typed(unit, m.runActive(ctx, "restart", unit, m.conn.RestartUnitContext))
}

// Stop stops unit and waits for its job to be done. Stopping a stopped
// unit succeeds; a unit systemd does not know is an error.
func (m *Manager) Stop(ctx context.Context, unit string) (err error) {
	defer func() { err = typed(unit, err) }()
	if err := checkUnit(unit); err != nil {
		return fmt.Errorf("systemd: stop: %w", err)
	}
	result, err := m.runJob(ctx, unit, m.conn.StopUnitContext)
	if err != nil {
		return fmt.Errorf("systemd: stop %s: %w", unit, err)
	}
	if result != "done" {
		return m.unitError(ctx, "stop", unit, result)
	}
	m.log.Info("systemd: stopped", "unit", unit)
	return nil
}

// Reload asks unit to reload its configuration (its ExecReload, e.g.
// nginx.service) and waits for the job to be done. A unit that is not
// active, or has no reload command, is an error.
func (m *Manager) Reload(ctx context.Context, unit string) (err error) {
	defer func() { err = typed(unit, err) }()
	if err := checkUnit(unit); err != nil {
		return fmt.Errorf("systemd: reload: %w", err)
	}
	result, err := m.runJob(ctx, unit, m.conn.ReloadUnitContext)
	if err != nil {
		return fmt.Errorf("systemd: reload %s: %w", unit, err)
	}
	if result != "done" {
		return m.unitError(ctx, "reload", unit, result)
	}
	m.log.Info("systemd: reloaded", "unit", unit)
	return nil
}

// runActive runs a job that must leave unit active.
func (m *Manager) runActive(ctx context.Context, op, unit string, job jobFunc) error {
	if err := checkUnit(unit); err != nil {
		return fmt.Errorf("systemd: %s: %w", op, err)
	}
	start := time.Now()
	result, err := m.runJob(ctx, unit, job)
	if err != nil {
		return fmt.Errorf("systemd: %s %s: %w", op, unit, err)
	}
	if result != "done" {
		return m.unitError(ctx, op, unit, result)
	}
	if err := m.waitActive(ctx, unit); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("systemd: %s %s: %w", op, unit, err)
		}
		return m.unitError(ctx, op, unit, result)
	}
	m.log.Info("systemd: "+op, "unit", unit, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// runJob enqueues a job for unit in mode "replace" and returns its
// result once systemd reports it, or the context's error.
func (m *Manager) runJob(ctx context.Context, unit string, job jobFunc) (string, error) {
	// Buffered: go-systemd blocks its signal handling until the result is
	// taken, and we may stop listening when ctx ends.
	ch := make(chan string, 1)
	if _, err := job(ctx, unit, "replace", ch); err != nil {
		return "", err
	}
	select {
	case r := <-ch:
		return r, nil
	case <-ctx.Done():
		return "", fmt.Errorf("waiting for the job: %w", ctx.Err())
	}
}

// waitActive watches unit for the settling time and returns nil if it is
// active at the end and never left for inactive or failed; a unit still
// activating (e.g. waiting to be restarted) at the end is an error.
func (m *Manager) waitActive(ctx context.Context, unit string) error {
	deadline := time.Now().Add(m.settle)
	for {
		props, err := m.conn.GetUnitPropertiesContext(ctx, unit)
		if err != nil {
			return err
		}
		state := str(props, "ActiveState")
		switch state {
		case "active", "reloading", "activating":
		default:
			return fmt.Errorf("unit is %s", state)
		}
		if !time.Now().Before(deadline) {
			if state == "activating" {
				return fmt.Errorf("unit is still activating")
			}
			return nil
		}
		t := time.NewTimer(m.poll)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// unitError builds a *UnitError with the unit's current state and its
// last journal lines (best effort: what cannot be read is left empty and
// logged).
func (m *Manager) unitError(ctx context.Context, op, unit, result string) error {
	e := &UnitError{Op: op, Unit: unit, Result: result}
	if props, err := m.conn.GetUnitPropertiesContext(ctx, unit); err == nil {
		e.ActiveState, e.SubState = str(props, "ActiveState"), str(props, "SubState")
	} else {
		m.log.Warn("systemd: read unit state", "unit", unit, "err", err)
	}
	if p, err := m.conn.GetServicePropertyContext(ctx, unit, "Result"); err == nil {
		e.Reason, _ = p.Value.Value().(string)
	}
	lines, err := m.Journal(ctx, unit, m.journalLines)
	if err != nil {
		m.log.Warn("systemd: read journal", "unit", unit, "err", err)
	}
	e.Journal = lines
	m.log.Error("systemd: "+op+" failed", "unit", unit, "result", result, "state", e.ActiveState, "sub", e.SubState, "reason", e.Reason)
	return e
}
