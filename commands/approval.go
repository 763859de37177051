package commands

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
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
	run       action
	r         Responder // where the request was asked, told of its expiry
	timer     *time.Timer
}

// approvals holds the pending approvals of a Dispatcher.
type approvals struct {
	mu      sync.Mutex
	pending map[string]*pendingApproval
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
// refused at once, saying so.
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
	if d.approve.pending == nil {
		d.approve.pending = map[string]*pendingApproval{}
	}
	d.approve.pending[code] = p
	// The timer ends the request when nobody decided it: it is audited
	// and the channel told. It runs on its own, after the command's
	// context has ended.
	actx := context.WithoutCancel(ctx)
	p.timer = time.AfterFunc(ttl, func() { d.expireApproval(actx, code, p) })
	d.approve.mu.Unlock()

	who := displayName(req.Identity)
	prompt := fmt.Sprintf("🔐 %s asks to %s. A second admin must approve it before it runs, within %s (until %s): Approve or Deny, or type /odoo approve %s (or /odoo deny %s). %s cannot approve their own request.",
		who, what, ttl, p.expires.UTC().Format("15:04 UTC"), code, code, who)
	if err := r.AskApproval(ctx, prompt, code); err != nil {
		d.dropApproval(code, p)
		return "failed: the approval request could not be posted: " + err.Error(), err
	}
	return fmt.Sprintf("awaiting approval by a second admin (request %s, until %s)", code, p.expires.UTC().Format(time.RFC3339)), nil
}

// dropApproval removes the request code if it is still p, and stops its
// timer; it reports whether it was still pending.
func (d *Dispatcher) dropApproval(code string, p *pendingApproval) bool {
	d.approve.mu.Lock()
	defer d.approve.mu.Unlock()
	if d.approve.pending[code] != p {
		return false
	}
	delete(d.approve.pending, code)
	p.timer.Stop()
	return true
}

// expireApproval ends request code once its time is up, if nobody
// decided it: nothing runs, an audit entry in the requester's name says
// it expired, and the channel is told.
func (d *Dispatcher) expireApproval(ctx context.Context, code string, p *pendingApproval) {
	if !d.dropApproval(code, p) {
		return
	}
	outcome := fmt.Sprintf("expired: no second admin approved %s within %s (request %s); nothing was run", p.what, d.approvalTTL(), code)
	if d.Auditor != nil {
		e := NewAuditEntry(d.now(), Request{Identity: p.requester, Channel: p.channel, Text: p.command}, nil)
		e.Outcome = AuditOutcome(outcome)
		if err := d.Auditor.RecordAudit(ctx, e); err != nil {
			d.logger().Error("audit: the expiry of an approval request could not be recorded", "code", code, "err", err)
		}
	}
	msg := fmt.Sprintf("⌛ the request of %s to %s expired: no second admin approved it within %s. Nothing was run; ask again if it is still needed", displayName(p.requester), p.what, d.approvalTTL())
	if err := p.r.Reply(ctx, msg); err != nil {
		d.logger().Warn("the expiry of an approval request could not be posted", "code", code, "err", err)
	}
}

// decideApproval is approve CODE and deny CODE, from an admin (Decide
// has checked the role) in the channel of the request. An approval by
// the requester is refused and leaves the request open; an approval by
// another admin runs the command as its confirmation would, and the
// requester must still hold the role it needs. A denial, by any admin
// including the requester (who withdraws it), ends the request and runs
// nothing. Each is audited by Handle, with the outcome returned here.
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

	who, asker := displayName(req.Identity), displayName(p.requester)
	asked := fmt.Sprintf("asked by %s (%s) at %s", asker, p.requester.UserID, p.asked.UTC().Format(time.RFC3339))
	if !approve {
		outcome := fmt.Sprintf("denied: %s, %s (request %s); nothing was run", p.what, asked, code)
		return nil, outcome, r.Reply(ctx, fmt.Sprintf("✖ %s denied the request of %s to %s. Nothing was run", who, asker, p.what))
	}
	if role, listed := d.Allowlist.Role(p.requester, p.channel); !listed || !role.Allows(RoleAdmin) {
		msg := fmt.Sprintf("%s no longer holds the role (admin) needed to %s: the request is void, nothing was run", asker, p.what)
		return nil, fmt.Sprintf("refused: the requester's role is now %s (request %s, %s)", role, code, asked), r.Reply(ctx, msg)
	}
	if err := r.Reply(ctx, fmt.Sprintf("✔ %s approved the request of %s to %s: it runs now", who, asker, p.what)); err != nil {
		d.logger().Warn("an approval could not be announced", "code", code, "err", err)
	}
	task, outcome, err := p.run(ctx, r)
	if err != nil {
		outcome, err := d.failed(ctx, r, Command{Verb: VerbApprove}, err)
		return nil, fmt.Sprintf("approved: %s, %s (request %s); %s", p.what, asked, code, outcome), err
	}
	return task, fmt.Sprintf("approved: %s, %s (request %s); %s", p.what, asked, code, outcome), nil
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
