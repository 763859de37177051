package provision

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// JobClone makes a staging copy of an instance.
const JobClone JobKind = "clone"

// The steps a clone has besides a creation's.
const (
	StepCopy       StepName = "copy"       // a fresh dump of the source restored as the new database, its filestore copied
	StepNeutralize StepName = "neutralize" // odoo-bin neutralize: mail servers and crons off
)

// DatabaseCopies finishes a database copied from another instance's
// (provision/odoo).
type DatabaseCopies interface {
	// FinishCopy gives db a new identity as Odoo's duplicate does, its own
	// URLs, and the odoobot marker.
	FinishCopy(ctx context.Context, db, baseURL, reportURL, marker string) error
	// Param reads one ir_config_parameter of db ("" when unset).
	Param(ctx context.Context, db, key string) (string, error)
}

// CloneRequest asks for a staging copy of Source named Name.
type CloneRequest struct {
	Source, Name string
	// Neutralize runs Odoo's own neutralize on the copy (mail servers
	// and crons off, database.is_neutralized set): the default for a
	// copy of production.
	Neutralize bool
	By         string
	Subscribe  []Subscriber
	ChatRef    map[string]string
	Finished   func(Job)
}

// Clone queues a staging copy of an instance: a new instance Name with
// every resource a creation makes (its own user, role, ports, unit,
// site, certificate and record, in the source's TLS mode), whose database
// is restored from a fresh pg_dump of the source's — a consistent
// snapshot taken while production keeps serving, never a CREATE
// DATABASE … TEMPLATE of a live database, which would need it
// disconnected — and whose filestore is a copy of the source's. The copy
// gets a new database.uuid and secret and its own URLs; with Neutralize,
// Odoo's `odoo-bin neutralize` turns its mail servers and crons off
// before it starts. Its site tells robots not to index it, and the store
// records it as a staging copy of Source. A failure undoes it all; the
// source is only read. Refusals (a bad or taken name, no such source,
// the source not ready) come back here and change nothing.
func (s *Service) Clone(ctx context.Context, req CloneRequest) (*Task, error) {
	src, err := s.lookup(ctx, req.Source)
	if err != nil {
		return nil, err
	}
	if src.State != StateReady {
		return nil, fmt.Errorf("%w: %s is %s, not ready", ErrServiceState, src.Name, src.State)
	}
	if s.cfg.Copies == nil {
		return nil, errors.New("clone: this host cannot copy databases")
	}
	if req.Neutralize && s.cfg.OdooRuns == nil {
		return nil, errors.New("clone: this host cannot run Odoo to neutralize the copy (no Odoo runner configured)")
	}
	if err := s.cfg.Rules.Check(req.Name); err != nil {
		return nil, err
	}
	if src.SSLMode.TLS() && s.cfg.Certs[src.SSLMode] == nil {
		return nil, fmt.Errorf("%w: %s is served with %s, which needs %s", ErrModeUnavailable, src.Name, src.SSLMode, modeNeeds(src.SSLMode))
	}
	if _, err := s.cfg.Store.Instance(ctx, req.Name); err == nil {
		return nil, &NameError{Name: req.Name, Rule: RuleTaken, Reason: "an instance of that name exists; see list"}
	} else if !errors.Is(err, ErrInstanceNotFound) {
		return nil, fmt.Errorf("provision: look up %s: %w", req.Name, err)
	}
	inst := s.newInstance(req.Name, src.SSLMode)
	inst.StagingOf = src.Name
	if err := s.hostFree(ctx, inst); err != nil {
		return nil, err
	}
	plan, cr := s.clonePlan(inst, src, req.Neutralize)
	return s.startCreation(ctx, inst, plan, cr, req.By, req.ChatRef, func(t *Task) {
		t.Subscribe, t.Finished = req.Subscribe, req.Finished
	})
}

// clonePlan is a creation's plan with the database step replaced by the
// copy, and neutralize after the files, logged in its own log. Like a
// creation's, it has no Recover: a clone found open after a crash is
// rolled back with a creation's steps (recoverCreation), whose database
// step's undo drops the copy and what the staging name holds.
func (s *Service) clonePlan(inst, src Instance, neutralize bool) (Plan, *creation) {
	plan, cr := s.createPlan(inst)
	cl := &cloning{d: s, cr: cr, src: src}
	var steps []Step
	for _, st := range plan.Steps {
		switch st.Name {
		case StepDatabase:
			steps = append(steps, Step{StepCopy, cl.copy, cl.uncopy})
			continue
		case StepService:
			if neutralize {
				steps = append(steps, Step{StepNeutralize, cl.neutralize, nil})
			}
		}
		steps = append(steps, st)
	}
	plan.Kind, plan.Steps = JobClone, steps
	plan.Params = map[string]string{"ssl": string(inst.SSLMode), "source": src.Name, "neutralize": fmt.Sprint(neutralize)}
	plan.LogPath = filepath.Join(s.cfg.Layout.LogDir, "clone-"+inst.Internal+".log")
	return plan, cr
}

// cloning is the state of one clone job.
type cloning struct {
	d   *Service
	cr  *creation
	src Instance
}

// staging is the name the copy is restored under, until it is finished
// and renamed: a database of that name is this clone's own, whatever it
// holds, so a crash never leaves an unmarked database of the new name.
func (cl *cloning) staging() string { return cl.cr.inst.Internal + RestoreStagingSuffix }

// copy dumps the source's database (one consistent snapshot, while it
// serves; DatabaseDumps.DumpCopy: by parallel workers where the host
// has the CPUs), restores it as the new instance's role under the
// staging name, gives it its own identity and the odoobot marker, renames it into
// place, and copies the source's filestore.
func (cl *cloning) copy(ctx context.Context) error {
	inst, src := cl.cr.inst, cl.src
	if err := cl.d.pg.Drop(ctx, cl.staging()); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	tmp, remove, err := cl.d.cfg.Files.ScratchDir(ctx, cl.d.bcfg.Dir, ".clone-"+inst.Internal+"-")
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	defer remove()
	dump := filepath.Join(tmp, "database.dump")
	start := time.Now()
	if err := cl.d.pg.DumpCopy(ctx, src.Internal, dump); err != nil {
		return fmt.Errorf("copy: dump %s: %w", src.Internal, err)
	}
	cl.cr.progress(StepCopy, fmt.Sprintf("dumped %s in %s; restoring", src.Internal, time.Since(start).Round(100*time.Millisecond)))
	start = time.Now()
	if err := cl.d.pg.Restore(ctx, cl.staging(), inst.DBRole, dump); err != nil {
		return fmt.Errorf("copy: restore: %w", err)
	}
	if err := cl.d.cfg.Copies.FinishCopy(ctx, cl.staging(), cl.cr.baseURL(), cl.cr.localURL(), "clone:"+src.Name); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	if err := cl.d.pg.Rename(ctx, cl.staging(), inst.Internal); err != nil {
		return fmt.Errorf("copy: rename %s: %w", cl.staging(), err)
	}
	cl.cr.progress(StepCopy, fmt.Sprintf("restored %s in %s; copying the filestore", inst.Internal, time.Since(start).Round(100*time.Millisecond)))
	if err := cl.copyFilestore(ctx); err != nil {
		return fmt.Errorf("copy: filestore: %w", err)
	}
	return nil
}

// copyFilestore copies the source's filestore into the new instance's
// tree, given to its user (InstanceFiles.CopyFilestore: read on handles
// that never follow a link, links and special files left out, a hard
// link to a file the source does not own refused, built in the staging
// directory and renamed into place; reflinks where the file system has
// them).
func (cl *cloning) copyFilestore(ctx context.Context) error {
	return cl.d.cfg.Files.CopyFilestore(ctx, cl.src, cl.cr.inst, cl.cr.runAs())
}

// uncopy drops the staging database and the copy (marked: Drop takes
// it), and the filestore copied beside it.
func (cl *cloning) uncopy(ctx context.Context) error {
	if err := cl.d.pg.Drop(ctx, cl.staging()); err != nil {
		return err
	}
	return cl.cr.dropDatabase(ctx)
}

// neutralize runs Odoo's own neutralize on the copy (Odoo), as the
// instance's user with its odoo.conf, and checks that it says so
// (database.is_neutralized).
func (cl *cloning) neutralize(ctx context.Context) error {
	if cl.d.cfg.OdooRuns == nil {
		return errors.New("neutralize: this host cannot run Odoo (no Odoo runner configured)")
	}
	rel, p := cl.cr.release, cl.cr.paths
	run := OdooRun{User: cl.cr.runAs(), Dir: p.Dir, Conf: p.Conf, DB: cl.cr.inst.Internal}
	if err := cl.d.cfg.OdooRuns.Neutralize(ctx, rel, run); err != nil {
		return fmt.Errorf("neutralize: %w", err)
	}
	v, err := cl.d.cfg.Copies.Param(ctx, cl.cr.inst.Internal, "database.is_neutralized")
	if err != nil {
		return fmt.Errorf("neutralize: %w", err)
	}
	if !strings.EqualFold(v, "true") {
		return fmt.Errorf("neutralize: odoo-bin neutralize ended, but database.is_neutralized is %q", v)
	}
	return nil
}
