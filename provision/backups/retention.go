package backups

import "odoobot/provision"

// Prune returns the backups of list that r does not keep, oldest first
// (provision.Retention.Drop).
func Prune(r provision.Retention, list []provision.BackupInfo) []provision.BackupInfo {
	return r.Drop(list)
}
