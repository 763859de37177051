package commands

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"odoobot/provision"
)

// ConfirmTTL is how long a confirmation stays valid.
const ConfirmTTL = 5 * time.Minute

// pendingAction is a dangerous command waiting for its requester's
// confirmation: bound to who asked, where, and until when; used once.
type pendingAction struct {
	platform, userID, channel string
	what                      string
	need                      Role // the role the command needs, checked again at confirmation
	expires                   time.Time
	run                       action
}

// action is what a confirmation runs: the job it started (nil when it
// started none), the audit outcome, and what could not be delivered.
type action func(ctx context.Context, r Responder) (*provision.Task, string, error)

// confirmations holds the pending actions of a Dispatcher.
type confirmations struct {
	mu      sync.Mutex
	pending map[string]pendingAction
}

// ask records action and asks the requester, through the adapter, to
// confirm it with the returned code: danger buttons in Slack and Discord,
// "/odoo confirm CODE" in the terminal. The confirmation runs action only
// if the requester still holds the role verb needs, in that channel.
func (d *Dispatcher) ask(ctx context.Context, req Request, what string, r Responder, run action) (string, error) {
	return d.askFor(ctx, req, RoleAdmin, what, r, run)
}

func (d *Dispatcher) askFor(ctx context.Context, req Request, need Role, what string, r Responder, run action) (string, error) {
	// With two-person approval on, a verb that needs it waits for a
	// second admin instead of its requester's confirmation (approval.go).
	// A request approved before a restart, run again (replay): its
	// action runs once askFor returns.
	if rp, ok := ctx.Value(replayKey{}).(*replayed); ok {
		rp.run = run
		return "approved", nil
	}
	if cmd, err := Parse(req.Text); err == nil && d.approvalNeeded(cmd.Verb) {
		return d.askApproval(ctx, req, what, r, run)
	}
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	code := hex.EncodeToString(b)
	d.confirm.mu.Lock()
	if d.confirm.pending == nil {
		d.confirm.pending = map[string]pendingAction{}
	}
	now := d.now()
	for c, p := range d.confirm.pending {
		if now.After(p.expires) {
			delete(d.confirm.pending, c)
		}
	}
	d.confirm.pending[code] = pendingAction{
		platform: req.Identity.Platform, userID: req.Identity.UserID, channel: req.Channel,
		what: what, need: need, expires: now.Add(ConfirmTTL), run: run,
	}
	d.confirm.mu.Unlock()
	prompt := fmt.Sprintf("⚠ %s: this cannot be undone. Confirm within %s.", what, ConfirmTTL)
	return "awaiting confirmation", r.Confirm(ctx, prompt, code)
}

// confirmed runs the action behind code if the caller is the one who
// asked for it, in the same channel, in time, and still holds the role
// the action needs (the allowlist may have changed since). Each code
// works once; a click by anyone else is refused and leaves the code
// usable; a requester who lost the role uses it up. It returns the job
// the action started, if any, so that its caller may wait for it.
func (d *Dispatcher) confirmed(ctx context.Context, req Request, code string, r Responder) (*provision.Task, string, error) {
	d.confirm.mu.Lock()
	p, ok := d.confirm.pending[code]
	switch {
	case !ok && d.awaitsApproval(code):
		d.confirm.mu.Unlock()
		return nil, "refused: awaits a second admin's approval", r.Private(ctx, "that request needs a second admin's approval, not a confirmation: another admin clicks Approve or types /odoo approve "+code)
	case !ok:
		d.confirm.mu.Unlock()
		return nil, "refused: unknown code", r.Private(ctx, "that confirmation is unknown or was already used: run the command again")
	case p.platform != req.Identity.Platform || p.userID != req.Identity.UserID || p.channel != req.Channel:
		d.confirm.mu.Unlock()
		return nil, "refused: not the requester", r.Private(ctx, fmt.Sprintf("only the one who asked may confirm %s, in the channel where they asked", p.what))
	case d.now().After(p.expires):
		delete(d.confirm.pending, code)
		d.confirm.mu.Unlock()
		return nil, "refused: expired", r.Private(ctx, fmt.Sprintf("the confirmation of %s expired: run the command again", p.what))
	}
	delete(d.confirm.pending, code)
	d.confirm.mu.Unlock()
	if role, listed := d.Allowlist.Role(req.Identity, req.Channel); !listed || !role.Allows(p.need) {
		msg := fmt.Sprintf("you no longer hold the role (%s) needed to %s", p.need, p.what)
		return nil, "refused: role " + role.String() + " at confirmation", r.Private(ctx, msg)
	}
	task, outcome, err := p.run(ctx, r)
	if err != nil {
		outcome, err := d.failed(ctx, r, Command{Verb: VerbConfirm}, err)
		return nil, outcome, err
	}
	return task, outcome, nil
}

// confirmRefused reports whether confirming code as req would be refused
// (unknown, used, someone else's, from another channel, expired),
// without using it up.
func (d *Dispatcher) confirmRefused(req Request, code string) bool {
	d.confirm.mu.Lock()
	defer d.confirm.mu.Unlock()
	p, ok := d.confirm.pending[code]
	return !ok || p.platform != req.Identity.Platform || p.userID != req.Identity.UserID ||
		p.channel != req.Channel || d.now().After(p.expires)
}
