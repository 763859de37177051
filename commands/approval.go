package commands

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"odoobot/provision"
)

// DefaultApprovalTTL is how long a request waiting for a second admin's
// approval stays open when Dispatcher.ApprovalTTL is not set.
const DefaultApprovalTTL = 30 * time.Minute

// NeedsApproval reports whether verb waits for a second admin's approval
// when two-person approval is on: delete, restore (whatever its
// arguments or flags) and upgrade.
func NeedsApproval(verb Verb) bool {
	switch verb {
	case VerbDelete, VerbRestore, VerbUpgrade:
		return true
	}
	return false
}

// pendingApproval is a dangerous command asked for by one admin, waiting
// for another's approval: bound to the requester, the channel and a
// deadline; decided once.
type pendingApproval struct {
	requester Identity
	channel   string
	command   string // the request's text, as its audit entry has it
	what      string
	asked     time.Time
	expires   time.Time
	// ref is the request's message (a Slack ts, a Discord message ID),
	// edited once it is decided or expired; "" when unknown.
	ref string
	// run is what an approval runs; nil for a request kept across a
	// restart, whose command is parsed and run again (replay).
	run   action
	r     Responder // where the request was asked; nil after a restart
	timer *time.Timer
}

// approvals holds the pending approvals of a Dispatcher.
type approvals struct {
	mu      sync.Mutex
	pending map[string]*pendingApproval
}

// ApprovalStore keeps the open approval requests, so that a restart of
// serve loses none (provision/postgres.Store has it). A record is JSON
// written by the Dispatcher: the command as typed, the requester, where
// it was asked, its message and its expiry; never a secret.
type ApprovalStore interface {
	SaveApproval(ctx context.Context, code string, expires time.Time, request []byte) error
	DeleteApproval(ctx context.Context, code string) error
	Approvals(ctx context.Context) (map[string][]byte, error)
}

// ApprovalMessages edits, on one chat platform, the message of an
// approval request once it is decided or expired: its text becomes text
// and its buttons go. It uses the bot's own credentials (not an
// interaction's, which expire), so it works after a restart.
type ApprovalMessages interface {
	SettleApproval(ctx context.Context, channel, ref, text string) error
}

// keptApproval is the record of a pending approval in an ApprovalStore.
type keptApproval struct {
	Platform      string    `json:"platform"`
	UserID        string    `json:"user_id"`
	UserName      string    `json:"user_name"`
	Groups        []string  `json:"groups,omitempty"`
	GroupsUnknown bool      `json:"groups_unknown,omitempty"`
	Channel       string    `json:"channel"`
	Ref           string    `json:"ref,omitempty"`
	Command       string    `json:"command"`
	What          string    `json:"what"`
	Asked         time.Time `json:"asked"`
	Expires       time.Time `json:"expires"`
}

// approvalCode is what an approval code looks like (16 hex digits); the
// adapters check a button's value with ApprovalButton.
var approvalCode = regexp.MustCompile(`^[0-9a-f]{16}$`)

// ApprovalButton checks what an Approve or Deny button carries, a code,
// and returns the command a click sends: "approve CODE" (approve true)
// or "deny CODE". A value that is no approval code is refused, unread.
func ApprovalButton(approve bool, code string) (string, error) {
	if !approvalCode.MatchString(code) {
		return "", fmt.Errorf("commands: %q is not an approval button's code", clipValue(code))
	}
	if approve {
		return string(VerbApprove) + " " + code, nil
	}
	return string(VerbDeny) + " " + code, nil
}

func (d *Dispatcher) approvalTTL() time.Duration {
	if d.ApprovalTTL > 0 {
		return d.ApprovalTTL
	}
	return DefaultApprovalTTL
}

// approvalNeeded reports whether req, whose verb is verb, must wait for a
// second admin's approval.
func (d *Dispatcher) approvalNeeded(verb Verb) bool {
	return d.ApprovalRequired && NeedsApproval(verb)
}

// askApproval records run as a request of req's sender and posts it in
// the channel for another admin to approve (Responder.AskApproval).
// Nothing runs until then. The terminal and the command line have one
// user, who could never be approved by another: there the request is
// refused at once, saying so. With an ApprovalStore the request is kept
// there too, so that a restart loses it not; a request it cannot keep is
// still asked, and lasts as long as the process.
func (d *Dispatcher) askApproval(ctx context.Context, req Request, what string, r Responder, run action) (string, error) {
	if req.Identity.Platform == PlatformShell {
		msg := fmt.Sprintf("%s needs a second admin's approval on this server (APPROVAL_REQUIRED), and the terminal has one user, who cannot approve their own request: ask for it in Slack or Discord, where another admin can approve it. Nothing was changed", what)
		return "refused: two-person approval is on; the terminal has no second admin", r.Private(ctx, msg)
	}
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	code := hex.EncodeToString(b)
	now, ttl := d.now(), d.approvalTTL()
	p := &pendingApproval{
		requester: req.Identity, channel: req.Channel, command: cut(Redact(req.Text), maxAuditText),
		what: what, asked: now, expires: now.Add(ttl), run: run, r: r,
	}
	d.approve.mu.Lock()
	d.schedule(ctx, code, p, ttl)
	d.approve.mu.Unlock()

	who := displayName(req.Identity)
	prompt := fmt.Sprintf("🔐 %s asks to %s. A second admin must approve it before it runs, within %s (until %s): Approve or Deny, or type /odoo approve %s (or /odoo deny %s). %s cannot approve their own request.",
		who, what, ttl, p.expires.UTC().Format("15:04 UTC"), code, code, who)
	ref, err := r.AskApproval(ctx, prompt, code)
	if err != nil {
		d.dropApproval(ctx, code, p)
		return "failed: the approval request could not be posted: " + err.Error(), err
	}
	// Kept only when its text is exactly what was typed: a command
	// holding something Redact hides is never written down. It is kept
	// under the lock, and only while still pending, so that a decision
	// as quick as the post is never followed by a record of it.
	d.approve.mu.Lock()
	p.ref = ref
	if d.Approvals != nil && p.command == req.Text && d.approve.pending[code] == p {
		if err := d.keep(ctx, code, p); err != nil {
			d.logger().Error("approval: the request could not be kept; it is lost if odoobot restarts before it is decided", "code", code, "err", err)
		}
	}
	d.approve.mu.Unlock()
	return fmt.Sprintf("awaiting approval by a second admin (request %s, until %s)", code, p.expires.UTC().Format(time.RFC3339)), nil
}

// schedule records p as request code, ending in ttl. Called with
// d.approve.mu held.
func (d *Dispatcher) schedule(ctx context.Context, code string, p *pendingApproval, ttl time.Duration) {
	if d.approve.pending == nil {
		d.approve.pending = map[string]*pendingApproval{}
	}
	d.approve.pending[code] = p
	// The timer ends the request when nobody decided it: it is audited
	// and the channel told. It runs on its own, after the command's
	// context has ended.
	actx := context.WithoutCancel(ctx)
	p.timer = time.AfterFunc(max(ttl, 0), func() { d.expireApproval(actx, code, p) })
}

// keep writes request code to the ApprovalStore. Called with
// d.approve.mu held.
func (d *Dispatcher) keep(ctx context.Context, code string, p *pendingApproval) error {
	rec, err := json.Marshal(keptApproval{
		Platform: p.requester.Platform, UserID: p.requester.UserID, UserName: p.requester.UserName,
		Groups: p.requester.Groups, GroupsUnknown: p.requester.GroupsUnknown,
		Channel: p.channel, Ref: p.ref, Command: p.command, What: p.what, Asked: p.asked, Expires: p.expires,
	})
	if err != nil {
		return fmt.Errorf("commands: keep approval request %s: %w", code, err)
	}
	return d.Approvals.SaveApproval(context.WithoutCancel(ctx), code, p.expires, rec)
}

// forget deletes request code from the ApprovalStore, logging a failure
// (the request is decided all the same: a restart would find it and
// settle it as expired, or let it be decided once more).
func (d *Dispatcher) forget(ctx context.Context, code string) {
	if d.Approvals == nil {
		return
	}
	if err := d.Approvals.DeleteApproval(context.WithoutCancel(ctx), code); err != nil {
		d.logger().Error("approval: a decided request could not be forgotten in the state database", "code", code, "err", err)
	}
}

// ResumeApprovals reads back the requests kept by a previous run (serve
// calls it once, before its adapters take requests): each still open is
// pending again until its expiry, decided as if the process had never
// stopped, its command parsed and run again on approval; each expired
// is audited as expired, its message edited to say so, and forgotten.
// It returns how many are pending again.
func (d *Dispatcher) ResumeApprovals(ctx context.Context) (int, error) {
	if d.Approvals == nil {
		return 0, nil
	}
	recs, err := d.Approvals.Approvals(ctx)
	if err != nil {
		return 0, fmt.Errorf("commands: resume approval requests: %w", err)
	}
	n := 0
	now := d.now()
	for code, rec := range recs {
		var k keptApproval
		if err := json.Unmarshal(rec, &k); err != nil || !approvalCode.MatchString(code) {
			d.logger().Error("approval: a kept request cannot be read; it is dropped", "code", clipValue(code), "err", err)
			d.forget(ctx, code)
			continue
		}
		p := &pendingApproval{
			requester: Identity{Platform: k.Platform, UserID: k.UserID, UserName: k.UserName, Groups: k.Groups, GroupsUnknown: k.GroupsUnknown},
			channel:   k.Channel, command: k.Command, what: k.What, asked: k.Asked, expires: k.Expires, ref: k.Ref,
		}
		d.approve.mu.Lock()
		if _, dup := d.approve.pending[code]; dup {
			d.approve.mu.Unlock()
			continue
		}
		d.schedule(ctx, code, p, p.expires.Sub(now))
		d.approve.mu.Unlock()
		if now.Before(p.expires) {
			n++
		}
	}
	return n, nil
}

// dropApproval removes the request code if it is still p, stops its
// timer and forgets it in the store; it reports whether it was still
// pending.
func (d *Dispatcher) dropApproval(ctx context.Context, code string, p *pendingApproval) bool {
	d.approve.mu.Lock()
	if d.approve.pending[code] != p {
		d.approve.mu.Unlock()
		return false
	}
	delete(d.approve.pending, code)
	p.timer.Stop()
	d.approve.mu.Unlock()
	d.forget(ctx, code)
	return true
}

// settle edits the message of request p to text, without its buttons,
// where the adapter can (ApprovalMessages); it reports whether it did.
func (d *Dispatcher) settle(ctx context.Context, code string, p *pendingApproval, text string) bool {
	d.approve.mu.Lock()
	ref := p.ref
	d.approve.mu.Unlock()
	m := d.ApprovalMessages[p.requester.Platform]
	if m == nil || ref == "" {
		return false
	}
	if err := m.SettleApproval(context.WithoutCancel(ctx), p.channel, ref, text); err != nil {
		d.logger().Warn("approval: the request's message could not be edited", "code", code, "err", err)
		return false
	}
	return true
}

// expireApproval ends request code once its time is up, if nobody
// decided it: nothing runs, an audit entry in the requester's name says
// it expired, the request's message says so without its buttons, and
// the channel is told in its thread (by the Responder of the request;
// after a restart, or once a Discord interaction's token has expired,
// the edited message is what tells it).
func (d *Dispatcher) expireApproval(ctx context.Context, code string, p *pendingApproval) {
	if !d.dropApproval(ctx, code, p) {
		return
	}
	ttl := p.expires.Sub(p.asked)
	outcome := fmt.Sprintf("expired: no second admin approved %s within %s (request %s); nothing was run", p.what, ttl, code)
	if d.Auditor != nil {
		e := NewAuditEntry(d.now(), Request{Identity: p.requester, Channel: p.channel, Text: p.command}, nil)
		e.Outcome = AuditOutcome(outcome)
		if err := d.Auditor.RecordAudit(ctx, e); err != nil {
			d.logger().Error("audit: the expiry of an approval request could not be recorded", "code", code, "err", err)
		}
	}
	msg := fmt.Sprintf("⌛ the request of %s to %s expired: no second admin approved it within %s. Nothing was run; ask again if it is still needed", displayName(p.requester), p.what, ttl)
	edited := d.settle(ctx, code, p, fmt.Sprintf("%s (request %s, asked at %s, expired at %s)", msg, code, p.asked.UTC().Format("15:04 UTC"), p.expires.UTC().Format("15:04 UTC")))
	if p.r == nil {
		return
	}
	if err := p.r.Reply(ctx, msg); err != nil {
		level := slog.LevelWarn
		if edited {
			level = slog.LevelDebug
		}
		d.logger().Log(ctx, level, "the expiry of an approval request could not be posted", "code", code, "message_edited", edited, "err", err)
	}
}

// decideApproval is approve CODE and deny CODE, from an admin (Decide
// has checked the role) in the channel of the request. An approval by
// the requester is refused and leaves the request open; an approval by
// another admin runs the command as its confirmation would, and the
// requester must still hold the role it needs. A denial, by any admin
// including the requester (who withdraws it), ends the request and runs
// nothing. The request's message then says who decided what and when,
// without its buttons. Each is audited by Handle, with the outcome
// returned here. A request kept across a restart runs its command
// parsed again, as its requester, through the verb's own checks.
func (d *Dispatcher) decideApproval(ctx context.Context, req Request, cmd Command, r Responder) (*provision.Task, string, error) {
	code, approve := cmd.Name, cmd.Verb == VerbApprove
	d.approve.mu.Lock()
	p, ok := d.approve.pending[code]
	switch {
	case !ok:
		d.approve.mu.Unlock()
		return nil, "refused: unknown request", r.Private(ctx, "that request is unknown, expired or already decided: see the channel; the requester may ask again")
	case p.requester.Platform != req.Identity.Platform || p.channel != req.Channel:
		d.approve.mu.Unlock()
		return nil, "refused: another channel", r.Private(ctx, fmt.Sprintf("the request to %s is decided in the channel where it was asked", p.what))
	case d.now().After(p.expires):
		d.approve.mu.Unlock()
		d.expireApproval(context.WithoutCancel(ctx), code, p)
		return nil, "refused: expired", r.Private(ctx, fmt.Sprintf("the request to %s expired: nothing was run", p.what))
	case approve && p.requester.UserID == req.Identity.UserID:
		d.approve.mu.Unlock()
		msg := fmt.Sprintf("you asked to %s: a second admin must approve it, not you. It stays open until %s; /odoo deny %s withdraws it", p.what, p.expires.UTC().Format("15:04 UTC"), code)
		return nil, "refused: the requester cannot approve their own request", r.Private(ctx, msg)
	}
	delete(d.approve.pending, code)
	p.timer.Stop()
	d.approve.mu.Unlock()
	d.forget(ctx, code)

	who, asker := displayName(req.Identity), displayName(p.requester)
	asked := fmt.Sprintf("asked by %s (%s) at %s", asker, p.requester.UserID, p.asked.UTC().Format(time.RFC3339))
	at := d.now().UTC().Format("15:04 UTC")
	if !approve {
		d.settle(ctx, code, p, fmt.Sprintf("✖ %s denied at %s the request of %s to %s (request %s). Nothing was run", who, at, asker, p.what, code))
		outcome := fmt.Sprintf("denied: %s, %s (request %s); nothing was run", p.what, asked, code)
		return nil, outcome, r.Reply(ctx, fmt.Sprintf("✖ %s denied the request of %s to %s. Nothing was run", who, asker, p.what))
	}
	role, listed := d.Allowlist.Role(p.requester, p.channel)
	if !listed || !role.Allows(RoleAdmin) {
		d.settle(ctx, code, p, fmt.Sprintf("✖ %s approved at %s the request of %s to %s (request %s), but %s no longer holds the role (admin) it needs: void, nothing was run", who, at, asker, p.what, code, asker))
		msg := fmt.Sprintf("%s no longer holds the role (admin) needed to %s: the request is void, nothing was run", asker, p.what)
		return nil, fmt.Sprintf("refused: the requester's role is now %s (request %s, %s)", role, code, asked), r.Reply(ctx, msg)
	}
	d.settle(ctx, code, p, fmt.Sprintf("✔ %s approved at %s the request of %s to %s (request %s): it runs now, see its thread", who, at, asker, p.what, code))
	if err := r.Reply(ctx, fmt.Sprintf("✔ %s approved the request of %s to %s: it runs now", who, asker, p.what)); err != nil {
		d.logger().Warn("an approval could not be announced", "code", code, "err", err)
	}
	run := p.run
	if run == nil {
		run = d.replay(p, role)
	}
	task, outcome, err := run(ctx, r)
	if err != nil {
		outcome, err := d.failed(ctx, r, Command{Verb: VerbApprove}, err)
		return nil, fmt.Sprintf("approved: %s, %s (request %s); %s", p.what, asked, code, outcome), err
	}
	return task, fmt.Sprintf("approved: %s, %s (request %s); %s", p.what, asked, code, outcome), nil
}

// replayKey marks the context of a replayed request (replay): askFor
// hands back the action it would have asked about instead of asking.
type replayKey struct{}

// replayed is what askFor hands back to replay.
type replayed struct{ run action }

// replay is the action of request p kept across a restart: its command
// parsed again and run as its requester (with role, checked at the
// decision), through the verb's own checks (the instance must still
// exist, and so on); where the verb would ask for approval, the action
// it asks about runs at once, since it was approved.
func (d *Dispatcher) replay(p *pendingApproval, role Role) action {
	return func(ctx context.Context, r Responder) (*provision.Task, string, error) {
		cmd, err := Parse(p.command)
		if err == nil && !NeedsApproval(cmd.Verb) {
			err = fmt.Errorf("%s does not wait for approval", cmd.Verb)
		}
		if err == nil && cmd.Name != "" {
			err = d.Rules.Check(cmd.Name)
		}
		if err != nil {
			return nil, "refused: the kept request does not parse: " + err.Error(), r.Reply(ctx, fmt.Sprintf("the request to %s cannot be run (%s): nothing was run; ask again", p.what, err))
		}
		rp := &replayed{}
		req := Request{Identity: p.requester, Channel: p.channel, Text: p.command}
		task, outcome, err := d.run(context.WithValue(ctx, replayKey{}, rp), req, cmd, role, r)
		if rp.run == nil || err != nil {
			return task, outcome, err
		}
		return rp.run(ctx, r)
	}
}

// approvalRefused reports whether approve/deny CODE from req would be
// refused (unknown, decided, another channel, expired, or the
// requester's own approval), without deciding it.
func (d *Dispatcher) approvalRefused(req Request, cmd Command) bool {
	d.approve.mu.Lock()
	defer d.approve.mu.Unlock()
	p, ok := d.approve.pending[cmd.Name]
	return !ok || p.requester.Platform != req.Identity.Platform || p.channel != req.Channel ||
		d.now().After(p.expires) || (cmd.Verb == VerbApprove && p.requester.UserID == req.Identity.UserID)
}

// awaitsApproval reports whether code is a request waiting for approval.
func (d *Dispatcher) awaitsApproval(code string) bool {
	d.approve.mu.Lock()
	defer d.approve.mu.Unlock()
	_, ok := d.approve.pending[code]
	return ok
}
