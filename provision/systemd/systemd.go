// Package systemd installs and drives the systemd units of instances (and
// reloads nginx.service) through systemd's D-Bus API, with
// github.com/coreos/go-systemd/v22/dbus. It never shells out to systemctl;
// only the journal is read with journalctl.
package systemd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"

	"odoobot/internal/atomicfile"
	"odoobot/provision"
)

var _ provision.ServiceManager = (*Manager)(nil)

// Manager talks to one systemd (PID 1) over D-Bus. It is safe for
// concurrent use. Create it with New and release it with Close.
type Manager struct {
	conn *dbus.Conn
	log  *slog.Logger
	// settle is how long Start and Restart watch a unit after its job is
	// done: a unit that leaves the active state within it has failed.
	settle time.Duration
	// poll is the interval between two looks at a unit's state.
	poll time.Duration
	// journalLines is how many journal lines a UnitError carries.
	journalLines int
	// procRoot and cgroupRoot are where the kernel shows processes and
	// cgroups (/proc, /sys/fs/cgroup), for the CPU time of a unit
	// systemd does not count (unitCPU); "" turns that fallback off.
	procRoot, cgroupRoot string
}

// New connects to systemd: first directly on its private socket
// (/run/systemd/private, root only, no dbus-daemon needed), then through
// the system bus. ctx bounds only the connecting: the connection lives
// until Close. log must not be nil.
func New(ctx context.Context, log *slog.Logger) (*Manager, error) {
	type result struct {
		conn *dbus.Conn
		err  error
	}
	// go-systemd ties the connection's lifetime to the context it dials
	// with, so dial with one that is never cancelled and give up waiting
	// when ctx ends instead.
	done := make(chan result, 1)
	go func() {
		c, err := connect(context.WithoutCancel(ctx), log)
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, unreachable(fmt.Errorf("systemd: connect: %w", r.err))
		}
		return &Manager{
			conn: r.conn,
			log:  log,
			// Long enough to see a unit that cannot even start (a missing
			// program, an unknown user: systemd fails those in
			// milliseconds); a process that dies later is the health
			// check's to notice, which watches the unit until it answers.
			settle:       200 * time.Millisecond,
			poll:         50 * time.Millisecond,
			journalLines: 20,
			procRoot:     "/proc",
			cgroupRoot:   "/sys/fs/cgroup",
		}, nil
	case <-ctx.Done():
		go func() {
			if r := <-done; r.conn != nil {
				r.conn.Close()
			}
		}()
		return nil, unreachable(fmt.Errorf("systemd: connect: %w", ctx.Err()))
	}
}

// connect dials systemd's private socket, then the system bus.
func connect(ctx context.Context, log *slog.Logger) (*dbus.Conn, error) {
	conn, err := dbus.NewSystemdConnectionContext(ctx)
	if err == nil {
		return conn, nil
	}
	log.Debug("systemd: private socket unavailable, trying the system bus", "err", err)
	conn, busErr := dbus.NewWithContext(ctx)
	if busErr != nil {
		return nil, errors.Join(err, busErr)
	}
	return conn, nil
}

// Close releases the D-Bus connection. The Manager must not be used after.
func (m *Manager) Close() { m.conn.Close() }

// Install writes content to unitPath (an absolute path whose base name is
// the unit's name, e.g. /etc/systemd/system/odoo19e-prod-acme.service)
// atomically with mode 0644, reloads systemd's configuration and enables
// the unit (its [Install] section; a unit without one is only logged). It
// does not start the unit. Running it again with the same content does no
// harm; with new content it replaces the file (a running unit keeps its
// old configuration until restarted).
func (m *Manager) Install(ctx context.Context, unitPath string, content []byte) (err error) {
	defer func() { err = typed(filepath.Base(unitPath), err) }()
	unit, err := unitFromPath(unitPath)
	if err != nil {
		return fmt.Errorf("systemd: install: %w", err)
	}
	if err := atomicfile.Write(unitPath, content, 0o644); err != nil {
		return fmt.Errorf("systemd: install %s: %w", unit, err)
	}
	if err := m.conn.ReloadContext(ctx); err != nil {
		return fmt.Errorf("systemd: install %s: daemon-reload: %w", unit, err)
	}
	hasInstall, changes, err := m.conn.EnableUnitFilesContext(ctx, []string{unitPath}, false, true)
	if err != nil {
		return fmt.Errorf("systemd: install %s: enable: %w", unit, err)
	}
	if !hasInstall {
		m.log.Warn("systemd: unit has no [Install] section; not enabled", "unit", unit)
	}
	for _, c := range changes {
		m.log.Debug("systemd: enable", "unit", unit, "change", c.Type, "file", c.Filename, "to", c.Destination)
	}
	m.log.Info("systemd: installed", "unit", unit, "path", unitPath)
	return nil
}

// SetEnabled enables the unit file at unitPath (the links of its
// [Install] section, as Install makes them) or disables it (they are
// removed: the unit stays stopped at boot), without starting or
// stopping it.
func (m *Manager) SetEnabled(ctx context.Context, unitPath string, enabled bool) (err error) {
	defer func() { err = typed(filepath.Base(unitPath), err) }()
	unit, err := unitFromPath(unitPath)
	if err != nil {
		return fmt.Errorf("systemd: enable: %w", err)
	}
	if enabled {
		if _, _, err := m.conn.EnableUnitFilesContext(ctx, []string{unitPath}, false, true); err != nil {
			return fmt.Errorf("systemd: enable %s: %w", unit, err)
		}
	} else if _, err := m.conn.DisableUnitFilesContext(ctx, []string{unit}, false); err != nil {
		return fmt.Errorf("systemd: disable %s: %w", unit, err)
	}
	if err := m.conn.ReloadContext(ctx); err != nil {
		return fmt.Errorf("systemd: enable %s: daemon-reload: %w", unit, err)
	}
	m.log.Info("systemd: unit enabled at boot", "unit", unit, "enabled", enabled)
	return nil
}

// Remove undoes Install: it stops the unit if systemd has it loaded or
// running, disables it, deletes unitPath, reloads systemd's configuration
// and clears a failed state. A unit that does not exist, or a file already
// gone, is not an error; running it twice does no harm.
func (m *Manager) Remove(ctx context.Context, unitPath string) (err error) {
	defer func() { err = typed(filepath.Base(unitPath), err) }()
	unit, err := unitFromPath(unitPath)
	if err != nil {
		return fmt.Errorf("systemd: remove: %w", err)
	}
	props, err := m.conn.GetUnitPropertiesContext(ctx, unit)
	if err != nil {
		return fmt.Errorf("systemd: remove %s: read state: %w", unit, err)
	}
	load, active := str(props, "LoadState"), str(props, "ActiveState")
	if load == "loaded" || (active != "" && active != "inactive" && active != "failed") {
		if err := m.Stop(ctx, unit); err != nil {
			return fmt.Errorf("systemd: remove %s: %w", unit, err)
		}
	}
	if _, statErr := os.Lstat(unitPath); statErr == nil || load == "loaded" {
		if _, err := m.conn.DisableUnitFilesContext(ctx, []string{unit}, false); err != nil && !isNoSuchUnit(err) {
			return fmt.Errorf("systemd: remove %s: disable: %w", unit, err)
		}
	}
	if err := os.Remove(unitPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("systemd: remove %s: %w", unit, err)
	}
	if err := m.conn.ReloadContext(ctx); err != nil {
		return fmt.Errorf("systemd: remove %s: daemon-reload: %w", unit, err)
	}
	if err := m.conn.ResetFailedUnitContext(ctx, unit); err != nil && !isNoSuchUnit(err) {
		return fmt.Errorf("systemd: remove %s: reset-failed: %w", unit, err)
	}
	m.log.Info("systemd: removed", "unit", unit, "path", unitPath)
	return nil
}

// unitFromPath checks that p is absolute and names a valid unit.
func unitFromPath(p string) (string, error) {
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("unit path %q is not absolute", p)
	}
	unit := filepath.Base(p)
	if err := checkUnit(unit); err != nil {
		return "", err
	}
	return unit, nil
}

// isNoSuchUnit reports whether err is systemd saying the unit (or its
// file) does not exist.
func isNoSuchUnit(err error) bool {
	var de godbus.Error // received errors are values, not pointers
	if errors.As(err, &de) {
		switch de.Name {
		case "org.freedesktop.systemd1.NoSuchUnit", "org.freedesktop.systemd1.LoadFailed":
			return true
		}
	}
	return errors.Is(err, os.ErrNotExist)
}
