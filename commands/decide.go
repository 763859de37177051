package commands

import (
	"errors"
	"fmt"
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
// only the caller's own ID and roles, so it is safe for a private
// (ephemeral) reply.
type DeniedError struct {
	UserID string
	Verb   Verb // "" when the caller is not on the allowlist
	Need   Role // RoleNone when the caller is not on the allowlist
	Have   Role
}

// Error is the refusal for a private reply.
func (e *DeniedError) Error() string {
	if e.Have == RoleNone {
		return fmt.Sprintf("you (%s) are not on the allowlist", e.UserID)
	}
	return fmt.Sprintf("you (%s) need role %s to run %s; you have %s", e.UserID, e.Need, e.Verb, e.Have)
}

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
		return Command{}, RoleNone, &DeniedError{UserID: req.Identity.UserID}
	}
	if err != nil {
		return Command{}, role, err
	}
	if need := Required(cmd.Verb); !role.Allows(need) {
		return Command{}, role, &DeniedError{UserID: req.Identity.UserID, Verb: cmd.Verb, Need: need, Have: role}
	}
	return cmd, role, nil
}
