package config

import (
	"strings"
	"testing"

	"odoobot/provision"
)

// TestBackupRetentionSettings: Odoo.sh's defaults; BACKUP_KEEP still
// sets the daily count, unless BACKUP_KEEP_DAILY is set; a count that
// would keep nothing is refused, naming the setting.
func TestBackupRetentionSettings(t *testing.T) {
	clearEnv(t)
	t.Setenv("CF_ZONE_NAME", "example.com")
	c, err := Load("", false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.BackupRetention(), (provision.Retention{Daily: 7, Weekly: 4, Monthly: 3, Safety: 5, Final: 3}); got != want {
		t.Errorf("defaults %+v, want %+v", got, want)
	}

	t.Setenv("BACKUP_KEEP", "10")
	if c, err = Load("", false); err != nil || c.BackupRetention().Daily != 10 {
		t.Errorf("BACKUP_KEEP=10: %+v, %v; want 10 daily", c, err)
	}
	t.Setenv("BACKUP_KEEP_DAILY", "5")
	if c, err = Load("", false); err != nil || c.BackupRetention().Daily != 5 {
		t.Errorf("BACKUP_KEEP=10 BACKUP_KEEP_DAILY=5: %v; want 5 daily", err)
	}

	t.Setenv("BACKUP_KEEP_SAFETY", "0")
	_, err = Load("", false)
	if err == nil || !strings.Contains(err.Error(), "BACKUP_KEEP_SAFETY 0") {
		t.Errorf("BACKUP_KEEP_SAFETY=0: %v, want a refusal naming it", err)
	}
}
