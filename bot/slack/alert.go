package slack

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	slackapi "github.com/slack-go/slack"

	"odoobot/commands"
)

const (
	// alertActionPrefix starts the action_id of an alert's buttons (one
	// per button, numbered: Slack wants them distinct in a block), and
	// alertBlock is the block_id of the block that holds them.
	alertActionPrefix = "odoobot_alert_"
	alertBlock        = "odoobot_alert"
	// maxSectionText is the longest text of a section block (Slack: 3000).
	maxSectionText = 2900
)

// button is one button of a message posted by postButtons: its
// action_id, its value and its label; the first of a message is
// styled primary unless style says otherwise.
type button struct {
	actionID, value, label string
	style                  slackapi.Style
}

// PostAlert posts alert at the top of channel and returns its ts (what
// UpdateAlert takes): its text, and under it one button per action whose
// value is the action's command ("restart acme"). A click runs that
// command as the one who clicked (see alertClick). The alert's Mention,
// a user group ID (S…), is notified: <!subteam^S…> follows the text. An
// alert without actions nor mention is posted as Alert posts text (its
// ts is then "": it is not a card).
func (b *Bot) PostAlert(ctx context.Context, channel string, alert commands.Alert) (string, error) {
	if len(alert.Actions) == 0 && alert.Mention == "" {
		return "", b.Alert(ctx, channel, alert.Text)
	}
	ts, err := b.postButtons(ctx, channel, "", b.alertMessage(alert))
	if err != nil {
		return "", fmt.Errorf("slack: alert: %w", err)
	}
	return ts, nil
}

// UpdateAlert replaces the text and buttons of the alert ts in channel
// (posted by PostAlert) with alert's; the Mention is not rendered again.
func (b *Bot) UpdateAlert(ctx context.Context, channel, ts string, alert commands.Alert) error {
	alert.Mention = ""
	if err := b.editButtons(ctx, channel, ts, b.alertMessage(alert)); err != nil {
		return fmt.Errorf("slack: alert: %w", err)
	}
	return nil
}

// alertMessage is alert as a message (buttonMessage): its text, the
// mention after it, one button per action.
func (b *Bot) alertMessage(alert commands.Alert) []slackapi.MsgOption {
	text := clipRunes(escapeText(b.outgoing(alert.Text)), maxSectionText)
	if alert.Mention != "" && validMention(alert.Mention) {
		text += " <!subteam^" + alert.Mention + ">"
	}
	var buttons []button
	for i, a := range alert.Actions {
		buttons = append(buttons, button{actionID: alertActionPrefix + strconv.Itoa(i), value: a.Command, label: a.Label})
	}
	return buttonMessage(text, alertBlock, buttons)
}

// buttonMessage is text (escaped and clipped by the caller) as a
// section block, and under it the buttons in an actions block whose
// block_id is blockID. A message without buttons gets the section
// alone, which removes the buttons of the message it replaces.
func buttonMessage(text, blockID string, buttons []button) []slackapi.MsgOption {
	var elems []slackapi.BlockElement
	for i, bt := range buttons {
		label := slackapi.NewTextBlockObject(slackapi.PlainTextType, bt.label, false, false)
		btn := slackapi.NewButtonBlockElement(bt.actionID, bt.value, label)
		switch {
		case bt.style != "":
			btn = btn.WithStyle(bt.style)
		case i == 0:
			btn = btn.WithStyle(slackapi.StylePrimary)
		}
		elems = append(elems, btn)
	}
	blocks := []slackapi.Block{
		slackapi.NewSectionBlock(slackapi.NewTextBlockObject(slackapi.MarkdownType, text, false, false), nil, nil),
	}
	if len(elems) > 0 {
		blocks = append(blocks, slackapi.NewActionBlock(blockID, elems...))
	}
	// The text is the notification, and what a client without blocks
	// shows.
	return []slackapi.MsgOption{
		slackapi.MsgOptionText(text, false), slackapi.MsgOptionBlocks(blocks...), slackapi.MsgOptionDisableLinkUnfurl(),
	}
}

// postButtons posts msg (buttonMessage) in channel, in the thread
// threadTS when not "", and returns its ts.
func (b *Bot) postButtons(ctx context.Context, channel, threadTS string, msg []slackapi.MsgOption) (string, error) {
	if channel == "" {
		return "", fmt.Errorf("no channel")
	}
	if threadTS != "" {
		msg = append(msg, slackapi.MsgOptionTS(threadTS))
	}
	var ts string
	err := b.inChannel(ctx, channel, func() error {
		var err error
		ts, err = rateLimited(ctx, b, func() (string, error) {
			_, ts, err := b.api.PostMessageContext(ctx, channel, msg...)
			return ts, err
		})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("chat.postMessage: %w", err)
	}
	return ts, nil
}

// editButtons replaces the message ts in channel (posted by
// postButtons) with msg, its buttons included.
func (b *Bot) editButtons(ctx context.Context, channel, ts string, msg []slackapi.MsgOption) error {
	if channel == "" || ts == "" {
		return fmt.Errorf("no channel or message to edit")
	}
	_, err := rateLimited(ctx, b, func() (string, error) {
		_, _, _, err := b.api.UpdateMessageContext(ctx, channel, ts, msg...)
		return "", err
	})
	if err != nil {
		return fmt.Errorf("chat.update: %w", err)
	}
	return nil
}

// escapeText escapes the three characters Slack's message formatting
// reads as control sequences.
func escapeText(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// validMention reports whether id looks like a Slack user group ID (S
// and letters or digits): anything else is not rendered.
func validMention(id string) bool {
	if len(id) < 2 || len(id) > 32 || id[0] != 'S' {
		return false
	}
	for _, r := range id[1:] {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// alertClick runs the command an alert's button carries, as the user who
// clicked, in the alert's channel: exactly the typed command, decided
// (role-checked), audited and answered by the Handler. The answers go in
// the alert's thread; private ones (a refusal, logs) to the clicker
// alone. A button whose value is not an alert command (commands.
// AlertCommand) runs nothing and is answered privately.
func (b *Bot) alertClick(ctx context.Context, cb slackapi.InteractionCallback, channel, value string) {
	ts := cb.Container.MessageTs
	if ts == "" {
		ts = cb.Message.Timestamp
	}
	r := &responder{b: b, channel: channel, user: cb.User.ID, responseURL: cb.ResponseURL, threadTS: ts}
	text, err := commands.AlertCommand(value)
	if err != nil {
		b.log.Warn("slack: alert button without a valid command", "user", cb.User.ID, "channel", channel)
		if err := r.Private(ctx, "this button is not valid: type the command instead"); err != nil {
			b.log.Error("slack: could not deliver an answer", "user", cb.User.ID, "channel", channel, "err", b.clean(err.Error()))
		}
		return
	}
	b.log.Debug("slack: alert button clicked", "user", cb.User.ID, "channel", channel, "command", text)
	req := commands.Request{Identity: b.identity(ctx, cb.User.ID, cb.User.Name, channel), Channel: channel, Text: text}
	if _, err := b.cfg.Handler.Handle(ctx, req, r); err != nil {
		b.log.Error("slack: could not deliver an answer", "user", cb.User.ID, "channel", channel, "err", b.clean(err.Error()))
	}
}
