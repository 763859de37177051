package commands

import (
	"context"
	"slices"
	"strings"

	"odoobot/provision"
)

// Choice is one value a chat offers for an option while the user types
// (Discord's autocomplete, Slack's external select).
type Choice struct {
	// Label is what the user reads; Value what the command receives.
	Label, Value string
}

// MaxChoices is the most Suggest returns: Discord's limit for an
// autocomplete answer, and more than a phone shows.
const MaxChoices = 25

// The fields Suggest knows.
const (
	FieldName   = "name"   // an instance, for every verb taking NAME
	FieldBackup = "backup" // a backup of the instance named, for restore
	FieldMode   = "mode"   // a TLS mode, for create
)

// Suggest returns the values the requester id may pick in channel for
// field of verb, those whose value starts with typed (ignoring ASCII
// case), at most MaxChoices, in a stable order: instances by name,
// backups newest first, modes as help lists them. name is the instance
// already chosen (for FieldBackup). A requester whose role may not run
// verb is offered nothing, as is any unknown field: a suggestion only
// ever shows what that role could read with list or backups. Nothing is
// audited: a suggestion changes nothing. Errors of the store are not
// shown: the list is empty and the typed command still works.
func (d *Dispatcher) Suggest(ctx context.Context, id Identity, channel string, verb Verb, field, name, typed string) []Choice {
	if d.Allowlist == nil {
		return nil
	}
	role, ok := d.Allowlist.Role(id, channel)
	if !ok || role < Required(verb) || !d.available(verb) {
		return nil
	}
	typed = asciiLower(strings.TrimSpace(typed))
	var out []Choice
	add := func(c Choice) bool {
		if strings.HasPrefix(asciiLower(c.Value), typed) {
			out = append(out, c)
		}
		return len(out) < MaxChoices
	}
	switch field {
	case FieldName:
		if d.Operator == nil {
			return nil
		}
		list, err := d.Operator.List(ctx)
		if err != nil {
			return nil
		}
		slices.SortFunc(list, func(a, b provision.Instance) int { return strings.Compare(a.Name, b.Name) })
		for _, inst := range list {
			if !add(Choice{Label: inst.Name + " (" + string(inst.State) + ")", Value: inst.Name}) {
				break
			}
		}
	case FieldBackup:
		if d.DayTwo == nil || name == "" {
			return nil
		}
		listing, err := d.DayTwo.BackupPlaces(ctx, name)
		if err != nil {
			return nil
		}
		for _, b := range listing.Backups {
			if !add(Choice{Label: b.ID + " (" + b.Reason + ")", Value: b.ID}) {
				break
			}
		}
	case FieldMode:
		for _, m := range []provision.SSLMode{provision.SSLCloudflare, provision.SSLLetsEncrypt, provision.SSLHTTP} {
			add(Choice{Label: string(m), Value: string(m)})
		}
	}
	return out
}
