package systemd

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"odoobot/internal/childenv"
	"odoobot/provision"
)

// Status reads unit's state from systemd: load and active states, main
// PID, current memory, CPU time and when it became active. When systemd
// has no CPU figure for a running unit (CPUUsageNSec unset: a cgroup v1
// host without CPU accounting), CPUNanos is the CPU time of the unit's
// processes read from the kernel (unitCPU). A unit systemd does not
// know is not an error: it is reported with Loaded false and its states
// (typically inactive/dead).
func (m *Manager) Status(ctx context.Context, unit string) (_ provision.ServiceStatus, err error) {
	defer func() { err = typed(unit, err) }()
	if err := checkUnit(unit); err != nil {
		return provision.ServiceStatus{}, fmt.Errorf("systemd: status: %w", err)
	}
	props, err := m.conn.GetUnitPropertiesContext(ctx, unit)
	if err != nil {
		return provision.ServiceStatus{}, fmt.Errorf("systemd: status %s: %w", unit, err)
	}
	var svc map[string]any
	if str(props, "LoadState") != "not-found" {
		svc, err = m.conn.GetUnitTypePropertiesContext(ctx, unit, "Service")
		if err != nil {
			return provision.ServiceStatus{}, fmt.Errorf("systemd: status %s: service properties: %w", unit, err)
		}
	}
	s := statusFrom(unit, props, svc)
	if s.CPUNanos == 0 && s.Running() && m.procRoot != "" {
		s.CPUNanos, _ = unitCPU(m.procRoot, m.cgroupRoot, str(svc, "ControlGroup"), s.MainPID)
	}
	return s, nil
}

// statusFrom builds a ServiceStatus from the properties of the
// org.freedesktop.systemd1.Unit and .Service interfaces (svc may be nil).
// Missing or mistyped properties read as zero values.
func statusFrom(unit string, props, svc map[string]any) provision.ServiceStatus {
	s := provision.ServiceStatus{
		Unit:        unit,
		Loaded:      str(props, "LoadState") == "loaded",
		ActiveState: str(props, "ActiveState"),
		SubState:    str(props, "SubState"),
	}
	if s.ActiveState == "active" || s.ActiveState == "reloading" {
		if us, ok := props["ActiveEnterTimestamp"].(uint64); ok && us > 0 && us != math.MaxUint64 {
			s.Since = time.UnixMicro(int64(us))
		}
	}
	if pid, ok := svc["MainPID"].(uint32); ok {
		s.MainPID = pid
	}
	// systemd says "unknown" with the maximum uint64 ("infinity").
	if mem, ok := svc["MemoryCurrent"].(uint64); ok && mem != math.MaxUint64 {
		s.MemoryBytes = mem
	}
	if cpu, ok := svc["CPUUsageNSec"].(uint64); ok && cpu != math.MaxUint64 {
		s.CPUNanos = cpu
	}
	return s
}

// str returns props[key] when it is a string, "" otherwise.
func str(props map[string]any, key string) string {
	v, _ := props[key].(string)
	return v
}

// Journal returns the last n (n > 0) journal lines of unit, oldest first,
// in journalctl's short-iso format. It runs journalctl, which must be on
// PATH; a unit with no entries gives no lines and no error.
func (m *Manager) Journal(ctx context.Context, unit string, n int) ([]string, error) {
	if err := checkUnit(unit); err != nil {
		return nil, fmt.Errorf("systemd: journal: %w", err)
	}
	if n <= 0 {
		return nil, fmt.Errorf("systemd: journal %s: line count %d must be positive", unit, n)
	}
	bin, err := exec.LookPath("journalctl")
	if err != nil {
		return nil, fmt.Errorf("systemd: journal %s: journalctl is not installed: %w", unit, err)
	}
	cmd := exec.CommandContext(ctx, bin, "-u", unit, "-n", strconv.Itoa(n), "--no-pager", "-q", "-o", "short-iso")
	cmd.Env = childenv.Env()
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			return nil, fmt.Errorf("systemd: journal %s: %w: %s", unit, err, strings.TrimSpace(string(ee.Stderr)))
		}
		return nil, fmt.Errorf("systemd: journal %s: %w", unit, err)
	}
	return journalLines(out), nil
}

// journalLines splits journalctl's output into lines, dropping empty
// lines and its "-- No entries --" style notices.
func journalLines(out []byte) []string {
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if l == "" || (strings.HasPrefix(l, "-- ") && strings.HasSuffix(l, " --")) {
			continue
		}
		lines = append(lines, l)
	}
	return lines
}
