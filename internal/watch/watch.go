package watch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"odoobot/provision"
)

// Checks are the probes of one round, injected so that the decisions can
// be tested without a host; the app wires the real ones.
type Checks struct {
	// Instances lists the instances; only ready ones are checked.
	Instances func(ctx context.Context) ([]provision.Instance, error)
	// Busy reports whether a job (an upgrade, a restore, a backup…) is
	// running on the instance: it may be stopped on purpose, so it is not
	// checked, and its record (failures counted, an alert sent) is kept
	// as it is until the job ends. nil: no instance is ever busy.
	Busy func(ctx context.Context, name string) bool
	// Unit is the state of an instance's systemd unit.
	Unit func(ctx context.Context, unit string) (provision.ServiceStatus, error)
	// Health asks the instance's HTTP port for its health with the
	// database (Odoo 19's /web/health?db_server_status=1); "" when it
	// answered 200, else what went wrong. ProbeHealth is the real one.
	Health func(ctx context.Context, port int) string
	// Ports says who else holds the instance's HTTP or gevent port: ""
	// when no listener there belongs to a user the instance does not run
	// as, else the problem (provision.CheckPortOwners' message). Asked
	// whether the unit runs or not: a neighbour that took a port while
	// the instance was down is caught too. nil skips the check.
	Ports func(inst provision.Instance) string
	// DiskFree is the space free under PROD_ROOT, in bytes; nil skips the
	// disk check.
	DiskFree func() (uint64, error)
	// CertNotAfter is when the instance's certificate expires; the zero
	// time when it has none to check (plain HTTP, a shared certificate),
	// or a problem when its certificate cannot be read. nil skips the
	// certificate check.
	CertNotAfter func(inst provision.Instance) (notAfter time.Time, problem string)
}

// Config configures a Watcher.
type Config struct {
	Interval time.Duration // between two rounds; Run needs it positive
	Policy   Policy
	// DiskFreeMin: the host's check fails below this many free bytes.
	DiskFreeMin uint64
	// CertMin: an instance's check fails when its certificate expires
	// within this (14 days by default in the configuration).
	CertMin time.Duration
	Checks  Checks
	// Post delivers one event (to the alert channels); its error is logged.
	Post func(ctx context.Context, e Event) error
	// AfterRound, when set, is called after each round that was not
	// skipped, after its events were posted, with the keys whose alert
	// is still open (alerted, not recovered, still watched): an alert
	// book repeats those and closes the others.
	AfterRound func(ctx context.Context, now time.Time, alerting map[string]bool)
	Now        func() time.Time // time.Now when nil
	Logger     *slog.Logger     // discarded when nil
}

// Watcher runs the rounds. Hold and Release may be called from any
// goroutine (the dispatcher calls them when an operator stops or starts
// an instance).
type Watcher struct {
	cfg Config
	log *slog.Logger

	round   sync.Mutex // serialises rounds
	mu      sync.Mutex // guards tracker, never held while checking
	tracker *Tracker
	// taken is, for each held instance (stopped on purpose), the port
	// problem alerted for it and when; guarded by round.
	taken map[string]Event
	// verdicts are the last round's results, for Verdict.
	verdicts verdicts
}

// New builds a Watcher.
func New(cfg Config) *Watcher {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Watcher{cfg: cfg, log: cfg.Logger, tracker: NewTracker(cfg.Policy), taken: map[string]Event{}}
}

// Hold stops watching the instance name (stopped on purpose by an
// operator) until Release, but for its ports: another user listening
// on one of them (Checks.Ports) is alerted at once, since nginx still
// sends the instance's users there, and its end is posted as a
// recovery.
func (w *Watcher) Hold(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tracker.Hold(name)
}

// Resume takes the alerts of the open cards as raised (Tracker.Resume):
// serve calls it with what the alert book kept, before the first round.
func (w *Watcher) Resume(open []Open) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, o := range open {
		w.tracker.Resume(o.Key, o.Problem, o.Since, o.Failures)
	}
}

// Release watches the instance name again (started or restarted by an
// operator), from a clean record.
func (w *Watcher) Release(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tracker.Release(name)
}

// Run checks every Interval until ctx ends, the first round one Interval
// after the start (an instance just started by serve's recovery has time
// to come up). It returns nil when ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	if w.cfg.Interval <= 0 {
		return errors.New("watch: the interval must be positive (WATCH_INTERVAL)")
	}
	tick := time.NewTicker(w.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			w.Round(ctx)
		}
	}
}

// Round checks everything once, decides, posts the events and returns
// them. When the instances cannot be listed the round is skipped (and
// logged): nothing is counted for or against anyone.
func (w *Watcher) Round(ctx context.Context) []Event {
	w.round.Lock()
	defer w.round.Unlock()
	results, held, err := w.check(ctx)
	if err != nil {
		w.log.Warn("watch: the round was skipped", "err", err)
		return nil
	}
	now := w.cfg.Now()
	w.verdicts.remember(now, results)
	w.mu.Lock()
	events := w.tracker.Observe(now, results)
	alerting := w.tracker.Alerting()
	w.mu.Unlock()
	events = append(events, w.observeHeld(now, held)...)
	for k := range w.taken {
		alerting[k] = true
	}
	for _, e := range events {
		w.log.Warn("watch: "+string(e.Kind), "instance", e.Key, "problem", e.Problem)
		if w.cfg.Post == nil {
			continue
		}
		if err := w.cfg.Post(ctx, e); err != nil {
			w.log.Error("watch: the event could not be posted", "kind", string(e.Kind), "instance", e.Key, "err", err)
		}
	}
	if w.cfg.AfterRound != nil {
		w.cfg.AfterRound(ctx, now, alerting)
	}
	return events
}

// check runs one round's checks: the host's, and each ready instance's
// at once (a frozen instance takes the health check's whole timeout);
// held are the port checks of the held instances (Hold).
func (w *Watcher) check(ctx context.Context) (results, held []Result, err error) {
	c := w.cfg.Checks
	list, err := c.Instances(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list the instances: %w", err)
	}
	var ready, stopped []provision.Instance
	now := w.cfg.Now()
	w.mu.Lock()
	for _, inst := range list {
		switch {
		case inst.State != provision.StateReady:
		case inst.Maintenance.Active(now):
			// An operator's maintenance window: silenced, its record
			// kept as it was, as while a job runs.
			ready = append(ready, inst)
		case inst.StoppedBy != "" || w.tracker.Held(inst.Name):
			// Stopped on purpose: by this process (Hold), or recorded
			// by any before it (provision.Operator.Stop).
			stopped = append(stopped, inst)
		default:
			ready = append(ready, inst)
		}
	}
	w.mu.Unlock()
	for _, inst := range stopped {
		if c.Ports != nil && (c.Busy == nil || !c.Busy(ctx, inst.Name)) {
			held = append(held, Result{Key: inst.Name, Problem: c.Ports(inst)})
		}
	}
	results = make([]Result, len(ready)+1)
	var wg sync.WaitGroup
	for i, inst := range ready {
		if inst.Maintenance.Active(now) || c.Busy != nil && c.Busy(ctx, inst.Name) {
			results[i] = Result{Key: inst.Name, Skipped: true}
			continue
		}
		wg.Go(func() { results[i] = Result{Key: inst.Name, Problem: w.checkInstance(ctx, inst)} })
	}
	results[len(ready)] = Result{Key: HostKey, Problem: w.checkHost()}
	wg.Wait()
	return results, held, nil
}

// observeHeld turns the port checks of held instances into events: an
// alert at the first round that finds a port taken (no run of failures
// is awaited: nothing else explains another user on it), a recovery at
// the first that finds it free again. An instance no longer held or
// checked is forgotten.
func (w *Watcher) observeHeld(now time.Time, held []Result) []Event {
	var events []Event
	seen := map[string]bool{}
	for _, r := range held {
		seen[r.Key] = true
		was, alerted := w.taken[r.Key]
		switch {
		case r.Problem != "" && !alerted:
			e := Event{Kind: Alerted, Key: r.Key, Problem: r.Problem, Since: now, Failures: 1}
			events = append(events, e)
			w.taken[r.Key] = e
		case r.Problem == "" && alerted:
			events = append(events, Event{Kind: Recovered, Key: r.Key, Problem: was.Problem, Since: was.Since})
			delete(w.taken, r.Key)
		}
	}
	for k := range w.taken {
		if !seen[k] {
			delete(w.taken, k)
		}
	}
	return events
}

// checkHost is the disk check: "" when enough is free.
func (w *Watcher) checkHost() string {
	if w.cfg.Checks.DiskFree == nil {
		return ""
	}
	free, err := w.cfg.Checks.DiskFree()
	if err != nil {
		return "the free disk space under PROD_ROOT could not be read: " + err.Error()
	}
	if free < w.cfg.DiskFreeMin {
		return fmt.Sprintf("only %s free under PROD_ROOT (the alert threshold is %s, WATCH_DISK_FREE_MB)", provision.GiB(free), provision.GiB(w.cfg.DiskFreeMin))
	}
	return ""
}

// checkInstance is one instance's checks, every failure in one line.
func (w *Watcher) checkInstance(ctx context.Context, inst provision.Instance) string {
	c := w.cfg.Checks
	var problems []string
	st, err := c.Unit(ctx, inst.Unit)
	switch {
	case err != nil:
		problems = append(problems, "its unit's state could not be read: "+err.Error())
	case !st.Running():
		problems = append(problems, fmt.Sprintf("its unit %s is %s (%s)", inst.Unit, st.ActiveState, st.SubState))
	}
	if c.Ports != nil {
		if p := c.Ports(inst); p != "" {
			problems = append(problems, p)
		}
	}
	if err == nil && st.Running() {
		if p := c.Health(ctx, inst.Ports.HTTP); p != "" {
			problems = append(problems, "health check: "+p)
		}
	}
	if c.CertNotAfter != nil && inst.SSLMode.TLS() {
		notAfter, p := c.CertNotAfter(inst)
		left := notAfter.Sub(w.cfg.Now())
		switch {
		case p != "":
			problems = append(problems, "certificate: "+p)
		case notAfter.IsZero():
		case left <= 0:
			problems = append(problems, "its certificate expired on "+notAfter.UTC().Format("2006-01-02"))
		case left < w.cfg.CertMin:
			problems = append(problems, fmt.Sprintf("its certificate expires in %d days (%s)", int(left.Hours()/24), notAfter.UTC().Format("2006-01-02")))
		}
	}
	return strings.Join(problems, "; ")
}

// ProbePorts is the real Checks.Ports: provision.CheckPortOwners with the
// host's ports and users (provision/ports, provision/sysusers), and
// serviceUser SERVICE_USER (who an imported instance runs as).
func ProbePorts(ports provision.PortProbe, users provision.Users, serviceUser string) func(inst provision.Instance) string {
	return func(inst provision.Instance) string {
		if err := provision.CheckPortOwners(ports, users, inst, serviceUser); err != nil {
			return err.Error()
		}
		return ""
	}
}

// HealthTimeout bounds one health check.
const HealthTimeout = 10 * time.Second

// ProbeHealth asks http://127.0.0.1:PORT/web/health?db_server_status=1
// (Odoo 19 answers 500 when it cannot reach PostgreSQL): "" on 200,
// else what went wrong, within HealthTimeout.
func ProbeHealth(ctx context.Context, port int) string {
	ctx, cancel := context.WithTimeout(ctx, HealthTimeout)
	defer cancel()
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/web/health?db_server_status=1"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Sprintf("port %d did not answer within %s", port, HealthTimeout)
		}
		return fmt.Sprintf("port %d: %v", port, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("port %d answered %s", port, resp.Status)
	}
	return ""
}
