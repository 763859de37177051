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

// PostAlert posts alert in channel with the bot token and returns the
// message's ID (what UpdateAlert takes): its text, and a row of buttons,
// one per action, whose click runs the action's command as the one who
// clicked (see alertClick). The alert's Mention, a role ID, is notified:
// <@&ID> follows the text, and that role alone may be pinged. An alert
// without actions nor mention is posted as Alert posts text (its ID is
// then "": it is not a card).
func (b *Bot) PostAlert(ctx context.Context, channel string, alert commands.Alert) (string, error) {
	if len(alert.Actions) == 0 && alert.Mention == "" {
		return "", b.Alert(ctx, channel, alert.Text)
	}
	if channel == "" {
		return "", fmt.Errorf("discord: alert: no channel")
	}
	content, components, mentions := alertMessage(alert)
	msg, err := b.s.ChannelMessageSendComplex(channel, &discordgo.MessageSend{
		Content: content, Components: components, AllowedMentions: mentions,
	}, discordgo.WithContext(ctx))
	if err != nil {
		return "", b.wrap("alert in "+channel, err)
	}
	return msg.ID, nil
}

// UpdateAlert replaces the text and buttons of the alert message id in
// channel (posted by PostAlert) with alert's; the Mention is not
// rendered again, and nobody is pinged.
func (b *Bot) UpdateAlert(ctx context.Context, channel, id string, alert commands.Alert) error {
	if channel == "" || id == "" {
		return fmt.Errorf("discord: alert: no channel or message to edit")
	}
	alert.Mention = ""
	content, components, _ := alertMessage(alert)
	return b.editButtons(ctx, channel, id, "edit the alert in "+channel, content, components)
}

// editButtons replaces the content and buttons of the bot's message id
// in channel (an alert card, an approval request) with the bot token,
// pinging nobody; what names the action in its error.
func (b *Bot) editButtons(ctx context.Context, channel, id, what, content string, components []discordgo.MessageComponent) error {
	if channel == "" || id == "" {
		return fmt.Errorf("discord: %s: no channel or message to edit", what)
	}
	if components == nil {
		components = []discordgo.MessageComponent{}
	}
	_, err := b.s.ChannelMessageEditComplex(&discordgo.MessageEdit{
		ID: id, Channel: channel, Content: &content, Components: &components, AllowedMentions: noMentions(),
	}, discordgo.WithContext(ctx))
	if err != nil {
		return b.wrap(what, err)
	}
	return nil
}

// alertMessage is alert as a message: its content (the mention after
// the text), its row of buttons (an empty list when it has none, which
// removes those of the message it replaces), and who may be pinged: the
// mentioned role alone.
func alertMessage(alert commands.Alert) (string, []discordgo.MessageComponent, *discordgo.MessageAllowedMentions) {
	content, mentions := alert.Text, noMentions()
	if snowflake.MatchString(alert.Mention) {
		mention := " <@&" + alert.Mention + ">"
		if r := []rune(content); len(r) > maxContent-len(mention) {
			content = string(r[:maxContent-len(mention)-1]) + "…"
		}
		content += mention
		mentions = &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}, Roles: []string{alert.Mention}}
	}
	content = clip(content)
	var buttons []discordgo.Button
	for i, a := range alert.Actions {
		style := discordgo.SecondaryButton
		if i == 0 {
			style = discordgo.PrimaryButton
		}
		buttons = append(buttons, discordgo.Button{Label: a.Label, Style: style, CustomID: alertPrefix + a.Command})
	}
	return content, buttonRow(buttons...), mentions
}

// buttonRow is buttons as a message's components: one row, or an empty
// list when there are none (which removes those of a message edited).
func buttonRow(buttons ...discordgo.Button) []discordgo.MessageComponent {
	components := []discordgo.MessageComponent{}
	if len(buttons) == 0 {
		return components
	}
	row := discordgo.ActionsRow{}
	for _, bt := range buttons {
		row.Components = append(row.Components, bt)
	}
	return append(components, row)
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
