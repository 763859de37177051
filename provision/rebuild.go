package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// JobRebuild serves an instance again on this server from a backup
// alone (odoobot recover): its record, release, data and files.
const JobRebuild JobKind = "rebuild"

// RebuildRequest asks for instance Name to be served again from its
// backup Backup ("" the newest), kept here or offsite.
type RebuildRequest struct {
	Name, Backup, By string
	// TakeOverDNS lets the DNS step take over the record odoobot on
	// another server (the lost one) made for the instance (DNS.TakeOver),
	// given back if the rebuild fails; without it such a record is
	// refused, as at a creation.
	TakeOverDNS bool
	Subscribe   []Subscriber
	ChatRef     map[string]string
	Finished    func(Job)
}

// ErrNoRelease is returned for a backup that records no release: the
// instance it is of ran a tree odoobot did not build.
var ErrNoRelease = errors.New("the backup records no release")

// Rebuild serves instance req.Name again from one of its backups, on a
// server that does not have it (a new one, its state empty): the
// backup's manifest says its domain, how it is served and the release it
// ran; the plan is a creation's whose release is that commit, whose
// database is the backup's (restored as the instance's own role, its
// Odoo admin password the one in it) and whose filestore is the backup's,
// fetched back from offsite first when it is not kept here. Refusals
// (bad name, the instance exists or left something on the host, no
// backup, a backup without a release, a mode this server cannot serve)
// come back here and leave nothing. A failure rolls back as a creation
// does; a backup fetched for it is removed again.
func (s *Service) Rebuild(ctx context.Context, req RebuildRequest) (*Task, error) {
	if err := s.cfg.Rules.Check(req.Name); err != nil {
		return nil, err
	}
	if req.Backup != "" && !IsBackupID(req.Backup) {
		return nil, fmt.Errorf("%w: %q is not a backup id", ErrBackupNotFound, req.Backup)
	}
	if _, err := s.cfg.Store.Instance(ctx, req.Name); err == nil {
		return nil, &NameError{Name: req.Name, Rule: RuleTaken, Reason: "an instance of that name exists here; see list"}
	} else if !errors.Is(err, ErrInstanceNotFound) {
		return nil, fmt.Errorf("provision: look up %s: %w", req.Name, err)
	}
	if s.cfg.Targets == nil {
		return nil, errors.New("rebuild: this host cannot build a release at a given commit")
	}
	internal := InternalName(req.Name)
	m, fetch, err := s.rebuildSource(ctx, internal, req.Backup)
	if err != nil {
		return nil, err
	}
	if m.Release == nil || !m.Release.Known() {
		return nil, fmt.Errorf("%w (backup %s of %s): rebuild it by hand, or restore it over an instance made here", ErrNoRelease, m.ID, req.Name)
	}
	mode := m.SSLMode
	if mode == "" {
		mode = SSLHTTP
	}
	if _, err := ParseSSLMode(string(mode), SSLHTTP); err != nil {
		return nil, fmt.Errorf("%w: backup %s says %q", ErrModeUnavailable, m.ID, m.SSLMode)
	}
	if mode.TLS() && s.cfg.Certs[mode] == nil {
		return nil, fmt.Errorf("%w: %s was served with %s, which needs %s", ErrModeUnavailable, req.Name, mode, modeNeeds(mode))
	}
	inst := s.newInstance(req.Name, mode)
	if err := s.hostFree(ctx, inst); err != nil {
		return nil, err
	}
	var taken *DNSTaken
	if s.cfg.DNS != nil {
		was, err := s.cfg.DNS.Holder(ctx, inst.Domain)
		if err != nil {
			return nil, fmt.Errorf("rebuild %s: DNS record: %w", req.Name, err)
		}
		if was.RecordID != "" && !req.TakeOverDNS {
			return nil, fmt.Errorf("rebuild %s: %w: %s holds the A record odoobot made on another server (%s, to %s); if that server is lost, run odoobot recover %s --take-over-dns to point it here",
				req.Name, ErrNameTakenInDNS, inst.Domain, strings.TrimPrefix(was.Comment, DNSMarker+" "), was.Content, req.Name)
		}
		if req.TakeOverDNS {
			taken = &was
		}
	}
	plan, cr := s.rebuildPlan(inst, m, fetch, taken)
	return s.startCreation(ctx, inst, plan, cr, req.By, req.ChatRef, func(t *Task) {
		t.Subscribe, t.Finished = req.Subscribe, req.Finished
	})
}

// rebuildSource finds the backup a rebuild starts from: id ("" the
// newest) of the instance, kept here, else offsite; for an offsite one it
// reads the manifest alone (nothing is kept) and says the job fetches
// the rest.
func (s *Service) rebuildSource(ctx context.Context, internal, id string) (Manifest, *OffsiteCopy, error) {
	if id != "" {
		if b, err := s.backups.Read(internal, id); err == nil {
			if !b.Intact {
				return Manifest{}, nil, fmt.Errorf("%w: %s", ErrBackupCorrupt, b.Problem)
			}
			return b.Manifest, nil, nil
		}
	}
	if s.bcfg.Offsite == nil {
		if id == "" {
			if list, err := s.backups.List(ctx, internal, s.cfg.Now()); err == nil {
				for _, b := range list {
					if b.Intact {
						return b.Manifest, nil, nil
					}
				}
			}
		}
		return Manifest{}, nil, fmt.Errorf("%w: no backup of %s here, and no offsite repository (OFFSITE_REPOSITORY)", ErrBackupNotFound, internal)
	}
	copies, err := s.bcfg.Offsite.List(ctx, internal)
	if err != nil {
		return Manifest{}, nil, fmt.Errorf("rebuild: offsite: %s", explained(err))
	}
	for _, c := range copies {
		if id != "" && c.Backup != id {
			continue
		}
		if b, err := s.backups.Read(internal, c.Backup); err == nil && b.Intact {
			return b.Manifest, nil, nil
		}
		m, err := s.offsiteManifest(ctx, c)
		if err != nil {
			return Manifest{}, nil, err
		}
		return m, &c, nil
	}
	if id != "" {
		return Manifest{}, nil, fmt.Errorf("%w: %s has no backup %s here nor offsite", ErrBackupNotFound, internal, id)
	}
	return Manifest{}, nil, fmt.Errorf("%w: %s has no backup offsite", ErrBackupNotFound, internal)
}

// offsiteManifest reads copy c's manifest (at most 1 MiB) through a
// draft that is discarded: nothing stays.
func (s *Service) offsiteManifest(ctx context.Context, c OffsiteCopy) (Manifest, error) {
	draft, err := s.backups.BeginAs(c.Instance, c.Backup)
	if err != nil {
		return Manifest{}, fmt.Errorf("rebuild: %w", err)
	}
	defer draft.Discard()
	if err := s.bcfg.Offsite.Fetch(ctx, c, ManifestName, draft.Path(ManifestName), maxManifest); err != nil {
		return Manifest{}, fmt.Errorf("rebuild: manifest of %s: %s", c.Backup, explained(err))
	}
	raw, err := draft.Read(ManifestName, maxManifest)
	if err != nil {
		return Manifest{}, fmt.Errorf("rebuild: manifest of %s: %w", c.Backup, err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil || m.ID != c.Backup || m.Database != c.Instance {
		return Manifest{}, fmt.Errorf("%w: the manifest of offsite copy %s is not that backup's", ErrBackupCorrupt, c.Backup)
	}
	return m, nil
}

// rebuildPlan is a creation's plan for inst with the release at the
// backup's commit, the backup's database in place of a new one, its
// filestore laid in once the files are, and, when fetch is set, the
// backup fetched back from offsite first. With taken, its DNS step
// takes over that record of the lost server (and gives it back on
// undo); the job's parameters keep it for a roll-back after a crash.
func (s *Service) rebuildPlan(inst Instance, m Manifest, fetch *OffsiteCopy, taken *DNSTaken) (Plan, *creation) {
	plan, cr := s.createPlan(inst)
	rb := &rebuilding{d: s, cr: cr, manifest: m, backup: BackupInfo{Manifest: m}}
	takeOver := taken != nil
	if takeOver {
		rb.taken = *taken
	}
	var steps []Step
	for _, st := range plan.Steps {
		switch {
		case st.Name == StepRelease:
			st.Apply = rb.ensureRelease
		case st.Name == StepDatabase:
			st.Apply = rb.restoreDatabase
		case st.Name == StepDNS && takeOver:
			st.Apply, st.Undo = rb.takeOverRecord, rb.giveBackRecord
		case st.Name == StepDNS:
			st.Apply = rb.ensureRecord
		}
		steps = append(steps, st)
		switch st.Name {
		case StepReserve:
			if fetch != nil {
				c := *fetch
				steps = append(steps, Step{StepFetch, func(ctx context.Context) error { return rb.fetch(ctx, c) }, rb.unfetch})
			}
		case StepFiles:
			steps = append(steps, Step{StepFilestore, rb.placeFilestore, nil})
		}
	}
	plan.Kind, plan.Steps = JobRebuild, steps
	plan.Params = map[string]string{"ssl": string(inst.SSLMode), "backup": m.ID}
	if takeOver {
		maps.Copy(plan.Params, takenParams(rb.taken))
	}
	if fetch != nil {
		plan.Params[paramFetched] = "offsite"
	}
	plan.LogPath = filepath.Join(s.cfg.Layout.LogDir, "rebuild-"+inst.Internal+".log")
	return plan, cr
}

// rebuildPlanOf is the plan of an open rebuild after a crash: its steps
// rolled back whole, as a creation's, the fetched backup removed.
func (s *Service) rebuildPlanOf(ctx context.Context, job Job) (Plan, *settled) {
	plan, st := s.creationPlanOf(ctx, job)
	if st != nil {
		return plan, st
	}
	if was, ok := takenOf(job.Params); ok {
		domain := s.cfg.Layout.NewInstance(job.Instance, SSLHTTP).Domain
		for i := range plan.Steps {
			if plan.Steps[i].Name == StepDNS && was.RecordID != "" {
				plan.Steps[i].Undo = func(ctx context.Context) error { return s.cfg.DNS.GiveBack(ctx, domain, was) }
			}
		}
	}
	if job.Params[paramFetched] == "" || !IsBackupID(job.Params["backup"]) {
		return plan, nil
	}
	internal, id := InternalName(job.Instance), job.Params["backup"]
	undo := func(context.Context) error { return s.removeFetched(internal, id) }
	plan.Steps = append([]Step{{StepFetch, func(context.Context) error { return nil }, undo}}, plan.Steps...)
	return plan, nil
}

// takenParams are the job parameters that keep a record taken over.
func takenParams(was DNSTaken) map[string]string {
	return map[string]string{"dns": "take-over", "dns_record": was.RecordID, "dns_content": was.Content,
		"dns_comment": was.Comment, "dns_proxied": strconv.FormatBool(was.Proxied)}
}

// takenOf reads takenParams back: false when the job took over nothing.
func takenOf(params map[string]string) (DNSTaken, bool) {
	if params["dns"] != "take-over" {
		return DNSTaken{}, false
	}
	proxied, _ := strconv.ParseBool(params["dns_proxied"])
	return DNSTaken{RecordID: params["dns_record"], Content: params["dns_content"], Comment: params["dns_comment"], Proxied: proxied}, true
}

// rebuilding is the state of one rebuild job.
type rebuilding struct {
	d        *Service
	cr       *creation
	manifest Manifest
	backup   BackupInfo // the local backup, once there
	taken    DNSTaken   // the lost server's record, once taken over
}

// ensureRecord is the creation's DNS step, whose refusal of a record
// the lost server made says how to take it over.
func (rb *rebuilding) ensureRecord(ctx context.Context) error {
	err := rb.cr.ensureRecord(ctx)
	if errors.Is(err, ErrNameTakenInDNS) {
		return fmt.Errorf("%w; if that record is the lost server's, run odoobot recover %s --take-over-dns to point it here", err, rb.cr.inst.Name)
	}
	return err
}

// takeOverRecord takes over the record the lost server made for the
// instance, saying what it was, and points it here.
func (rb *rebuilding) takeOverRecord(ctx context.Context) error {
	dns := rb.cr.dns()
	if err := dns.TakeOver(ctx, rb.cr.inst.Domain, rb.taken); err != nil {
		return err
	}
	if rb.taken.RecordID != "" {
		rb.cr.progress(StepDNS, "took over the record of "+rb.cr.inst.Domain+" from the server that made it (it pointed at "+rb.taken.Content+")")
	}
	return dns.EnsureRecord(ctx, rb.cr.inst.Domain)
}

// giveBackRecord undoes takeOverRecord: a record taken over is given
// back as it was; one made here is deleted.
func (rb *rebuilding) giveBackRecord(ctx context.Context) error {
	if rb.taken.RecordID == "" {
		return rb.cr.deleteRecord(ctx)
	}
	return rb.cr.dns().GiveBack(ctx, rb.cr.inst.Domain, rb.taken)
}

// fetch brings the offsite copy back into BACKUP_DIR (Service.fetch).
func (rb *rebuilding) fetch(ctx context.Context, c OffsiteCopy) error {
	b, err := rb.d.fetch(ctx, c)
	if err != nil {
		return err
	}
	rb.backup = b
	return nil
}

// unfetch removes the fetched backup and any half of it.
func (rb *rebuilding) unfetch(context.Context) error {
	return rb.d.removeFetched(rb.cr.inst.Internal, rb.manifest.ID)
}

// local is the backup as kept here, read once the fetch (if any) ran.
func (rb *rebuilding) local() (BackupInfo, error) {
	if rb.backup.Dir != "" {
		return rb.backup, nil
	}
	b, err := rb.d.backups.Read(rb.cr.inst.Internal, rb.manifest.ID)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup %s: %w", rb.manifest.ID, err)
	}
	if err := rb.d.backups.Verify(b); err != nil {
		return BackupInfo{}, err
	}
	rb.backup = b
	return b, nil
}

// ensureRelease builds (or finds) the release at the commit the backup
// records.
func (rb *rebuilding) ensureRelease(ctx context.Context) error {
	rel, err := rb.d.cfg.Targets.EnsureCommit(ctx, rb.manifest.Release.Commit, func(phase string) { rb.cr.progress(StepRelease, phase) })
	if err != nil {
		return fmt.Errorf("release %s: %w", rb.manifest.Release.Commit, err)
	}
	rb.cr.release = rel
	return nil
}

// restoreDatabase restores the backup's dump as the instance's own role
// under the staging name, then renames it into place: a database of
// that name is the instance's whole.
func (rb *rebuilding) restoreDatabase(ctx context.Context) error {
	b, err := rb.local()
	if err != nil {
		return err
	}
	inst := rb.cr.inst
	staging := inst.Internal + RestoreStagingSuffix
	if err := rb.d.pg.Drop(ctx, staging); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if err := rb.d.pg.Restore(ctx, staging, inst.DBRole, filepath.Join(b.Dir, DumpName)); err != nil {
		return fmt.Errorf("database: restore: %w", err)
	}
	if err := rb.d.pg.Rename(ctx, staging, inst.Internal); err != nil {
		return fmt.Errorf("database: rename %s: %w", staging, err)
	}
	return nil
}

// placeFilestore unpacks the backup's filestore where no tenant reaches,
// owned by the instance's user, and moves it into its tree (the service
// is not started yet).
func (rb *rebuilding) placeFilestore(ctx context.Context) error {
	b, err := rb.local()
	if err != nil {
		return err
	}
	inst, user := rb.cr.inst, rb.cr.runAs()
	var archive io.Reader
	if _, ok := b.File(FilestoreName); ok {
		rc, err := rb.d.backups.OpenFilestore(b)
		if err != nil {
			return fmt.Errorf("filestore: %w", err)
		}
		defer rc.Close()
		archive = rc
	}
	if err := rb.d.cfg.Files.StageRestore(ctx, inst, user, archive); err != nil {
		return fmt.Errorf("filestore: %w", err)
	}
	if _, err := rb.d.cfg.Files.SwapRestore(ctx, inst, user); err != nil {
		return fmt.Errorf("filestore: %w", err)
	}
	return rb.d.cfg.Files.DropRestore(ctx, inst, RestoreReplaced)
}

// OffsiteInstances names the instances a rebuild of every instance
// brings back: those with offsite copies whose newest copy is not a
// delete's final backup (deleted on purpose), that this server does not
// have; sorted.
func (s *Service) OffsiteInstances(ctx context.Context) ([]string, error) {
	if s.bcfg.Offsite == nil {
		return nil, errors.New("no offsite repository (OFFSITE_REPOSITORY)")
	}
	copies, err := s.bcfg.Offsite.List(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("offsite: %s", explained(err))
	}
	newest := map[string]OffsiteCopy{}
	for _, c := range copies {
		if got, ok := newest[c.Instance]; !ok || c.CreatedAt.After(got.CreatedAt) {
			newest[c.Instance] = c
		}
	}
	var out []string
	for internal, c := range newest {
		name, ok := strings.CutPrefix(internal, "prod-")
		if !ok || c.Reason == ReasonFinal || s.cfg.Rules.Check(name) != nil {
			continue
		}
		if _, err := s.cfg.Store.Instance(ctx, name); err == nil {
			continue
		} else if !errors.Is(err, ErrInstanceNotFound) {
			return nil, err
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return out, nil
}
