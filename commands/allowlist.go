package commands

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
)

// The platforms an Identity comes from.
const (
	PlatformSlack   = "slack"
	PlatformDiscord = "discord"
	PlatformShell   = "shell"
)

// Identity is who sent a command, as the adapter saw it. UserID and Groups
// are the platform's immutable IDs and are the only things the allowlist
// matches; UserName is for display and is never matched.
type Identity struct {
	Platform string   // PlatformSlack, PlatformDiscord or PlatformShell
	UserID   string   // Slack "U…"/"W…", Discord user snowflake, local user name
	UserName string   // display only
	Groups   []string // Slack user-group IDs "S…", Discord role snowflakes, local group names
	// GroupsUnknown says the adapter could not learn the user's groups
	// (Slack's usergroups.list failed): Groups is then empty, group
	// grants do not apply (fail closed), and a refusal says why.
	GroupsUnknown bool
}

// Grant is one line of the allowlist: Role is granted to the user or group
// ID on Platform, in Channels only when Channels is not empty.
type Grant struct {
	Role     Role
	Platform string
	Kind     string // "user", or "group" (Slack user group, local group) / "role" (Discord role)
	ID       string
	Channels []string
	Line     int // line number in the file, for messages
}

// Allowlist says which role a user has in a channel. It is built once by
// LoadAllowlist or ParseAllowlist and is read-only afterwards, so it may be
// shared between goroutines. A nil *Allowlist is an empty allowlist.
//
// The file has one grant per line, fields separated by white space. Blank
// lines are ignored; a line starting with '#' is a comment, and so is the
// rest of a line from a "#" standing alone as a word ("... U0123ABCD  # ana"):
// a '#' glued to a word is not a comment.
//
//	# role      platform  kind   id                  [channels]
//	admin       slack     user   U0123ABCD
//	operator    slack     group  S0456EFGH           C0789ABCD,C0790ABCD
//	viewer      discord   role   112233445566778899
//	admin       discord   user   998877665544332211
//	admin       shell     user   root
//
// role is viewer, operator or admin. platform and kind are one of:
// slack user (ID "U…" or "W…"), slack group (a user group, "S…"),
// discord user or discord role (a snowflake, 17–20 digits), shell user or
// shell group (a local user or group name). Channels, optional, is a
// comma-separated list of channel IDs (Slack "C…"/"G…"/"D…", Discord
// snowflakes, any word for shell) where the grant applies; without it the
// grant applies everywhere. IDs are the platform's immutable IDs, never
// display names: a line whose ID does not have the platform's shape is
// refused.
type Allowlist struct {
	grants []Grant
}

// LoadAllowlist reads the allowlist file at path. An empty path or a file
// that does not exist gives an empty allowlist (see ShellDefaultAdmin); the
// caller should log that it is running without one. A file with any bad
// line is refused as a whole: the error joins one message per bad line,
// each naming the file and the line number, so that every problem is
// reported at once and a typo never silently changes who may do what.
func LoadAllowlist(path string) (*Allowlist, error) {
	if path == "" {
		return &Allowlist{}, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return &Allowlist{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("commands: load allowlist: %w", err)
	}
	defer f.Close()
	return ParseAllowlist(f, path)
}

// ParseAllowlist reads an allowlist in the format described on Allowlist.
// name is the file name used in messages. Errors are as for LoadAllowlist.
func ParseAllowlist(r io.Reader, name string) (*Allowlist, error) {
	var (
		al   Allowlist
		errs []error
		seen = map[string]int{}
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		fields := stripComment(strings.Fields(sc.Text()))
		if len(fields) == 0 {
			continue
		}
		g, problems := parseGrant(fields)
		for _, p := range problems {
			errs = append(errs, fmt.Errorf("%s:%d: %s", name, n, p))
		}
		if len(problems) > 0 {
			continue
		}
		g.Line = n
		key := g.Platform + " " + g.Kind + " " + g.ID + " " + strings.Join(sortedCopy(g.Channels), ",")
		if prev, dup := seen[key]; dup {
			errs = append(errs, fmt.Errorf("%s:%d: %s %s %s is already granted on line %d: keep one line per grant", name, n, g.Platform, g.Kind, g.ID, prev))
			continue
		}
		seen[key] = n
		al.grants = append(al.grants, g)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s:%d: %w", name, n+1, err))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("commands: allowlist refused:\n%w", errors.Join(errs...))
	}
	return &al, nil
}

// idShapes are the accepted ID shapes per "platform kind", and per
// "platform channel" for the channel list.
var idShapes = map[string]struct {
	re   *regexp.Regexp
	desc string
}{
	"slack user":      {regexp.MustCompile(`^[UW][A-Z0-9]{6,20}$`), `a Slack user ID ("U…" or "W…", upper case), not a display name`},
	"slack group":     {regexp.MustCompile(`^S[A-Z0-9]{6,20}$`), `a Slack user-group ID ("S…", upper case), not a handle`},
	"slack channel":   {regexp.MustCompile(`^[CGD][A-Z0-9]{6,20}$`), `a Slack channel ID ("C…", "G…" or "D…"), not a #name`},
	"discord user":    {regexp.MustCompile(`^[0-9]{17,20}$`), `a Discord user ID (17–20 digits), not a user name`},
	"discord role":    {regexp.MustCompile(`^[0-9]{17,20}$`), `a Discord role ID (17–20 digits), not a role name`},
	"discord channel": {regexp.MustCompile(`^[0-9]{17,20}$`), `a Discord channel ID (17–20 digits), not a #name`},
	"shell user":      {regexp.MustCompile(`^[a-z_][a-z0-9_.-]{0,31}\$?$`), `a local user name`},
	"shell group":     {regexp.MustCompile(`^[a-z_][a-z0-9_.-]{0,31}\$?$`), `a local group name`},
	"shell channel":   {regexp.MustCompile(`^\S{1,64}$`), `a word`},
}

var platformKinds = map[string]string{
	PlatformSlack:   "user or group",
	PlatformDiscord: "user or role",
	PlatformShell:   "user or group",
}

// stripComment drops a comment: a line whose first word starts with '#',
// or the words from a lone "#" on. A '#' glued to a word is not a comment,
// so "#general" in the channel column is refused as a bad channel rather
// than silently widening the grant to every channel.
func stripComment(fields []string) []string {
	for i, f := range fields {
		if f == "#" || (i == 0 && strings.HasPrefix(f, "#")) {
			return fields[:i]
		}
	}
	return fields
}

// parseGrant checks one line's fields and returns every problem found.
func parseGrant(f []string) (Grant, []string) {
	if len(f) < 4 {
		return Grant{}, []string{fmt.Sprintf("want ROLE PLATFORM KIND ID [CHANNELS], got %d word(s)", len(f))}
	}
	if len(f) > 5 {
		return Grant{}, []string{fmt.Sprintf("too many words (%d): channels are one comma-separated word, e.g. C0789ABCD,C0790ABCD", len(f))}
	}
	var problems []string
	g := Grant{Platform: f[1], Kind: f[2], ID: f[3]}
	role, err := ParseRole(f[0])
	if err != nil {
		problems = append(problems, fmt.Sprintf("unknown role %s: use viewer, operator or admin", quote(f[0])))
	}
	g.Role = role
	kinds, ok := platformKinds[g.Platform]
	if !ok {
		problems = append(problems, fmt.Sprintf("unknown platform %s: use slack, discord or shell", quote(g.Platform)))
		return g, problems
	}
	shape, ok := idShapes[g.Platform+" "+g.Kind]
	if !ok || g.Kind == "channel" {
		problems = append(problems, fmt.Sprintf("unknown kind %s for %s: use %s", quote(g.Kind), g.Platform, kinds))
		return g, problems
	}
	if !shape.re.MatchString(g.ID) {
		problems = append(problems, fmt.Sprintf("%s is not %s", quote(g.ID), shape.desc))
	}
	if len(f) == 5 {
		ch := idShapes[g.Platform+" channel"]
		for _, c := range strings.Split(f[4], ",") {
			if !ch.re.MatchString(c) {
				if c == "" {
					problems = append(problems, "empty channel in the channel list (a stray comma?)")
				} else {
					problems = append(problems, fmt.Sprintf("channel %s is not %s", quote(c), ch.desc))
				}
				continue
			}
			g.Channels = append(g.Channels, c)
		}
	}
	return g, problems
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// Len is the number of grants.
func (a *Allowlist) Len() int {
	if a == nil {
		return 0
	}
	return len(a.grants)
}

// Grants returns a copy of the grants, in file order.
func (a *Allowlist) Grants() []Grant {
	if a == nil {
		return nil
	}
	gs := make([]Grant, len(a.grants))
	for i, g := range a.grants {
		g.Channels = slices.Clone(g.Channels)
		gs[i] = g
	}
	return gs
}

// ShellDefaultAdmin reports whether the allowlist is empty, in which case
// Role gives every shell (terminal) user admin: whoever runs the bot in a
// terminal already holds the host. On chat platforms an empty allowlist
// refuses everyone. As soon as the file holds any grant, shell users too
// need a grant of their own (e.g. "admin shell user root").
func (a *Allowlist) ShellDefaultAdmin() bool { return a.Len() == 0 }

// Elsewhere lists the channels, sorted, where a grant matching the
// caller (as Role matches) applies when none applies in channel: what a
// refusal tells a user who has a role, but not here. It is nil when a
// grant applies in channel or everywhere, or none matches.
func (a *Allowlist) Elsewhere(id Identity, channel string) []string {
	if a == nil {
		return nil
	}
	var out []string
	for _, g := range a.grants {
		if g.Platform != id.Platform || !g.matches(id) {
			continue
		}
		if len(g.Channels) == 0 || slices.Contains(g.Channels, channel) {
			return nil
		}
		out = append(out, g.Channels...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// matches reports whether the grant names the user or one of their groups.
func (g Grant) matches(id Identity) bool {
	if g.Kind == "user" {
		return id.UserID != "" && g.ID == id.UserID
	}
	return slices.Contains(id.Groups, g.ID)
}

// GroupsMatter reports whether the caller's groups could change what
// Role (or a refusal's Elsewhere) says of them in channel: some group
// grant of their platform could give a higher role there than their
// user grants do, or their user grants give none there. An adapter that
// must ask its platform for a user's groups (Slack's usergroups.list)
// asks this first, so that a user whose own grant settles it never
// waits for that lookup. With no group grant at all it is false.
func (a *Allowlist) GroupsMatter(id Identity, channel string) bool {
	if a.ShellDefaultAdmin() {
		return false
	}
	role, ok := a.Role(Identity{Platform: id.Platform, UserID: id.UserID}, channel)
	for _, g := range a.grants {
		if g.Platform != id.Platform || g.Kind == "user" {
			continue
		}
		if !ok || g.Role > role && (len(g.Channels) == 0 || slices.Contains(g.Channels, channel)) {
			return true
		}
	}
	return false
}

// Role is the caller's effective role in channel: the highest role among
// the grants on the caller's platform that name their UserID (kind user)
// or one of their Groups (kind group or role) and either have no channel
// list or list channel. ok is false when no grant matches: the caller is
// refused (fail closed). The one exception is ShellDefaultAdmin.
func (a *Allowlist) Role(id Identity, channel string) (role Role, ok bool) {
	if a.ShellDefaultAdmin() {
		if id.Platform == PlatformShell {
			return RoleAdmin, true
		}
		return RoleNone, false
	}
	for _, g := range a.grants {
		if g.Platform != id.Platform || g.Role <= role {
			continue
		}
		if len(g.Channels) > 0 && !slices.Contains(g.Channels, channel) {
			continue
		}
		if g.matches(id) {
			role, ok = g.Role, true
		}
	}
	return role, ok
}
