package provision

import "context"

// Hooks for the external tests (package provision_test), which run the
// day-two jobs' steps over the real drivers (provision/backups,
// provision/postgres): this package's own tests cannot import them.

// TakeBackup makes a whole backup of inst, as a restore's safety backup
// or a delete's final one is made, and applies the retention.
func (d *Service) TakeBackup(ctx context.Context, inst Instance, reason string) (string, error) {
	b := &backupRun{d: d, inst: inst, reason: reason}
	return b.take(ctx)
}

// CheckBackupSpace is the backup's space check, before it writes anything.
func (d *Service) CheckBackupSpace(ctx context.Context, inst Instance) error {
	b := &backupRun{d: d, inst: inst}
	return b.checkSpace(ctx)
}

// Retain is the backup's retention step, after a backup of inst.
func (d *Service) Retain(ctx context.Context, inst Instance) error {
	b := &backupRun{d: d, inst: inst}
	return b.retain(ctx)
}

// FindBackup is the restore's check of the backup id it is asked for.
func (d *Service) FindBackup(inst Instance, id string) (BackupInfo, error) {
	return d.findBackup(inst, id)
}

// SealEmptyBackup begins a backup of inst and seals it at once: its
// manifest, with no file.
func (d *Service) SealEmptyBackup(ctx context.Context, inst Instance) (string, error) {
	draft, err := d.backups.Begin(inst.Internal, d.cfg.Now())
	if err != nil {
		return "", err
	}
	b := &backupRun{d: d, inst: inst, reason: ReasonManual, draft: draft, id: draft.ID()}
	return b.id, b.seal(ctx)
}

// RestoreVerify is the restore's first step, verify-backup, on b.
func (d *Service) RestoreVerify(ctx context.Context, inst Instance, b BackupInfo) error {
	return d.restoreRun(inst, b, "tester").verify(ctx)
}
