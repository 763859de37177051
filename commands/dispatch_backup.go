package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"odoobot/provision"
)

// DayTwo runs backup, backups, restore and delete (provision.Service has
// it). Without it, those verbs answer that they are not available on
// this server.
type DayTwo interface {
	Backup(ctx context.Context, req provision.JobRequest) (*provision.Task, error)
	BackupPlaces(ctx context.Context, name string) (provision.BackupListing, error)
	Restore(ctx context.Context, req provision.JobRequest) (*provision.Task, error)
	Delete(ctx context.Context, req provision.JobRequest) (*provision.Task, error)
}

var _ DayTwo = (*provision.Service)(nil)

// backupVerbs runs backup, backups and restore (after a confirmation).
// It returns the backup's task once it is queued (a restore's comes from
// its confirmation).
func (d *Dispatcher) backupVerbs(ctx context.Context, req Request, cmd Command, r Responder) (*provision.Task, string, error) {
	dt := d.DayTwo
	if dt == nil {
		return noTask(d.unavailable(ctx, cmd, r))
	}
	internal := provision.InternalName(cmd.Name)
	who := displayName(req.Identity)
	switch cmd.Verb {
	case VerbBackups:
		listing, err := dt.BackupPlaces(ctx, cmd.Name)
		if err != nil {
			return noTask(d.failed(ctx, r, cmd, err))
		}
		return nil, "ok", r.Reply(ctx, FormatBackups(internal, listing))
	case VerbBackup:
		return d.startJob(ctx, r, fmt.Sprintf("backing up %s, asked by %s", internal, who),
			func(jr provision.JobRequest) (*provision.Task, error) {
				jr.Name, jr.By = cmd.Name, who
				return dt.Backup(ctx, jr)
			},
			func(fctx context.Context, _ *provision.Task, job provision.Job) (string, string) {
				if job.State != provision.JobSucceeded {
					return fmt.Sprintf("❌ backup of %s failed, asked by %s", internal, who), job.Error
				}
				listing, err := dt.BackupPlaces(fctx, cmd.Name)
				if err != nil || len(listing.Backups) == 0 || !listing.Backups[0].Local {
					return fmt.Sprintf("✅ backed up %s, asked by %s", internal, who), "see backups " + cmd.Name
				}
				b := listing.Backups[0]
				return fmt.Sprintf("✅ backed up %s: %s (%s), asked by %s", internal, b.ID, humanSize(b.Size()), who),
					fmt.Sprintf("backup %s in %s%s\n%s", b.ID, b.Dir, offsiteClause(listing, b), formatFiles(b.Manifest))
			})
	}
	// restore: an instance that does not exist is said so, not that it
	// has no such backup (a deleted instance's backups outlive it).
	if msg, err := d.missingInstance(ctx, cmd.Name); err != nil {
		return noTask(d.failed(ctx, r, cmd, err))
	} else if msg != "" {
		return nil, "refused: " + msg, r.Private(ctx, msg)
	}
	if !cmd.At.IsZero() {
		return d.restoreAt(ctx, req, cmd, r)
	}
	listing, err := dt.BackupPlaces(ctx, cmd.Name)
	if err != nil {
		return noTask(d.failed(ctx, r, cmd, err))
	}
	var found *provision.ListedBackup
	for i, b := range listing.Backups {
		if b.ID == cmd.Backup {
			found = &listing.Backups[i]
		}
	}
	if found == nil {
		msg := fmt.Sprintf("%s has no backup %q; see backups %s", internal, cmd.Backup, cmd.Name)
		if listing.OffsiteProblem != "" {
			msg += " (the offsite copies could not be listed: " + listing.OffsiteProblem + ")"
		}
		return nil, "refused: " + msg, r.Private(ctx, msg)
	}
	from := ""
	if !found.Local {
		from = "; it is fetched back from offsite first"
	}
	what := fmt.Sprintf("restore %s from backup %s (a safety backup is taken first; the data since is replaced%s)", internal, cmd.Backup, from)
	return noTask(d.ask(ctx, req, what, r, func(ctx context.Context, r Responder) (*provision.Task, string, error) {
		return d.startJob(ctx, r, fmt.Sprintf("restoring %s from %s, asked by %s", internal, cmd.Backup, who),
			func(jr provision.JobRequest) (*provision.Task, error) {
				jr.Name, jr.Backup, jr.By = cmd.Name, cmd.Backup, who
				return dt.Restore(ctx, jr)
			},
			func(_ context.Context, _ *provision.Task, job provision.Job) (string, string) {
				if job.State != provision.JobSucceeded {
					return fmt.Sprintf("❌ restoring %s from %s failed; it is as it was before, asked by %s", internal, cmd.Backup, who), job.Error
				}
				return fmt.Sprintf("✅ restored %s from %s, asked by %s", internal, cmd.Backup, who), "the service is running and healthy"
			})
	}))
}

// restoreAt asks for a confirmation of restore NAME --at TIME, then
// runs it: the thread ends saying which time the database was restored
// to and whose filestore came with it (the job's summary).
func (d *Dispatcher) restoreAt(ctx context.Context, req Request, cmd Command, r Responder) (*provision.Task, string, error) {
	internal := provision.InternalName(cmd.Name)
	who := displayName(req.Identity)
	when := cmd.At.UTC().Format("2006-01-02 15:04:05") + " UTC"
	what := fmt.Sprintf("restore %s's database as it was at %s, from the WAL archive, with the filestore of its last backup at or before then (a safety backup is taken first; the data since is replaced)", internal, when)
	return noTask(d.ask(ctx, req, what, r, func(ctx context.Context, r Responder) (*provision.Task, string, error) {
		return d.startJob(ctx, r, fmt.Sprintf("restoring %s to %s, asked by %s", internal, when, who),
			func(jr provision.JobRequest) (*provision.Task, error) {
				jr.Name, jr.At, jr.By = cmd.Name, cmd.At, who
				return d.DayTwo.Restore(ctx, jr)
			},
			func(_ context.Context, task *provision.Task, job provision.Job) (string, string) {
				if job.State != provision.JobSucceeded {
					return fmt.Sprintf("❌ restoring %s to %s failed; it is as it was before, asked by %s", internal, when, who), job.Error
				}
				sum := "the service is running and healthy"
				if task != nil && task.Summary() != "" {
					sum = "restored " + task.Summary() + "; the service is running and healthy"
				}
				return fmt.Sprintf("✅ restored %s to %s, asked by %s", internal, when, who), sum
			})
	}))
}

// startJob starts a day-two job and reports it in a thread opened under
// root once the job is accepted: each step's progress, then the final
// text that done makes of the finished job (with its task, which carries
// the instance and its summary). A refusal is returned as an
// error (the caller shows it privately) and opens no thread. The thread
// is finished from the worker that ran the job, before the runner counts
// it as done, so a process that closes its runner has reported it all.
// When the thread cannot be opened, the final text goes to the requester
// privately when the job ends. It returns the job's task once it is
// queued (nil when it was refused), so that a caller may wait for its end.
func (d *Dispatcher) startJob(ctx context.Context, r Responder, root string,
	start func(provision.JobRequest) (*provision.Task, error),
	done func(ctx context.Context, task *provision.Task, job provision.Job) (root, summary string),
) (*provision.Task, string, error) {
	fctx := context.WithoutCancel(ctx)
	var jt *jobThread
	// A failed job's error is said in words (the raw text is logged).
	final := func(job provision.Job) (string, string) {
		return done(fctx, jt.started(), d.withExplainedError(job))
	}
	jt = &jobThread{
		finish: func(th Thread, job provision.Job) {
			root, summary := final(job)
			finishThread(fctx, d.logger(), th, root, summary)
		},
		lost: func(job provision.Job) { d.tellEnd(fctx, r, job, final) },
	}
	task, err := start(provision.JobRequest{
		Subscribe: []provision.Subscriber{jt.event},
		Finished:  jt.finished,
	})
	if err != nil {
		return nil, "refused: " + err.Error(), r.Private(ctx, err.Error())
	}
	jt.setTask(task)
	th, err := r.Thread(ctx, root)
	if err != nil || th == nil {
		if err == nil {
			err = errors.New("no thread")
		}
		d.logger().Error("open thread", "err", err)
		jt.open(nil)
		return task, "accepted (thread failed: " + err.Error() + ")", nil
	}
	jt.open(th)
	if d.Jobs != nil {
		if err := d.Jobs.SetChatRef(ctx, task.Job.ID, th.Ref()); err != nil {
			d.logger().Error("store thread reference", "job", task.Job.ID, "err", err)
		}
	}
	return task, "accepted", nil
}

// noTask is an outcome and error of a verb that started no job.
func noTask(outcome string, err error) (*provision.Task, string, error) {
	return nil, outcome, err
}

// jobThread holds a job's events and end until its thread is open; when
// it could not open, the end goes to lost.
type jobThread struct {
	mu      sync.Mutex
	task    *provision.Task // once the job is queued
	thread  Thread
	orphan  bool // the thread could not be opened
	pending []provision.Event
	final   *provision.Job
	finish  func(Thread, provision.Job)
	lost    func(provision.Job)
}

// setTask keeps the job's task, for its end to read.
func (j *jobThread) setTask(t *provision.Task) {
	j.mu.Lock()
	j.task = t
	j.mu.Unlock()
}

// started is the job's task, nil before it is queued.
func (j *jobThread) started() *provision.Task {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.task
}

func (j *jobThread) event(e provision.Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	switch {
	case j.orphan:
	case j.thread == nil:
		j.pending = queueEvent(j.pending, e)
	default:
		showEvent(context.Background(), j.thread, e)
	}
}

func (j *jobThread) finished(job provision.Job) {
	j.mu.Lock()
	th, orphan := j.thread, j.orphan
	if th == nil && !orphan {
		j.final = &job
	}
	j.mu.Unlock()
	switch {
	case orphan:
		j.lost(job)
	case th != nil:
		j.finish(th, job)
	}
}

// open gives the job its thread, or nil when it could not be opened.
func (j *jobThread) open(th Thread) {
	j.mu.Lock()
	j.thread, j.orphan = th, th == nil
	if th != nil {
		for _, e := range j.pending {
			showEvent(context.Background(), th, e)
		}
	}
	j.pending = nil
	final := j.final
	j.mu.Unlock()
	switch {
	case final == nil:
	case th == nil:
		j.lost(*final)
	default:
		j.finish(th, *final)
	}
}

// FormatBackups renders an instance's backups as a small table, newest
// first: id (a UTC timestamp), size, reason, places (local, offsite) and
// the check of the local copy: "intact, verified <when>" when every
// checksum matched at that time, "DAMAGED: <file>: <why>" when one did
// not (or a file is missing or resized), plain "intact" when only the
// sizes were checked; a backup kept only offsite is checked when it is
// fetched back. A last line says what is known of the offsite copies.
func FormatBackups(internal string, listing provision.BackupListing) string {
	if len(listing.Backups) == 0 {
		msg := "no backups of " + internal + " yet: /odoo backup NAME"
		if listing.OffsiteProblem != "" {
			msg += "\noffsite copies unknown: " + listing.OffsiteProblem
		}
		return msg
	}
	var b strings.Builder
	fmt.Fprintf(&b, "backups of %s (newest first)\n", internal)
	fmt.Fprintf(&b, "%-20s %10s  %-9s %-14s %s\n", "ID", "SIZE", "REASON", "PLACES", "CHECK")
	for _, x := range listing.Backups {
		check, size := "intact (sizes checked)", "-"
		switch {
		case !x.Local:
			check = "checked when fetched back"
		case !x.Intact:
			check = "DAMAGED: " + x.Problem
		case !x.VerifiedAt.IsZero():
			check = "intact, verified " + x.VerifiedAt.UTC().Format("2006-01-02 15:04 UTC")
		}
		if x.Local {
			size = humanSize(x.Size())
		}
		check += drillClause(x.Drill)
		var places []string
		for _, p := range x.Places() {
			places = append(places, string(p))
		}
		fmt.Fprintf(&b, "%-20s %10s  %-9s %-14s %s\n", x.ID, size, x.Reason, strings.Join(places, ","), check)
	}
	switch {
	case !listing.Offsite:
		b.WriteString("offsite: none configured (OFFSITE_REPOSITORY): these backups are on this server only\n")
	case listing.OffsiteProblem != "":
		b.WriteString("offsite copies unknown: " + listing.OffsiteProblem + "\n")
	}
	b.WriteString("(checksums are verified again before a restore; a DAMAGED backup cannot be restored)")
	return b.String()
}

// drillClause says how the backup's latest restore drill ended: "",
// "; restore-tested <when>", or "; RESTORE TEST FAILED <when>: <what>".
func drillClause(d *provision.DrillOutcome) string {
	if d == nil {
		return ""
	}
	when := d.At.UTC().Format("2006-01-02 15:04 UTC")
	if d.OK {
		return "; restore-tested " + when
	}
	why := d.Failed
	if r := []rune(why); len(r) > 160 {
		why = string(r[:160]) + "…"
	}
	return "; RESTORE TEST FAILED " + when + ": " + why
}

// offsiteClause says where the new backup stands offsite.
func offsiteClause(listing provision.BackupListing, b provision.ListedBackup) string {
	switch {
	case !listing.Offsite:
		return ""
	case b.Copy != nil:
		return ", and offsite"
	}
	return "; not yet offsite (the push is tried again in the background)"
}

func formatFiles(m provision.Manifest) string {
	var b strings.Builder
	for _, f := range m.Files {
		fmt.Fprintf(&b, "%-18s %10s  sha256 %s\n", f.Name, humanSize(f.Size), f.SHA256)
	}
	return strings.TrimRight(b.String(), "\n")
}

// humanSize is provision.ByteSize of a size recorded signed.
func humanSize(n int64) string { return provision.ByteSize(uint64(max(n, 0))) }
