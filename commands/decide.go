package commands

import (
	"errors"
	"fmt"
	"strings"
)

// Request is one command as a chat adapter (or the CLI) hands it in:
// who sent it, from which channel (the platform's channel ID; the shell
// adapter may use any word), and the text after the slash command, with
// or without a leading "/odoo".
type Request struct {
	Identity Identity
	Channel  string
	Text     string
}

// DeniedError is a refusal: the caller is not on the allowlist in this
// channel, or their role is below what the verb needs. Its message names
// only the caller's own ID, roles and grants, so it is safe for a
// private (ephemeral) reply, and it says the real reason: no grant at
// all, grants for other channels only, or user groups that could not be
// looked up.
type DeniedError struct {
	UserID string
	Verb   Verb // "" when the caller is not on the allowlist
	Need   Role // RoleNone when the caller is not on the allowlist
	Have   Role
	// Elsewhere lists the channels where the caller's grants apply,
	// when none applies in this one.
	Elsewhere []string
	// GroupsUnknown: the caller's groups could not be looked up, so
	// their group grants were not applied.
	GroupsUnknown bool
}

// Error is the refusal for a private reply.
func (e *DeniedError) Error() string {
	var msg string
	switch {
	case e.Have == RoleNone && len(e.Elsewhere) > 0:
		msg = fmt.Sprintf("you (%s) have no role in this channel: your grants apply only in %s; run the command there, or ask an admin for a grant here", e.UserID, strings.Join(e.Elsewhere, ", "))
	case e.Have == RoleNone && e.GroupsUnknown:
		msg = fmt.Sprintf("you (%s) are not on the allowlist by your user ID", e.UserID)
	case e.Have == RoleNone:
		msg = fmt.Sprintf("you (%s) are not on the allowlist", e.UserID)
	default:
		msg = fmt.Sprintf("you (%s) need role %s to run %s; you have %s", e.UserID, e.Need, e.Verb, e.Have)
	}
	if e.GroupsUnknown {
		msg += groupsUnknownNote
	}
	return msg
}

// groupsUnknownNote ends a refusal, or whoami, when the user's groups
// could not be looked up.
const groupsUnknownNote = "; your user groups could not be looked up just now, so group grants were not applied: try again in a minute (if it keeps failing, an admin should check the bot's usergroups:read scope and its log)"

// ErrDenied matches every *DeniedError with errors.Is.
var ErrDenied = errors.New("commands: denied")

// Is makes errors.Is(err, ErrDenied) true.
func (e *DeniedError) Is(target error) bool { return target == ErrDenied }

// Decide parses req.Text and checks the caller's role in req.Channel. It
// returns the command and the caller's effective role when they may run
// it, a *DeniedError when they may not, and a *UsageError when the text
// does not parse. A caller who is not on the allowlist is told only that
// (never a usage message), except for whoami, which anyone may run so
// that they can learn the ID an admin must grant. The name in the command
// is not checked here: the dispatcher applies provision.NameRules.
func Decide(al *Allowlist, req Request) (Command, Role, error) {
	role, listed := al.Role(req.Identity, req.Channel)
	cmd, err := Parse(req.Text)
	if !listed {
		if err == nil && cmd.Verb == VerbWhoami {
			return cmd, RoleNone, nil
		}
		return Command{}, RoleNone, &DeniedError{UserID: req.Identity.UserID,
			Elsewhere: al.Elsewhere(req.Identity, req.Channel), GroupsUnknown: req.Identity.GroupsUnknown}
	}
	if err != nil {
		return Command{}, role, err
	}
	if need := Required(cmd.Verb); !role.Allows(need) {
		return Command{}, role, &DeniedError{UserID: req.Identity.UserID, Verb: cmd.Verb, Need: need, Have: role, GroupsUnknown: req.Identity.GroupsUnknown}
	}
	return cmd, role, nil
}
