package commands

import (
	"fmt"
	"strings"
)

// HelpText is the reply to help: the usage line and a one-line summary of
// every verb role may run, in a fixed order. RoleNone gets only whoami.
func HelpText(role Role) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Commands you may run (role %s):\n", role)
	for _, s := range verbTable {
		if role.Allows(s.role) {
			fmt.Fprintf(&b, "  %-44s %s\n", Usage(s.verb), s.summary)
		}
	}
	return b.String()
}

// WhoamiText is the reply to whoami: "You are NAME (PLATFORM ID), role
// ROLE in this channel", or "..., not on the allowlist in this channel"
// when ok is false, followed by the channels where the user's grants
// apply (elsewhere, see Allowlist.Elsewhere) and a note when their
// groups could not be looked up. NAME falls back to the ID when the
// adapter has no display name.
func WhoamiText(id Identity, role Role, ok bool, elsewhere []string) string {
	name := id.UserName
	if name == "" {
		name = id.UserID
	}
	text := fmt.Sprintf("You are %s (%s %s), role %s in this channel", name, id.Platform, id.UserID, role)
	if !ok || role == RoleNone {
		text = fmt.Sprintf("You are %s (%s %s), not on the allowlist in this channel", name, id.Platform, id.UserID)
		if len(elsewhere) > 0 {
			text += "; your grants apply only in " + strings.Join(elsewhere, ", ")
		}
	}
	if id.GroupsUnknown {
		text += groupsUnknownNote
	}
	return text
}
