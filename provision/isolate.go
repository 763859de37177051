package provision

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"regexp"
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
// and starts the instance again; an isolate interrupted by odoobot's
// stop is finished by asking for it again. Refusals (no such instance, not ready,
// already isolated, busy, a user or role of that name exists, no tenants
// on this host) come back here and change nothing.
func (d *DayTwo) Isolate(ctx context.Context, req JobRequest) (*Task, error) {
	inst, err := d.lookupFor(ctx, req.Name, trustIsolate)
	if err != nil {
		return nil, err
	}
	if d.cfg.Tenants == nil || d.cfg.Owners == nil {
		return nil, errors.New("isolate: this host does not give instances users and roles of their own")
	}
	if inst.User != "" {
		return nil, fmt.Errorf("%w: %s runs as %s with role %s", ErrAlreadyIsolated, inst.Name, inst.User, inst.DBRole)
	}
	if inst.State != StateReady {
		return nil, fmt.Errorf("%w: %s is %s, not ready", ErrServiceState, inst.Name, inst.State)
	}
	own := d.cfg.Layout.NewInstance(inst.Name, inst.SSLMode)
	paths := d.cfg.Layout.Paths(inst)
	// A user whose home is the instance's directory is one an earlier,
	// interrupted isolate made: this run finishes that one's work.
	if u, err := user.Lookup(own.User); err != nil || u.HomeDir != paths.Dir {
		if err := d.tenantFree(ctx, own); err != nil {
			return nil, err
		}
	}
	iso := &isolation{d: d, inst: inst, user: own.User, role: own.DBRole, paths: paths}
	return d.submit(ctx, JobIsolate, inst, req, map[string]string{"user": own.User, "role": own.DBRole}, func() []Step {
		return []Step{
			{StepTenant, iso.makeTenant, iso.removeTenant},
			{StepStop, iso.stop, iso.start},
			{StepDatabase, iso.giveDatabase, iso.takeDatabaseBack},
			{StepConf, iso.rewriteConf, iso.restoreConf},
			{StepUnit, iso.rewriteUnit, iso.restoreUnit},
			{StepStart, iso.start, iso.stop},
			{StepStore, iso.record, iso.unrecord},
		}
	}, nil)
}

// tenantFree checks that no system user or database role has inst's
// names yet: isolating must never take over someone else's.
func (c *Creator) tenantFree(ctx context.Context, inst Instance) error {
	if _, _, err := lookupUser(inst.User); err == nil {
		return fmt.Errorf("%w: system user %s exists but is not %s's; remove it (userdel %s)", ErrHostNotFree, inst.User, inst.Name, inst.User)
	}
	ok, err := c.cfg.Tenants.RoleExists(ctx, inst.DBRole)
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
	d          *DayTwo
	inst       Instance
	user, role string
	paths      Paths

	password      string
	previousOwner string
	oldConf       []byte
	oldConfMode   os.FileMode
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
	return errors.Join(iso.d.cfg.Tenants.DropRole(ctx, iso.role), iso.d.cfg.Tenants.RemoveUser(ctx, iso.user))
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
	return nil
}

func (iso *isolation) takeDatabaseBack(ctx context.Context) error {
	if iso.previousOwner == "" {
		return nil
	}
	_, err := iso.d.cfg.Owners.GiveTo(ctx, iso.inst.Internal, iso.previousOwner, false)
	return err
}

// confLine matches an odoo.conf line setting db_user or db_password.
var confLine = regexp.MustCompile(`^\s*(db_user|db_password)\s*=`)

// rewriteConf sets db_user and db_password in odoo.conf to the
// instance's role, keeping every other line as it was, and lays the
// files out as a tenant's.
func (iso *isolation) rewriteConf(ctx context.Context) error {
	old, err := ReadTenantFile(iso.paths.Conf, MaxTenantFile)
	if err != nil {
		return fmt.Errorf("conf: %w", err)
	}
	fi, err := os.Stat(iso.paths.Conf)
	if err != nil {
		return fmt.Errorf("conf: %w", err)
	}
	iso.oldConf, iso.oldConfMode = old, fi.Mode().Perm()
	var out []string
	set := false
	for _, l := range strings.Split(strings.TrimRight(string(old), "\n"), "\n") {
		if m := confLine.FindStringSubmatch(l); m != nil {
			if !set {
				out = append(out, "db_user = "+iso.role, "db_password = "+iso.password)
				set = true
			}
			continue
		}
		out = append(out, l)
		if strings.TrimSpace(l) == "[options]" && !set {
			out = append(out, "db_user = "+iso.role, "db_password = "+iso.password)
			set = true
		}
	}
	if !set {
		return errors.New("conf: odoo.conf has no [options] section")
	}
	if err := writeFileAtomic(iso.paths.Conf, []byte(strings.Join(out, "\n")+"\n"), 0o640); err != nil {
		return fmt.Errorf("conf: %w", err)
	}
	uid, gid, err := lookupUser(iso.user)
	if err != nil {
		return err
	}
	if err := layTenantFiles(iso.paths, uid, gid); err != nil {
		return fmt.Errorf("conf: %w", err)
	}
	return nil
}

// restoreConf puts odoo.conf back and gives the tree back to the
// service user, as an imported instance's files were.
func (iso *isolation) restoreConf(ctx context.Context) error {
	if iso.oldConf == nil {
		return nil
	}
	if err := writeFileAtomic(iso.paths.Conf, iso.oldConf, iso.oldConfMode); err != nil {
		return fmt.Errorf("conf: %w", err)
	}
	uid, gid, err := lookupUser(iso.d.cfg.ServiceUser)
	if err != nil {
		return err
	}
	return chownTree(iso.paths.Dir, uid, gid)
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
	old, err := os.ReadFile(iso.paths.Unit)
	if err != nil {
		return fmt.Errorf("unit: %w", err)
	}
	iso.oldUnit = old
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
	return iso.d.cfg.Store.SetTenant(ctx, iso.inst.Name, iso.user, iso.role)
}

func (iso *isolation) unrecord(ctx context.Context) error {
	return iso.d.cfg.Store.SetTenant(ctx, iso.inst.Name, "", "")
}
