package discord

import (
	"context"
	"fmt"

	"github.com/bwmarrin/discordgo"

	"odoobot/commands"
)

// approvePrefix and denyPrefix start the custom_id of a request's
// Approve and Deny buttons; the request's code follows.
const (
	approvePrefix = "odoobot_approve:"
	denyPrefix    = "odoobot_deny:"
)

// optReq is the code option of /odoo approve and /odoo deny.
var optReq = option{name: "code", kind: discordgo.ApplicationCommandOptionString, desc: "the request's code", required: true}

// AskApproval posts prompt in the channel, where every admin sees it,
// with an Approve and a Deny button carrying code, and returns the
// message's ID (what SettleApproval takes). A click runs "approve CODE"
// or "deny CODE" as the one who clicked (see approvalClick): who may
// decide is the Handler's decision, not the button's.
func (r *responder) AskApproval(ctx context.Context, prompt, code string) (string, error) {
	if _, err := commands.ApprovalButton(true, code); err != nil {
		return "", fmt.Errorf("discord: ask approval: %w", err)
	}
	msg, err := r.send(ctx, outgoing{
		content: clip(prompt),
		components: buttonRow(
			discordgo.Button{Label: "Approve", Style: discordgo.SuccessButton, CustomID: approvePrefix + code},
			discordgo.Button{Label: "Deny", Style: discordgo.DangerButton, CustomID: denyPrefix + code},
		),
	})
	if err != nil || msg == nil {
		return "", err
	}
	return msg.ID, nil
}

// SettleApproval is commands.ApprovalMessages': the request message id
// in channel (posted by AskApproval) says text, and its Approve and
// Deny buttons are gone. It is edited with the bot token, not the
// interaction's (which expires after 15 minutes), so that an expiry or
// a decision after a restart still shows.
func (b *Bot) SettleApproval(ctx context.Context, channel, id, text string) error {
	return b.editButtons(ctx, channel, id, "settle the approval request in "+channel, clip(text), nil)
}

var _ commands.ApprovalMessages = (*Bot)(nil)

// approvalClick runs "approve CODE" or "deny CODE" as the user who
// clicked a request's button, exactly as if they had typed it (decided,
// role-checked, audited). A button whose code is not valid runs nothing
// and is answered privately.
func (b *Bot) approvalClick(ctx context.Context, i *discordgo.Interaction, approve bool, code string) {
	text, err := commands.ApprovalButton(approve, code)
	if err != nil {
		b.log.Warn("discord: approval button without a valid code", "interaction", i.ID)
		resp := &discordgo.InteractionResponse{
			Type: discordgo.InteractionResponseChannelMessageWithSource,
			Data: &discordgo.InteractionResponseData{Content: "this button is not valid: type /odoo approve CODE instead", Flags: discordgo.MessageFlagsEphemeral, AllowedMentions: noMentions()},
		}
		if err := b.s.InteractionRespond(i, resp, discordgo.WithContext(ctx)); err != nil {
			b.log.Error("discord: answer an invalid button", "interaction", i.ID, "err", b.clean(err, i.Token))
		}
		return
	}
	b.command(ctx, i, text)
}
