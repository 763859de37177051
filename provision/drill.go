package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// JobDrill proves an instance's latest backup restores: restored into a
// throwaway database and filestore that nothing serves, opened with
// Odoo, compared with what its manifest recorded, then dropped.
const JobDrill JobKind = "drill"

// The steps of a restore drill besides fetch and verify-backup.
const (
	StepRoom       StepName = "room"            // disk and memory the drill needs, before anything is written
	StepDrillDB    StepName = "drill-database"  // the dump restored as prod-NAME_drill, as the instance's own role
	StepDrillFiles StepName = "drill-filestore" // the filestore unpacked in the staging directory
	StepOpen       StepName = "open"            // odoo-bin loads the restored database's registry and stops
	StepCompare    StepName = "compare"         // the restored copy against the manifest's counts
	StepDrop       StepName = "drop"            // the throwaway database and filestore dropped
)

// ErrDrillNoRoom is returned, before a drill writes anything, when the
// host lacks the disk or memory the drill needs; the error gives both
// numbers.
var ErrDrillNoRoom = errors.New("not enough room for a restore drill")

// drillSpare is kept free beyond a drill's estimate of disk.
const drillSpare = 256 << 20

// drillMemory is what one odoo-bin run is counted for when no
// LIMIT_MEMORY_HARD is configured.
const drillMemory = 768 << 20

// Drill queues a restore drill of the instance: its latest offsite
// backup (the latest local one, said so, when no offsite repository is
// configured or none is offsite yet), fetched back when it is not kept
// here, is checked, restored into the throwaway database
// prod-NAME_drill as the instance's own role and its filestore into the
// staging directory (root's, outside every tree), opened with the
// instance's Odoo (its release's odoo-bin loading the registry and
// stopping, as the instance's user), compared with the counts its
// manifest recorded, and dropped. Nothing serves the copy: no unit, no
// site, no DNS record; production keeps serving. A failure drops what
// the drill made (its rollback), as does the next start after a crash.
// The job's record is the drill's outcome (DrillOutcomes); a drill that
// did not succeed is said to Config.Alert.
func (s *Service) Drill(ctx context.Context, req JobRequest) (*Task, error) {
	inst, err := s.lookup(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	if inst.State != StateReady {
		return nil, fmt.Errorf("%w: %s is %s, not ready", ErrServiceState, inst.Name, inst.State)
	}
	src, err := s.drillSource(ctx, inst)
	if err != nil {
		return nil, err
	}
	r := s.drillRun(inst, src)
	params := map[string]string{"backup": src.manifest.ID, "from": src.from}
	if src.fetch != nil {
		params[paramFetched] = "offsite"
	}
	finished := req.Finished
	req.Finished = func(job Job) {
		if job.State != JobSucceeded && s.cfg.Alert != nil {
			s.cfg.Alert(context.Background(), drillAlert(inst, src.manifest.ID, job))
		}
		if finished != nil {
			finished(job)
		}
	}
	return s.submit(ctx, s.jobPlan(JobDrill, inst, params, r.steps(src.fetch), ""), req, nil)
}

// drillAlert is what the on-call channel is told of a drill that did
// not succeed.
func drillAlert(inst Instance, backup string, job Job) string {
	why := job.Error
	if job.Failure.Hint != "" {
		why = job.Failure.Hint
	}
	at := ""
	if job.Failure.Step != "" {
		at = " at step " + string(job.Failure.Step)
	}
	return fmt.Sprintf("restore drill of %s FAILED%s (backup %s, job #%d): %s", inst.Internal, at, backup, job.ID, why)
}

// drillSource is the backup a drill restores, and where from.
type drillSource struct {
	manifest Manifest
	local    BackupInfo   // set when the backup is kept here
	fetch    *OffsiteCopy // set when it must be fetched back first
	from     string       // "offsite" or "local"
	note     string       // said in the thread: why it is not an offsite copy
}

// drillSource picks the backup a drill of inst restores: the newest
// offsite copy (used from here when kept here too, even damaged, which
// the drill then says; fetched back otherwise); without an offsite repository, or with none offsite yet,
// the newest intact local backup, and it says so.
func (s *Service) drillSource(ctx context.Context, inst Instance) (drillSource, error) {
	newestLocal := func(note string) (drillSource, error) {
		list, err := s.backups.List(ctx, inst.Internal, s.cfg.Now())
		if err != nil {
			return drillSource{}, fmt.Errorf("drill: %w", err)
		}
		for _, b := range list {
			if b.Intact {
				return drillSource{manifest: b.Manifest, local: b, from: "local", note: note}, nil
			}
		}
		return drillSource{}, fmt.Errorf("%w: %s has no intact backup to drill; take one with backup %s", ErrBackupNotFound, inst.Name, inst.Name)
	}
	if s.bcfg.Offsite == nil {
		return newestLocal("no offsite repository (OFFSITE_REPOSITORY): the latest local backup is drilled")
	}
	copies, err := s.bcfg.Offsite.List(ctx, inst.Internal)
	if err != nil {
		return drillSource{}, fmt.Errorf("drill: the offsite copies of %s cannot be listed: %s", inst.Name, explained(err))
	}
	if len(copies) == 0 {
		return newestLocal("no backup of " + inst.Internal + " is offsite yet: the latest local backup is drilled")
	}
	c := copies[0]
	if b, err := s.backups.Read(inst.Internal, c.Backup); err == nil {
		// Kept here too: drilled from here (a local copy found damaged
		// fails the drill at verify-backup, saying which file).
		return drillSource{manifest: b.Manifest, local: b, from: "offsite"}, nil
	}
	m, err := s.offsiteManifest(ctx, c)
	if err != nil {
		return drillSource{}, err
	}
	return drillSource{manifest: m, fetch: &c, from: "offsite"}, nil
}

// drillRun is one drill of inst.
type drillRun struct {
	d      *Service
	inst   Instance
	paths  Paths
	src    drillSource
	backup BackupInfo // the local backup, once there
	db     string     // prod-NAME_drill
	start  time.Time
	found  DataCounts // what the restored copy holds
}

func (s *Service) drillRun(inst Instance, src drillSource) *drillRun {
	return &drillRun{d: s, inst: inst, paths: s.cfg.Layout.Paths(inst), src: src, backup: src.local,
		db: s.cfg.Rules.Names(inst.Name).Drill}
}

// steps are the drill's steps; fetch, when set, is fetched back first.
// Every undo is harmless when its apply never ran, so that a crash is
// rolled back from the job's record alone (drillPlanOf).
func (r *drillRun) steps(fetch *OffsiteCopy) []Step {
	steps := []Step{{StepRoom, r.room, nil}}
	if fetch != nil {
		c := *fetch
		steps = append(steps, Step{StepFetch, func(ctx context.Context) error { return r.fetch(ctx, c) }, r.unfetch})
	}
	return append(steps,
		Step{StepCheck, r.verify, nil},
		Step{StepDrillDB, r.restoreDB, r.dropDB},
		Step{StepDrillFiles, r.stageFiles, r.dropFiles},
		Step{StepOpen, r.open, nil},
		Step{StepCompare, r.compare, nil},
		Step{StepDrop, r.drop, nil},
	)
}

// room refuses the drill, before anything is written, when the host
// lacks the disk or the memory it needs, with the numbers. Disk: the
// backup's files when they are fetched back, the restored database (its
// size when backed up, else four times its dump), the unpacked
// filestore, and 256 MiB spare, against the least free of BACKUP_DIR's
// and PROD_ROOT's file systems. Memory: one odoo-bin
// (LIMIT_MEMORY_HARD), against the memory available now.
func (r *drillRun) room(ctx context.Context) error {
	r.start = time.Now()
	m := r.src.manifest
	var parts []string
	var need uint64
	if r.src.fetch != nil {
		need += uint64(m.Size())
		parts = append(parts, "the backup fetched back "+ByteSize(uint64(m.Size())))
	}
	db := m.DatabaseBytes
	if db > 0 {
		parts = append(parts, "the database "+ByteSize(db))
	} else if f, ok := m.File(DumpName); ok {
		db = 4 * uint64(f.Size)
		parts = append(parts, "the database ≈"+ByteSize(db)+" (4 × its dump: the backup does not record its size)")
	}
	need += db
	var store uint64
	if m.Counts != nil {
		store = uint64(m.Counts.FilestoreBytes)
	} else if f, ok := m.File(FilestoreName); ok {
		store = uint64(f.Size)
	}
	need += store + drillSpare
	parts = append(parts, "the filestore "+ByteSize(store), ByteSize(drillSpare)+" spare")
	mem := uint64(r.d.cfg.Odoo.LimitMemoryHard)
	if mem == 0 {
		mem = drillMemory
	}
	facts := r.d.cfg.HostFacts
	if facts == nil {
		return &Noted{Message: "the host's disk and memory cannot be read here: not checked"}
	}
	var free uint64
	var avail uint64
	for i, dir := range []string{r.d.bcfg.Dir, r.d.cfg.Layout.ProdRoot} {
		f, err := facts.HostFacts(dir)
		if err != nil {
			return fmt.Errorf("drill: room: %w", err)
		}
		if i == 0 || f.DiskFree < free {
			free = f.DiskFree
		}
		avail = f.MemAvailable
	}
	var short []string
	if free < need {
		short = append(short, fmt.Sprintf("disk: needs %s (%s), %s free (the least of BACKUP_DIR's and PROD_ROOT's file systems)", ByteSize(need), strings.Join(parts, ", "), ByteSize(free)))
	}
	if avail < mem {
		short = append(short, fmt.Sprintf("memory: needs %s (one odoo-bin, LIMIT_MEMORY_HARD_MB), %s available", ByteSize(mem), ByteSize(avail)))
	}
	if len(short) > 0 {
		return fmt.Errorf("%w of %s, nothing written: %s; free some, or drill later", ErrDrillNoRoom, r.inst.Name, strings.Join(short, "; "))
	}
	msg := fmt.Sprintf("backup %s (%s); disk: needs %s, %s free; memory: needs %s, %s available", m.ID, r.src.from, ByteSize(need), ByteSize(free), ByteSize(mem), ByteSize(avail))
	if r.src.note != "" {
		msg = r.src.note + "; " + msg
	}
	return &Noted{Message: msg}
}

// fetch brings the offsite copy back into BACKUP_DIR (Service.fetch).
func (r *drillRun) fetch(ctx context.Context, c OffsiteCopy) error {
	b, err := r.d.fetch(ctx, c)
	if err != nil {
		return err
	}
	r.backup = b
	return nil
}

// unfetch removes the fetched backup and any half of it.
func (r *drillRun) unfetch(context.Context) error {
	return r.d.removeFetched(r.inst.Internal, r.src.manifest.ID)
}

// verify checks every file of the backup against its manifest.
func (r *drillRun) verify(context.Context) error {
	if r.backup.Dir == "" {
		b, err := r.d.backups.Read(r.inst.Internal, r.src.manifest.ID)
		if err != nil {
			return fmt.Errorf("%w: %s has no backup %s any more", ErrBackupNotFound, r.inst.Name, r.src.manifest.ID)
		}
		r.backup = b
	}
	return r.d.backups.Verify(r.backup)
}

// restoreDB restores the dump into the throwaway database, owned by the
// instance's own role and restored as it; a leftover of an earlier
// drill is dropped first.
func (r *drillRun) restoreDB(ctx context.Context) error {
	if err := r.dropDB(ctx); err != nil {
		return err
	}
	if err := r.d.pg.Restore(ctx, r.db, r.inst.DBRole, filepath.Join(r.backup.Dir, DumpName)); err != nil {
		return fmt.Errorf("drill: restore the database: %w", err)
	}
	return nil
}

func (r *drillRun) dropDB(ctx context.Context) error {
	if err := r.d.pg.Drop(ctx, r.db); err != nil {
		return fmt.Errorf("drill: %w", err)
	}
	return nil
}

// stageFiles unpacks the backup's filestore where a restore stages one:
// the staging directory, root's, outside every tree, owned by the
// instance's user there. Nothing serves it.
func (r *drillRun) stageFiles(ctx context.Context) error {
	var archive io.Reader
	if _, ok := r.backup.File(FilestoreName); ok {
		rc, err := r.d.backups.OpenFilestore(r.backup)
		if err != nil {
			return fmt.Errorf("drill: filestore: %w", err)
		}
		defer rc.Close()
		archive = rc
	}
	if err := r.d.cfg.Files.StageRestore(ctx, r.inst, r.runAs(), archive); err != nil {
		return fmt.Errorf("drill: filestore: %w", err)
	}
	return nil
}

func (r *drillRun) dropFiles(ctx context.Context) error {
	if err := r.d.cfg.Files.DropRestore(ctx, r.inst, RestoreStaged); err != nil {
		return fmt.Errorf("drill: %w", err)
	}
	return nil
}

func (r *drillRun) runAs() string {
	if r.inst.User != "" {
		return r.inst.User
	}
	return r.d.cfg.ServiceUser
}

// open has the instance's Odoo load the restored database's registry
// and stop, as the instance's user with its odoo.conf, the database
// named on the command line, its memory bounded as each of the
// instance's workers is (LIMIT_MEMORY_HARD): the release the backup
// records when it is cached, else the one the instance runs.
func (r *drillRun) open(ctx context.Context) error {
	runs, targets := r.d.cfg.OdooRuns, r.d.cfg.Targets
	if runs == nil || targets == nil {
		return errors.New("drill: this host cannot run Odoo (no Odoo runner configured)")
	}
	var rel Release
	var err error
	if m := r.src.manifest.Release; m != nil && m.Known() {
		rel, err = targets.Cached(*m)
	}
	if rel.OdooBin == "" {
		if !r.inst.Release.Known() {
			return &Noted{Message: r.inst.Name + " records no release (imported): Odoo did not open the copy; its restore and counts are checked"}
		}
		if rel, err = targets.Cached(r.inst.Release); err != nil {
			return fmt.Errorf("drill: open: the release %s runs: %w", r.inst.Name, err)
		}
	}
	run := OdooRun{User: r.runAs(), Dir: r.paths.Dir, Conf: r.paths.Conf, DB: r.db, MemoryMax: r.d.cfg.Odoo.LimitMemoryHard}
	if err := runs.Open(ctx, rel, run); err != nil {
		return fmt.Errorf("Odoo could not open the restored database: %w", err)
	}
	return &Noted{Message: fmt.Sprintf("Odoo %s at %s loaded the registry of %s", ReleaseLabel(rel), shortCommit(rel.Commit), r.db)}
}

// compare counts the restored copy, as the instance's role reads it and
// as the staged filestore holds it, against what the manifest recorded.
// A backup that recorded nothing (an earlier odoobot's) is said so: only
// its restore and its opening were checked.
func (r *drillRun) compare(ctx context.Context) error {
	rows, err := r.d.pg.Counts(ctx, r.db)
	if err != nil {
		return fmt.Errorf("drill: count the restored database: %w", err)
	}
	r.found.Rows = rows
	err = r.d.cfg.Files.ReadStaged(ctx, r.inst, func(fsys fs.FS) error {
		var err error
		r.found.FilestoreFiles, r.found.FilestoreBytes, err = treeCount(fsys)
		return err
	})
	if err != nil {
		return fmt.Errorf("drill: count the restored filestore: %w", err)
	}
	want := r.src.manifest.Counts
	if want == nil {
		return &Noted{Message: "the backup records no counts (taken by an earlier odoobot): only what was recorded can be compared, which is nothing; it restored and opened. Found " + r.found.String()}
	}
	if diff := want.Diff(r.found); len(diff) > 0 {
		return fmt.Errorf("the restored copy differs from what backup %s recorded: %s", r.src.manifest.ID, strings.Join(diff, "; "))
	}
	return &Noted{Message: "as recorded: " + r.found.String()}
}

// drop drops the throwaway database and filestore and, when the backup
// was fetched back for the drill, the fetched copy.
func (r *drillRun) drop(ctx context.Context) error {
	if err := r.dropDB(ctx); err != nil {
		return err
	}
	if err := r.dropFiles(ctx); err != nil {
		return err
	}
	if r.src.fetch != nil {
		if err := r.unfetch(ctx); err != nil {
			return fmt.Errorf("drill: remove the fetched backup: %w", err)
		}
	}
	return &Noted{Message: fmt.Sprintf("backup %s restore-tested in %s", r.src.manifest.ID, time.Since(r.start).Round(100*time.Millisecond))}
}

// Diff lists how got differs from c, what a backup recorded: each
// recorded table whose restored count differs (or is missing), and the
// filestore's files and bytes.
func (c DataCounts) Diff(got DataCounts) []string {
	var out []string
	keys := slices.Sorted(maps.Keys(c.Rows))
	for _, k := range keys {
		g, ok := got.Rows[k]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s: %d rows recorded, none restored (the table cannot be read)", k, c.Rows[k]))
		case g != c.Rows[k]:
			out = append(out, fmt.Sprintf("%s: %d rows recorded, %d restored", k, c.Rows[k], g))
		}
	}
	if got.FilestoreFiles != c.FilestoreFiles || got.FilestoreBytes != c.FilestoreBytes {
		out = append(out, fmt.Sprintf("filestore: %d files (%d bytes) recorded, %d files (%d bytes) restored", c.FilestoreFiles, c.FilestoreBytes, got.FilestoreFiles, got.FilestoreBytes))
	}
	return out
}

// String is the counts as the thread shows them.
func (c DataCounts) String() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(c.Rows)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, c.Rows[k]))
	}
	parts = append(parts, fmt.Sprintf("filestore %d files, %s", c.FilestoreFiles, ByteSize(uint64(c.FilestoreBytes))))
	return strings.Join(parts, ", ")
}

// drillPlanOf is the plan of a drill a stopped odoobot left open: its
// steps, every name derived from the job's instance, rolled back whole
// (the throwaway database and filestore dropped, a fetched backup
// removed). A drill changes nothing that stays: there is nothing to
// finish.
func (s *Service) drillPlanOf(_ context.Context, job Job) (Plan, *settled) {
	if s.cfg.Rules.Check(job.Instance) != nil {
		return Plan{}, &settled{JobInterrupted, "odoobot stopped while this drill ran; its name is not one odoobot makes: nothing undone"}
	}
	inst := s.newInstance(job.Instance, SSLHTTP)
	src := drillSource{manifest: Manifest{ID: job.Params["backup"]}}
	var fetch *OffsiteCopy
	if job.Params[paramFetched] != "" && IsBackupID(src.manifest.ID) {
		fetch = &OffsiteCopy{Instance: inst.Internal, Backup: src.manifest.ID}
		src.fetch = fetch
	}
	r := s.drillRun(inst, src)
	return s.jobPlan(JobDrill, inst, job.Params, r.steps(fetch), ""), nil
}

// DrillOutcome is one restore drill as its job recorded it.
type DrillOutcome struct {
	Backup string    // the backup drilled
	At     time.Time // when the drill ended
	OK     bool      // every step passed
	// Failed says what failed: the step and why; empty when OK.
	Failed string
	Job    int64
}

// DrillOutcomes returns the drills of instance name that ended, newest
// first, at most n: a drill a crash ended (rolled back by the next
// start) is not an outcome of its backup and is left out.
func (s *Service) DrillOutcomes(ctx context.Context, name string, n int) ([]DrillOutcome, error) {
	jobs, err := s.cfg.Store.Jobs(ctx, name, JobDrill, n)
	if err != nil {
		return nil, fmt.Errorf("provision: drills of %s: %w", name, err)
	}
	var out []DrillOutcome
	for _, j := range jobs {
		if j.State.Open() || j.State == JobInterrupted {
			continue
		}
		o := DrillOutcome{Backup: j.Params["backup"], At: j.FinishedAt, OK: j.State == JobSucceeded, Job: j.ID}
		if !o.OK {
			o.Failed = j.Error
			if j.Failure.Hint != "" {
				o.Failed = "step " + string(j.Failure.Step) + ": " + j.Failure.Hint
			}
		}
		out = append(out, o)
	}
	return out, nil
}

// DrillLoop says how serve's scheduled drill runs (Service.RunDrills).
type DrillLoop struct {
	// Every is how old an instance's last drill may be before the next:
	// each ready instance is drilled once per Every. Zero or less turns
	// the schedule off.
	Every time.Duration
	// Check is the wait between rounds, the first included; zero means
	// the lesser of Every and an hour.
	Check time.Duration
	// Backups, when set, is the daily backup's time of day (UTC,
	// BACKUP_TIME): no drill starts in the drillBackupGap before it, so
	// that a drill does not hold an instance when its backup comes.
	Backups *time.Duration
	// After is the clock's timer (nil: time.After).
	After func(time.Duration) <-chan time.Time
}

// drillBackupGap is how long before the daily backup no scheduled drill
// starts.
const drillBackupGap = 2 * time.Hour

// RunDrills drills, until ctx ends, every ready instance whose last
// drill (whatever its outcome) ended more than l.Every ago, or that was
// never drilled, one at a time, waiting l.Check between rounds; a round
// in the two hours before the daily backup (l.Backups) starts none. An
// instance busy with another job is drilled at a later round. A drill
// that fails is alerted as an asked-for one is (Drill).
func (s *Service) RunDrills(ctx context.Context, l DrillLoop) {
	if l.Every <= 0 {
		return
	}
	if l.Check <= 0 {
		l.Check = min(l.Every, time.Hour)
	}
	after := l.After
	if after == nil {
		after = time.After
	}
	// refused holds the instances whose drill could not start and was
	// alerted: once, until one starts.
	refused := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-after(l.Check):
		}
		if now := s.cfg.Now(); l.Backups != nil && NextDaily(now, *l.Backups).Sub(now) < drillBackupGap {
			s.cfg.Logger.InfoContext(ctx, "drill: the daily backup comes within two hours; no drill starts now")
			continue
		}
		s.drillRound(ctx, l.Every, refused)
	}
}

// drillRound drills each ready instance whose last drill is older than
// every. A drill that cannot start (no backup, the offsite copies not
// listed) is alerted once, until one starts; a busy instance is not.
func (s *Service) drillRound(ctx context.Context, every time.Duration, refused map[string]bool) {
	all, err := s.cfg.Store.Instances(ctx)
	if err != nil {
		s.cfg.Logger.WarnContext(ctx, "drill: list the instances", "err", err)
		return
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	for _, inst := range all {
		if ctx.Err() != nil || inst.State != StateReady {
			continue
		}
		jobs, err := s.cfg.Store.Jobs(ctx, inst.Name, JobDrill, 1)
		if err != nil {
			s.cfg.Logger.WarnContext(ctx, "drill: last drill", "instance", inst.Name, "err", err)
			continue
		}
		if len(jobs) > 0 && (jobs[0].State.Open() || s.cfg.Now().Sub(jobs[0].FinishedAt) < every) {
			continue
		}
		t, err := s.Drill(ctx, JobRequest{Name: inst.Name, By: "schedule"})
		if err != nil {
			s.cfg.Logger.WarnContext(ctx, "drill: not started; tried again at the next round", "instance", inst.Name, "err", err)
			if !errors.Is(err, ErrInstanceBusy) && !refused[inst.Name] && s.cfg.Alert != nil {
				refused[inst.Name] = true
				s.cfg.Alert(ctx, fmt.Sprintf("restore drill of %s could not start: %s", inst.Internal, explained(err)))
			}
			continue
		}
		delete(refused, inst.Name)
		job, _ := t.Wait(ctx)
		s.cfg.Logger.InfoContext(ctx, "drill: ended", "instance", inst.Name, "state", job.State, "backup", job.Params["backup"])
	}
}
