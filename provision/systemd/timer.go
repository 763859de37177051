package systemd

import (
	"os"
	"path/filepath"

	"odoobot/provision"
)

// BackupTimerInstalled reports whether the daily backup's timer unit
// file (provision.BackupTimerUnit) is in unitDir: serve then leaves the
// daily backup to it.
func BackupTimerInstalled(unitDir string) bool {
	_, err := os.Stat(filepath.Join(unitDir, provision.BackupTimerUnit))
	return err == nil
}
