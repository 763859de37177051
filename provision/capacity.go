package provision

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// HostFacts are what the host can hold: its memory (from /proc/meminfo)
// and the disk space free under the instance root. All in bytes.
type HostFacts struct {
	MemTotal     uint64 // MemTotal
	MemAvailable uint64 // MemAvailable: what can be given out without swapping
	DiskFree     uint64 // free to unprivileged users on the instance root's file system
	DiskTotal    uint64 // the size of that file system
}

// HostFactsReader reads what the host can hold (provision/hostfacts).
type HostFactsReader interface {
	// HostFacts returns the host's memory and the disk space free to
	// unprivileged users on the file system of root, or of its nearest
	// existing parent when root does not exist yet. A relative root, or a
	// host it cannot read, is an error.
	HostFacts(root string) (HostFacts, error)
}

// CapacityModel is what one instance is assumed to take, after API-DEV's
// guidance (SPEC.md, "Resources"): about 500 MB–1 GB of memory with two
// workers and about 2 GB of disk at start, so 2–3 instances on a 4 GB
// host, 4–6 on 8 GB and 8 or more on 16 GB.
type CapacityModel struct {
	PerInstanceMemory uint64  // bytes each instance is counted for
	PerInstanceDisk   uint64  // bytes free needed under the root for one more
	ReserveMemory     uint64  // bytes kept for the system, PostgreSQL and nginx
	WarnAt            float64 // warn when the model's use after the creation exceeds this share of MemTotal (0.8)
}

// Capacity model defaults: the top of API-DEV's memory range.
const (
	DefaultInstanceMemory = 1 << 30
	DefaultInstanceDisk   = 2 << 30
	DefaultReserveMemory  = 1 << 30
	DefaultWarnAt         = 0.8
)

// DefaultCapacityModel is API-DEV's guidance: 1 GiB of memory and 2 GiB
// of disk per instance, 1 GiB of memory for the system, a warning above
// 80 %.
func DefaultCapacityModel() CapacityModel {
	return CapacityModel{
		PerInstanceMemory: DefaultInstanceMemory, PerInstanceDisk: DefaultInstanceDisk,
		ReserveMemory: DefaultReserveMemory, WarnAt: DefaultWarnAt,
	}
}

// withDefaults fills the zero fields with the defaults.
func (m CapacityModel) withDefaults() CapacityModel {
	d := DefaultCapacityModel()
	if m.PerInstanceMemory == 0 {
		m.PerInstanceMemory = d.PerInstanceMemory
	}
	if m.PerInstanceDisk == 0 {
		m.PerInstanceDisk = d.PerInstanceDisk
	}
	if m.WarnAt <= 0 || m.WarnAt > 1 {
		m.WarnAt = d.WarnAt
	}
	return m
}

// Fits is how many instances the host holds in all under the model's
// memory rule; the disk is not counted (it is checked one creation at a
// time, against what is free).
func (m CapacityModel) Fits(f HostFacts) int {
	m = m.withDefaults()
	if f.MemTotal <= m.ReserveMemory {
		return 0
	}
	return int((f.MemTotal - m.ReserveMemory) / m.PerInstanceMemory)
}

// More is how many more instances fit next to the given count: under the
// memory rule, and with PerInstanceDisk free for each.
func (m CapacityModel) More(f HostFacts, instances int) int {
	m = m.withDefaults()
	more := max(m.Fits(f)-instances, 0)
	return min(more, int(f.DiskFree/m.PerInstanceDisk))
}

// Verdict is the capacity guard's answer for one more instance. Reason
// says why it is refused (empty when allowed); Warning, when set, says
// the creation is allowed but the host is getting full.
type Verdict struct {
	Allowed bool
	Warning string
	Reason  string
}

// Check decides whether a host with the given facts, running instances
// instances, can hold one more under model m (a zero PerInstanceMemory,
// PerInstanceDisk or WarnAt takes its default). It refuses when (instances+1) × PerInstanceMemory +
// ReserveMemory > MemTotal, or when DiskFree < PerInstanceDisk; it warns
// when the model's memory after the creation passes WarnAt of MemTotal,
// when less than PerInstanceMemory is available right now, or when the
// disk left after it would be under PerInstanceDisk. Messages give the
// numbers.
func Check(f HostFacts, instances int, m CapacityModel) Verdict {
	m = m.withDefaults()
	n := uint64(max(instances, 0))
	need := (n+1)*m.PerInstanceMemory + m.ReserveMemory
	if need > f.MemTotal {
		return Verdict{Reason: fmt.Sprintf(
			"this host has %s of memory: %d %s take %s at %s each plus %s for the system; a %s would exceed it. "+
				"Free memory (delete or move an instance), use a bigger host, or lower the per-instance memory of the capacity model if the instances use less (see capacity)",
			GiB(f.MemTotal), n, plural(n, "instance", "instances"), GiB(n*m.PerInstanceMemory), GiB(m.PerInstanceMemory),
			GiB(m.ReserveMemory), ordinal(n+1))}
	}
	if f.DiskFree < m.PerInstanceDisk {
		return Verdict{Reason: fmt.Sprintf(
			"only %s of disk is free under the instance root; an instance needs %s at start. Free disk space (old backups, logs) or grow the disk",
			GiB(f.DiskFree), GiB(m.PerInstanceDisk))}
	}
	v := Verdict{Allowed: true}
	var warn []string
	if share := float64(need) / float64(f.MemTotal); share > m.WarnAt {
		warn = append(warn, fmt.Sprintf("with this one, %d instances at %s each plus %s for the system take %.0f %% of the host's %s of memory (warning above %.0f %%)",
			n+1, GiB(m.PerInstanceMemory), GiB(m.ReserveMemory), share*100, GiB(f.MemTotal), m.WarnAt*100))
	}
	if f.MemAvailable < m.PerInstanceMemory {
		warn = append(warn, fmt.Sprintf("only %s of memory is available now, less than the %s an instance may take", GiB(f.MemAvailable), GiB(m.PerInstanceMemory)))
	}
	if f.DiskFree-m.PerInstanceDisk < m.PerInstanceDisk {
		warn = append(warn, fmt.Sprintf("%s of disk will be left under the instance root, less than another instance needs", GiB(f.DiskFree-m.PerInstanceDisk)))
	}
	v.Warning = strings.Join(warn, "; ")
	return v
}

// GiB renders bytes as GiB with one decimal: "3.8 GiB".
func GiB(b uint64) string { return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30)) }

func plural(n uint64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func ordinal(n uint64) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return strconv.FormatUint(n, 10) + suffix
}

// ErrNoCapacity matches (errors.Is) a creation refused by the capacity
// guard.
var ErrNoCapacity = errors.New("no capacity")

// CapacityError is the capacity guard's refusal. Its message is the
// verdict's reason, with the numbers, meant for the user as is.
type CapacityError struct {
	Verdict Verdict
}

func (e *CapacityError) Error() string { return e.Verdict.Reason }

// Is makes errors.Is(err, ErrNoCapacity) hold.
func (e *CapacityError) Is(target error) bool { return target == ErrNoCapacity }

// CapacityGuard is the capacity guard the Service asks before each
// creation. Model, Root, Count and Facts are required.
type CapacityGuard struct {
	Model CapacityModel
	Root  string                                 // the instance root (Layout.ProdRoot)
	Count func(ctx context.Context) (int, error) // instances on the host now, in any state
	// Facts reads the host (provision/hostfacts).
	Facts HostFactsReader
}

// Admit reads the host and counts the instances, then refuses with a
// *CapacityError (errors.Is ErrNoCapacity) when one more does not fit.
// An allowed creation above the warning threshold returns the warning.
// Failing to read the host or to count is an error too.
func (g CapacityGuard) Admit(ctx context.Context) (warning string, err error) {
	f, err := g.Facts.HostFacts(g.Root)
	if err != nil {
		return "", err
	}
	n, err := g.Count(ctx)
	if err != nil {
		return "", fmt.Errorf("capacity: count instances: %w", err)
	}
	v := Check(f, n, g.Model)
	if !v.Allowed {
		return "", &CapacityError{Verdict: v}
	}
	return v.Warning, nil
}

// admit is the capacity guard of a creation, under Config.Capacity (zero:
// DefaultCapacityModel) with the host read by Config.HostFacts and every
// recorded instance counted, in any state. A refusal names the model's
// settings; a warning is logged and returned for the job's thread. With
// no HostFacts reader the guard is off.
func (s *Service) admit(ctx context.Context) (string, error) {
	if s.cfg.HostFacts == nil {
		return "", nil
	}
	m := s.capacityModel()
	g := CapacityGuard{
		Model: m, Root: s.cfg.Layout.ProdRoot, Facts: s.cfg.HostFacts,
		Count: func(ctx context.Context) (int, error) {
			list, err := s.cfg.Store.Instances(ctx)
			return len(list), err
		},
	}
	w, err := g.Admit(ctx)
	if errors.Is(err, ErrNoCapacity) {
		return "", fmt.Errorf("%w (capacity model: INSTANCE_MEMORY_MB=%d, INSTANCE_DISK_MB=%d)", err, m.PerInstanceMemory>>20, m.PerInstanceDisk>>20)
	}
	if w != "" {
		s.cfg.Logger.WarnContext(ctx, "capacity: creating one more instance", "warning", w)
	}
	return w, err
}

func (s *Service) capacityModel() CapacityModel {
	if s.cfg.Capacity == (CapacityModel{}) {
		return DefaultCapacityModel()
	}
	return s.cfg.Capacity
}

// CapacityReport is what the host can hold and what it runs, for the
// capacity verb.
type CapacityReport struct {
	Root      string // the instance root whose disk is measured
	Facts     HostFacts
	Model     CapacityModel
	Instances []Instance // every recorded instance, in any state
	Fits      int        // instances the host holds in all (memory rule)
	More      int        // how many more fit now (memory and disk)
	Next      Verdict    // the guard's verdict for one more
	// Archive is the point-in-time archive's state in one line
	// (ArchiveStatus.Summary); "" when there is none.
	Archive string
	// Services is each instance's unit as systemd reports it, in the
	// order of Instances, read in bulk; nil when it was not read
	// (ServicesError says why, when something failed).
	Services      []ServiceStatus
	ServicesError string
}

// UnitStatuses reads the state of many units at once (provision/systemd).
type UnitStatuses interface {
	// Statuses returns the status of each of units, in their order, as
	// ServiceManager.Status reports it for one, in a number of calls to
	// systemd that does not grow with what is asked of each unit.
	Statuses(ctx context.Context, units []string) ([]ServiceStatus, error)
}

// unitStatuses reads the units of list: in bulk through
// Config.UnitStatuses, else one Services.Status each.
func (s *Service) unitStatuses(ctx context.Context, list []Instance) ([]ServiceStatus, error) {
	units := make([]string, len(list))
	for i, inst := range list {
		units[i] = inst.Unit
	}
	if s.cfg.UnitStatuses != nil {
		sts, err := s.cfg.UnitStatuses.Statuses(ctx, units)
		if err == nil && len(sts) != len(units) {
			err = fmt.Errorf("asked %d units, told %d", len(units), len(sts))
		}
		return sts, err
	}
	if s.cfg.Services == nil {
		return nil, nil
	}
	sts := make([]ServiceStatus, len(units))
	for i, u := range units {
		st, err := s.cfg.Services.Status(ctx, u)
		if err != nil {
			return nil, err
		}
		sts[i] = st
	}
	return sts, nil
}

// Capacity reports the host's figures and the instances it runs, under
// the model the creation guard applies (Config.Capacity), with each
// instance's unit as systemd reports it (Services, read in bulk: the
// report's time does not grow by a status per instance).
func (s *Service) Capacity(ctx context.Context) (CapacityReport, error) {
	rep, err := CapacityReportFor(ctx, s.cfg.Layout.ProdRoot, s.cfg.Store, s.capacityModel(), s.cfg.HostFacts)
	if err != nil {
		return rep, err
	}
	if sts, serr := s.unitStatuses(ctx, rep.Instances); serr != nil {
		s.cfg.Logger.WarnContext(ctx, "capacity: read the instances' units", "err", serr)
		rep.ServicesError = serr.Error()
	} else {
		rep.Services = sts
	}
	if s.bcfg.PointInTime == nil {
		return rep, nil
	}
	if st, serr := s.bcfg.PointInTime.Status(ctx); serr != nil {
		rep.Archive = "status unknown: " + serr.Error()
	} else {
		rep.Archive = st.Summary(s.cfg.Now())
	}
	return rep, nil
}

// CapacityReportFor builds a report for root and the instances of store
// under model m, with the host read by facts (required).
func CapacityReportFor(ctx context.Context, root string, store interface {
	Instances(ctx context.Context) ([]Instance, error)
}, m CapacityModel, facts HostFactsReader) (CapacityReport, error) {
	f, err := facts.HostFacts(root)
	if err != nil {
		return CapacityReport{}, err
	}
	list, err := store.Instances(ctx)
	if err != nil {
		return CapacityReport{}, fmt.Errorf("capacity: list instances: %w", err)
	}
	m = m.withDefaults()
	return CapacityReport{
		Root: root, Facts: f, Model: m, Instances: list,
		Fits: m.Fits(f), More: m.More(f, len(list)), Next: Check(f, len(list), m),
	}, nil
}
