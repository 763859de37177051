package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ErrCreationRunning is returned by CollectGarbage while an instance is
// being created or cloned: the release and template it takes are not
// recorded yet, so nothing is removed.
var ErrCreationRunning = errors.New("a creation is running")

// ReleasesInUse says which releases the instances run: the keys they
// record, and, for instances that record none, files naming their
// release's directory (their odoo.conf and unit).
type ReleasesInUse struct {
	Keys  map[string]bool
	Files []string
}

// GCReport says what a collection removed and kept.
type GCReport struct {
	RemovedReleases, KeptReleases []string // release keys
	// Newest is the release kept because it was used last: the one the
	// next creation most likely takes.
	Newest                          string
	RemovedTemplates, KeptTemplates []string // template databases
	// UnmarkedTemplates say no release (made before templates recorded
	// theirs): left alone.
	UnmarkedTemplates []string
}

// String says what was removed and what was kept, in a few lines.
func (r GCReport) String() string {
	var b strings.Builder
	line := func(what string, list []string) {
		if len(list) == 0 {
			fmt.Fprintf(&b, "%s: none\n", what)
			return
		}
		fmt.Fprintf(&b, "%s: %s\n", what, strings.Join(list, ", "))
	}
	line("releases removed", r.RemovedReleases)
	line("releases kept", r.KeptReleases)
	if r.Newest != "" {
		fmt.Fprintf(&b, "newest release (kept for the next creation): %s\n", r.Newest)
	}
	line("templates removed", r.RemovedTemplates)
	line("templates kept", r.KeptTemplates)
	if len(r.UnmarkedTemplates) > 0 {
		line("templates left alone (they record no release)", r.UnmarkedTemplates)
	}
	return strings.TrimRight(b.String(), "\n")
}

// GarbageCollector removes releases and template databases no instance
// uses (provision/odoo's Collector): all of them, or, when only is not
// empty, release only and its templates. inUse is asked at the start and
// again before each removal; its error stops the collection.
type GarbageCollector interface {
	Collect(ctx context.Context, only string, inUse func(context.Context) (ReleasesInUse, error)) (GCReport, error)
}

// CollectGarbage removes the releases and templates that no instance
// uses (`odoobot gc`; also run after a delete succeeds), never one in
// use: every instance's recorded release is kept, an instance that
// records none keeps the release its odoo.conf and unit name, and the
// release used last is kept for the next creation. While an instance is
// being created or cloned it removes nothing and returns an error
// matching ErrCreationRunning. Without a collector configured it does
// nothing.
func (s *Service) CollectGarbage(ctx context.Context) (GCReport, error) {
	if s.cfg.GC == nil {
		return GCReport{}, errors.New("provision: gc: no garbage collector is configured")
	}
	return s.cfg.GC.Collect(ctx, "", s.releasesInUse)
}

// releasesInUse reads the instances from the store.
func (s *Service) releasesInUse(ctx context.Context) (ReleasesInUse, error) {
	all, err := s.cfg.Store.Instances(ctx)
	if err != nil {
		return ReleasesInUse{}, err
	}
	u := ReleasesInUse{Keys: map[string]bool{}}
	for _, inst := range all {
		if inst.State == StateCreating {
			return ReleasesInUse{}, fmt.Errorf("%w (%s): run gc once it has ended", ErrCreationRunning, inst.Name)
		}
		if err := s.cfg.Layout.CheckStored(inst); err != nil {
			// Its files could not be told from someone else's: collect
			// nothing rather than read where its row points.
			return ReleasesInUse{}, err
		}
		if inst.Release.Known() {
			u.Keys[inst.Release.Key] = true
			continue
		}
		p := s.cfg.Layout.Paths(inst)
		u.Files = append(u.Files, p.Conf, p.Unit)
	}
	return u, nil
}

// collectAfterDelete runs once a delete of inst has succeeded: the
// release inst recorded, and its templates, go when no instance uses them
// any more, by CollectGarbage's rules (the newest release stays). Other
// releases are left to `odoobot gc`. An instance that recorded no release
// makes nothing collectable. The outcome is logged, never the delete's.
func (s *Service) collectAfterDelete(ctx context.Context, inst Instance) {
	if s.cfg.GC == nil || !inst.Release.Known() {
		return
	}
	rep, err := s.cfg.GC.Collect(ctx, inst.Release.Key, s.releasesInUse)
	log := s.cfg.Logger.With("after_delete_of", inst.Name, "release", inst.Release.Key)
	if err != nil {
		log.Warn("gc after delete: nothing more removed", "err", err)
		return
	}
	log.Info("gc after delete", "releases_removed", rep.RemovedReleases, "templates_removed", rep.RemovedTemplates, "newest", rep.Newest)
}
