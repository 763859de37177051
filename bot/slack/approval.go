package slack

import (
	"context"
	"fmt"

	slackapi "github.com/slack-go/slack"

	"odoobot/commands"
)

const (
	// approveAction and denyAction are the action_ids of a request's
	// Approve and Deny buttons, whose value is the request's code;
	// approvalBlock is the block_id of the block that holds them.
	approveAction = "odoobot_approve"
	denyAction    = "odoobot_deny"
	approvalBlock = "odoobot_approval"
)

// AskApproval posts prompt in the channel, where every admin sees it,
// with an Approve and a Deny button whose value is code, and returns
// its ts (what SettleApproval takes). A click sends "approve CODE" or
// "deny CODE" to the Handler as the one who clicked (see
// approvalClick): who may decide is the Handler's decision, not the
// button's. Later answers to the request go in the message's thread.
func (r *responder) AskApproval(ctx context.Context, prompt, code string) (string, error) {
	if _, err := commands.ApprovalButton(true, code); err != nil {
		return "", fmt.Errorf("slack: ask approval: %w", err)
	}
	text := clipRunes(escapeText(r.b.outgoing(prompt)), maxSectionText)
	ts, err := r.b.postButtons(ctx, r.channel, r.threadTS, buttonMessage(text, approvalBlock, []button{
		{actionID: approveAction, value: code, label: "Approve", style: slackapi.StylePrimary},
		{actionID: denyAction, value: code, label: "Deny", style: slackapi.StyleDanger},
	}))
	if err != nil {
		r.undeliverable(ctx, err, prompt)
		return "", fmt.Errorf("slack: ask approval: %w", err)
	}
	if r.threadTS == "" {
		r.threadTS = ts
	}
	return ts, nil
}

// SettleApproval is commands.ApprovalMessages': the request message ts
// in channel (posted by AskApproval) says text, and its Approve and
// Deny buttons are gone (chat.update).
func (b *Bot) SettleApproval(ctx context.Context, channel, ts, text string) error {
	msg := buttonMessage(clipRunes(escapeText(b.outgoing(text)), maxSectionText), approvalBlock, nil)
	if err := b.editButtons(ctx, channel, ts, msg); err != nil {
		return fmt.Errorf("slack: settle approval request: %w", err)
	}
	return nil
}

var _ commands.ApprovalMessages = (*Bot)(nil)

// approvalClick sends "approve CODE" or "deny CODE" as the user who
// clicked a request's button, in its channel: decided (an admin other
// than the requester), audited and answered by the Handler, the answers
// in the request's thread, private ones to the clicker alone. A button
// whose value is no code runs nothing and is answered privately.
func (b *Bot) approvalClick(ctx context.Context, cb slackapi.InteractionCallback, channel string, approve bool, value string) {
	ts := cb.Container.MessageTs
	if ts == "" {
		ts = cb.Message.Timestamp
	}
	r := &responder{b: b, channel: channel, user: cb.User.ID, responseURL: cb.ResponseURL, threadTS: ts}
	text, err := commands.ApprovalButton(approve, value)
	if err != nil {
		b.log.Warn("slack: approval button without a valid code", "user", cb.User.ID, "channel", channel)
		if err := r.Private(ctx, "this button is not valid: type /odoo approve CODE instead"); err != nil {
			b.log.Error("slack: could not deliver an answer", "user", cb.User.ID, "channel", channel, "err", b.clean(err.Error()))
		}
		return
	}
	b.log.Debug("slack: approval button clicked", "user", cb.User.ID, "channel", channel, "approve", approve)
	req := commands.Request{Identity: b.identity(ctx, cb.User.ID, cb.User.Name, channel), Channel: channel, Text: text}
	if _, err := b.cfg.Handler.Handle(ctx, req, r); err != nil {
		b.log.Error("slack: could not deliver an answer", "user", cb.User.ID, "channel", channel, "err", b.clean(err.Error()))
	}
}
