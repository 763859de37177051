package discordtest

import (
	"fmt"
	"strings"
)

// The interaction types Slash, Click and Autocomplete send.
const (
	InteractionApplicationCommand             = 2
	InteractionMessageComponent               = 3
	InteractionApplicationCommandAutocomplete = 4
)

// Member is who sends an interaction in the guild.
type Member struct {
	ID, Name string
	Roles    []string
}

// Where names the guild and channel an interaction comes from.
type Where struct {
	Guild, Channel string
}

// Interaction is an interaction's JSON as the gateway dispatches it in
// INTERACTION_CREATE: id and token are the interaction's (snowflake,
// any string), typ its type, data its data, msg the message of a
// component (nil for a command).
func (s *Server) Interaction(where Where, id, token string, typ int, m Member, data, msg map[string]any) map[string]any {
	if where.Channel == "" {
		where.Channel = s.opts.Channel
	}
	return Interaction(s.opts.AppID, where, id, token, typ, m, data, msg)
}

// Interaction is an interaction of application appID, as Server.Interaction.
func Interaction(appID string, where Where, id, token string, typ int, m Member, data, msg map[string]any) map[string]any {
	v := map[string]any{
		"id": id, "application_id": appID, "type": typ, "token": token, "version": 1,
		"guild_id": where.Guild, "channel_id": where.Channel, "data": data,
		"member": map[string]any{"user": map[string]any{"id": m.ID, "username": m.Name}, "roles": m.Roles, "nick": nil},
	}
	if msg != nil {
		v["message"] = msg
	}
	return v
}

// CommandData is the data of a chat command name with one subcommand
// sub, whose options are name, value pairs: a string value is a string
// option (type 3), an int an integer (4), a bool a boolean (5). A sub of
// two words, "GROUP SUB", is subcommand SUB of group GROUP (type 2), as
// Discord nests it.
func CommandData(commandID, name, sub string, opts ...any) map[string]any {
	options := []any{}
	for k := 0; k+1 < len(opts); k += 2 {
		o := map[string]any{"name": opts[k], "value": opts[k+1], "type": 3}
		switch opts[k+1].(type) {
		case int:
			o["type"] = 4
		case bool:
			o["type"] = 5
		}
		options = append(options, o)
	}
	inner := map[string]any{"name": sub, "type": 1, "options": options}
	top := inner
	if group, verb, ok := strings.Cut(sub, " "); ok {
		inner["name"] = verb
		top = map[string]any{"name": group, "type": 2, "options": []any{inner}}
	}
	return map[string]any{"id": commandID, "name": name, "type": 1, "options": []any{top}}
}

// invokedOptions is the option list of the subcommand data names, under
// its group when it has one.
func invokedOptions(data map[string]any) map[string]any {
	top := data["options"].([]any)[0].(map[string]any)
	if top["type"] == 2 {
		return top["options"].([]any)[0].(map[string]any)
	}
	return top
}

// AutocompleteData is the data of an APPLICATION_COMMAND_AUTOCOMPLETE
// interaction (type 4) for the chat command name with subcommand sub,
// as Discord sends it while the user types: the options filled so far
// (name, value pairs, as CommandData), the one being typed, focus,
// carrying "focused": true and what was typed so far as a string
// (whatever the option's type: a number typed half-way is text). Options
// that are required but not filled yet are absent. A focus not among
// opts is added with an empty value.
func AutocompleteData(commandID, name, sub, focus string, opts ...any) map[string]any {
	data := CommandData(commandID, name, sub, opts...)
	sd := invokedOptions(data)
	options := sd["options"].([]any)
	found := false
	for _, o := range options {
		m := o.(map[string]any)
		if m["name"] == focus {
			m["focused"] = true
			m["value"] = fmt.Sprint(m["value"])
			found = true
		}
	}
	if !found {
		options = append(options, map[string]any{"name": focus, "type": 3, "value": "", "focused": true})
	}
	sd["options"] = options
	return data
}

// ButtonData is the data of a click on the button customID.
func ButtonData(customID string) map[string]any {
	return map[string]any{"custom_id": customID, "component_type": 2}
}

// Slash is the command /name sub from m in where, as Interaction makes
// it (see CommandData for opts).
func (s *Server) Slash(where Where, id, token string, m Member, name, sub string, opts ...any) map[string]any {
	return s.Interaction(where, id, token, InteractionApplicationCommand, m, CommandData("423456789012345678", name, sub, opts...), nil)
}

// Autocomplete is m typing in option focus of /name sub, the other
// options filled as opts (see AutocompleteData).
func (s *Server) Autocomplete(where Where, id, token string, m Member, name, sub, focus string, opts ...any) map[string]any {
	return s.Interaction(where, id, token, InteractionApplicationCommandAutocomplete, m, AutocompleteData("423456789012345678", name, sub, focus, opts...), nil)
}

// Click is m's click on the button customID of message (its JSON as
// Discord sends it: id, channel_id, content, flags).
func (s *Server) Click(where Where, id, token string, m Member, customID string, message map[string]any) map[string]any {
	return s.Interaction(where, id, token, InteractionMessageComponent, m, ButtonData(customID), message)
}
