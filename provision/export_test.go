package provision

import "context"

// Hooks for the external tests (package provision_test), which run the
// day-two jobs' steps over the real drivers (provision/backups,
// provision/postgres): this package's own tests cannot import them.

// TakeBackup makes a whole backup of inst, as a restore's safety backup
// or a delete's final one is made, and applies the retention.
func (s *Service) TakeBackup(ctx context.Context, inst Instance, reason string) (string, error) {
	b := &backupRun{d: s, inst: inst, reason: reason}
	return b.take(ctx)
}

// CheckBackupSpace is the backup's space check, before it writes anything.
func (s *Service) CheckBackupSpace(ctx context.Context, inst Instance) error {
	b := &backupRun{d: s, inst: inst}
	return b.checkSpace(ctx)
}

// Retain is the backup's retention step, after a backup of inst.
func (s *Service) Retain(ctx context.Context, inst Instance) error {
	b := &backupRun{d: s, inst: inst}
	return b.retain(ctx)
}

// FindBackup is the restore's check of the backup id it is asked for.
func (s *Service) FindBackup(inst Instance, id string) (BackupInfo, error) {
	return s.findBackup(inst, id)
}

// SealEmptyBackup begins a backup of inst and seals it at once: its
// manifest, with no file.
func (s *Service) SealEmptyBackup(ctx context.Context, inst Instance) (string, error) {
	draft, err := s.backups.Begin(inst.Internal, s.cfg.Now())
	if err != nil {
		return "", err
	}
	b := &backupRun{d: s, inst: inst, reason: ReasonManual, draft: draft, id: draft.ID()}
	return b.id, b.seal(ctx)
}

// RestoreVerify is the restore's first step, verify-backup, on b.
func (s *Service) RestoreVerify(ctx context.Context, inst Instance, b BackupInfo) error {
	return s.restoreRun(inst, b, "tester").verify(ctx)
}
