package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"odoobot/provision"
)

// Responder is how the dispatcher answers, implemented by each adapter
// (Slack, Discord, the terminal, the CLI). Every path is a method of its
// own: an adapter with no better way for one says so in its method (a
// Failure, a Secret or a PrivateLong shown through Private).
type Responder interface {
	// Reply posts a visible answer where the command was typed.
	Reply(ctx context.Context, text string) error
	// Private answers the requester alone (ephemeral in Slack): refusals,
	// usage errors and denials, which create nothing.
	Private(ctx context.Context, text string) error
	// Failure shows text, what went wrong while running an allowed
	// command and what to do, to the requester alone. It is told apart
	// from a refusal (Private) so that the CLI's exit can say which; the
	// chat adapters show it as Private does.
	Failure(ctx context.Context, text string) error
	// Secret shows text, which holds a secret (a password), to the
	// requester alone: ephemeral in chat, the terminal's output. It may be
	// called after the command's answer, from a job's goroutine, for as
	// long as a job lasts. The text is never logged, and a terminal does
	// not count it as a refusal.
	Secret(ctx context.Context, text string) error
	// Long posts output that may be longer than a message allows (logs):
	// as a file or snippet in chat, as is in a terminal.
	Long(ctx context.Context, title, text string) error
	// PrivateLong shows output that may be longer than a message (logs)
	// to the requester alone.
	PrivateLong(ctx context.Context, title, text string) error
	// PrivateFile gives the requester alone a file named name (an
	// export): in a direct message in Slack, an ephemeral attachment in
	// Discord, its content in a terminal. Nothing of it is logged.
	PrivateFile(ctx context.Context, name, content string) error
	// Attach posts a PNG image named name (a graph), with alt as its
	// text alternative, visibly where the command was typed, after its
	// answer: a file upload in Slack, an attachment in Discord, a file
	// whose path is printed in a terminal.
	Attach(ctx context.Context, name string, png []byte, alt string) error
	// Thread opens a thread under one root message, for a long job.
	Thread(ctx context.Context, root string) (Thread, error)
	// Confirm asks the requester alone to confirm a dangerous command;
	// confirming sends "confirm CODE" as that user (a button in chat, a
	// typed command in the terminal).
	Confirm(ctx context.Context, prompt, code string) error
	// AskApproval posts prompt, a request waiting for a second admin's
	// approval (two-person approval), where every admin of the channel
	// sees it: with an Approve and a Deny button in chat, whose click
	// sends "approve CODE" or "deny CODE" as the one who clicked. An
	// adapter without buttons shows prompt, which says what to type. It
	// returns the posted message's reference (a Slack ts, a Discord
	// message ID), which ApprovalMessages edits once the request is
	// decided; "" where there is none (the terminal).
	AskApproval(ctx context.Context, prompt, code string) (ref string, err error)
}

// Thread is a long job's place in chat: a root message, the progress
// threaded under it, and a final state.
type Thread interface {
	// Post adds a line under the root (a step's start, end, undo).
	Post(ctx context.Context, text string) error
	// StepLine shows line (a provision.FormatEvent line) about step, of
	// the event kind given:
	//   - provision.EventStart adds the step's line;
	//   - provision.EventProgress replaces the step's line in place; a
	//     burst may be coalesced (only the latest need be shown, and
	//     never faster than the platform allows), and progress of a step
	//     that has already ended may be dropped;
	//   - provision.EventDone and provision.EventFailed end the step: the
	//     line replaces the step's progress when progress was shown, and
	//     is added otherwise. It is never dropped.
	// Lines appear in the order given, interleaved with Post's. It
	// returns at once, like Post: delivery happens on the thread's own
	// goroutine, so a slow platform never holds up the job. A thread
	// that cannot edit a line in place posts every kind but progress
	// with Post and drops progress (PostStepLine).
	StepLine(ctx context.Context, step string, kind provision.EventKind, line string) error
	// Finish edits the root to its final text and posts the summary (or
	// the error) in the thread.
	Finish(ctx context.Context, root, summary string) error
	// Ref identifies the thread, stored with the job so that a restart
	// can report in it.
	Ref() map[string]string
}

// AdminPasswords sets the password of an instance's Odoo "admin" user
// (provision.Operator has it).
type AdminPasswords interface {
	// ResetAdminPassword sets a new random password and returns it.
	ResetAdminPassword(ctx context.Context, name string) (string, error)
}

// Creator runs create (provision.Service has it). The task it returns
// carries the reserved instance and, once the job has succeeded, its
// summary.
type Creator interface {
	Create(ctx context.Context, req provision.CreateRequest) (*provision.Task, error)
}

// Reader answers the verbs that read (list, status, info, logs, certs)
// and the lookups other verbs make first (provision.Operator has it).
type Reader interface {
	List(ctx context.Context) ([]provision.Instance, error)
	// Instance returns the recorded instance, or an error matching
	// provision.ErrInstanceNotFound.
	Instance(ctx context.Context, name string) (provision.Instance, error)
	Status(ctx context.Context, name string) (provision.InstanceStatus, error)
	Info(ctx context.Context, name string) (string, error)
	Logs(ctx context.Context, name string, n int) (lines []string, source string, err error)
	// Paths are where an instance's files are (its certificate directory).
	Paths(inst provision.Instance) provision.Paths
}

// Controller runs the service-control verbs: restart, stop, start.
type Controller interface {
	Restart(ctx context.Context, name string) error
	Stop(ctx context.Context, name, by string) error
	Start(ctx context.Context, name string) error
	// SetMaintenance opens a maintenance window of length d on name (0
	// ends the open one), as by asked (provision.Operator.SetMaintenance).
	SetMaintenance(ctx context.Context, name string, d time.Duration, reason, by string) (provision.Maintenance, error)
}

// Operator is the read and control verbs (provision.Operator has both).
type Operator interface {
	Reader
	Controller
}

var _ Operator = (*provision.Operator)(nil)

// Dispatcher decides, audits and runs commands. Every request is audited,
// allowed or not. Refusals go back privately and change nothing.
type Dispatcher struct {
	Allowlist *Allowlist
	// Auditor records every request; nil records nothing (tests).
	Auditor Auditor
	Rules   provision.NameRules
	Mode    provision.SSLMode // when create names none
	// The verbs, one field per family. A verb whose field is nil answers
	// that it is not available on this server, and changes nothing.
	Creator  Creator          // create
	Operator Operator         // list, status, info, logs, certs; restart, stop, start
	DayTwo   DayTwo           // backup, backups, restore, delete
	Cloner   Cloner           // clone
	Upgrader Upgrader         // upgrade
	Capacity CapacityReporter // capacity
	Graphs   Grapher          // the graphs status and capacity attach; nil attaches none
	Admins   AdminPasswords   // reset-admin
	Audits   AuditExporter    // audit
	Drills   Driller          // drill
	// OverviewSources feed overview and Home; nil: overview is not
	// available on this server.
	OverviewSources *OverviewSources
	// Templates lists the template databases (templates); capacity
	// adds a line about them when it is set.
	Templates TemplateLister
	// Jobs, when set, keeps each job's thread reference, so that a
	// restart can report in the thread of a job it interrupted.
	Jobs interface {
		SetChatRef(ctx context.Context, id int64, ref map[string]string) error
	}
	// Summary, when set, renders the final summary of a creation or clone
	// whose task carries none (a test double's); a task's own summary
	// (provision.Task.Summary) comes first. The app leaves it nil.
	Summary func(ctx context.Context, name string) string
	// Watch, when set, is told of an operator's service control: a stop
	// that succeeded holds the instance (the watcher leaves it alone); a
	// start or restart, even one that failed, releases it.
	Watch interface {
		Hold(name string)
		Release(name string)
	}
	// Alerts, when set, keeps the alert cards: ack acknowledges through
	// it, and it is told of service control and maintenance windows.
	Alerts AlertBook
	Logger *slog.Logger
	Now    func() time.Time
	// ApprovalRequired turns on two-person approval: delete, restore and
	// upgrade (NeedsApproval) wait for a second admin's approve instead
	// of their requester's confirmation (see askApproval). Off, nothing
	// changes.
	ApprovalRequired bool
	// ApprovalTTL is how long such a request stays open;
	// DefaultApprovalTTL when 0.
	ApprovalTTL time.Duration
	// Approvals, when set, keeps the open approval requests across a
	// restart (ResumeApprovals reads them back).
	Approvals ApprovalStore
	// ApprovalMessages edit a request's message once it is decided or
	// expired, by platform (PlatformSlack, PlatformDiscord); set before
	// the first request.
	ApprovalMessages map[string]ApprovalMessages

	confirm confirmations
	approve approvals
}

// Handle runs one request. For a request that starts a job (create,
// backup, clone, and the confirmation of a delete, restore or upgrade)
// it returns once the job is queued, with its task (nil otherwise), so
// that a caller may wait for its end: the job's thread is finished
// before the task counts as done. Progress goes to the thread. The error is what the adapter could
// not deliver; the user has already been told about everything else.
//
// The request is cleaned first (valid UTF-8, control characters made
// visible, identity fields bounded), so that what is run is what is
// audited; a text longer than MaxRequestText is refused unrun. Refusals
// and failures shown in chat are cut to 1 KiB.
//
// Every request is audited (see Auditor): a refusal once refused, an
// allowed command before it runs and again with its outcome. When the
// entry of an allowed command cannot be written, the command is not run
// and the requester is told so privately (ErrAuditUnavailable).
func (d *Dispatcher) Handle(ctx context.Context, req Request, r Responder) (*provision.Task, error) {
	now := d.now
	start := now()
	req = cleanRequest(req)
	var cmd Command
	var role Role
	var err error
	if len(req.Text) > MaxRequestText {
		err = &UsageError{Problem: fmt.Sprintf("the command is %d bytes long; at most %d are read", len(req.Text), MaxRequestText)}
	} else {
		cmd, role, err = Decide(d.Allowlist, req)
	}
	entry := NewAuditEntry(start, req, err)
	actx := context.WithoutCancel(ctx)
	refuse := func(err error) (*provision.Task, error) {
		entry.Outcome, entry.Duration = AuditOutcome("refused: "+err.Error()), now().Sub(start)
		if d.Auditor != nil {
			if aerr := d.Auditor.RecordAudit(actx, entry); aerr != nil {
				d.logger().Error("audit: a refusal could not be recorded", "err", aerr)
			}
		}
		return nil, r.Private(ctx, echo(err.Error()))
	}
	if err != nil {
		return refuse(err)
	}
	if cmd.Name != "" && cmd.Verb != VerbCreate && cmd.Verb != VerbConfirm && cmd.Verb != VerbApprove && cmd.Verb != VerbDeny {
		if err := d.Rules.Check(cmd.Name); err != nil {
			return refuse(err)
		}
	}
	// The entry is written before the command runs; without it, the
	// command does not run.
	var auditID int64
	if d.Auditor != nil {
		entry.Outcome = AuditRunning
		id, err := d.Auditor.OpenAudit(actx, entry)
		if err != nil {
			d.logger().Error("audit: the entry could not be written; the command is refused", "verb", string(cmd.Verb), "user", req.Identity.UserID, "err", err)
			return nil, r.Private(ctx, ErrAuditUnavailable.Error())
		}
		auditID = id
	}
	task, outcome, err := d.run(ctx, req, cmd, role, r)
	if d.Auditor != nil {
		if aerr := d.Auditor.CloseAudit(actx, auditID, AuditOutcome(outcome), now().Sub(start)); aerr != nil {
			d.logger().Error("audit: the outcome could not be recorded; the entry says "+AuditRunning, "id", auditID, "err", aerr)
		}
	}
	return task, err
}

// GroupsMatter is the allowlist's GroupsMatter: whether an adapter
// must look up the caller's groups before handing in their request
// from channel.
func (d *Dispatcher) GroupsMatter(id Identity, channel string) bool {
	return d.Allowlist.GroupsMatter(id, channel)
}

func (d *Dispatcher) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Dispatcher) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// run executes an allowed command and returns the audit outcome.
func (d *Dispatcher) run(ctx context.Context, req Request, cmd Command, role Role, r Responder) (*provision.Task, string, error) {
	fail := func(err error) (*provision.Task, string, error) {
		outcome, err := d.failed(ctx, r, cmd, err)
		return nil, outcome, err
	}
	answer := func(text string) (*provision.Task, string, error) {
		return nil, "ok", r.Reply(ctx, text)
	}
	// create checks its mode and name first (create).
	if cmd.Verb != VerbCreate && !d.available(cmd.Verb) {
		return noTask(d.unavailable(ctx, cmd, r))
	}
	op := d.Operator
	var err error
	switch cmd.Verb {
	case VerbHelp:
		return nil, "ok", r.Long(ctx, "", HelpText(role))
	case VerbWhoami:
		return answer(WhoamiText(req.Identity, role, role != RoleNone, d.Allowlist.Elsewhere(req.Identity, req.Channel)))
	case VerbCreate:
		return d.create(ctx, req, cmd, r)
	case VerbConfirm:
		return d.confirmed(ctx, req, cmd.Name, r)
	case VerbApprove, VerbDeny:
		return d.decideApproval(ctx, req, cmd, r)
	case VerbList:
		list, err := op.List(ctx)
		if err != nil {
			return fail(err)
		}
		if len(list) == 0 {
			return answer(FormatList(list))
		}
		return nil, "ok", r.Long(ctx, "", FormatList(list))
	case VerbStatus:
		st, err := op.Status(ctx, cmd.Name)
		if err != nil {
			return fail(err)
		}
		return nil, "ok", d.withGraph(ctx, r, statusGraph(d.Graphs, cmd.Name), provision.FormatStatus(st, d.now()), r.Reply)
	case VerbInfo:
		text, err := op.Info(ctx, cmd.Name)
		if err != nil {
			return fail(err)
		}
		return answer(text)
	case VerbLogs:
		lines, source, err := op.Logs(ctx, cmd.Name, cmd.Lines)
		if err != nil {
			return fail(err)
		}
		title := fmt.Sprintf("last %d lines of %s (%s)", len(lines), cmd.Name, source)
		if cmd.Share {
			return nil, "ok (shared)", r.Long(ctx, title, strings.Join(lines, "\n"))
		}
		return nil, "ok", r.PrivateLong(ctx, title, strings.Join(lines, "\n"))
	case VerbAudit:
		return d.auditVerb(ctx, cmd, r)
	case VerbAck:
		return d.ack(ctx, req, cmd, r)
	case VerbMaintenance:
		who := displayName(req.Identity)
		m, err := op.SetMaintenance(ctx, cmd.Name, cmd.Window, cmd.Reason, who)
		if err != nil {
			return fail(err)
		}
		d.noteAlert(ctx, req, cmd, m.Until, nil)
		if cmd.Window == 0 {
			return answer(fmt.Sprintf("%s: maintenance ended by %s; its alerts are on again", cmd.Name, who))
		}
		text := fmt.Sprintf("%s: maintenance until %s (%s), opened by %s", cmd.Name, m.Until.Format("2006-01-02 15:04 UTC"), cmd.Window, who)
		if m.Reason != "" {
			text += ": " + m.Reason
		}
		return answer(text + "; its alerts are silenced until then (maintenance " + cmd.Name + " off ends it)")
	case VerbRestart, VerbStop, VerbStart:
		switch cmd.Verb {
		case VerbRestart:
			err = op.Restart(ctx, cmd.Name)
		case VerbStop:
			err = op.Stop(ctx, cmd.Name, displayName(req.Identity))
		default:
			err = op.Start(ctx, cmd.Name)
		}
		// An instance an operator started is meant to run, even when it
		// failed to come up: the watcher watches it again. One stopped on
		// purpose is left alone.
		switch {
		case d.Watch == nil:
		case cmd.Verb != VerbStop:
			d.Watch.Release(cmd.Name)
		case err == nil:
			d.Watch.Hold(cmd.Name)
		}
		d.noteAlert(ctx, req, cmd, time.Time{}, err)
		if err != nil {
			return fail(err)
		}
		past := map[Verb]string{VerbRestart: "restarted", VerbStop: "stopped", VerbStart: "started"}[cmd.Verb]
		if cmd.Verb == VerbStop {
			past += " on purpose" // it stays stopped until start: see provision.Operator.Stop
			return answer(fmt.Sprintf("%s %s by %s: it stays stopped, across reboots and odoobot's restarts, until start %s", cmd.Name, past, displayName(req.Identity), cmd.Name))
		}
		return answer(fmt.Sprintf("%s %s by %s", cmd.Name, past, displayName(req.Identity)))
	}
	var outcome string
	switch cmd.Verb {
	case VerbBackup, VerbBackups, VerbRestore:
		return d.backupVerbs(ctx, req, cmd, r)
	case VerbDrill:
		return d.drillVerb(ctx, req, cmd, r)
	case VerbClone:
		return d.cloneVerb(ctx, req, cmd, r)
	case VerbDelete:
		outcome, err = d.deleteVerb(ctx, req, cmd, r)
	case VerbUpgrade:
		outcome, err = d.upgradeVerb(ctx, req, cmd, r)
	case VerbResetAdmin:
		outcome, err = d.resetAdminVerb(ctx, req, cmd, r)
	case VerbCapacity:
		outcome, err = d.capacityVerb(ctx, req, cmd, r)
	case VerbCerts:
		outcome, err = d.certsVerb(ctx, req, cmd, r)
	case VerbOverview:
		outcome, err = d.overviewVerb(ctx, cmd, r)
	case VerbTemplates:
		outcome, err = d.templatesVerb(ctx, cmd, r)
	default:
		outcome, err = d.unavailable(ctx, cmd, r)
	}
	return nil, outcome, err
}

// create checks and reserves synchronously (a refusal is private and
// leaves nothing), then opens the thread and lets the job report in it.
func (d *Dispatcher) create(ctx context.Context, req Request, cmd Command, r Responder) (*provision.Task, string, error) {
	mode := d.Mode
	if cmd.Mode != "" {
		m, err := provision.ParseSSLMode(cmd.Mode, d.Mode)
		if err != nil {
			return nil, "refused: " + err.Error(), r.Private(ctx, echo(err.Error()))
		}
		mode = m
	}
	if err := d.Rules.Check(cmd.Name); err != nil {
		return nil, "refused: " + err.Error(), r.Private(ctx, echo(err.Error()))
	}
	if !d.available(VerbCreate) {
		return noTask(d.unavailable(ctx, cmd, r))
	}
	domain := d.Rules.Domain(cmd.Name)
	who := displayName(req.Identity)
	root := fmt.Sprintf("creating %s → %s (%s), asked by %s", provision.InternalName(cmd.Name), domain, mode, who)

	var created struct {
		sync.Mutex
		task *provision.Task // set once Create returns
	}
	fctx := context.WithoutCancel(ctx)
	url := scheme(mode) + "://" + domain
	final := func(job provision.Job) (string, string) {
		if job.State == provision.JobSucceeded {
			created.Lock()
			t := created.task
			created.Unlock()
			return fmt.Sprintf("✅ created %s → %s://%s, asked by %s", provision.InternalName(cmd.Name), scheme(mode), domain, who), d.summary(fctx, t, cmd.Name)
		}
		return fmt.Sprintf("❌ creating %s failed and was rolled back, asked by %s", provision.InternalName(cmd.Name), who), d.jobFailure(job)
	}
	// The thread opens only once the creation is accepted; events, and
	// the end of the job, that arrive before it is open wait in order
	// (jobThread). When it cannot open, the end goes to the requester
	// privately.
	jt := &jobThread{
		finish: func(th Thread, job provision.Job) {
			root, summary := final(job)
			finishThread(fctx, d.logger(), th, root, summary)
		},
		lost: func(job provision.Job) { d.tellEnd(fctx, r, job, final) },
	}
	// Where to say that the password could not be shown: the thread.
	inThread := func(ctx context.Context, text string) error {
		jt.mu.Lock()
		th := jt.thread
		jt.mu.Unlock()
		if th == nil {
			return errors.New("no thread")
		}
		return th.Post(ctx, text)
	}
	// The password waits, like the events, until the thread is open (or
	// failed to open), so that it follows the thread's root.
	var mu sync.Mutex
	var opened bool
	var password string
	reveal := func(ctx context.Context, pw string) {
		mu.Lock()
		if !opened {
			password = pw
			mu.Unlock()
			return
		}
		mu.Unlock()
		d.revealAdmin(ctx, r, cmd.Name, url, pw, "created", who, inThread)
	}
	held := func() string {
		mu.Lock()
		defer mu.Unlock()
		opened = true
		pw := password
		password = ""
		return pw
	}
	task, err := d.Creator.Create(ctx, provision.CreateRequest{
		Name: cmd.Name, Mode: mode, By: who,
		Subscribe:   []provision.Subscriber{jt.event},
		Finished:    jt.finished,
		RevealAdmin: reveal,
	})
	if err != nil {
		if mistake(err) {
			d.logger().Info("create refused", "instance", cmd.Name, "err", err)
		} else {
			d.logger().Error("create failed", "instance", cmd.Name, "err", err)
		}
		return nil, "refused: " + err.Error(), r.Private(ctx, echo(ExplainFor(err, cmd.Name)))
	}
	created.Lock()
	created.task = task
	created.Unlock()
	th, err := r.Thread(ctx, root)
	if err == nil && th == nil {
		err = errors.New("no thread")
	}
	if err != nil {
		d.logger().Error("open thread", "err", err)
		if pw := held(); pw != "" {
			d.revealAdmin(fctx, r, cmd.Name, url, pw, "created", who, nil)
		}
		jt.open(nil)
		return task, "accepted (thread failed: " + err.Error() + ")", err
	}
	if d.Jobs != nil {
		if err := d.Jobs.SetChatRef(ctx, task.Job.ID, th.Ref()); err != nil {
			d.logger().Error("store thread reference", "job", task.Job.ID, "err", err)
		}
	}
	jt.open(th)
	if pw := held(); pw != "" {
		d.revealAdmin(fctx, r, cmd.Name, url, pw, "created", who, inThread)
	}
	return task, "accepted", nil
}

// tellEnd tells the requester alone how a job whose thread could not be
// opened ended: its final text and summary, from final. It may run long
// after the command's answer, from the job's goroutine. A failure is
// logged.
func (d *Dispatcher) tellEnd(ctx context.Context, r Responder, job provision.Job, final func(provision.Job) (string, string)) {
	root, summary := final(job)
	text := root
	if strings.TrimSpace(summary) != "" {
		text += "\n" + summary
	}
	if err := r.Private(ctx, text); err != nil {
		d.logger().Error("the end of a job whose thread could not be opened could not be told to its requester", "job", job.ID, "instance", job.Instance, "err", err)
	}
}

// summary is the summary of the instance a succeeded job made: its
// task's, else Summary's, else where to find it.
func (d *Dispatcher) summary(ctx context.Context, task *provision.Task, name string) string {
	if task != nil {
		if s := task.Summary(); s != "" {
			return s
		}
	}
	if d.Summary != nil {
		return d.Summary(ctx, name)
	}
	return "see info " + name
}

// FormatList renders the instances as a small table: name, domain,
// state, ports, SSL mode and the release each runs (its commit's first 12
// hex digits, "unknown" for one that records none). An instance imported
// from API-DEV that still runs on odoobot's own database role is marked,
// and a last line says how many there are and how to end it.
func FormatList(list []provision.Instance) string {
	if len(list) == 0 {
		return "no instances yet: /odoo create NAME"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-20s %-32s %-9s %-6s %-6s %-11s %s\n", "NAME", "DOMAIN", "STATE", "HTTP", "GEVENT", "SSL", "RELEASE")
	shared := 0
	for _, i := range list {
		line := fmt.Sprintf("%-20s %-32s %-9s %-6d %-6d %-11s %s", i.Name, i.Domain, i.State, i.Ports.HTTP, i.Ports.Gevent, i.SSLMode, i.Release.ShortCommit())
		if i.StagingOf != "" {
			line += "  staging of " + i.StagingOf
		}
		if i.DBRole == "" {
			line += "  on odoobot's role"
			shared++
		}
		b.WriteString(line + "\n")
	}
	if shared > 0 {
		what := "instances are"
		if shared == 1 {
			what = "instance is"
		}
		fmt.Fprintf(&b, "%d imported %s still on odoobot's own database role, holding its password: `odoobot isolate NAME --yes` gives each a role of its own\n", shared, what)
	}
	return strings.TrimRight(b.String(), "\n")
}

func displayName(id Identity) string {
	if id.UserName != "" {
		return id.UserName
	}
	return id.UserID
}

func scheme(m provision.SSLMode) string {
	if m.TLS() {
		return "https"
	}
	return "http"
}

// available reports whether the family of verb is wired (its field is
// set); help, whoami and confirm always are.
func (d *Dispatcher) available(verb Verb) bool {
	switch verb {
	case VerbCreate:
		return d.Creator != nil
	case VerbList, VerbStatus, VerbInfo, VerbLogs, VerbCerts, VerbRestart, VerbStop, VerbStart, VerbMaintenance:
		return d.Operator != nil
	case VerbBackup, VerbBackups, VerbRestore, VerbDelete:
		return d.DayTwo != nil
	case VerbClone:
		return d.Cloner != nil
	case VerbUpgrade:
		return d.Upgrader != nil
	case VerbCapacity:
		return d.Capacity != nil
	case VerbResetAdmin:
		return d.Admins != nil
	case VerbAudit:
		return d.Audits != nil
	case VerbDrill:
		return d.Drills != nil
	case VerbTemplates:
		return d.Templates != nil
	case VerbAck:
		return d.Alerts != nil
	case VerbOverview:
		return d.OverviewSources != nil
	}
	return true
}

// unavailable tells the user a verb is not wired on this server.
func (d *Dispatcher) unavailable(ctx context.Context, cmd Command, r Responder) (string, error) {
	msg := fmt.Sprintf("%s is not available on this server yet", cmd.Verb)
	return "failed: " + msg, r.Private(ctx, msg)
}
