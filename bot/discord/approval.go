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
// with an Approve and a Deny button carrying code. A click runs "approve
// CODE" or "deny CODE" as the one who clicked (see approvalClick): who
// may decide is the Handler's decision, not the button's.
func (r *responder) AskApproval(ctx context.Context, prompt, code string) error {
	if _, err := commands.ApprovalButton(true, code); err != nil {
		return fmt.Errorf("discord: ask approval: %w", err)
	}
	_, err := r.send(ctx, outgoing{
		content: clip(prompt),
		components: []discordgo.MessageComponent{discordgo.ActionsRow{Components: []discordgo.MessageComponent{
			discordgo.Button{Label: "Approve", Style: discordgo.SuccessButton, CustomID: approvePrefix + code},
			discordgo.Button{Label: "Deny", Style: discordgo.DangerButton, CustomID: denyPrefix + code},
		}}},
	})
	return err
}

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
