package provisiontest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"odoobot/provision"
)

// Store is the state store of a Host: instances with their ports, jobs
// and their events. It implements provision.Store as provision/postgres
// does, in memory: a reservation takes the lowest free port of each
// range, a name already recorded is refused, and a job's events are kept
// in the order they were appended. Every job open when a process is
// replaced (Host.Restart) is an orphan.
type Store struct{ h *Host }

var _ provision.Store = (*Store)(nil)

// ReserveInstance records inst as creating with the lowest free port of
// each range.
func (s *Store) ReserveInstance(_ context.Context, inst provision.Instance, http, gevent provision.PortRange, inUse func(int) bool) (provision.Instance, error) {
	h := s.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.instances[inst.Name]; ok {
		return provision.Instance{}, &provision.NameError{Name: inst.Name, Rule: provision.RuleTaken, Reason: "an instance of that name exists"}
	}
	taken := map[int]bool{}
	for _, i := range h.instances {
		taken[i.Ports.HTTP], taken[i.Ports.Gevent] = true, true
	}
	pick := func(r provision.PortRange) (int, error) {
		for p := r.First; p <= r.Last; p++ {
			if !taken[p] && (inUse == nil || !inUse(p)) {
				return p, nil
			}
		}
		return 0, fmt.Errorf("provisiontest: range %s: %w", r, provision.ErrPortsExhausted)
	}
	var err error
	if inst.Ports.HTTP, err = pick(http); err != nil {
		return provision.Instance{}, err
	}
	if inst.Ports.Gevent, err = pick(gevent); err != nil {
		return provision.Instance{}, err
	}
	inst.State = provision.StateCreating
	h.instances[inst.Name] = inst
	return inst, nil
}

// Instance returns the instance recorded under name.
func (s *Store) Instance(_ context.Context, name string) (provision.Instance, error) {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	inst, ok := s.h.instances[name]
	if !ok {
		return provision.Instance{}, fmt.Errorf("provisiontest: %s: %w", name, provision.ErrInstanceNotFound)
	}
	return inst, nil
}

// Instances returns every instance, by name.
func (s *Store) Instances(context.Context) ([]provision.Instance, error) {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	var out []provision.Instance
	for _, n := range slices.Sorted(maps.Keys(s.h.instances)) {
		out = append(out, s.h.instances[n])
	}
	return out, nil
}

func (s *Store) update(name string, f func(*provision.Instance)) error {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	inst, ok := s.h.instances[name]
	if !ok {
		return fmt.Errorf("provisiontest: %s: %w", name, provision.ErrInstanceNotFound)
	}
	f(&inst)
	s.h.instances[name] = inst
	return nil
}

// SetState records an instance's state.
func (s *Store) SetState(_ context.Context, name string, st provision.State) error {
	return s.update(name, func(i *provision.Instance) { i.State = st })
}

// SetOdooVersion records the Odoo an instance was created on.
func (s *Store) SetOdooVersion(_ context.Context, name, version string) error {
	return s.update(name, func(*provision.Instance) { s.h.versions[name] = version })
}

// SetRelease records the release an instance runs.
func (s *Store) SetRelease(_ context.Context, name string, rel provision.ReleaseRecord) error {
	return s.update(name, func(i *provision.Instance) { i.Release = rel })
}

// SetStopped records who stopped an instance on purpose, and when.
func (s *Store) SetStopped(_ context.Context, name, by string, at time.Time) error {
	if by == "" {
		at = time.Time{}
	}
	return s.update(name, func(i *provision.Instance) { i.StoppedBy, i.StoppedAt = by, at })
}

// SetMaintenance records an instance's maintenance window.
func (s *Store) SetMaintenance(_ context.Context, name string, m provision.Maintenance) error {
	return s.update(name, func(i *provision.Instance) { i.Maintenance = m })
}

// SetTenant records the user and role an instance runs as.
func (s *Store) SetTenant(_ context.Context, name, user, role string) error {
	return s.update(name, func(i *provision.Instance) { i.User, i.DBRole = user, role })
}

// ReleaseInstance forgets an instance and frees its ports; a missing one
// is fine.
func (s *Store) ReleaseInstance(_ context.Context, name string) error {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	delete(s.h.instances, name)
	delete(s.h.versions, name)
	return nil
}

// CreateJob records a queued job; a second open job on the same
// instance is refused with ErrInstanceBusy.
func (s *Store) CreateJob(_ context.Context, j provision.Job) (provision.Job, error) {
	h := s.h
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, o := range h.jobs {
		if o.Instance == j.Instance && o.State.Open() {
			return provision.Job{}, fmt.Errorf("provisiontest: %s has %s job #%d: %w", j.Instance, o.Kind, o.ID, provision.ErrInstanceBusy)
		}
	}
	h.nextJob++
	j.ID, j.State, j.CreatedAt = h.nextJob, provision.JobQueued, h.now()
	h.jobs[j.ID] = &j
	h.jobOwner[j.ID] = h.process
	return j, nil
}

// StartJob marks a queued job running.
func (s *Store) StartJob(_ context.Context, id int64) error {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	j, ok := s.h.jobs[id]
	switch {
	case !ok:
		return fmt.Errorf("provisiontest: job %d: %w", id, provision.ErrJobNotFound)
	case j.State == provision.JobRunning:
		return fmt.Errorf("provisiontest: job %d: %w", id, provision.ErrJobStarted)
	case j.State.Terminal():
		return fmt.Errorf("provisiontest: job %d: %w", id, provision.ErrJobEnded)
	}
	j.State, j.StartedAt = provision.JobRunning, s.h.now()
	s.h.jobOwner[id] = s.h.process
	return nil
}

// AppendEvent records one event of a job.
func (s *Store) AppendEvent(_ context.Context, e provision.Event) error {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	s.h.events[e.JobID] = append(s.h.events[e.JobID], e)
	return nil
}

// FinishJob records how a job ended; an ended job is refused.
func (s *Store) FinishJob(_ context.Context, id int64, st provision.JobState, errText string, undone []string) error {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	j, ok := s.h.jobs[id]
	if !ok {
		return fmt.Errorf("provisiontest: job %d: %w", id, provision.ErrJobNotFound)
	}
	if j.State.Terminal() {
		return fmt.Errorf("provisiontest: job %d: %w", id, provision.ErrJobEnded)
	}
	j.State, j.Error, j.Undone, j.FinishedAt = st, errText, slices.Clone(undone), s.h.now()
	return nil
}

// OrphanedJobs are the open jobs of processes that are gone: every
// process before the last Host.Restart.
func (s *Store) OrphanedJobs(context.Context) ([]provision.Job, error) {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	var out []provision.Job
	for _, id := range slices.Sorted(maps.Keys(s.h.jobs)) {
		if j := s.h.jobs[id]; j.State.Open() && s.h.jobOwner[id] != s.h.process {
			out = append(out, *j)
		}
	}
	return out, nil
}

// ActiveJob returns an instance's open job, if any.
func (s *Store) ActiveJob(_ context.Context, instance string) (provision.Job, bool, error) {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	for _, id := range slices.Sorted(maps.Keys(s.h.jobs)) {
		if j := s.h.jobs[id]; j.Instance == instance && j.State.Open() {
			return *j, true, nil
		}
	}
	return provision.Job{}, false, nil
}

// Events returns a job's events in the order they were appended.
func (s *Store) Events(_ context.Context, id int64) ([]provision.Event, error) {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	return slices.Clone(s.h.events[id]), nil
}

// Job returns a job's record.
func (s *Store) Job(id int64) (provision.Job, bool) {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	j, ok := s.h.jobs[id]
	if !ok {
		return provision.Job{}, false
	}
	return *j, true
}

// Jobs returns instance's jobs of kind, newest first, at most n.
func (s *Store) Jobs(_ context.Context, instance string, kind provision.JobKind, n int) ([]provision.Job, error) {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	var out []provision.Job
	for _, id := range slices.Backward(slices.Sorted(maps.Keys(s.h.jobs))) {
		j := s.h.jobs[id]
		if j.Instance == instance && j.Kind == kind && len(out) < n {
			out = append(out, *j)
		}
	}
	return out, nil
}
