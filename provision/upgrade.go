package provision

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// JobUpgrade moves an instance to another release of Odoo.
const JobUpgrade JobKind = "upgrade"

// The steps an upgrade has besides those it shares with restore, isolate
// and creation (safety-backup, release, stop, start, verify, cleanup).
const (
	StepTestCopy StepName = "test-on-copy" // a throwaway copy of the database and filestore updated with the new release
	StepSwitch   StepName = "switch"       // odoo.conf and the unit name the new release
	StepUpdate   StepName = "update"       // production's database updated (the changed modules, or -u all); the one it replaces kept aside
	StepRecord   StepName = "record"       // the store and info-instancia.txt name the new release
)

// ReleaseTargets builds the release of a chosen commit (provision/odoo's
// Releases): what an upgrade needs beyond a creation's ReleaseBuilder.
type ReleaseTargets interface {
	// Resolve says which commit ref names, as a full hash: "" the
	// configured release (ODOO_COMMIT, else the branch's head), "latest"
	// the branch's head, a hash itself, else a tag. An unknown ref is an
	// error naming it.
	Resolve(ctx context.Context, ref string) (string, error)
	// EnsureCommit returns commit's release, built first when the cache
	// lacks it; progress hears each phase of a build.
	EnsureCommit(ctx context.Context, commit string, progress func(phase string)) (Release, error)
	// Cached returns the release rec names, with its files read, when
	// the cache holds it.
	Cached(rec ReleaseRecord) (Release, error)
}

// UpgradeRequest asks for an upgrade of instance Name to Target: "" the
// configured release, "latest" the branch's head, or a commit or tag.
type UpgradeRequest struct {
	JobRequest
	Target string
	// Commit, when set, is the commit UpgradeTarget resolved Target to,
	// which the requester confirmed: the upgrade goes to it, and Target
	// is not resolved again (a branch's head may have moved since).
	Commit string
}

// ErrNoUpgrade is returned when there is nothing to upgrade to: the
// instance already runs the target commit.
var ErrNoUpgrade = errors.New("nothing to upgrade")

// ErrNotUpgradable is returned for an instance odoobot cannot upgrade:
// one that records no release (imported from API-DEV).
var ErrNotUpgradable = errors.New("instance cannot be upgraded")

// Upgrade queues the move of an instance to another release of Odoo,
// within its series:
//
//  1. a safety backup of the instance as it is;
//  2. the target release, built when the cache lacks it;
//  3. a test on a throwaway copy (a pg_dump of the live database
//     restored beside it, its filestore hard-linked): `odoo-bin -u all
//     --stop-after-init` with the new release. A failure stops the job
//     here with the relevant lines of Odoo's output; production was
//     never touched, nor stopped;
//  4. production is stopped, its odoo.conf and unit switched to the new
//     release, its database copied aside (CREATE DATABASE … TEMPLATE,
//     the filestore hard-linked) and updated in place with `-u all`,
//     started, checked healthy and through nginx;
//  5. the store and info-instancia.txt name the new release; the aside
//     copy is dropped and the old release is collected when no instance
//     uses it.
//
// Any failure in 4 or 5 puts the database and filestore as they were
// when production stopped back in place, the old odoo.conf and unit
// back, and starts the instance again on its old release: the safety
// backup stays as a further fallback. An upgrade interrupted by
// odoobot's stop is rolled back the same way at the next start
// (Recover).
//
// Refusals come back here and change nothing: no such instance, not
// ready, an imported instance (no recorded release), a target the
// repository does not have, the commit the instance already runs.
func (s *Service) Upgrade(ctx context.Context, req UpgradeRequest) (*Task, error) {
	inst, commit, err := s.upgradeTarget(ctx, req.Name, req.Target, req.Commit)
	if err != nil {
		return nil, err
	}
	u := s.upgradeRun(inst, req.By)
	u.commit, u.targets = commit, s.cfg.Targets
	target := req.Target
	if target == "" {
		target = "configured"
	}
	params := map[string]string{"target": target, "commit": commit, "from": inst.Release.Commit}
	t, err := s.submit(ctx, s.jobPlan(JobUpgrade, inst, params, u.steps(), StepCleanup), req.JobRequest, nil)
	if err != nil {
		return nil, err
	}
	u.task.Store(t)
	return t, nil
}

// UpgradeTarget checks that instance name can be upgraded to target (see
// Upgrade) and says to which commit, with the instance as it is: what a
// confirmation shows before the upgrade is queued. Its refusals are
// Upgrade's.
func (s *Service) UpgradeTarget(ctx context.Context, name, target string) (Instance, string, error) {
	return s.upgradeTarget(ctx, name, target, "")
}

// upgradeTarget is UpgradeTarget; a commit already resolved is taken as
// it is.
func (s *Service) upgradeTarget(ctx context.Context, name, target, commit string) (Instance, string, error) {
	inst, err := s.lookup(ctx, name)
	if err != nil {
		return inst, "", err
	}
	if inst.State != StateReady {
		return inst, "", fmt.Errorf("%w: %s is %s, not ready", ErrServiceState, inst.Name, inst.State)
	}
	if !inst.Release.Known() {
		return inst, "", fmt.Errorf("%w: %s records no release (it was imported); upgrade moves instances that run a release odoobot built", ErrNotUpgradable, inst.Name)
	}
	if s.cfg.Targets == nil {
		return inst, "", errors.New("upgrade: this host cannot build a chosen release")
	}
	if s.cfg.OdooRuns == nil {
		return inst, "", errors.New("upgrade: this host cannot run Odoo to update the modules (no Odoo runner configured)")
	}
	if commit == "" {
		var err error
		if commit, err = s.cfg.Targets.Resolve(ctx, target); err != nil {
			return inst, "", err
		}
	}
	if commit == inst.Release.Commit {
		return inst, "", fmt.Errorf("%w: %s already runs %s", ErrNoUpgrade, inst.Name, inst.Release.Source())
	}
	return inst, commit, nil
}

// upgradeRun is one upgrade of inst.
type upgradeRun struct {
	d       *Service
	inst    Instance
	paths   Paths
	by      string
	commit  string
	targets ReleaseTargets

	rel, old           Release // the target release and the one the instance runs
	set                UpdateSet
	newConf, newUnit   []byte
	wasRunning         bool
	stoppedAt          time.Time
	copyTook, downtime time.Duration
	// task is the running task, for progress; set once it is queued.
	task atomic.Pointer[Task]
}

func (s *Service) upgradeRun(inst Instance, by string) *upgradeRun {
	// Every module until the release step says otherwise.
	all := UpdateSet{All: true, Why: "every module is updated (-u all)"}
	return &upgradeRun{d: s, inst: inst, paths: s.cfg.Layout.Paths(inst), by: by, wasRunning: true, set: all}
}

func (u *upgradeRun) steps() []Step {
	return []Step{
		{StepSafety, u.safety, nil},
		{StepRelease, u.release, nil},
		{StepTestCopy, u.testOnCopy, u.dropCopy},
		{StepStop, u.stop, u.restart},
		{StepSwitch, u.switchRelease, u.switchBack},
		{StepUpdate, u.update, u.putBack},
		{StepStart, u.start, u.stopAgain},
		{StepVerify, u.verify, nil},
		{StepRecord, u.record, u.unrecord},
		{StepCleanup, u.cleanup, nil},
	}
}

// Where an upgrade keeps what it may have to put back: the copy it tests
// on (the restore staging name, free while no restore runs: an instance
// runs one job at a time), the database and filestore production had
// when it stopped (restore's aside names), and odoo.conf and the unit as
// they were (keptFiles, in the staging directory).
func (u *upgradeRun) copyDB() string  { return u.inst.Internal + RestoreStagingSuffix }
func (u *upgradeRun) asideDB() string { return u.inst.Internal + RestoreOldSuffix }

func (u *upgradeRun) progress(step StepName, text string) {
	// The task is the one the runner runs; steps reach it through the
	// runner's progress hook.
	if t := u.task.Load(); t != nil {
		t.Progress(step, text)
	}
}

func (u *upgradeRun) safety(ctx context.Context) error {
	b := &backupRun{d: u.d, inst: u.inst, paths: u.paths, reason: ReasonSafety, by: u.by}
	id, err := b.take(ctx)
	if err != nil {
		return err
	}
	return &Noted{Message: "safety backup " + id}
}

// release builds the target and checks it is the same series as the
// release the instance runs: an upgrade moves within a series (17.0 to a
// later 17.0); another series needs Odoo's migration, not -u.
func (u *upgradeRun) release(ctx context.Context) error {
	old, err := u.targets.Cached(u.inst.Release)
	if err != nil {
		return fmt.Errorf("release: the release %s runs: %w", u.inst.Name, err)
	}
	rel, err := u.targets.EnsureCommit(ctx, u.commit, func(phase string) { u.progress(StepRelease, phase) })
	if err != nil {
		return err
	}
	if rel.Version != old.Version {
		return fmt.Errorf("release: %s runs Odoo %s and commit %s is Odoo %s: upgrade moves within a series; another series needs a migration of the database", u.inst.Name, old.Version, shortCommit(u.commit), rel.Version)
	}
	if rel.Key == old.Key {
		return fmt.Errorf("%w: %s already runs release %s", ErrNoUpgrade, u.inst.Name, rel.Key)
	}
	u.rel, u.old = rel, old
	if err := u.prepareFiles(ctx); err != nil {
		return err
	}
	u.set = u.updateSet(ctx)
	return &Noted{Message: fmt.Sprintf("Odoo %s at %s; %s", ReleaseLabel(rel), shortCommit(rel.Commit), u.set.Why)}
}

// updateSet says what the update changes: the modules whose files differ
// between the two releases (UpdateSetFor), or every module when the
// checksums cannot be read.
func (u *upgradeRun) updateSet(ctx context.Context) UpdateSet {
	sums := u.d.cfg.Modules
	if sums == nil {
		return UpdateSet{All: true, Why: "every module is updated (-u all)"}
	}
	old, err := sums.ModuleSums(ctx, u.old)
	if err == nil {
		var new ModuleSums
		if new, err = sums.ModuleSums(ctx, u.rel); err == nil {
			return UpdateSetFor(old, new)
		}
	}
	u.d.cfg.Logger.Warn("upgrade: module checksums unreadable; updating every module", "instance", u.inst.Name, "err", err)
	return UpdateSet{All: true, Why: "every module is updated (-u all): the releases' module checksums could not be read"}
}

// prepareFiles makes the odoo.conf and unit of the new release: the
// instance's own, every mention of the old release's directory naming
// the new one's, every other line as it is.
func (u *upgradeRun) prepareFiles(ctx context.Context) error {
	// Read on a handle, a link refused: an imported instance's user could
	// make odoo.conf a link to a file only root reads (another instance's
	// odoo.conf), which the switch would then hand to it.
	files := u.d.cfg.Files
	conf, err := files.ReadConf(ctx, u.inst, ConfLive)
	if err != nil {
		return fmt.Errorf("release: %w", err)
	}
	unit, err := files.ReadUnit(ctx, u.inst)
	if err != nil {
		return fmt.Errorf("release: %w", err)
	}
	newConf, err := files.EditConf(conf, ConfEdit{FromDir: u.old.Dir, ToDir: u.rel.Dir})
	from, to := []byte(u.old.Dir+"/"), []byte(u.rel.Dir+"/")
	if err != nil || !bytes.Contains(unit, from) {
		return fmt.Errorf("release: %s's odoo.conf or unit does not name the release it records (%s): changed by hand? Put it back, or upgrade by hand", u.inst.Name, u.old.Dir)
	}
	u.newConf, u.newUnit = newConf, bytes.ReplaceAll(unit, from, to)
	return nil
}

// testOnCopy updates a throwaway copy of production with the new
// release while production serves: a pg_dump of its database restored
// as the instance's role, its filestore hard-linked (Odoo writes a new
// file for new content and never changes one in place, so the copy
// cannot alter production's files). The copy is dropped whatever the
// outcome.
func (u *upgradeRun) testOnCopy(ctx context.Context) (err error) {
	start := time.Now()
	if err := u.dropCopy(ctx); err != nil {
		return err
	}
	defer func() {
		if derr := u.dropCopy(context.WithoutCancel(ctx)); derr != nil && err == nil {
			err = derr
		}
	}()
	tmp, remove, err := u.d.cfg.Files.ScratchDir(ctx, u.d.bcfg.Dir, ".upgrade-"+u.inst.Internal+"-")
	if err != nil {
		return fmt.Errorf("test: %w", err)
	}
	defer remove()
	dump := filepath.Join(tmp, "database.dump")
	if err := u.d.pg.DumpCopy(ctx, u.inst.Internal, dump); err != nil {
		return fmt.Errorf("test: dump %s: %w", u.inst.Internal, err)
	}
	if err := u.d.pg.Restore(ctx, u.copyDB(), u.inst.DBRole, dump); err != nil {
		return fmt.Errorf("test: restore the copy: %w", err)
	}
	if err := u.d.cfg.Files.LinkCopy(ctx, u.inst, u.runAs(), u.copyDB()); err != nil {
		return fmt.Errorf("test: filestore: %w", err)
	}
	if err := u.writeConf(ctx, ConfUpgradeTest, u.newConf); err != nil {
		return fmt.Errorf("test: %w", err)
	}
	u.progress(StepTestCopy, "updating a copy of "+u.inst.Internal+" with the new release ("+u.updateLabel()+")")
	if err := u.odooUpdate(ctx, u.paths.UpgradeConf, u.copyDB()); err != nil {
		return fmt.Errorf("the update failed on a copy of the database; production was not touched: %w", err)
	}
	u.copyTook = time.Since(start)
	return &Noted{Message: fmt.Sprintf("a copy updated cleanly in %s", u.copyTook.Round(100*time.Millisecond))}
}

// dropCopy drops the test copy and its filestore, and the test's odoo.conf.
func (u *upgradeRun) dropCopy(ctx context.Context) error {
	if err := u.d.pg.Drop(ctx, u.copyDB()); err != nil {
		return fmt.Errorf("test: %w", err)
	}
	if err := u.d.cfg.Files.RemoveCopy(ctx, u.inst, u.copyDB()); err != nil {
		return fmt.Errorf("test: %w", err)
	}
	if err := u.d.cfg.Files.RemoveConf(ctx, u.inst, ConfUpgradeTest); err != nil {
		return fmt.Errorf("test: %w", err)
	}
	return nil
}

func (u *upgradeRun) stop(ctx context.Context) error {
	st, err := u.d.cfg.Services.Status(ctx, u.inst.Unit)
	if err != nil {
		return err
	}
	u.wasRunning = st.Running() || st.ActiveState == "activating"
	u.stoppedAt = time.Now()
	return u.d.cfg.Services.Stop(ctx, u.inst.Unit)
}

// restart starts the instance again when it ran before the upgrade, and
// waits for it to be healthy.
func (u *upgradeRun) restart(ctx context.Context) error {
	if !u.wasRunning {
		return nil
	}
	return u.d.startHealthy(ctx, u.inst, u.paths)
}

// The files switchRelease keeps, in keptFiles.
const (
	keptUpgradeConf = "odoo.conf"
	keptUpgradeUnit = "unit"
)

// switchRelease keeps odoo.conf and the unit as they are (a root-only
// copy in the staging directory, for a rollback and for a recovery after
// a crash), then writes the new release's.
func (u *upgradeRun) switchRelease(ctx context.Context) error {
	files := u.d.cfg.Files
	// What an earlier upgrade left there (its cleanup failed) is stale:
	// the files in place now are the ones to keep.
	if err := files.ForgetKept(ctx, u.inst, KeptUpgrade); err != nil {
		return fmt.Errorf("switch: %w", err)
	}
	conf, err := files.ReadConf(ctx, u.inst, ConfLive)
	if err != nil {
		return fmt.Errorf("switch: %w", err)
	}
	unit, err := files.ReadUnit(ctx, u.inst)
	if err != nil {
		return fmt.Errorf("switch: %w", err)
	}
	for name, b := range map[string][]byte{keptUpgradeConf: conf.Raw, keptUpgradeUnit: unit} {
		if err := files.Keep(ctx, u.inst, KeptUpgrade, name, b); err != nil {
			return fmt.Errorf("switch: %w", err)
		}
	}
	if err := u.writeConf(ctx, ConfLive, u.newConf); err != nil {
		return fmt.Errorf("switch: %w", err)
	}
	return u.d.cfg.Services.Install(ctx, u.paths.Unit, u.newUnit)
}

// switchBack puts the kept odoo.conf and unit back; nothing when none
// was kept.
func (u *upgradeRun) switchBack(ctx context.Context) error {
	conf, unit, err := u.readKept(ctx)
	if err != nil {
		return fmt.Errorf("switch back: %w", err)
	}
	if conf == nil {
		return nil
	}
	if err := u.writeConf(ctx, ConfLive, conf); err != nil {
		return fmt.Errorf("switch back: %w", err)
	}
	if unit != nil {
		if err := u.d.cfg.Services.Install(ctx, u.paths.Unit, unit); err != nil {
			return fmt.Errorf("switch back: %w", err)
		}
	}
	return u.d.cfg.Files.ForgetKept(ctx, u.inst, KeptUpgrade)
}

// readKept reads what switchRelease kept: nil when nothing was
// (InstanceFiles.Kept, which also reads what an earlier version kept in
// a root-owned instance directory, on handles, never following a link).
func (u *upgradeRun) readKept(ctx context.Context) (conf, unit []byte, err error) {
	files := u.d.cfg.Files
	if conf, err = files.Kept(ctx, u.inst, KeptUpgrade, keptUpgradeConf); err != nil || conf == nil {
		return nil, nil, err
	}
	unit, err = files.Kept(ctx, u.inst, KeptUpgrade, keptUpgradeUnit)
	return conf, unit, err
}

// writeConf writes an odoo.conf the instance's user reads and cannot
// change: root's, with its group, 0640; on a handle opened beneath
// PROD_ROOT, so that a link an imported instance's user planted at path,
// or on the way to it, is replaced or refused, never followed.
func (u *upgradeRun) writeConf(ctx context.Context, file ConfFile, b []byte) error {
	return u.d.cfg.Files.WriteConf(ctx, u.inst, file, b, 0o640, FileOwner{User: u.runAs()})
}

func (u *upgradeRun) runAs() string {
	if u.inst.User != "" {
		return u.inst.User
	}
	return u.d.cfg.ServiceUser
}

// update keeps production's database and filestore aside as they are
// (a database copy and hard links: seconds, the instance being
// stopped), then updates the live ones with the new release.
func (u *upgradeRun) update(ctx context.Context) error {
	if err := u.dropAside(ctx); err != nil {
		return err
	}
	if u.set.Empty() {
		// Nothing Odoo loads changed: the database is not touched, so
		// nothing is kept aside; the start on the new release is all.
		return &Noted{Message: "no module to update: production restarts on the new release"}
	}
	if err := u.d.pg.SetAside(ctx, u.inst.Internal, u.asideDB(), u.inst.DBRole); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	if err := u.d.cfg.Files.SetAside(ctx, u.inst, u.runAs()); err != nil {
		return fmt.Errorf("update: keep the filestore aside: %w", err)
	}
	u.progress(StepUpdate, "updating "+u.inst.Internal+" with the new release ("+u.updateLabel()+")")
	if err := u.odooUpdate(ctx, u.paths.Conf, u.inst.Internal); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	return nil
}

// putBack puts the database and filestore kept aside back in place of
// the live ones; nothing when none was kept.
func (u *upgradeRun) putBack(ctx context.Context) error {
	aside, err := u.d.pg.Exists(ctx, u.asideDB())
	if err != nil {
		return fmt.Errorf("put back: %w", err)
	}
	if aside {
		if err := u.d.pg.Drop(ctx, u.inst.Internal); err != nil {
			return fmt.Errorf("put back: %w", err)
		}
		if err := u.d.pg.Rename(ctx, u.asideDB(), u.inst.Internal); err != nil {
			return fmt.Errorf("put back: %w", err)
		}
	}
	if err := u.d.cfg.Files.PutBack(ctx, u.inst, u.runAs()); err != nil {
		return fmt.Errorf("put back: %w", err)
	}
	return nil
}

// dropAside drops what update kept aside.
func (u *upgradeRun) dropAside(ctx context.Context) error {
	if err := u.d.pg.Drop(ctx, u.asideDB()); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	if err := u.d.cfg.Files.DropAside(ctx, u.inst); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	return nil
}

func (u *upgradeRun) start(ctx context.Context) error {
	if err := u.d.startHealthy(ctx, u.inst, u.paths); err != nil {
		return err
	}
	if !u.stoppedAt.IsZero() {
		u.downtime = time.Since(u.stoppedAt)
	}
	return nil
}

func (u *upgradeRun) stopAgain(ctx context.Context) error {
	return u.d.cfg.Services.Stop(ctx, u.inst.Unit)
}

func (u *upgradeRun) verify(ctx context.Context) error {
	return u.d.verify(ctx, u.inst)
}

// record makes the store and info-instancia.txt name the new release.
func (u *upgradeRun) record(ctx context.Context) error {
	inst := u.inst
	inst.Release = u.rel.Record()
	if err := u.d.cfg.Store.SetRelease(ctx, inst.Name, inst.Release); err != nil {
		return err
	}
	label := ReleaseLabel(u.rel)
	if err := u.d.cfg.Store.SetOdooVersion(ctx, inst.Name, label); err != nil {
		return err
	}
	b, err := u.d.cfg.Templates.Info(InfoFor(inst, u.paths, label))
	if err != nil {
		return fmt.Errorf("record: render: %w", err)
	}
	if err := u.d.cfg.Files.WriteInfo(ctx, u.inst, b); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	return &Noted{Message: fmt.Sprintf("%s runs %s; production was stopped for %s", inst.Name, inst.Release.Source(), u.downtime.Round(100*time.Millisecond))}
}

// unrecord names the old release again.
func (u *upgradeRun) unrecord(ctx context.Context) error {
	if err := u.d.cfg.Store.SetRelease(ctx, u.inst.Name, u.inst.Release); err != nil {
		return err
	}
	label := ReleaseLabel(u.old)
	if label == "" {
		return nil
	}
	if err := u.d.cfg.Store.SetOdooVersion(ctx, u.inst.Name, label); err != nil {
		return err
	}
	b, err := u.d.cfg.Templates.Info(InfoFor(u.inst, u.paths, label))
	if err != nil {
		return err
	}
	return u.d.cfg.Files.WriteInfo(ctx, u.inst, b)
}

// cleanup drops what was kept aside and the kept files, and collects the
// old release when no instance uses it. The upgrade has succeeded by
// then: a failure here is logged, not undone.
func (u *upgradeRun) cleanup(ctx context.Context) error {
	log := u.d.cfg.Logger.With("upgrade_of", u.inst.Name)
	if err := u.dropAside(ctx); err != nil {
		log.Warn("upgrade: drop what was kept aside", "err", err)
	}
	if err := u.d.cfg.Files.ForgetKept(ctx, u.inst, KeptUpgrade); err != nil {
		log.Warn("upgrade: remove the kept files", "err", err)
	}
	if u.d.cfg.GC != nil {
		rep, err := u.d.cfg.GC.Collect(ctx, u.inst.Release.Key, u.d.releasesInUse)
		if err != nil {
			log.Warn("gc after upgrade: nothing removed", "err", err)
		} else {
			log.Info("gc after upgrade", "releases_removed", rep.RemovedReleases, "templates_removed", rep.RemovedTemplates)
		}
	}
	return nil
}

// odooUpdate updates the update set's modules of database db (every
// installed one for -u all), with configuration conf, to the new release
// (Odoo), as the instance's user; with an empty set, it only has the new
// release open the database (the test on a copy's proof). A failure
// (Odoo exits non-zero when a module fails to load or update) carries
// the lines of Odoo's output that say why.
func (u *upgradeRun) odooUpdate(ctx context.Context, conf, db string) error {
	runs := u.d.cfg.OdooRuns
	if runs == nil {
		return errors.New("upgrade: this host cannot run Odoo (no Odoo runner configured)")
	}
	run := OdooRun{User: u.runAs(), Dir: u.paths.Dir, Conf: conf, DB: db}
	switch {
	case u.set.Empty():
		return runs.Open(ctx, u.rel, run)
	case u.set.All:
		return runs.Update(ctx, u.rel, run)
	default:
		return runs.Update(ctx, u.rel, run, u.set.Modules...)
	}
}

// updateLabel is the Odoo run odooUpdate makes, for progress lines.
func (u *upgradeRun) updateLabel() string {
	if u.set.Empty() {
		return "odoo-bin opening it, no module to update"
	}
	return "odoo-bin -u " + listNames(strings.Split(u.set.Arg(), ","))
}

// shortCommit is a commit's first 12 hex digits.
func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// recoverUpgrade ends an upgrade a stopped odoobot left open. Once
// production's switch, update and start are recorded done (it ran,
// healthy, on the new release, and may have been written to since), the
// upgrade is finished: the instance started if it is not running, the
// new release recorded (record), what was kept aside removed (cleanup);
// the old release is never put back. An upgrade whose new release the
// store records already only has its leftovers removed. Before that,
// the upgrade is rolled back from what is on the host: the instance is
// stopped, the database and filestore kept aside are put back, the kept
// odoo.conf and unit too, the test copy dropped, and the instance
// started on its old release.
func (s *Service) recoverUpgrade(ctx context.Context, job Job, rec recorded, emit emitFunc) (recovery, error) {
	inst, err := s.cfg.Store.Instance(ctx, job.Instance)
	if errors.Is(err, ErrInstanceNotFound) {
		return recovery{}, nil
	}
	if err != nil {
		return recovery{}, err
	}
	if err := s.trusted(inst, trustJob); err != nil {
		return recovery{}, err
	}
	u := s.upgradeRun(inst, job.RequestedBy)
	commit := job.Params["commit"]
	if commit != "" && inst.Release.Commit == commit && !rec.rollingBack {
		return recovery{finished: true}, runStep(ctx, emit, StepCleanup, u.cleanup)
	}
	if commit != "" && rec.Committed(StepSwitch, StepUpdate, StepStart) {
		return recovery{finished: true}, u.finish(ctx, commit, rec, emit)
	}
	var res recovery
	steps := []struct {
		name StepName
		undo func(context.Context) error
	}{
		{StepStart, u.stopAgain},
		{StepUpdate, u.putBack},
		{StepSwitch, u.switchBack},
		{StepStop, u.restart},
		{StepTestCopy, u.dropCopy},
	}
	for _, st := range steps {
		if st.name == StepStart && !rec.Started(StepStop) {
			continue // production was never stopped: it is not stopped now
		}
		if err := undoStep(ctx, emit, st.name, st.undo, &res.undone); err != nil {
			return res, err
		}
	}
	return res, nil
}

// finish ends, after a crash, an upgrade to commit whose production
// switch, update and start were recorded done: the instance is started
// when it is not running, the new release recorded, and what was kept
// aside removed. The downtime it reports is the recorded one, from the
// stop's start to the start's end.
func (u *upgradeRun) finish(ctx context.Context, commit string, rec recorded, emit emitFunc) error {
	if u.targets == nil {
		if u.d.cfg.Targets == nil {
			return errors.New("upgrade: this host cannot find the release upgraded to")
		}
		u.targets = u.d.cfg.Targets
	}
	u.commit = commit
	rel, err := u.targets.EnsureCommit(ctx, commit, nil)
	if err != nil {
		return fmt.Errorf("upgrade: the release upgraded to: %w", err)
	}
	u.rel = rel
	u.downtime = rec.took(StepStop, StepStart)
	if err := runStep(ctx, emit, StepStart, func(ctx context.Context) error { return u.d.ensureRunning(ctx, u.inst, u.paths) }); err != nil {
		return err
	}
	if err := runStep(ctx, emit, StepRecord, u.record); err != nil {
		return err
	}
	return runStep(ctx, emit, StepCleanup, u.cleanup)
}
