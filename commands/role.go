package commands

import "fmt"

// Role is what a user may do. Roles are ordered: a higher role may run
// every verb of the lower ones. The zero value, RoleNone, is "not on the
// allowlist" and runs nothing but whoami.
type Role int

// The roles of SPEC.md, lowest first.
const (
	RoleNone     Role = iota // not on the allowlist
	RoleViewer               // reads: list, status, info, backups, capacity, certs, help
	RoleOperator             // + service control, logs, backup
	RoleAdmin                // + create, delete, restore
)

// Roles lists the grantable roles, lowest first.
var Roles = []Role{RoleViewer, RoleOperator, RoleAdmin}

// String is the role's name as written in the allowlist file.
func (r Role) String() string {
	switch r {
	case RoleNone:
		return "none"
	case RoleViewer:
		return "viewer"
	case RoleOperator:
		return "operator"
	case RoleAdmin:
		return "admin"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// Allows reports whether a user holding r may run something that needs
// required.
func (r Role) Allows(required Role) bool { return r >= required }

// ParseRole accepts "viewer", "operator" or "admin" (exactly, lower case).
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if r.String() == s {
			return r, nil
		}
	}
	return RoleNone, fmt.Errorf("commands: unknown role %q: use viewer, operator or admin", s)
}
