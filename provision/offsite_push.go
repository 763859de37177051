package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// StepOffsite is the last step of a backup: the new backup pushed to the
// offsite repository, and the retention applied there.
const StepOffsite StepName = "offsite"

// maxManifest bounds a manifest fetched back from offsite.
const maxManifest = 1 << 20

// OffsiteReport is what one PushOffsite did.
type OffsiteReport struct {
	Pushed    []string // the backups pushed, as prod-NAME/ID
	Forgotten int      // offsite copies the retention removed
	Waiting   int      // intact local backups not known to be offsite after it
}

// PushOffsite pushes every intact local backup that has no offsite copy
// yet, of every instance with backups here (deleted ones included),
// oldest first, then applies the retention offsite (the local one, by
// each backup's time and reason) and forgets a copy pushed twice. One
// push runs at a time in this process. A failure for one instance does
// not stop the others; the errors come back joined. Without an offsite
// repository it does nothing.
func (s *Service) PushOffsite(ctx context.Context) (OffsiteReport, error) {
	var rep OffsiteReport
	if s.bcfg.Offsite == nil {
		return rep, nil
	}
	s.offsiteMu.Lock()
	defer s.offsiteMu.Unlock()
	internals, err := s.backups.Instances()
	if err != nil {
		return rep, fmt.Errorf("offsite: list BACKUP_DIR: %w", err)
	}
	var errs []error
	for _, internal := range internals {
		if err := s.pushInstance(ctx, internal, "", &rep); err != nil {
			errs = append(errs, fmt.Errorf("offsite: %s: %w", internal, err))
		}
	}
	return rep, errors.Join(errs...)
}

// pushInstance pushes the instance's intact local backups not offsite,
// oldest first (only backup only, when not ""), then applies the
// retention to its copies. s.offsiteMu is held.
func (s *Service) pushInstance(ctx context.Context, internal, only string, rep *OffsiteReport) error {
	local, err := s.backups.List(ctx, internal, s.cfg.Now())
	if err != nil {
		return err
	}
	copies, err := s.bcfg.Offsite.List(ctx, internal)
	if err != nil {
		for _, b := range local {
			if b.Intact && (only == "" || b.ID == only) {
				rep.Waiting++
			}
		}
		return err
	}
	there := map[string]bool{}
	for _, c := range copies {
		there[c.Backup] = true
	}
	var errs []error
	for _, b := range slices.Backward(local) {
		if there[b.ID] || !b.Intact || (only != "" && b.ID != only) {
			continue
		}
		c, err := s.bcfg.Offsite.Push(ctx, b)
		if err != nil {
			errs = append(errs, fmt.Errorf("push %s: %w", b.ID, err))
			rep.Waiting++
			continue
		}
		copies = append(copies, c)
		rep.Pushed = append(rep.Pushed, internal+"/"+b.ID)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	drop := s.offsiteDrops(copies)
	if len(drop) > 0 {
		if err := s.bcfg.Offsite.Forget(ctx, drop); err != nil {
			return fmt.Errorf("retention: %w", err)
		}
		rep.Forgotten += len(drop)
	}
	return nil
}

// offsiteDrops returns the snapshots the retention does not keep: the
// backups Retention.Drop drops, and every older copy of a backup pushed
// twice (by two processes at once).
func (s *Service) offsiteDrops(copies []OffsiteCopy) []string {
	sort.SliceStable(copies, func(i, j int) bool { return copies[i].CreatedAt.After(copies[j].CreatedAt) })
	byBackup := map[string]OffsiteCopy{}
	var drop []string
	var list []BackupInfo
	for _, c := range copies {
		if _, dup := byBackup[c.Backup]; dup {
			drop = append(drop, c.Snapshot)
			continue
		}
		byBackup[c.Backup] = c
		list = append(list, BackupInfo{Manifest: Manifest{ID: c.Backup, Reason: c.Reason, CreatedAt: c.CreatedAt}})
	}
	for _, b := range s.bcfg.Retention.Drop(list) {
		drop = append(drop, byBackup[b.ID].Snapshot)
	}
	return drop
}

// pushNew is a backup's offsite step: it pushes the backup just sealed
// and applies the retention offsite. A failure never fails the backup,
// which stands locally: it is said, and the background push tries
// again.
func (b *backupRun) pushNew(ctx context.Context) error {
	if b.d.bcfg.Offsite == nil {
		return nil
	}
	b.d.offsiteMu.Lock()
	defer b.d.offsiteMu.Unlock()
	var rep OffsiteReport
	if err := b.d.pushInstance(ctx, b.inst.Internal, b.id, &rep); err != nil {
		b.d.NudgeOffsite() // the background push takes it from here, with its back-off
		return &Noted{Message: "the backup stands here; its offsite push failed and is tried again in the background: " + explained(err)}
	}
	return nil
}

// Place says where a backup is kept.
type Place string

// The places of a backup.
const (
	PlaceLocal   Place = "local"   // in BACKUP_DIR
	PlaceOffsite Place = "offsite" // in the offsite repository
)

// BackupListing is an instance's backups with their places.
type BackupListing struct {
	Backups []ListedBackup
	// OffsiteProblem says why the offsite copies could not be listed;
	// empty when they were, or when there is no offsite repository.
	OffsiteProblem string
	// Offsite tells whether an offsite repository is configured.
	Offsite bool
}

// ListedBackup is one backup and where it is kept: local (with its
// verification, Intact and Damaged) and offsite (Copy set).
type ListedBackup struct {
	BackupInfo
	Local bool
	Copy  *OffsiteCopy
	// Drill is the latest restore drill of this backup; nil when none
	// ended.
	Drill *DrillOutcome
}

// Places returns where the backup is kept, local first.
func (b ListedBackup) Places() []Place {
	var p []Place
	if b.Local {
		p = append(p, PlaceLocal)
	}
	if b.Copy != nil {
		p = append(p, PlaceOffsite)
	}
	return p
}

// BackupPlaces lists an instance's backups, newest first, with their
// places: the local ones verified as Backups does, and the offsite
// copies, those no longer local included. When the offsite repository
// cannot be listed the local backups still are, and OffsiteProblem says
// why.
func (s *Service) BackupPlaces(ctx context.Context, name string) (BackupListing, error) {
	local, err := s.Backups(ctx, name)
	if err != nil {
		return BackupListing{}, err
	}
	out := BackupListing{Offsite: s.bcfg.Offsite != nil}
	byID := map[string]int{}
	for _, b := range local {
		byID[b.ID] = len(out.Backups)
		out.Backups = append(out.Backups, ListedBackup{BackupInfo: b, Local: true})
	}
	if s.bcfg.Offsite == nil {
		s.addDrills(ctx, name, out.Backups)
		return out, nil
	}
	copies, err := s.bcfg.Offsite.List(ctx, InternalName(name))
	if err != nil {
		out.OffsiteProblem = explained(err)
		s.addDrills(ctx, name, out.Backups)
		return out, nil
	}
	for _, c := range copies {
		if i, ok := byID[c.Backup]; ok {
			if out.Backups[i].Copy == nil {
				out.Backups[i].Copy = &c
			}
			continue
		}
		byID[c.Backup] = len(out.Backups)
		out.Backups = append(out.Backups, ListedBackup{Copy: &c, BackupInfo: BackupInfo{Manifest: Manifest{
			ID: c.Backup, Instance: name, Database: c.Instance, Reason: c.Reason, CreatedAt: c.CreatedAt,
		}}})
	}
	sort.SliceStable(out.Backups, func(i, j int) bool { return out.Backups[i].ID > out.Backups[j].ID })
	s.addDrills(ctx, name, out.Backups)
	return out, nil
}

// addDrills gives each listed backup its latest restore drill, from
// the last drills recorded; the listing stands without them when they
// cannot be read.
func (s *Service) addDrills(ctx context.Context, name string, list []ListedBackup) {
	drills, err := s.DrillOutcomes(ctx, name, 100)
	if err != nil {
		s.cfg.Logger.WarnContext(ctx, "backups: the drills cannot be read", "instance", name, "err", err)
		return
	}
	for i := range list {
		for _, d := range drills {
			if d.Backup == list[i].ID {
				list[i].Drill = &d
				break
			}
		}
	}
}

// offsiteCopy returns the instance's offsite copy of backup id.
func (s *Service) offsiteCopy(ctx context.Context, internal, id string) (OffsiteCopy, error) {
	copies, err := s.bcfg.Offsite.List(ctx, internal)
	if err != nil {
		return OffsiteCopy{}, err
	}
	for _, c := range copies {
		if c.Backup == id {
			return c, nil
		}
	}
	return OffsiteCopy{}, ErrBackupNotFound
}

// fetch brings offsite copy c back into BACKUP_DIR under its id: its
// manifest first (at most 1 MiB, and it must be the manifest of that
// backup of that instance, naming plain files), then each file it lists,
// at most its recorded size, sealed as a local backup, then checked
// against the manifest's sizes and SHA-256: a copy that differs is
// removed again and refused (ErrBackupCorrupt). The backup is then as
// it was when taken.
func (s *Service) fetch(ctx context.Context, c OffsiteCopy) (BackupInfo, error) {
	draft, err := s.backups.BeginAs(c.Instance, c.Backup)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("fetch %s: %w", c.Backup, err)
	}
	sealed := false
	defer func() {
		if !sealed {
			_ = draft.Discard()
		}
	}()
	off := s.bcfg.Offsite
	if err := off.Fetch(ctx, c, ManifestName, draft.Path(ManifestName), maxManifest); err != nil {
		return BackupInfo{}, fmt.Errorf("fetch %s: manifest: %w", c.Backup, err)
	}
	raw, err := draft.Read(ManifestName, maxManifest)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("fetch %s: manifest: %w", c.Backup, err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return BackupInfo{}, fmt.Errorf("%w: fetch %s: the manifest does not parse: %v", ErrBackupCorrupt, c.Backup, err)
	}
	if m.ID != c.Backup || m.Database != c.Instance {
		return BackupInfo{}, fmt.Errorf("%w: fetch %s: the manifest is of backup %q of %q", ErrBackupCorrupt, c.Backup, m.ID, m.Database)
	}
	want := m.Files
	for _, f := range want {
		if !plainFileName(f.Name) || f.Name == ManifestName || f.Size < 0 {
			return BackupInfo{}, fmt.Errorf("%w: fetch %s: the manifest names file %q", ErrBackupCorrupt, c.Backup, f.Name)
		}
		if err := off.Fetch(ctx, c, f.Name, draft.Path(f.Name), f.Size); err != nil {
			return BackupInfo{}, fmt.Errorf("fetch %s: %s: %w", c.Backup, f.Name, err)
		}
		if err := draft.Add(f.Name); err != nil {
			return BackupInfo{}, fmt.Errorf("fetch %s: %s: %w", c.Backup, f.Name, err)
		}
	}
	if err := draft.Seal(m); err != nil {
		return BackupInfo{}, fmt.Errorf("fetch %s: %w", c.Backup, err)
	}
	sealed = true
	got, err := s.backups.Read(c.Instance, c.Backup)
	if err == nil && !sameFiles(got.Files, want) {
		err = fmt.Errorf("%w: fetch %s: the files fetched differ from its manifest", ErrBackupCorrupt, c.Backup)
	}
	if err != nil {
		_ = s.backups.Remove(c.Instance, c.Backup)
		return BackupInfo{}, err
	}
	return got, nil
}

// removeFetched removes backup id of instance internal, fetched back for
// a job that is undone, and any half of it.
func (s *Service) removeFetched(internal, id string) error {
	if _, err := s.backups.Abandon(internal); err != nil {
		return err
	}
	return s.backups.Remove(internal, id)
}

// sameFiles reports whether a and b list the same files with the same
// sizes and checksums, in any order.
func sameFiles(a, b []BackupFile) bool {
	if len(a) != len(b) {
		return false
	}
	key := func(f BackupFile) string { return fmt.Sprintf("%s\x00%d\x00%s", f.Name, f.Size, f.SHA256) }
	seen := map[string]int{}
	for _, f := range a {
		seen[key(f)]++
	}
	for _, f := range b {
		if seen[key(f)] == 0 {
			return false
		}
		seen[key(f)]--
	}
	return true
}

// plainFileName reports whether name is one plain file name: no
// directory, not hidden.
func plainFileName(name string) bool {
	return name != "" && !strings.ContainsAny(name, `/\`) && !strings.HasPrefix(name, ".")
}

// explained is err as chat shows it: the Explain of its Error, or its
// text when it holds none.
func explained(err error) string {
	if h := Hint(err); h != "" {
		return h
	}
	return err.Error()
}
