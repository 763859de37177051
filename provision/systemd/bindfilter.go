package systemd

import (
	"errors"
	"fmt"
	"syscall"

	"odoobot/provision"
)

var _ provision.BindFilter = (*Manager)(nil)

// cgroup2Magic is statfs's f_type of a cgroup v2 file system.
const cgroup2Magic = 0x63677270

// BindFilterEnforced is the package's BindFilterEnforced: it reads the
// host, not the D-Bus connection, so a nil *Manager may answer too.
func (*Manager) BindFilterEnforced() error { return BindFilterEnforced() }

// BindFilterEnforced returns nil when systemd enforces an instance
// unit's SocketBindAllow and SocketBindDeny on this host: when
// /sys/fs/cgroup is cgroup v2 alone, the only hierarchy systemd attaches
// its bind filter to; otherwise an error saying what the host runs.
func BindFilterEnforced() error {
	var fs syscall.Statfs_t
	if err := syscall.Statfs("/sys/fs/cgroup", &fs); err != nil {
		return fmt.Errorf("systemd's bind filter: %w", err)
	}
	if fs.Type != cgroup2Magic {
		return errors.New("/sys/fs/cgroup is not cgroup v2 alone (a legacy or hybrid hierarchy), and systemd enforces SocketBindAllow and SocketBindDeny only there")
	}
	return nil
}
