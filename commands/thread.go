package commands

import (
	"context"
	"log/slog"

	"odoobot/provision"
)

// PostStepLine is StepLine for a thread that cannot edit a line in
// place: a step's start and end are posted with post, and its progress
// is dropped.
func PostStepLine(ctx context.Context, post func(ctx context.Context, text string) error, kind provision.EventKind, line string) error {
	if kind == provision.EventProgress {
		return nil
	}
	return post(ctx, line)
}

// showEvent shows one job event in th: a step's start, progress and end
// through StepLine, everything else through Post.
func showEvent(ctx context.Context, th Thread, e provision.Event) {
	if e.Kind == provision.EventInfo && e.Message == "" {
		return
	}
	if e.Kind == provision.EventFailed || e.Kind == provision.EventUndoFailed {
		// A step's failure in words: its typed error's hint, else its
		// text (odoobot's own errors, which say what to do); a typed
		// error's raw text stays in the job's events and its log.
		if e.Hint != "" {
			e.Message = e.Hint
		}
	}
	line := provision.FormatEvent(e)
	switch e.Kind {
	case provision.EventStart, provision.EventProgress, provision.EventDone, provision.EventFailed:
		_ = th.StepLine(ctx, e.Step, e.Kind, line)
		return
	}
	_ = th.Post(ctx, line)
}

// queueEvent appends e to events held until a thread opens. A progress
// event replaces the one before it when that is progress of the same
// step, so a slow thread opening does not hold a step's every report.
func queueEvent(events []provision.Event, e provision.Event) []provision.Event {
	if n := len(events); n > 0 && e.Kind == provision.EventProgress {
		last := events[n-1]
		if last.Kind == provision.EventProgress && last.Step == e.Step {
			events[n-1] = e
			return events
		}
	}
	return append(events, e)
}

// finishThread finishes th with root and summary and logs when that
// fails: the job's end is then missing from its thread (the adapters
// retry their own calls before they give up), and the log says so.
func finishThread(ctx context.Context, log *slog.Logger, th Thread, root, summary string) {
	if err := th.Finish(ctx, root, summary); err != nil {
		log.Error("the job's end could not be shown in its thread", "thread", th.Ref(), "root", root, "err", err)
	}
}

// AnswersPrivately reports whether Handle would answer req to its
// requester alone, from the allowlist, the parse and the name rules,
// without running or recording anything: a refusal, a usage error, a
// confirmation prompt (delete, restore, reset-admin), logs not shared,
// a confirmation that would be refused, or a verb not available on this
// server. An adapter that must choose the visibility of its first
// response before the answer exists (Discord's deferral) asks it. False does not promise a public answer:
// a failure found while running is still answered privately.
func (d *Dispatcher) AnswersPrivately(req Request) bool {
	req = cleanRequest(req)
	if len(req.Text) > MaxRequestText {
		return true
	}
	cmd, _, err := Decide(d.Allowlist, req)
	if err != nil || !d.available(cmd.Verb) {
		return true
	}
	switch cmd.Verb {
	case VerbConfirm:
		return d.confirmRefused(req, cmd.Name)
	case VerbApprove, VerbDeny:
		return d.approvalRefused(req, cmd)
	case VerbCreate:
		if cmd.Mode != "" {
			if _, err := provision.ParseSSLMode(cmd.Mode, d.Mode); err != nil {
				return true
			}
		}
	case VerbDelete, VerbRestore, VerbResetAdmin:
		// A request for approval is posted for every admin to see.
		return !d.approvalNeeded(cmd.Verb) || req.Identity.Platform == PlatformShell
	case VerbLogs:
		if !cmd.Share {
			return true
		}
	}
	return cmd.Name != "" && d.Rules.Check(cmd.Name) != nil
}
