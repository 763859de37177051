package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"odoobot/templates"
)

// InstanceLookup is what the day-to-day verbs need from the store.
type InstanceLookup interface {
	Instance(ctx context.Context, name string) (Instance, error)
	Instances(ctx context.Context) ([]Instance, error)
	ActiveJob(ctx context.Context, instance string) (Job, bool, error)
}

// Operator runs the day-to-day verbs on existing instances: list,
// status, info, logs, restart, stop, start, reset-admin.
type Operator struct {
	Store InstanceLookup
	// Files reads an instance's summary and log (provision/tree); nil
	// shows none (info says so, logs reads the journal).
	Files    InstanceFiles
	Services ServiceManager
	Layout   Layout
	// Databases sets admin passwords (ResetAdminPassword); required for
	// that verb only.
	Databases DatabaseMaker
	// Templates, when set, render info from the store rather than read
	// the instance's info-instancia.txt: an imported instance's file is
	// API-DEV's, and may hold what chat must not show.
	Templates *templates.Set
	// OdooVersion is shown in a rendered summary when OdooVersionOf is
	// nil or knows nothing of the instance.
	OdooVersion string
	// OdooVersionOf, when set, returns the Odoo an instance was created on
	// ("19.0 community"; "" when unknown), which a rendered summary shows:
	// the store's OdooVersion.
	OdooVersionOf func(ctx context.Context, name string) (string, error)
	// Hold holds an instance for the time of a quick verb (restart, stop,
	// start, reset-admin) against jobs and other quick verbs, in every
	// process sharing the state (postgres.Store.HoldInstance): refused,
	// matching ErrInstanceBusy, while a job is open on it or another
	// command holds it. nil only checks that no job is open, with a race
	// between that check and the verb (tests with a fake store).
	Hold func(ctx context.Context, name string) (release func(), err error)
	// Stopped keeps who stopped an instance on purpose (Stop); nil keeps
	// nothing (tests): the unit is still disabled.
	Stopped StopRecorder
	// Maintenance keeps the instances' maintenance windows
	// (SetMaintenance); nil refuses that verb.
	Maintenance MaintenanceRecorder
	// Now is the clock of those records; time.Now when nil.
	Now func() time.Time
	// ServiceUser is SERVICE_USER, the user an imported instance that is
	// not isolated runs as (RunsAs): who may hold its ports.
	ServiceUser string
	// Health, Ports and Users are the host's drivers (provision/probe,
	// provision/ports, provision/sysusers); required by status,
	// start and restart.
	Health HealthChecker
	Ports  PortProbe
	Users  Users
}

// probes are the drivers a health wait and a port owner check ask.
func (o *Operator) probes() hostProbes {
	return hostProbes{health: o.Health, ports: o.Ports, users: o.Users}
}

// hold holds instance name for a quick verb (see Operator.Hold).
func (o *Operator) hold(ctx context.Context, name string) (release func(), err error) {
	if o.Hold != nil {
		return o.Hold(ctx, name)
	}
	if j, busy, err := o.Store.ActiveJob(ctx, name); err != nil {
		return nil, err
	} else if busy {
		return nil, fmt.Errorf("%w: job %d (%s) is running on %s; wait for it", ErrInstanceBusy, j.ID, j.Kind, name)
	}
	return func() {}, nil
}

// ResetAdminPassword gives the Odoo user "admin" of instance name a new
// random password (NewAdminPassword), stored as Odoo stores it, and
// returns it. The caller shows it to the requester alone: it is never
// logged nor kept. An unknown instance, one that is not ready, and one
// with a job running are refused, changing nothing. Odoo's sessions of
// admin end with the old password.
func (o *Operator) ResetAdminPassword(ctx context.Context, name string) (string, error) {
	inst, err := o.instance(ctx, name)
	if err != nil {
		return "", err
	}
	if inst.State != StateReady {
		return "", fmt.Errorf("%w: %s is %s, not ready", ErrServiceState, name, inst.State)
	}
	release, err := o.hold(ctx, name)
	if err != nil {
		return "", err
	}
	defer release()
	if o.Databases == nil {
		return "", errors.New("provision: reset admin password: no database maker configured")
	}
	pw, err := NewAdminPassword()
	if err != nil {
		return "", err
	}
	if err := o.Databases.SetAdminPassword(ctx, inst.Internal, pw); err != nil {
		return "", fmt.Errorf("provision: reset admin password of %s: %w", name, err)
	}
	return pw, nil
}

// ErrServiceState is returned when a verb does not fit the service's
// state: stopping a stopped instance, starting a running one.
var ErrServiceState = errors.New("service state")

// InstanceStatus is an instance with what systemd and its health
// endpoint say now.
type InstanceStatus struct {
	Instance Instance
	Service  ServiceStatus
	// Healthy: the service runs, its health check answers 200, and no
	// one but the instance's user holds its ports.
	Healthy bool
	// Ports is what is wrong with who holds the instance's HTTP and
	// gevent ports (CheckPortOwners: another user listens there), ""
	// when nothing is; asked whether the service runs or not.
	Ports string
}

// Uptime is how long the service has been active; 0 when it is not.
func (s InstanceStatus) Uptime(now time.Time) time.Duration {
	if !s.Service.Running() || s.Service.Since.IsZero() {
		return 0
	}
	return now.Sub(s.Service.Since)
}

// List returns every instance, ordered by name.
func (o *Operator) List(ctx context.Context) ([]Instance, error) {
	return o.Store.Instances(ctx)
}

// Instance returns the recorded instance name, or an error matching
// ErrInstanceNotFound.
func (o *Operator) Instance(ctx context.Context, name string) (Instance, error) {
	return o.Store.Instance(ctx, name)
}

// Paths are where inst's files are on this host.
func (o *Operator) Paths(inst Instance) Paths { return o.Layout.Paths(inst) }

func (o *Operator) instance(ctx context.Context, name string) (Instance, error) {
	inst, err := o.Store.Instance(ctx, name)
	if errors.Is(err, ErrInstanceNotFound) {
		return inst, fmt.Errorf("%w: no instance named %q; see list", ErrInstanceNotFound, name)
	}
	if err != nil {
		return inst, err
	}
	// The unit, the log and the database a verb acts on are derived from
	// the name; a row that says otherwise is refused (Layout.CheckStored).
	if err := o.Layout.CheckStored(inst); err != nil {
		return Instance{}, err
	}
	return inst, nil
}

// Status reports the service state, health, ports, uptime and memory.
func (o *Operator) Status(ctx context.Context, name string) (InstanceStatus, error) {
	inst, err := o.instance(ctx, name)
	if err != nil {
		return InstanceStatus{}, err
	}
	st, err := o.Services.Status(ctx, inst.Unit)
	if err != nil {
		return InstanceStatus{}, err
	}
	s := InstanceStatus{Instance: inst, Service: st}
	if err := CheckPortOwners(o.Ports, o.Users, inst, o.ServiceUser); err != nil {
		s.Ports = err.Error()
	}
	s.Healthy = s.Ports == "" && st.Running() && o.Health.Check(ctx, inst.Ports.HTTP) == nil
	return s, nil
}

// Info returns the instance's info-instancia.txt.
func (o *Operator) Info(ctx context.Context, name string) (string, error) {
	inst, err := o.instance(ctx, name)
	if err != nil {
		return "", err
	}
	if o.Templates != nil {
		version := o.OdooVersion
		if o.OdooVersionOf != nil {
			v, err := o.OdooVersionOf(ctx, name)
			if err != nil {
				return "", err
			}
			if v != "" {
				version = v
			}
		}
		b, err := o.Templates.Info(InfoFor(inst, o.Layout.Paths(inst), version))
		return string(b), err
	}
	if o.Files == nil {
		return "", fmt.Errorf("info: %s: this odoobot does not read the instances' files", name)
	}
	b, err := o.Files.ReadInfo(ctx, inst)
	if err != nil {
		return "", fmt.Errorf("info: %s has no summary yet (state %s): %w", name, inst.State, err)
	}
	return string(b), nil
}

// Logs returns the last n lines of the instance's odoo.log, or of its
// journal when the log file is missing or empty, and says which.
func (o *Operator) Logs(ctx context.Context, name string, n int) (lines []string, source string, err error) {
	inst, err := o.instance(ctx, name)
	if err != nil {
		return nil, "", err
	}
	p := o.Layout.Paths(inst)
	if lines := o.logTail(inst).Lines(ctx, n); len(lines) > 0 {
		return lines, p.Log, nil
	}
	lines, err = o.Services.Journal(ctx, inst.Unit, n)
	return lines, "journal of " + inst.Unit, err
}

// Restart restarts a running instance; like Start, it ends a stop on
// purpose.
func (o *Operator) Restart(ctx context.Context, name string) error {
	return o.control(ctx, name, "restart", "")
}

// Stop stops a running instance on purpose, as by asked: its unit is
// disabled, so that it stays stopped across a reboot, and the stop is
// recorded (Stopped) with who and when, so that odoobot, restarted,
// still leaves it alone, and status says so. Start or Restart end it.
func (o *Operator) Stop(ctx context.Context, name, by string) error {
	return o.control(ctx, name, "stop", by)
}

// Start starts a stopped instance, enabled again at boot. Restart and
// Start wait until it answers its health check; a user it does not run
// as holding its HTTP or gevent port fails them (a *PortTakenError,
// naming that user); the stop on purpose is ended either way: an
// instance an operator started is meant to run.
func (o *Operator) Start(ctx context.Context, name string) error {
	return o.control(ctx, name, "start", "")
}

// MaxMaintenance is the longest maintenance window SetMaintenance opens.
const MaxMaintenance = 7 * 24 * time.Hour

// MaintenanceRecorder keeps an instance's maintenance window
// (provision/postgres.Store.SetMaintenance); a zero Maintenance ends it.
type MaintenanceRecorder interface {
	SetMaintenance(ctx context.Context, name string, m Maintenance) error
}

// SetMaintenance opens a maintenance window of length d on instance
// name, as by asked, for reason (at most 200 characters, one line), or
// ends the open one when d is 0: while it is open the watcher raises no
// alert for the instance and status shows it. A length outside 1 minute
// to MaxMaintenance, an unknown instance, and an instance whose stored
// names are not its own are refused, changing nothing. It returns the
// window as recorded.
func (o *Operator) SetMaintenance(ctx context.Context, name string, d time.Duration, reason, by string) (Maintenance, error) {
	inst, err := o.instance(ctx, name)
	if err != nil {
		return Maintenance{}, err
	}
	if o.Maintenance == nil {
		return Maintenance{}, errors.New("provision: maintenance: no store of maintenance windows configured")
	}
	if d == 0 {
		if !inst.Maintenance.Active(o.now()) {
			return Maintenance{}, fmt.Errorf("%w: %s has no maintenance window open", ErrServiceState, name)
		}
		return Maintenance{}, o.Maintenance.SetMaintenance(ctx, name, Maintenance{})
	}
	if d < time.Minute || d > MaxMaintenance {
		return Maintenance{}, fmt.Errorf("%w: a maintenance window lasts from 1m to %s, not %s", ErrServiceState, MaxMaintenance, d)
	}
	if len([]rune(reason)) > 200 || strings.ContainsFunc(reason, unicode.IsControl) {
		return Maintenance{}, fmt.Errorf("%w: the reason must be one line of at most 200 characters", ErrServiceState)
	}
	m := Maintenance{Until: o.now().UTC().Add(d).Truncate(time.Second), By: by, Reason: reason}
	return m, o.Maintenance.SetMaintenance(ctx, name, m)
}

// now is the Operator's clock.
func (o *Operator) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// StopRecorder keeps who stopped an instance on purpose
// (provision/postgres.Store.SetStopped); by "" ends the stop.
type StopRecorder interface {
	SetStopped(ctx context.Context, name, by string, at time.Time) error
}

// recordStop records (by set) or ends (by "") the stop on purpose of
// inst, enabling or disabling its unit at boot first.
func (o *Operator) recordStop(ctx context.Context, inst Instance, by string) error {
	if err := o.Services.SetEnabled(ctx, o.Layout.Paths(inst).Unit, by == ""); err != nil {
		return err
	}
	if o.Stopped == nil {
		return nil
	}
	return o.Stopped.SetStopped(ctx, inst.Name, by, o.now().UTC())
}

func (o *Operator) control(ctx context.Context, name, verb, by string) error {
	inst, err := o.instance(ctx, name)
	if err != nil {
		return err
	}
	if inst.State != StateReady {
		return fmt.Errorf("%w: %s is %s, not ready", ErrServiceState, name, inst.State)
	}
	release, err := o.hold(ctx, name)
	if err != nil {
		return err
	}
	defer release()
	st, err := o.Services.Status(ctx, inst.Unit)
	if err != nil {
		return err
	}
	switch {
	case verb == "stop" && !st.Running():
		return fmt.Errorf("%w: %s is already stopped (%s)", ErrServiceState, name, st.ActiveState)
	case verb == "start" && st.Running():
		return fmt.Errorf("%w: %s is already running", ErrServiceState, name)
	case verb == "restart" && !st.Running():
		return fmt.Errorf("%w: %s is stopped (%s); use start", ErrServiceState, name, st.ActiveState)
	}
	if verb == "stop" {
		if err := o.Services.Stop(ctx, inst.Unit); err != nil {
			return err
		}
		if err := o.recordStop(ctx, inst, by); err != nil {
			return fmt.Errorf("provision: %s is stopped, but it could not be kept stopped across a reboot and odoobot's restart: %w", name, err)
		}
		return nil
	}
	if inst.StoppedBy != "" || verb == "start" {
		if err := o.recordStop(ctx, inst, ""); err != nil {
			return fmt.Errorf("provision: %s: end its stop on purpose: %w", name, err)
		}
	}
	if verb == "start" {
		err = o.Services.Start(ctx, inst.Unit)
	} else {
		err = o.Services.Restart(ctx, inst.Unit)
	}
	if err != nil {
		return explainStart(o.probes(), inst, o.ServiceUser, err)
	}
	return waitOwnHealthy(ctx, o.probes(), inst, o.ServiceUser, 90*time.Second, o.logTail(inst), nil)
}

// FormatStatus renders a status for chat and the terminal.
func FormatStatus(s InstanceStatus, now time.Time) string {
	var b strings.Builder
	i := s.Instance
	fmt.Fprintf(&b, "%s (%s) — %s\n", i.Name, i.Domain, i.State)
	health := "not answering"
	switch {
	case s.Ports != "":
		health = "another user holds its port"
	case s.Healthy:
		health = "healthy"
	}
	fmt.Fprintf(&b, "service  %s: %s/%s, %s\n", i.Unit, s.Service.ActiveState, s.Service.SubState, health)
	if m := i.Maintenance; m.Active(now) {
		line := fmt.Sprintf("🔧 maintenance until %s (%s more), opened by %s", m.Until.UTC().Format("2006-01-02 15:04 UTC"), m.Until.Sub(now).Round(time.Minute), m.By)
		if m.Reason != "" {
			line += ": " + m.Reason
		}
		fmt.Fprintln(&b, line+"; alerts are silenced")
	}
	if i.StoppedBy != "" {
		fmt.Fprintf(&b, "stopped  on purpose by %s at %s: it stays stopped, across reboots too, until start\n", i.StoppedBy, i.StoppedAt.UTC().Format("2006-01-02 15:04 UTC"))
	}
	fmt.Fprintf(&b, "ports    http %d, gevent %d\n", i.Ports.HTTP, i.Ports.Gevent)
	if s.Ports != "" {
		fmt.Fprintf(&b, "⚠ %s\n", s.Ports)
	}
	if s.Service.Running() {
		fmt.Fprintf(&b, "pid      %d, up %s, memory %.1f MiB\n", s.Service.MainPID, s.Uptime(now).Round(time.Second), float64(s.Service.MemoryBytes)/(1<<20))
	}
	return b.String()
}

// logTail is inst's odoo.log, read through Files (nothing without it).
func (o *Operator) logTail(inst Instance) LogTail {
	return LogTail{Path: o.Layout.Paths(inst).Log, Lines: func(ctx context.Context, n int) []string {
		if o.Files == nil {
			return nil
		}
		return o.Files.TailLog(ctx, inst, n)
	}}
}
