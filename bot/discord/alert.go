package discord

import (
	"context"
	"fmt"

	"github.com/bwmarrin/discordgo"

	"odoobot/commands"
)

// alertPrefix starts the custom_id of an alert's button; the command the
// button carries follows ("odoobot_alert:restart acme", well within
// Discord's 100 characters: names are at most 50).
const alertPrefix = "odoobot_alert:"

// PostAlert posts alert in channel with the bot token: its text, and a
// row of buttons, one per action, whose click runs the action's command
// as the one who clicked (see alertClick). An alert without actions is
// posted as Alert posts text.
func (b *Bot) PostAlert(ctx context.Context, channel string, alert commands.Alert) error {
	if len(alert.Actions) == 0 {
		return b.Alert(ctx, channel, alert.Text)
	}
	if channel == "" {
		return fmt.Errorf("discord: alert: no channel")
	}
	m := outgoing{content: clip(alert.Text)}
	{
		var buttons []discordgo.MessageComponent
		for i, a := range alert.Actions {
			style := discordgo.SecondaryButton
			if i == 0 {
				style = discordgo.PrimaryButton
			}
			buttons = append(buttons, discordgo.Button{Label: a.Label, Style: style, CustomID: alertPrefix + a.Command})
		}
		m.components = []discordgo.MessageComponent{discordgo.ActionsRow{Components: buttons}}
	}
	return b.channelSend(ctx, channel, m)
}

// alertClick runs the command an alert's button carries as the user who
// clicked, in the alert's channel: exactly as if they had typed it
// (command: deferred privately when the answer will be private, decided,
// role-checked, audited), the answers replying to the alert. A button
// whose command is not an alert command (commands.AlertCommand) runs
// nothing and is answered privately.
func (b *Bot) alertClick(ctx context.Context, i *discordgo.Interaction, value string) {
	text, err := commands.AlertCommand(value)
	if err != nil {
		b.log.Warn("discord: alert button without a valid command", "interaction", i.ID)
		resp := &discordgo.InteractionResponse{
			Type: discordgo.InteractionResponseChannelMessageWithSource,
			Data: &discordgo.InteractionResponseData{Content: "this button is not valid: type the command instead", Flags: discordgo.MessageFlagsEphemeral, AllowedMentions: noMentions()},
		}
		if err := b.s.InteractionRespond(i, resp, discordgo.WithContext(ctx)); err != nil {
			b.log.Error("discord: answer an invalid button", "interaction", i.ID, "err", b.clean(err, i.Token))
		}
		return
	}
	b.command(ctx, i, text)
}
