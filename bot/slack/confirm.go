package slack

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	slackapi "github.com/slack-go/slack"

	"odoobot/commands"
)

const (
	// confirmAction is the action_id of the confirmation button, and
	// confirmBlock the block_id of the block that holds it.
	confirmAction = "odoobot_confirm"
	confirmBlock  = "odoobot_confirm"
	// maxDialogText is the longest text of Slack's confirm dialog.
	maxDialogText = 300
	// maxButtonValue bounds the value of odoobot's buttons: a
	// confirmation's code (16 characters) or an alert's command (a verb
	// and a name of at most 50). The rest of what a click stands for is
	// kept by odoobot, never carried by the button. A click with a
	// longer value is refused as an invalid button, unread.
	maxButtonValue = 128
)

// Confirm shows the requester alone (chat.postEphemeral, else the slash
// command's response_url) the prompt and a danger "Confirm" button behind
// Slack's danger confirm dialog; the button's value is code. A click
// sends "confirm CODE" to the Handler as the one who clicked (see
// interaction): whether that user may confirm, and whether the code is
// still valid, is the Handler's decision, not the button's.
func (r *responder) Confirm(ctx context.Context, prompt, code string) error {
	if code == "" || strings.ContainsAny(code, " \t\n") || len(code) > maxButtonValue {
		return fmt.Errorf("slack: confirm: invalid code %q", clipRunes(code, 40))
	}
	plain := func(s string) *slackapi.TextBlockObject {
		return slackapi.NewTextBlockObject(slackapi.PlainTextType, s, false, false)
	}
	mrkdwn := func(s string) *slackapi.TextBlockObject {
		return slackapi.NewTextBlockObject(slackapi.MarkdownType, s, false, false)
	}
	prompt = r.b.outgoing(prompt)
	dialog := slackapi.NewConfirmationBlockObject(
		plain("Are you sure?"),
		plain(clipRunes(prompt, maxDialogText)),
		plain("Confirm"),
		plain("Cancel"),
	).WithStyle(slackapi.StyleDanger)
	btn := slackapi.NewButtonBlockElement(confirmAction, code, plain("Confirm")).
		WithStyle(slackapi.StyleDanger).WithConfirm(dialog)
	// The text is the notification, and what a client without blocks
	// shows: it says how to confirm by hand.
	text := fmt.Sprintf("%s\nOnly you can confirm: click Confirm, or type /odoo confirm %s", prompt, code)
	blocks := []slackapi.Block{
		slackapi.NewSectionBlock(mrkdwn(prompt), nil, nil),
		slackapi.NewActionBlock(confirmBlock, btn),
	}
	err := r.b.ephemeral(ctx, r.channel, r.user, text, blocks...)
	if err == nil {
		return nil
	}
	if r.responseURL == "" {
		return fmt.Errorf("slack: confirm: %w", err)
	}
	if uerr := r.b.respond(ctx, r.responseURL, text, blocks...); uerr != nil {
		return fmt.Errorf("slack: confirm: %w", errors.Join(err, uerr))
	}
	return nil
}

// clipRunes cuts s to at most n runes, ending with "…" when cut.
func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// interaction handles an interactive envelope: a click on a confirmation
// button becomes the request "confirm CODE" from the user who clicked, in
// the button's channel; a click on an alert's button, the command it
// carries (see alertClick); a character typed in the create form's name,
// the form rewritten with a check of the name (see nameTyped). A value
// longer than maxButtonValue is no
// button of odoobot's: the clicker is told that it is not valid. Anything
// else is ignored.
func (b *Bot) interaction(ctx context.Context, cb slackapi.InteractionCallback) {
	if cb.Type != slackapi.InteractionTypeBlockActions {
		return
	}
	// A character typed in the create form's name (dispatch_action).
	if cb.View.ID != "" && cb.View.CallbackID == createForm {
		for _, a := range cb.ActionCallback.BlockActions {
			if a.ActionID == nameInput && a.BlockID == nameInput {
				b.nameTyped(ctx, cb, clipRunes(a.Value, maxFormValue))
			}
		}
		return
	}
	channel := cb.Channel.ID
	if channel == "" {
		channel = cb.Container.ChannelID
	}
	r := &responder{b: b, channel: channel, user: cb.User.ID, responseURL: cb.ResponseURL}
	for _, a := range cb.ActionCallback.BlockActions {
		if len(a.Value) > maxButtonValue {
			b.log.Warn("slack: button with an oversized value refused", "user", cb.User.ID, "channel", channel, "action", clipRunes(a.ActionID, 40), "bytes", len(a.Value))
			if err := r.Private(ctx, "this button is not valid: run the command again"); err != nil {
				b.log.Error("slack: could not deliver an answer", "user", cb.User.ID, "channel", channel, "err", b.clean(err.Error()))
			}
			continue
		}
		if strings.HasPrefix(a.ActionID, alertActionPrefix) {
			b.alertClick(ctx, cb, channel, a.Value)
			continue
		}
		if a.ActionID == approveAction || a.ActionID == denyAction {
			b.approvalClick(ctx, cb, channel, a.ActionID == approveAction, a.Value)
			continue
		}
		if a.ActionID != confirmAction {
			continue
		}
		code := strings.TrimSpace(a.Value)
		if code == "" || strings.ContainsAny(code, " \t\n") {
			b.log.Warn("slack: confirmation button without a valid code", "user", cb.User.ID, "channel", channel)
			if err := r.Private(ctx, "this button is not valid: run the command again"); err != nil {
				b.log.Error("slack: could not deliver an answer", "user", cb.User.ID, "channel", channel, "err", b.clean(err.Error()))
			}
			continue
		}
		b.log.Debug("slack: confirmation clicked", "user", cb.User.ID, "channel", channel)
		req := commands.Request{
			Identity: b.identity(ctx, cb.User.ID, cb.User.Name, channel),
			Channel:  channel,
			Text:     "confirm " + code,
		}
		if _, err := b.cfg.Handler.Handle(ctx, req, r); err != nil {
			b.log.Error("slack: could not deliver an answer", "user", cb.User.ID, "channel", channel, "err", b.clean(err.Error()))
		}
	}
}
