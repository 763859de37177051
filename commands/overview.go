package commands

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"odoobot/provision"
)

// OverviewParallel bounds the instances whose unit and health are read
// at once by an overview; OverviewProbeTimeout bounds the reading of one
// (its unit's state, and a live health check when the watcher has no
// verdict on it). With 100 instances an overview thus takes at most
// ceil(100/OverviewParallel) × OverviewProbeTimeout, whatever hangs.
const (
	OverviewParallel     = 16
	OverviewProbeTimeout = 2 * time.Second
)

// OverviewSources are what an overview reads: the recorded instances,
// jobs and backups, in a few queries whatever their number, and each
// instance's unit and health. Instances and Unit are required; a nil
// other source leaves its column unknown.
type OverviewSources struct {
	// Instances lists the recorded instances, ordered by name.
	Instances func(ctx context.Context) ([]provision.Instance, error)
	// OpenJobs lists the queued and running jobs of every instance.
	OpenJobs func(ctx context.Context) ([]provision.Job, error)
	// LastBackups is, per instance name, when its newest backup job that
	// succeeded ended.
	LastBackups func(ctx context.Context) (map[string]time.Time, error)
	// Unit is the state of an instance's systemd unit, with its memory
	// (MemoryCurrent).
	Unit func(ctx context.Context, unit string) (provision.ServiceStatus, error)
	// Verdict is the on-call watcher's last verdict on an instance:
	// problem "" when it passed every check at at; ok false when it has
	// none (the watcher is off, or has not checked it yet).
	Verdict func(name string) (problem string, at time.Time, ok bool)
	// Health is a live health check of an instance's HTTP port, asked
	// when the watcher has no verdict: "" when it answered 200, else
	// what went wrong.
	Health func(ctx context.Context, port int) string
}

// Condition is an instance's state in an overview, the worst first.
type Condition string

// The conditions of an instance.
const (
	// ConditionFailing: meant to run, and its unit is down or its
	// health check fails.
	ConditionFailing Condition = "failing"
	// ConditionChanging: being created or deleted, or left failed by its
	// creation.
	ConditionChanging Condition = "changing"
	// ConditionBusy: a job (backup, upgrade, restore…) runs on it.
	ConditionBusy Condition = "busy"
	// ConditionMaintenance: in a maintenance window.
	ConditionMaintenance Condition = "maintenance"
	// ConditionStopped: stopped on purpose by an operator.
	ConditionStopped Condition = "stopped"
	// ConditionRunning: running and healthy.
	ConditionRunning Condition = "running"
)

// InstanceOverview is one instance in an overview.
type InstanceOverview struct {
	Instance  provision.Instance
	Condition Condition
	// Health is "healthy", or what is wrong, or why it is not known.
	Health string
	// HealthFrom says where Health comes from: "watch, 2m ago" or
	// "checked now"; "" when it was not checked.
	HealthFrom string
	// Memory is the unit's MemoryCurrent in bytes, 0 when it does not
	// run or is not accounted.
	Memory uint64
	// Service is the unit's ActiveState ("active", "inactive"…), "" when
	// it could not be read.
	Service string
	// LastBackup is when its last good backup ended; zero when none is
	// recorded. BackupKnown is false when the records could not be read.
	LastBackup  time.Time
	BackupKnown bool
	// Jobs are its queued and running jobs.
	Jobs []provision.Job
}

// Pending is a dangerous command waiting for its requester's
// confirmation or a second admin's approval. Its code is never in it.
type Pending struct {
	Approval bool   // a second admin's approval; else a confirmation
	What     string // "delete acme", as the prompt said it
	By       string // who asked
	Until    time.Time
}

// Overview is every instance at a glance (the overview verb and the
// Slack home view), with the commands waiting for a confirmation or an
// approval.
type Overview struct {
	At        time.Time
	Instances []InstanceOverview
	Pending   []Pending
	// Problems are the sources that could not be read (their columns
	// are shown as unknown).
	Problems []string
}

// Overview reads every instance's state, health, memory, last good
// backup and running jobs, and the commands waiting for a confirmation
// or an approval. The recorded data comes in one query each; the units
// and health checks are read OverviewParallel at a time, each bounded
// by OverviewProbeTimeout, so that a frozen instance delays nobody
// else's row by more than that.
func (d *Dispatcher) Overview(ctx context.Context) (Overview, error) {
	src := d.OverviewSources
	if src == nil || src.Instances == nil || src.Unit == nil {
		return Overview{}, fmt.Errorf("commands: overview: %w", errNoOverview)
	}
	now := d.now()
	ov := Overview{At: now}
	list, err := src.Instances(ctx)
	if err != nil {
		return Overview{}, fmt.Errorf("commands: overview: list the instances: %w", err)
	}
	jobs := map[string][]provision.Job{}
	if src.OpenJobs != nil {
		open, err := src.OpenJobs(ctx)
		if err != nil {
			ov.Problems = append(ov.Problems, "the running jobs could not be read: "+err.Error())
		}
		for _, j := range open {
			jobs[j.Instance] = append(jobs[j.Instance], j)
		}
	}
	var backups map[string]time.Time
	if src.LastBackups != nil {
		backups, err = src.LastBackups(ctx)
		if err != nil {
			ov.Problems = append(ov.Problems, "the backup records could not be read: "+err.Error())
		}
	}
	ov.Instances = make([]InstanceOverview, len(list))
	sem := make(chan struct{}, OverviewParallel)
	var wg sync.WaitGroup
	for i, inst := range list {
		io := InstanceOverview{Instance: inst, Jobs: jobs[inst.Name]}
		if backups != nil {
			io.LastBackup, io.BackupKnown = backups[inst.Name], true
		}
		ov.Instances[i] = io
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			pctx, cancel := context.WithTimeout(ctx, OverviewProbeTimeout)
			defer cancel()
			probeInstance(pctx, src, now, &ov.Instances[i])
		})
	}
	wg.Wait()
	ov.Pending = d.pending(now)
	return ov, nil
}

// errNoOverview is the error of an overview on a dispatcher without
// sources.
var errNoOverview = fmt.Errorf("no overview sources on this server")

// probeInstance fills in o's service, memory, health and condition.
func probeInstance(ctx context.Context, src *OverviewSources, now time.Time, o *InstanceOverview) {
	inst := o.Instance
	st, err := src.Unit(ctx, inst.Unit)
	running := err == nil && st.Running()
	switch {
	case err != nil:
		o.Health = "unknown: its unit's state could not be read: " + err.Error()
	default:
		o.Service = st.ActiveState
		if running {
			o.Memory = st.MemoryBytes
		}
	}
	problem, at, verdict := "", time.Time{}, false
	if src.Verdict != nil {
		problem, at, verdict = src.Verdict(inst.Name)
	}
	switch {
	case err != nil:
	case verdict:
		o.Health, o.HealthFrom = healthWord(problem), "watch, "+ago(now.Sub(at))
	case !running:
		o.Health = "not checked: its unit is " + st.ActiveState
	case src.Health != nil:
		o.Health, o.HealthFrom = healthWord(src.Health(ctx, inst.Ports.HTTP)), "checked now"
	default:
		o.Health = "unknown"
	}
	healthy := o.Health == "healthy"
	switch {
	case inst.State != provision.StateReady:
		o.Condition = ConditionChanging
	case inst.Maintenance.Active(now):
		o.Condition = ConditionMaintenance
	case inst.StoppedBy != "":
		o.Condition = ConditionStopped
	case len(o.Jobs) > 0:
		o.Condition = ConditionBusy
	case !running || !healthy && o.HealthFrom != "":
		o.Condition = ConditionFailing
	default:
		o.Condition = ConditionRunning
	}
}

func healthWord(problem string) string {
	if problem == "" {
		return "healthy"
	}
	return problem
}

// ago is a duration as "3m ago", "5h ago", "2d ago".
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// Mark is the condition's sign, as chat shows it.
func (c Condition) Mark() string {
	switch c {
	case ConditionFailing:
		return "🔴"
	case ConditionChanging, ConditionBusy:
		return "⏳"
	case ConditionMaintenance:
		return "🔧"
	case ConditionStopped:
		return "⏸"
	}
	return "🟢"
}

// Headline is the instance's first line: its mark, name, domain and
// state; a maintenance window as a banner, until when, by whom and why.
func (o InstanceOverview) Headline(now time.Time) string {
	i := o.Instance
	var state string
	switch o.Condition {
	case ConditionChanging:
		state = string(i.State)
	case ConditionMaintenance:
		m := i.Maintenance
		state = fmt.Sprintf("in maintenance until %s (%s more), by %s", m.Until.UTC().Format("2006-01-02 15:04 UTC"), left(m.Until.Sub(now)), m.By)
		if m.Reason != "" {
			state += ": " + m.Reason
		}
	case ConditionStopped:
		state = fmt.Sprintf("stopped on purpose by %s at %s", i.StoppedBy, i.StoppedAt.UTC().Format("2006-01-02 15:04 UTC"))
	case ConditionBusy:
		state = "running a job"
	case ConditionFailing:
		state = "failing"
		if o.Service != "" && o.Service != "active" {
			state += ": its unit is " + o.Service
		}
	default:
		state = "running"
	}
	return fmt.Sprintf("%s %s (%s) — %s", o.Condition.Mark(), i.Name, i.Domain, state)
}

// Details is the instance's second line: health, memory, last good
// backup and running jobs.
func (o InstanceOverview) Details(now time.Time) string {
	parts := []string{"health " + o.Health}
	if o.HealthFrom != "" {
		parts[0] += " (" + o.HealthFrom + ")"
	}
	if o.Memory > 0 {
		parts = append(parts, fmt.Sprintf("memory %.1f MiB", float64(o.Memory)/(1<<20)))
	} else {
		parts = append(parts, "memory -")
	}
	switch {
	case !o.BackupKnown:
		parts = append(parts, "last good backup unknown")
	case o.LastBackup.IsZero():
		parts = append(parts, "no good backup recorded")
	default:
		parts = append(parts, "last good backup "+ago(now.Sub(o.LastBackup)))
	}
	for _, j := range o.Jobs {
		parts = append(parts, fmt.Sprintf("job %d %s %s (asked by %s)", j.ID, j.Kind, j.State, j.RequestedBy))
	}
	return strings.Join(parts, " · ")
}

// Line is the pending command as an overview shows it.
func (p Pending) Line() string {
	kind := "awaits its requester's confirmation"
	if p.Approval {
		kind = "awaits a second admin's approval"
	}
	return fmt.Sprintf("%s, asked by %s, %s until %s", p.What, p.By, kind, p.Until.UTC().Format("15:04 UTC"))
}

// Summary is the overview's first line: how many instances, how many
// need attention, jobs running and commands waiting.
func (ov Overview) Summary() string {
	failing, jobs := 0, 0
	for _, o := range ov.Instances {
		if o.Condition == ConditionFailing {
			failing++
		}
		jobs += len(o.Jobs)
	}
	return fmt.Sprintf("%s, %d failing, %s running, %s waiting — at %s",
		count(len(ov.Instances), "instance"), failing, count(jobs, "job"), count(len(ov.Pending), "command"), ov.At.UTC().Format("2006-01-02 15:04 UTC"))
}

// count is "1 job", "2 jobs".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// left is a time left, to the minute: "1h30m", "45m".
func left(d time.Duration) string {
	if d < time.Minute {
		return "under a minute"
	}
	return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
}

// FormatOverview renders an overview for chat and the terminal: a
// summary line, two lines per instance, then the commands waiting and
// the sources that could not be read.
func FormatOverview(ov Overview) string {
	var b strings.Builder
	b.WriteString(ov.Summary() + "\n")
	if len(ov.Instances) == 0 {
		b.WriteString("no instances yet: /odoo create NAME\n")
	}
	for _, o := range ov.Instances {
		fmt.Fprintf(&b, "%s\n    %s\n", o.Headline(ov.At), o.Details(ov.At))
	}
	if len(ov.Pending) > 0 {
		b.WriteString("waiting:\n")
		for _, p := range ov.Pending {
			b.WriteString("    " + p.Line() + "\n")
		}
	}
	for _, p := range ov.Problems {
		b.WriteString("⚠ " + p + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// overviewVerb runs overview.
func (d *Dispatcher) overviewVerb(ctx context.Context, cmd Command, r Responder) (string, error) {
	ov, err := d.Overview(ctx)
	if err != nil {
		return d.failed(ctx, r, cmd, err)
	}
	return "ok", r.Long(ctx, "", FormatOverview(ov))
}

// HomeRole is the role a user holds in channel for what they see
// outside any command (Slack's App Home): RoleNone when they may not run
// overview there, and then they are shown nothing of the instances.
func (d *Dispatcher) HomeRole(id Identity, channel string) Role {
	role, ok := d.Allowlist.Role(id, channel)
	if !ok || !role.Allows(Required(VerbOverview)) {
		return RoleNone
	}
	return role
}
