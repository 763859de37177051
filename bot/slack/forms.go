package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"

	"odoobot/commands"
	"odoobot/provision"
)

// Picker offers the values a user may pick in Slack's forms, for their
// role in a channel; *commands.Dispatcher satisfies it.
type Picker interface {
	Suggest(ctx context.Context, id commands.Identity, channel string, verb commands.Verb, field, name, typed string) []commands.Choice
}

var _ Picker = (*commands.Dispatcher)(nil)

// The callback_id of odoobot's modals, and the block_id and action_id of
// their inputs (one action per block, named as its block).
const (
	createForm  = "odoobot_create"
	restoreForm = "odoobot_restore"
	nameInput   = "odoobot_name"
	modeInput   = "odoobot_mode"
	backupInput = "odoobot_backup"
	// nameCheck is the block_id of the context block under the create
	// form's name saying, as it is typed, whether the name is fine.
	nameCheck   = "odoobot_name_check"
	defaultMode = "default" // the mode option that leaves the server's default
	maxMetadata = 512       // the longest private_metadata odoobot reads back
	suggestFor  = 2500 * time.Millisecond
	// backupsWithin bounds the listing of backups before a restore form
	// opens.
	backupsWithin = 1500 * time.Millisecond
	maxOptLabel   = 75  // Slack's limit for an option's text
	maxOptValue   = 150 // and for its value
	maxTyped      = 100 // the longest typed text a suggestion reads
	maxFormValue  = 128 // the longest name or backup read from a form
)

// channelID is what a Slack conversation ID looks like: a public or
// private channel, or a direct message.
var channelID = regexp.MustCompile(`^[CGD][A-Z0-9]{2,30}$`)

// formMeta is what a modal carries in its private_metadata: the channel
// the command came from (where the answers go) and, for restore, the
// instance named. Slack gives it back untouched, but it is checked as
// any input is: bounded, and the channel must look like one.
type formMeta struct {
	Channel string `json:"c"`
	Name    string `json:"n,omitempty"`
}

func (m formMeta) encode() string {
	b, _ := json.Marshal(m)
	return string(b)
}

// parseMeta reads a modal's private_metadata, refusing what odoobot
// could not have written.
func parseMeta(s string) (formMeta, error) {
	var m formMeta
	if len(s) > maxMetadata {
		return m, fmt.Errorf("slack: form metadata of %d bytes", len(s))
	}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return m, fmt.Errorf("slack: form metadata: %w", err)
	}
	if !channelID.MatchString(m.Channel) {
		return m, fmt.Errorf("slack: form metadata names no channel")
	}
	if !oneWord(m.Name) && m.Name != "" {
		return m, fmt.Errorf("slack: form metadata names no instance")
	}
	return m, nil
}

// oneWord reports whether s is one non-empty word of at most
// maxFormValue bytes: what can be put in a command without changing its
// other words.
func oneWord(s string) bool {
	return s != "" && len(s) <= maxFormValue && !strings.ContainsFunc(s, func(r rune) bool {
		return r <= ' ' || r == 0x7f || r == 0x85 || r == 0xa0 || r == 0x2028 || r == 0x2029 || r == 0x3000 || (r >= 0x2000 && r <= 0x200b)
	})
}

func plainText(s string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.PlainTextType, s, false, false)
}

// form opens a modal in place of a typed command when the command asks
// for one and the requester's role may run it: `create` alone opens the
// creation form, `restore NAME` the choice of one of NAME's backups, and
// `restore` alone the choice of an instance and then of its backup. It
// reports whether it answered the command; when it did not, the command
// runs as typed (and gets the answer it always had, a refusal
// included). A form that cannot be opened is said privately, with the
// command to type instead.
func (b *Bot) form(ctx context.Context, cmd slackapi.SlashCommand, id commands.Identity, r *responder) bool {
	if b.cfg.Picker == nil || cmd.TriggerID == "" || !channelID.MatchString(cmd.ChannelID) {
		return false
	}
	words := strings.Fields(cmd.Text)
	if len(words) == 0 || len(words) > 2 {
		return false
	}
	verb := commands.Verb(strings.ToLower(words[0]))
	var view slackapi.ModalViewRequest
	var typed string
	switch {
	case verb == commands.VerbCreate && len(words) == 1:
		modes := b.cfg.Picker.Suggest(ctx, id, cmd.ChannelID, verb, commands.FieldMode, "", "")
		if len(modes) == 0 {
			return false // not this role's to create: the usual refusal
		}
		view = createView(formMeta{Channel: cmd.ChannelID}, modes, "")
		typed = "/odoo create NAME [cloudflare|letsencrypt|http]"
	case verb == commands.VerbRestore && len(words) == 2:
		name := words[1]
		if !oneWord(name) {
			return false
		}
		known := b.cfg.Picker.Suggest(ctx, id, cmd.ChannelID, verb, commands.FieldName, "", name)
		if !slices.ContainsFunc(known, func(c commands.Choice) bool { return c.Value == name }) {
			return false // a refusal, or no such instance: as typed
		}
		// Listing the backups may reach the offsite repository: past
		// backupsWithin, the form opens (the trigger is valid 3 s) and
		// its backup select loads them itself.
		bctx, cancel := context.WithTimeout(ctx, backupsWithin)
		backups := b.cfg.Picker.Suggest(bctx, id, cmd.ChannelID, verb, commands.FieldBackup, name, "")
		late := bctx.Err() != nil
		cancel()
		if len(backups) == 0 && !late {
			return false // no backup to pick: as typed
		}
		view = restoreView(formMeta{Channel: cmd.ChannelID, Name: name}, backups)
		typed = "/odoo restore " + name + " BACKUP"
	case verb == commands.VerbRestore && len(words) == 1:
		if len(b.cfg.Picker.Suggest(ctx, id, cmd.ChannelID, verb, commands.FieldName, "", "")) == 0 {
			return false
		}
		view = restoreView(formMeta{Channel: cmd.ChannelID}, nil)
		typed = "/odoo restore NAME BACKUP"
	default:
		return false
	}
	_, err := rateLimited(ctx, b, func() (*slackapi.ViewResponse, error) {
		return b.api.OpenViewContext(ctx, cmd.TriggerID, view)
	})
	if err == nil {
		b.log.Debug("slack: form opened", "form", view.CallbackID, "user", cmd.UserID, "channel", cmd.ChannelID)
		return true
	}
	b.log.Warn("slack: a form could not be opened", "form", view.CallbackID, "user", cmd.UserID, "channel", cmd.ChannelID, "err", b.clean(err.Error()))
	msg := fmt.Sprintf("the form could not be opened (%s): type %s instead", whyUndelivered(err), typed)
	if perr := r.Private(ctx, msg); perr != nil {
		b.log.Error("slack: could not deliver an answer", "user", cmd.UserID, "channel", cmd.ChannelID, "err", b.clean(perr.Error()))
	}
	return true
}

// option is a Slack option for c, its label and value cut to Slack's
// limits.
func option(c commands.Choice) *slackapi.OptionBlockObject {
	return slackapi.NewOptionBlockObject(clipRunes(c.Value, maxOptValue), plainText(clipRunes(c.Label, maxOptLabel)), nil)
}

// createView is the creation form: the name, typed, and the TLS mode,
// picked (the server's default first). The name is checked as it is
// typed (its input dispatches a block_actions at each character, which
// nameTyped answers with this view and check, the verdict on the name
// so far, in a context block under it) and again when submitted.
func createView(meta formMeta, modes []commands.Choice, check string) slackapi.ModalViewRequest {
	name := slackapi.NewPlainTextInputBlockElement(plainText("cliente1"), nameInput)
	name.MaxLength = provision.MaxNameLength
	name.DispatchActionConfig = &slackapi.DispatchActionConfig{TriggerActionsOn: []string{"on_character_entered"}}
	def := slackapi.NewOptionBlockObject(defaultMode, plainText("the server's default"), nil)
	opts := []*slackapi.OptionBlockObject{def}
	for _, m := range modes {
		opts = append(opts, option(m))
	}
	mode := slackapi.NewOptionsSelectBlockElement(slackapi.OptTypeStatic, plainText("TLS mode"), modeInput, opts...)
	mode.InitialOption = def
	blocks := []slackapi.Block{
		slackapi.NewInputBlock(nameInput, plainText("Name"), plainText("lowercase letters, digits and dashes, such as cliente1"), name).WithDispatchAction(true),
	}
	if check != "" {
		blocks = append(blocks, slackapi.NewContextBlock(nameCheck, plainText(clipRunes(check, 300))))
	}
	blocks = append(blocks, slackapi.NewInputBlock(modeInput, plainText("TLS mode"), nil, mode))
	return slackapi.ModalViewRequest{
		Type: slackapi.VTModal, CallbackID: createForm, PrivateMetadata: meta.encode(),
		Title: plainText("Create an instance"), Submit: plainText("Create"), Close: plainText("Cancel"),
		Blocks: slackapi.Blocks{BlockSet: blocks},
	}
}

// nameTyped answers a character typed in the create form's name (a
// block_actions from the view): the form is rewritten (views.update,
// with the view's hash, so that an older keystroke's answer never
// overwrites a newer form) with, under the name, whether it is fine, or
// which rule it breaks, or that an instance has it already. What was
// typed stays: Slack keeps an input's value across an update that keeps
// its block_id and action_id. A form that is not odoobot's, or whose
// metadata is not valid, is left alone.
func (b *Bot) nameTyped(ctx context.Context, cb slackapi.InteractionCallback, typed string) {
	if b.cfg.Picker == nil {
		return
	}
	meta, err := parseMeta(cb.View.PrivateMetadata)
	if err != nil {
		b.log.Warn("slack: a form with invalid metadata was left alone", "user", cb.User.ID, "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, suggestFor)
	defer cancel()
	id := b.identity(ctx, cb.User.ID, cb.User.Name, meta.Channel)
	modes := b.cfg.Picker.Suggest(ctx, id, meta.Channel, commands.VerbCreate, commands.FieldMode, "", "")
	if len(modes) == 0 {
		return // no longer this user's to create: the submission says so
	}
	name := strings.TrimSpace(typed)
	var check string
	switch {
	case name == "":
		check = "type a name: lowercase letters, digits and dashes, such as cliente1"
	case !oneWord(name):
		check = "✖ give one word, such as cliente1: lowercase letters, digits and dashes"
	default:
		if b.cfg.CheckName != nil {
			if err := b.cfg.CheckName(name); err != nil {
				check = "✖ " + err.Error()
				break
			}
		}
		known := b.cfg.Picker.Suggest(ctx, id, meta.Channel, commands.VerbRestore, commands.FieldName, "", name)
		if slices.ContainsFunc(known, func(c commands.Choice) bool { return c.Value == name }) {
			check = "✖ an instance named " + name + " exists already: pick another name"
		} else {
			check = "✔ " + name + " is a valid name, not taken"
		}
	}
	view := createView(meta, modes, check)
	_, err = rateLimited(ctx, b, func() (*slackapi.ViewResponse, error) {
		return b.api.UpdateViewContext(ctx, view, "", cb.View.Hash, cb.View.ID)
	})
	if err != nil {
		// hash_conflict: a newer keystroke's answer came first.
		b.log.Debug("slack: the create form was not updated", "user", cb.User.ID, "err", b.clean(err.Error()))
	}
}

// restoreView is the restore form: the backups of the instance meta
// names to pick from (loaded as the select opens, with block_suggestion,
// when backups is empty), or, when meta names none, the instance and
// then its backup, both answered as the user types.
func restoreView(meta formMeta, backups []commands.Choice) slackapi.ModalViewRequest {
	zero := 0
	var blocks []slackapi.Block
	if meta.Name == "" {
		name := slackapi.NewOptionsSelectBlockElement(slackapi.OptTypeExternal, plainText("instance"), nameInput)
		name.MinQueryLength = &zero
		blocks = append(blocks, slackapi.NewInputBlock(nameInput, plainText("Instance"), nil, name))
	} else {
		blocks = append(blocks, slackapi.NewSectionBlock(plainText("Restore a backup over "+meta.Name+": its current data is replaced (you confirm after this form)."), nil, nil))
	}
	var backup *slackapi.SelectBlockElement
	if len(backups) > 0 {
		opts := make([]*slackapi.OptionBlockObject, 0, len(backups))
		for _, c := range backups {
			opts = append(opts, option(c))
		}
		backup = slackapi.NewOptionsSelectBlockElement(slackapi.OptTypeStatic, plainText("backup"), backupInput, opts...)
	} else {
		backup = slackapi.NewOptionsSelectBlockElement(slackapi.OptTypeExternal, plainText("backup"), backupInput)
		backup.MinQueryLength = &zero
	}
	blocks = append(blocks, slackapi.NewInputBlock(backupInput, plainText("Backup"), plainText("newest first"), backup))
	return slackapi.ModalViewRequest{
		Type: slackapi.VTModal, CallbackID: restoreForm, PrivateMetadata: meta.encode(),
		Title: plainText("Restore a backup"), Submit: plainText("Restore"), Close: plainText("Cancel"),
		Blocks: slackapi.Blocks{BlockSet: blocks},
	}
}

// submission is a form submitted and accepted: the command it stands
// for, run as the user who submitted it in the channel of the command
// that opened the form.
type submission struct {
	viewID, user, userName, channel, text string
}

// viewAnswer is what a view_submission envelope's ack carries: nothing
// (Slack closes the form) or the errors to show under its inputs.
type viewAnswer struct {
	ResponseAction string            `json:"response_action,omitempty"`
	Errors         map[string]string `json:"errors,omitempty"`
}

// stateValue is the value of the input block (typed, or picked) of a
// submitted view.
func stateValue(v slackapi.View, block string) string {
	if v.State == nil {
		return ""
	}
	a := v.State.Values[block][block]
	if a.SelectedOption.Value != "" {
		return strings.TrimSpace(a.SelectedOption.Value)
	}
	return strings.TrimSpace(a.Value)
}

// checkSubmission reads a submitted form of odoobot's: the command it
// stands for, or the errors to show in the form (which stays open, and
// nothing runs). A name breaking the name rules is refused here, with
// the rule's message under the name; whatever passes is checked again by
// the Handler, as a typed command is. ok is false for a view that is not
// odoobot's.
func (b *Bot) checkSubmission(cb slackapi.InteractionCallback) (sub submission, answer viewAnswer, ok bool) {
	v := cb.View
	if v.CallbackID != createForm && v.CallbackID != restoreForm {
		return sub, answer, false
	}
	refuse := func(block, msg string) (submission, viewAnswer, bool) {
		return submission{}, viewAnswer{ResponseAction: string(slackapi.RAErrors), Errors: map[string]string{block: clipRunes(msg, 300)}}, true
	}
	meta, err := parseMeta(v.PrivateMetadata)
	first := nameInput
	if v.CallbackID == restoreForm {
		first = backupInput
	}
	if err != nil {
		b.log.Warn("slack: a form with invalid metadata was refused", "user", cb.User.ID, "err", err)
		return refuse(first, "this form is not valid: close it and run the command again")
	}
	sub = submission{viewID: v.ID, user: cb.User.ID, userName: cb.User.Name, channel: meta.Channel}
	switch v.CallbackID {
	case createForm:
		name := stateValue(v, nameInput)
		if !oneWord(name) {
			return refuse(nameInput, "give one word, such as cliente1: lowercase letters, digits and dashes")
		}
		if b.cfg.CheckName != nil {
			if err := b.cfg.CheckName(name); err != nil {
				return refuse(nameInput, err.Error())
			}
		}
		sub.text = "create " + name
		switch mode := stateValue(v, modeInput); mode {
		case "", defaultMode:
		case string(provision.SSLCloudflare), string(provision.SSLLetsEncrypt), string(provision.SSLHTTP):
			sub.text += " " + mode
		default:
			return refuse(modeInput, "pick one of the modes listed")
		}
	case restoreForm:
		name := meta.Name
		if name == "" {
			name = stateValue(v, nameInput)
			if !oneWord(name) {
				return refuse(nameInput, "pick an instance")
			}
		}
		backup := stateValue(v, backupInput)
		if !oneWord(backup) {
			return refuse(backupInput, "pick a backup")
		}
		sub.text = "restore " + name + " " + backup
	}
	return sub, viewAnswer{}, true
}

// submit runs a form's command as the user who submitted it, in the
// channel of the command that opened the form: the same role checks,
// audit and answers as the command typed.
func (b *Bot) submit(ctx context.Context, s submission) {
	req := commands.Request{
		Identity: b.identity(ctx, s.user, s.userName, s.channel),
		Channel:  s.channel,
		Text:     s.text,
	}
	r := &responder{b: b, channel: s.channel, user: s.user}
	if _, err := b.cfg.Handler.Handle(ctx, req, r); err != nil {
		b.log.Error("slack: could not deliver an answer", "user", s.user, "channel", s.channel, "err", b.clean(err.Error()))
	}
}

// suggestions answers a block_suggestion (a user typing in, or opening,
// one of a form's external selects) with the choices their role may
// pick in the form's channel, at most commands.MaxChoices. Nothing is
// offered for a form that is not odoobot's, or when the Picker does not
// answer within suggestFor: Slack waits 3 s at most.
func (b *Bot) suggestions(ctx context.Context, cb slackapi.InteractionCallback) slackapi.OptionsResponse {
	out := slackapi.OptionsResponse{Options: []*slackapi.OptionBlockObject{}}
	if b.cfg.Picker == nil || cb.View.CallbackID != restoreForm {
		return out
	}
	meta, err := parseMeta(cb.View.PrivateMetadata)
	if err != nil {
		return out
	}
	ctx, cancel := context.WithTimeout(ctx, suggestFor)
	defer cancel()
	typed := clipRunes(strings.TrimSpace(cb.Value), maxTyped)
	var field, name string
	switch cb.ActionID {
	case nameInput:
		field = commands.FieldName
	case backupInput:
		field, name = commands.FieldBackup, meta.Name
		if name == "" {
			name = stateValue(cb.View, nameInput)
		}
		if !oneWord(name) {
			return out
		}
	default:
		return out
	}
	id := b.identity(ctx, cb.User.ID, cb.User.Name, meta.Channel)
	for _, c := range b.cfg.Picker.Suggest(ctx, id, meta.Channel, commands.VerbRestore, field, name, typed) {
		out.Options = append(out.Options, option(c))
	}
	return out
}
