package provision

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strconv"
	"strings"
)

// JobIsolate moves an instance that shares the service user and
// odoobot's role (one imported from API-DEV) to a user and role of its
// own.
const JobIsolate JobKind = "isolate"

// The steps of an isolation, besides StepTenant, StepDatabase and
// StepStart (started, health checked).
const (
	StepStop  StepName = "stop"  // the instance's unit stopped
	StepConf  StepName = "conf"  // odoo.conf names its own role; files owned as a tenant's
	StepUnit  StepName = "unit"  // the unit runs as its own user
	StepStore StepName = "store" // the store records its user and role
)

// DatabaseOwners hands a database and everything in it to a role
// (provision/odoo).
type DatabaseOwners interface {
	// GiveTo makes role the owner of db and of its objects, closes db to
	// other roles when closed is set (opens it otherwise), and returns
	// the previous owner.
	GiveTo(ctx context.Context, db, role string, closed bool) (previous string, err error)
}

// ErrAlreadyIsolated is returned when an instance already has a user and
// role of its own.
var ErrAlreadyIsolated = errors.New("instance already runs as its own user")

// Isolate queues the move of an instance that shares the service user
// and odoobot's database role (an instance imported from API-DEV) to a
// system user and database role of its own, as every instance odoobot
// creates has: its user and role are made; its unit is stopped; its
// database and every object in it are given to its role and closed to
// other roles; its odoo.conf names the role and a new password, and its
// files are laid out as a new instance's (directory and odoo.conf
// root-owned with its group, data dir and log its own); its unit runs as
// its user; it is started and must answer its health check; the store
// records the user and role. Any failure puts everything back as it was
// and starts the instance again. An isolate interrupted by odoobot's
// stop is ended at the next start (Recover, recoverIsolate): finished
// when its start was recorded done, rolled back otherwise, and the
// instance left running either way. Refusals (no such instance, not ready,
// already isolated, busy, a user or role of that name exists, no tenants
// on this host) come back here and change nothing.
func (s *Service) Isolate(ctx context.Context, req JobRequest) (*Task, error) {
	inst, err := s.lookupFor(ctx, req.Name, trustIsolate)
	if err != nil {
		return nil, err
	}
	if s.cfg.Tenants == nil || s.cfg.Owners == nil {
		return nil, errors.New("isolate: this host does not give instances users and roles of their own")
	}
	if inst.User != "" {
		return nil, fmt.Errorf("%w: %s runs as %s with role %s", ErrAlreadyIsolated, inst.Name, inst.User, inst.DBRole)
	}
	if inst.State != StateReady {
		return nil, fmt.Errorf("%w: %s is %s, not ready", ErrServiceState, inst.Name, inst.State)
	}
	own := s.cfg.Layout.NewInstance(inst.Name, inst.SSLMode)
	paths := s.cfg.Layout.Paths(inst)
	// A user whose home is the instance's directory is one an earlier,
	// interrupted isolate made: this run finishes that one's work.
	if home, err := s.cfg.Users.Home(own.User); err != nil || home != paths.Dir {
		if err := s.tenantFree(ctx, own); err != nil {
			return nil, err
		}
	}
	iso := &isolation{d: s, inst: inst, user: own.User, role: own.DBRole, paths: paths}
	return s.submit(ctx, s.jobPlan(JobIsolate, inst, map[string]string{"user": own.User, "role": own.DBRole}, []Step{
		{StepTenant, iso.makeTenant, iso.removeTenant},
		{StepStop, iso.stop, iso.start},
		{StepDatabase, iso.giveDatabase, iso.takeDatabaseBack},
		{StepConf, iso.rewriteConf, iso.restoreConf},
		{StepUnit, iso.rewriteUnit, iso.restoreUnit},
		{StepStart, iso.start, iso.stop},
		{StepStore, iso.record, iso.unrecord},
	}, ""), req, nil)
}

// tenantFree checks that no system user or database role has inst's
// names yet: isolating must never take over someone else's.
func (s *Service) tenantFree(ctx context.Context, inst Instance) error {
	if _, _, err := s.lookupUser(inst.User); err == nil {
		return fmt.Errorf("%w: system user %s exists but is not %s's; remove it (userdel %s)", ErrHostNotFree, inst.User, inst.Name, inst.User)
	}
	ok, err := s.cfg.Tenants.RoleExists(ctx, inst.DBRole)
	if err != nil {
		return fmt.Errorf("provision: check database role %s: %w", inst.DBRole, err)
	}
	if ok {
		return fmt.Errorf("%w: database role %s exists but is not %s's; drop it", ErrHostNotFree, inst.DBRole, inst.Name)
	}
	return nil
}

// isolation is one isolate job; the fields after paths say what to put
// back on failure.
type isolation struct {
	d          *Service
	inst       Instance
	user, role string
	paths      Paths

	password      string
	previousOwner string
	oldConf       []byte
	oldConfMode   fs.FileMode
	oldUnit       []byte
}

func (iso *isolation) makeTenant(ctx context.Context) error {
	if err := iso.d.cfg.Tenants.EnsureUser(ctx, iso.user, iso.paths.Dir); err != nil {
		return err
	}
	pw, err := randomSecret()
	if err != nil {
		return err
	}
	if err := iso.d.cfg.Tenants.EnsureRole(ctx, iso.role, pw); err != nil {
		return err
	}
	iso.password = pw
	return nil
}

func (iso *isolation) removeTenant(ctx context.Context) error {
	return errors.Join(iso.d.cfg.Tenants.DropRole(ctx, iso.role), iso.d.cfg.Tenants.RemoveUser(ctx, iso.user), iso.forgetKept(ctx))
}

func (iso *isolation) stop(ctx context.Context) error {
	return iso.d.cfg.Services.Stop(ctx, iso.inst.Unit)
}

func (iso *isolation) start(ctx context.Context) error {
	return iso.d.startHealthy(ctx, iso.inst, iso.paths)
}

func (iso *isolation) giveDatabase(ctx context.Context) error {
	prev, err := iso.d.cfg.Owners.GiveTo(ctx, iso.inst.Internal, iso.role, true)
	if err != nil {
		return err
	}
	iso.previousOwner = prev
	if err := iso.keep(ctx, keptOwner, []byte(prev)); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	return nil
}

func (iso *isolation) takeDatabaseBack(ctx context.Context) error {
	if iso.previousOwner == "" {
		return nil
	}
	_, err := iso.d.cfg.Owners.GiveTo(ctx, iso.inst.Internal, iso.previousOwner, false)
	return err
}

// rewriteConf sets db_user and db_password in odoo.conf to the
// instance's role, keeping every other line as it was, and lays the
// files out as a tenant's.
func (iso *isolation) rewriteConf(ctx context.Context) error {
	files := iso.d.cfg.Files
	// An imported instance's directory is its user's: odoo.conf is read
	// without following a link (one to another instance's odoo.conf would
	// hand its secrets to this one) and bounded.
	old, err := files.ReadConf(ctx, iso.inst, ConfLive)
	if err != nil {
		return fmt.Errorf("conf: %w", err)
	}
	iso.oldConf, iso.oldConfMode = old.Raw, old.Mode
	// Kept root-only before anything changes, for a recovery after a
	// crash to put back.
	if err := iso.keep(ctx, keptConf, old.Raw); err != nil {
		return fmt.Errorf("conf: %w", err)
	}
	if err := iso.keep(ctx, keptConfMode, []byte(strconv.FormatUint(uint64(iso.oldConfMode), 8))); err != nil {
		return fmt.Errorf("conf: %w", err)
	}
	b, err := files.EditConf(old, ConfEdit{Set: map[string]string{"db_user": iso.role, "db_password": iso.password}})
	if err != nil {
		return fmt.Errorf("conf: %w", err)
	}
	// The directory is still the service user's, who may have planted a
	// link at odoo.conf or on the way: written on a handle, never
	// following one.
	if err := files.WriteConf(ctx, iso.inst, ConfLive, b, 0o640, FileOwner{User: iso.user}); err != nil {
		return fmt.Errorf("conf: %w", err)
	}
	if err := files.Give(ctx, iso.inst, iso.user, true); err != nil {
		return fmt.Errorf("conf: %w", err)
	}
	return nil
}

// restoreConf puts odoo.conf back and gives the tree back to the
// service user, as an imported instance's files were. Both are done on
// handles opened beneath PROD_ROOT: a link the service user planted in
// the tree (or in place of it) is replaced or refused, never followed.
func (iso *isolation) restoreConf(ctx context.Context) error {
	if iso.oldConf == nil {
		return nil
	}
	files := iso.d.cfg.Files
	user := iso.d.cfg.ServiceUser
	if err := files.WriteConf(ctx, iso.inst, ConfLive, iso.oldConf, iso.oldConfMode, FileOwner{User: user, UserOwns: true}); err != nil {
		return fmt.Errorf("conf: %w", err)
	}
	return files.Give(ctx, iso.inst, user, false)
}

// userLine matches a unit's User=, Group=, SocketBindAllow= or
// SocketBindDeny= line.
var userLine = regexp.MustCompile(`^\s*(User|Group|SocketBindAllow|SocketBindDeny)\s*=`)

// rewriteUnit makes the instance's unit run as its own user and bind
// only its own two ports, as a unit odoobot renders does: its User= and
// Group= lines name the user, SocketBindAllow= its ports and
// SocketBindDeny=any every other (all put in [Service] in place of any
// earlier ones); every other line stays as it was.
func (iso *isolation) rewriteUnit(ctx context.Context) error {
	if p := iso.inst.Ports; p.HTTP < 1 || p.Gevent < 1 || p.HTTP > 65535 || p.Gevent > 65535 || p.HTTP == p.Gevent {
		return fmt.Errorf("unit: the store records ports %d and %d: not two TCP ports the unit could be limited to", p.HTTP, p.Gevent)
	}
	old, err := iso.d.cfg.Files.ReadUnit(ctx, iso.inst)
	if err != nil {
		return fmt.Errorf("unit: %w", err)
	}
	iso.oldUnit = old
	if err := iso.keep(ctx, keptUnit, old); err != nil {
		return fmt.Errorf("unit: %w", err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimRight(string(old), "\n"), "\n") {
		if userLine.MatchString(l) {
			continue
		}
		out = append(out, l)
		if strings.TrimSpace(l) == "[Service]" {
			out = append(out, "User="+iso.user, "Group="+iso.user,
				fmt.Sprintf("SocketBindAllow=tcp:%d", iso.inst.Ports.HTTP), fmt.Sprintf("SocketBindAllow=tcp:%d", iso.inst.Ports.Gevent),
				"SocketBindDeny=any")
		}
	}
	b := []byte(strings.Join(out, "\n") + "\n")
	if !bytes.Contains(b, []byte("\nUser="+iso.user+"\n")) {
		return errors.New("unit: the unit has no [Service] section")
	}
	return iso.d.cfg.Services.Install(ctx, iso.paths.Unit, b)
}

func (iso *isolation) restoreUnit(ctx context.Context) error {
	if iso.oldUnit == nil {
		return nil
	}
	return iso.d.cfg.Services.Install(ctx, iso.paths.Unit, iso.oldUnit)
}

func (iso *isolation) record(ctx context.Context) error {
	if err := iso.d.cfg.Store.SetTenant(ctx, iso.inst.Name, iso.user, iso.role); err != nil {
		return err
	}
	if err := iso.forgetKept(ctx); err != nil {
		iso.d.cfg.Logger.Warn("isolate: remove what was kept for a rollback", "instance", iso.inst.Name, "err", err)
	}
	return nil
}

func (iso *isolation) unrecord(ctx context.Context) error {
	return iso.d.cfg.Store.SetTenant(ctx, iso.inst.Name, "", "")
}

// What an isolation keeps, root-only, in the staging directory
// (StagingDirName, outside the instance's tree), for a rollback after a
// crash: odoo.conf and its mode, the unit, and the database's previous
// owner, each as it was before the step that changes it.
const (
	keptConf     = "odoo.conf"
	keptConfMode = "odoo.conf.mode"
	keptUnit     = "unit"
	keptOwner    = "owner"
)

// keep keeps b as the kept file name (InstanceFiles.Keep).
func (iso *isolation) keep(ctx context.Context, name string, b []byte) error {
	return iso.d.cfg.Files.Keep(ctx, iso.inst, KeptIsolate, name, b)
}

// kept reads the kept file name; nil when none was kept.
func (iso *isolation) kept(ctx context.Context, name string) ([]byte, error) {
	return iso.d.cfg.Files.Kept(ctx, iso.inst, KeptIsolate, name)
}

// forgetKept removes what the isolation kept.
func (iso *isolation) forgetKept(ctx context.Context) error {
	return iso.d.cfg.Files.ForgetKept(ctx, iso.inst, KeptIsolate)
}

// recoverIsolate ends an isolation a stopped odoobot left open, and
// leaves the instance running either way. Once every step up to its
// start is recorded done (the instance ran, healthy, as its own user,
// on its own role), it is finished: started when it is not running, and
// the store records its user and role. Before that it is rolled back
// with what it kept: the unit stopped when it had been started again,
// the kept unit and odoo.conf put back (the tree given back to the
// service user), the database given back to its previous owner (kept,
// else odoobot's role, which every imported database has), the
// instance started as it ran before, and the user and role it made
// removed.
func (s *Service) recoverIsolate(ctx context.Context, job Job, rec recorded, emit emitFunc) (recovery, error) {
	inst, err := s.cfg.Store.Instance(ctx, job.Instance)
	if errors.Is(err, ErrInstanceNotFound) {
		return recovery{}, nil
	}
	if err != nil {
		return recovery{}, err
	}
	// The user and role derive from the name, never from the job.
	own := s.cfg.Layout.NewInstance(inst.Name, inst.SSLMode)
	iso := &isolation{d: s, inst: inst, user: own.User, role: own.DBRole, paths: s.cfg.Layout.Paths(inst)}
	if rec.Committed(StepTenant, StepStop, StepDatabase, StepConf, StepUnit, StepStart) {
		err := runStep(ctx, emit, StepStart, func(ctx context.Context) error { return s.ensureRunning(ctx, inst, iso.paths) })
		if err == nil {
			err = runStep(ctx, emit, StepStore, iso.record)
		}
		return recovery{finished: true}, err
	}
	if inst.User != "" {
		// The store records a user: not this isolation's to undo (it
		// failed at record, or another finished it).
		return recovery{}, s.ensureRunning(ctx, inst, iso.paths)
	}
	var res recovery
	undo := func(name StepName, f func(context.Context) error) error {
		return undoStep(ctx, emit, name, f, &res.undone)
	}
	if rec.Started(StepStart) {
		if err := undo(StepStart, iso.stop); err != nil {
			return res, err
		}
	}
	unit, err := iso.kept(ctx, keptUnit)
	if err != nil {
		return res, fmt.Errorf("unit: %w", err)
	}
	if unit != nil {
		iso.oldUnit = unit
		if err := undo(StepUnit, iso.restoreUnit); err != nil {
			return res, err
		}
	}
	conf, err := iso.kept(ctx, keptConf)
	if err != nil {
		return res, fmt.Errorf("conf: %w", err)
	}
	if conf != nil {
		mode, err := iso.kept(ctx, keptConfMode)
		m, perr := strconv.ParseUint(strings.TrimSpace(string(mode)), 8, 32)
		if err != nil || perr != nil || m&^0o777 != 0 {
			m = 0o640
		}
		iso.oldConf, iso.oldConfMode = conf, fs.FileMode(m)
		if err := undo(StepConf, iso.restoreConf); err != nil {
			return res, err
		}
	}
	owner, err := iso.kept(ctx, keptOwner)
	if err != nil {
		return res, fmt.Errorf("database: %w", err)
	}
	if owner != nil || rec.Started(StepDatabase) {
		iso.previousOwner = string(owner)
		if iso.previousOwner == "" {
			iso.previousOwner = s.cfg.DB.User
		}
		if err := undo(StepDatabase, iso.takeDatabaseBack); err != nil {
			return res, err
		}
	}
	if err := undo(StepStop, func(ctx context.Context) error { return s.ensureRunning(ctx, inst, iso.paths) }); err != nil {
		return res, err
	}
	// The user is this isolation's when it is missing or has the
	// instance's directory as its home (Isolate's own check).
	if home, err := iso.d.cfg.Users.Home(iso.user); err != nil || home == iso.paths.Dir {
		if err := undo(StepTenant, iso.removeTenant); err != nil {
			return res, err
		}
	}
	return res, nil
}
