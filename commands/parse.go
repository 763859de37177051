package commands

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"odoobot/provision"
)

// UsageError is a command that could not be parsed. Its message is safe to
// show the user: what was wrong, then the usage line of the verb (or the
// list of verbs when the verb itself is unknown). User text in it is
// quoted and shortened.
type UsageError struct {
	Verb    Verb   // the verb, when it was recognised; "" otherwise
	Problem string // what was wrong, e.g. `missing NAME`
}

// Error is the message for the user: the problem, then the usage line.
func (e *UsageError) Error() string {
	if e.Verb == "" {
		return e.Problem + "\ncommands: " + verbList() + "\n(try /odoo help)"
	}
	return e.Problem + "\nusage: " + Usage(e.Verb)
}

func verbList() string {
	vs := Verbs()
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// Parse reads the text of a command: "VERB ARGS", with or without a
// leading "/odoo". Words are split on any Unicode white space. The verb and
// the SSL mode are matched ignoring ASCII case (a phone capitalises the
// first word); NAME and BACKUP are kept exactly as typed. Empty text is
// "help". "logs NAME [N] share" sets Share ("share" in any ASCII case).
// Any mistake (unknown verb, missing NAME or BACKUP, unknown SSL
// mode, a bad N, extra words) is a *UsageError.
func Parse(text string) (Command, error) {
	words := strings.Fields(text)
	if len(words) > 0 && asciiLower(words[0]) == "/odoo" {
		words = words[1:]
	}
	if len(words) == 0 {
		return Command{Verb: VerbHelp}, nil
	}
	spec, ok := lookupVerb(Verb(asciiLower(words[0])))
	if !ok {
		return Command{}, &UsageError{Problem: fmt.Sprintf("unknown command %s", quote(words[0]))}
	}
	c := Command{Verb: spec.verb}
	rest := words[1:]
	bad := func(format string, a ...any) (Command, error) {
		return Command{}, &UsageError{Verb: spec.verb, Problem: fmt.Sprintf(format, a...)}
	}

	if spec.args == argsNameBackup && len(rest) >= 2 && (asciiLower(rest[1]) == atFlag || strings.HasPrefix(asciiLower(rest[1]), atFlag+"=")) {
		// restore NAME --at TIME: the time may hold a space, and quotes.
		c.Name = rest[0]
		text := strings.TrimPrefix(strings.Join(rest[1:], " "), rest[1][:len(atFlag)])
		at, err := ParseAt(strings.TrimPrefix(text, "="))
		if err != nil {
			return bad("%v", err)
		}
		c.At = at
		return c, nil
	}

	maxArgs := 0
	switch spec.args {
	case argsNone:
		maxArgs = 0
	case argsName:
		maxArgs = 1
	case argsNameMode, argsNameBackup, argsNameRelease:
		maxArgs = 2
	case argsNameTarget:
		maxArgs = 3
	case argsNameWindow:
		maxArgs = len(rest) // the reason takes the rest
	case argsAudit:
		maxArgs = 2
	case argsNameLines:
		maxArgs = 2
		if len(rest) > 1 && asciiLower(rest[len(rest)-1]) == shareWord {
			c.Share = true
			rest = rest[:len(rest)-1]
		}
	}
	if spec.args == argsAudit {
		if len(rest) > maxArgs {
			return bad("too many words after %s: %s", spec.verb, quote(strings.Join(rest[maxArgs:], " ")))
		}
		if len(rest) > 0 {
			if _, ok := SinceOf(rest[0], time.Time{}); ok {
				c.Since, rest = rest[0], rest[1:]
			} else if len(rest) == 2 {
				return bad("%s is not a time to start from: give a length (24h, 7d) or a date (2026-12-01)", quote(rest[0]))
			}
		}
		if len(rest) == 1 {
			if utf8.RuneCountInString(rest[0]) > 100 {
				return bad("USER is longer than 100 characters")
			}
			c.User = rest[0]
		}
		return c, nil
	}
	if spec.args != argsNone && len(rest) == 0 {
		return bad("%s needs an instance NAME", spec.verb)
	}
	if len(rest) > maxArgs {
		return bad("too many words after %s: %s", spec.verb, quote(strings.Join(rest[maxArgs:], " ")))
	}
	if spec.args != argsNone {
		c.Name = rest[0]
	}

	switch spec.args {
	case argsNameMode:
		mode := ""
		if len(rest) == 2 {
			mode = asciiLower(rest[1])
		}
		m, err := provision.ParseSSLMode(mode, "")
		if err != nil {
			return bad("unknown SSL mode %s: use cloudflare, letsencrypt or http", quote(rest[1]))
		}
		c.Mode = string(m) // "" when omitted: the dispatcher's default applies
	case argsNameLines:
		c.Lines = DefaultLogLines
		if len(rest) == 2 {
			n, ok := parseLines(rest[1])
			if !ok {
				return bad("N must be a whole number from 1 to %d, not %s", MaxLogLines, quote(rest[1]))
			}
			c.Lines = n
		}
	case argsNameBackup:
		if len(rest) < 2 {
			return bad("%s needs the BACKUP to restore (see /odoo backups %s)", spec.verb, quote(c.Name))
		}
		c.Backup = rest[1]
	case argsNameRelease:
		if len(rest) == 2 {
			if !releaseRef(rest[1]) {
				return bad("%s is not a commit, a tag or latest", quote(rest[1]))
			}
			c.Release = rest[1]
			if asciiLower(c.Release) == "latest" {
				c.Release = "latest"
			}
		}
	case argsNameWindow:
		if len(rest) < 2 {
			return bad("%s needs how long (e.g. 30m or 2h), or off", spec.verb)
		}
		if asciiLower(rest[1]) == offWord {
			if len(rest) > 2 {
				return bad("too many words after off: %s", quote(strings.Join(rest[2:], " ")))
			}
			break
		}
		d, err := time.ParseDuration(rest[1])
		if err != nil || d < time.Minute || d > provision.MaxMaintenance {
			return bad("%s is not a length from 1m to 168h (e.g. 30m, 2h) nor off", quote(rest[1]))
		}
		c.Window = d
		c.Reason = strings.Join(rest[2:], " ")
		if utf8.RuneCountInString(c.Reason) > 200 {
			return bad("the reason is longer than 200 characters")
		}
	case argsNameTarget:
		if len(rest) < 2 || strings.HasPrefix(rest[1], "-") {
			return bad("%s needs the NAME of the new instance: /odoo clone %s NEWNAME", spec.verb, c.Name)
		}
		c.Target = rest[1]
		if len(rest) == 3 {
			switch strings.TrimPrefix(asciiLower(rest[2]), "--") {
			case strings.TrimPrefix(noNeutralizeFlag, "--"):
				c.KeepLive = true
			case strings.TrimPrefix(neutralizeFlag, "--"):
			default:
				return bad("unknown option %s: use %s or %s", quote(rest[2]), neutralizeFlag, noNeutralizeFlag)
			}
		}
	}
	return c, nil
}

// atFlag is restore's option of a time: restore NAME --at TIME.
const atFlag = "--at"

// atLayouts are the forms restore --at takes, in UTC unless they carry
// an offset.
var atLayouts = []string{"2006-01-02 15:04", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339Nano}

// ParseAt reads restore's --at time: "2026-12-07 14:32", with seconds,
// or RFC 3339 ("2026-12-07T14:32:00-03:00"); without an offset it is
// UTC (a trailing "UTC" or "Z" may say so). Quotes around it are
// dropped, and '_' read as a space (Discord's one-word options: the
// backup option "--at=2026-12-07_14:32").
func ParseAt(text string) (time.Time, error) {
	t := strings.TrimSpace(strings.Trim(strings.TrimSpace(text), "\"'“”‘’`"))
	if t == "" {
		return time.Time{}, fmt.Errorf("%s needs a TIME, e.g. %s \"2026-12-07 14:32\" (UTC)", atFlag, atFlag)
	}
	// Discord gives one word per option, its spaces made '_'.
	plain := strings.TrimSpace(strings.TrimSuffix(strings.ReplaceAll(t, "_", " "), "UTC"))
	for _, l := range atLayouts {
		if at, err := time.ParseInLocation(l, plain, time.UTC); err == nil {
			return at.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%s is not a time: write it as \"2026-12-07 14:32\" (UTC) or 2026-12-07T14:32:00-03:00", quote(t))
}

// The options of clone: neutralize (the default) or not; also taken
// without the dashes (Discord's boolean option gives "no-neutralize").
const (
	neutralizeFlag   = "--neutralize"
	noNeutralizeFlag = "--no-neutralize"
)

// releaseRef accepts what git accepts as a tag or a hash and nothing a
// shell or git would read as an option: letters, digits, '.', '_', '-',
// '/' and '+', not starting with '-', at most 100 bytes.
func releaseRef(s string) bool {
	if s == "" || len(s) > 100 || s[0] == '-' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._-/+", c) >= 0) {
			return false
		}
	}
	return true
}

// shareWord, last after "logs NAME [N]", posts the lines in the channel.
const shareWord = "share"

// offWord ends a maintenance window: "maintenance NAME off".
const offWord = "off"

// parseLines accepts decimal digits only (no sign, no spaces) for a value
// in 1..MaxLogLines.
func parseLines(s string) (int, bool) {
	if s == "" || len(s) > 6 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxLogLines {
		return 0, false
	}
	return n, true
}

// asciiLower folds A-Z only, so that no exotic Unicode letter can fold
// into a verb (the Kelvin sign is not a k).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// quote shows user text in a message: Go-quoted, so control and invisible
// characters are visible, and cut to 40 runes.
func quote(s string) string {
	const maxRunes = 40
	if utf8.RuneCountInString(s) > maxRunes {
		r := []rune(s)
		s = string(r[:maxRunes]) + "…"
	}
	return strconv.Quote(s)
}

// MaxAuditDays bounds how far back audit reaches.
const MaxAuditDays = 366

// SinceOf reads audit's SINCE at now: a length back from now (Go's
// "24h", "90m", or whole days "7d", at most MaxAuditDays) or a UTC date
// (2026-12-01); ok is false for anything else.
func SinceOf(word string, now time.Time) (since time.Time, ok bool) {
	if t, err := time.Parse(time.DateOnly, word); err == nil {
		return t, true
	}
	if days, found := strings.CutSuffix(word, "d"); found {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > MaxAuditDays || days[0] == '+' {
			return time.Time{}, false
		}
		return now.AddDate(0, 0, -n), true
	}
	d, err := time.ParseDuration(word)
	if err != nil || d < time.Minute || d > MaxAuditDays*24*time.Hour {
		return time.Time{}, false
	}
	return now.Add(-d), true
}
