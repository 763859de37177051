package app

import (
	"fmt"

	"odoobot/internal/rootpath"
)

// CheckRootPaths refuses a host where someone other than root can move a
// directory odoobot writes into as root (PROD_ROOT, BACKUP_DIR,
// STATE_DIR, LOG_DIR, TRACKING_DIR) or one above it: an imported
// instance's SERVICE_USER owning the home that holds PROD_ROOT could
// rename what root writes there into any place. serve calls it before
// anything else; the error names each directory, who can change it and
// the command that makes it safe.
func (a *App) CheckRootPaths() error {
	cfg := a.Config
	err := rootpath.Check(map[string]string{
		"PROD_ROOT":    cfg.ProdRoot,
		"BACKUP_DIR":   cfg.BackupDir,
		"STATE_DIR":    cfg.StateDir,
		"LOG_DIR":      cfg.LogDir,
		"TRACKING_DIR": cfg.TrackingDir,
	})
	if err != nil {
		return fmt.Errorf("directories odoobot writes as root are not root's alone:\n%w", err)
	}
	return nil
}
