package config

import "odoobot/provision"

// BackupRetention is which backups of an instance are kept:
// BACKUP_KEEP_DAILY (or the deprecated BACKUP_KEEP), _WEEKLY and
// _MONTHLY for manual and scheduled backups, _SAFETY and _FINAL for
// restores' safety and deletes' final backups.
func (c *Config) BackupRetention() provision.Retention {
	return provision.Retention{
		Daily: c.BackupDaily, Weekly: c.BackupWeekly, Monthly: c.BackupMonthly,
		Safety: c.BackupSafety, Final: c.BackupFinal,
	}
}
