package discord

import (
	"context"
	"time"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"odoobot/commands"
)

// DefaultSuggestWait is how long an autocomplete waits for its
// suggestions: Discord drops an answer that comes more than 3 s after
// the interaction, and the callback itself needs a moment.
const DefaultSuggestWait = 2 * time.Second

// Discord's bounds on an autocomplete answer: at most 25 choices, each
// with a name of 1–100 characters and a string value of at most 100.
const (
	maxChoices     = 25
	maxChoiceName  = 100
	maxChoiceValue = 100
)

// autocompleteResult is the body of an APPLICATION_COMMAND_AUTOCOMPLETE_RESULT
// callback (type 8), as Discord documents it: {"type": 8, "data":
// {"choices": […]}}. discordgo's InteractionResponseData would leave out
// an empty list of choices and add message fields; this is the exact shape.
type autocompleteResult struct {
	Type int `json:"type"`
	Data struct {
		Choices []autocompleteChoice `json:"choices"`
	} `json:"data"`
}

type autocompleteChoice struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// autocomplete answers an APPLICATION_COMMAND_AUTOCOMPLETE interaction
// (type 4) of /odoo: the option the user is typing (the focused one) is
// looked up among the subcommand's options, and, when it is one that
// suggests (see option.suggest), the Handler's Suggest gives the
// choices for what was typed, as the requester's role allows; a backup
// is suggested among those of the instance already given in the name
// option. The answer is a callback of type 8 with at most 25 choices,
// sent within Config.SuggestWait of the interaction's arrival whatever
// Suggest does (an empty list when it is late). Any other option, an
// unknown subcommand, and a requester who may not run the verb get an
// empty list: Discord then shows that nothing matches, and the command
// can still be typed. Nothing is audited: a suggestion runs nothing.
func (b *Bot) autocomplete(ctx context.Context, i *discordgo.Interaction, data discordgo.ApplicationCommandInteractionData) {
	start := time.Now()
	verb, field, name, typed := focused(data)
	var choices []commands.Choice
	if field != "" {
		choices = b.suggestions(ctx, identity(i), i.ChannelID, verb, field, name, typed)
	}
	var res autocompleteResult
	res.Type = int(discordgo.InteractionApplicationCommandAutocompleteResult)
	res.Data.Choices = []autocompleteChoice{}
	for _, c := range choices {
		if len(res.Data.Choices) == maxChoices {
			break
		}
		if c.Value == "" || utf8.RuneCountInString(c.Value) > maxChoiceValue {
			continue // such a value cannot be offered whole
		}
		label := c.Label
		if label == "" {
			label = c.Value
		}
		res.Data.Choices = append(res.Data.Choices, autocompleteChoice{Name: shorten(label, maxChoiceName), Value: c.Value})
	}
	// Past Discord's 3 s the callback is refused: no retry beyond them.
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	endpoint := discordgo.EndpointInteractionResponse(i.ID, i.Token)
	if _, err := b.s.RequestWithBucketID("POST", endpoint, res, endpoint, discordgo.WithContext(cctx)); err != nil {
		b.log.Warn("discord: answer autocomplete", "interaction", i.ID, "err", b.clean(err, i.Token))
		return
	}
	b.log.Debug("discord: autocomplete", "interaction", i.ID, "user", identity(i).UserID, "verb", verb, "field", field,
		"choices", len(res.Data.Choices), "took", time.Since(start).Round(time.Millisecond).String())
}

// suggestions is the Handler's Suggest, given at most Config.SuggestWait
// (through ctx, and by not waiting longer for it): nil when it is late.
func (b *Bot) suggestions(ctx context.Context, id commands.Identity, channel string, verb commands.Verb, field, name, typed string) []commands.Choice {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.SuggestWait)
	defer cancel()
	got := make(chan []commands.Choice, 1)
	go func() {
		defer b.recovered("suggest")
		got <- b.cfg.Handler.Suggest(ctx, id, channel, verb, field, name, typed)
	}()
	select {
	case c := <-got:
		return c
	case <-ctx.Done():
		b.log.Warn("discord: suggestions came too late; none offered", "verb", verb, "field", field, "wait", b.cfg.SuggestWait.String())
		return nil
	}
}

// focused reads an autocomplete's data: the verb (the subcommand), the
// field the focused option suggests ("" for none), the instance named in
// the subcommand's name option (for a backup), and what was typed.
func focused(data discordgo.ApplicationCommandInteractionData) (verb commands.Verb, field, name, typed string) {
	sub := invoked(data)
	if data.Name != commandName || sub == nil {
		return "", "", "", ""
	}
	verb = commands.Verb(sub.Name)
	var focus *discordgo.ApplicationCommandInteractionDataOption
	for _, o := range sub.Options {
		if o == nil {
			continue
		}
		if o.Focused && focus == nil {
			focus = o
		}
		if s, ok := o.Value.(string); ok && o.Name == "name" && !o.Focused {
			name = oneWord(s)
		}
	}
	if focus == nil {
		return verb, "", "", ""
	}
	typed, _ = focus.Value.(string)
	for _, sc := range subcommands {
		if sc.verb != verb {
			continue
		}
		for _, o := range sc.opts {
			if o.name == focus.Name {
				field = o.suggest
			}
		}
	}
	return verb, field, name, typed
}

// shorten is s cut to at most n characters, an ellipsis marking the cut.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
