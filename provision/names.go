package provision

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Rule names one of the name rules of SPEC.md. Every refusal of a name
// carries the rule that failed, so the user can be told which one.
type Rule string

// The name rules, in the order they are checked.
const (
	RuleEmpty    Rule = "empty"     // a name is required
	RuleFormat   Rule = "format"    // ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$
	RuleReserved Rule = "reserved"  // the zone itself, production, prod, www, api, mail, ftp, plus configured ones
	RuleOneLabel Rule = "one-label" // the domain is exactly one label under the zone
	RuleTaken    Rule = "taken"     // an instance of that name exists
	RuleLength   Rule = "length"    // every name derived from it fits its system's limit
)

// Sentinel errors, one per rule, matched with errors.Is on a *NameError.
var (
	ErrNameEmpty       = errors.New("name is empty")
	ErrNameFormat      = errors.New("name has an invalid format")
	ErrNameReserved    = errors.New("name is reserved")
	ErrNameNotOneLabel = errors.New("domain is not exactly one label under the zone")
	ErrInstanceExists  = errors.New("instance already exists")
)

// NameError is the refusal of a name. Its message is safe to show in chat:
// it names the rule that failed and what to do.
type NameError struct {
	Name   string
	Rule   Rule
	Reason string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("name %q refused (rule %s): %s", e.Name, e.Rule, e.Reason)
}

// Is matches the sentinel of the rule that failed.
func (e *NameError) Is(target error) bool {
	switch e.Rule {
	case RuleEmpty:
		return target == ErrNameEmpty
	case RuleFormat:
		return target == ErrNameFormat
	case RuleReserved:
		return target == ErrNameReserved
	case RuleOneLabel:
		return target == ErrNameNotOneLabel
	case RuleTaken:
		return target == ErrInstanceExists
	}
	return false
}

// labelPattern is API-DEV's DNS label rule, kept verbatim.
var labelPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// DefaultReserved are the names no instance may take, besides the zone
// name itself and the configured extras.
var DefaultReserved = []string{"production", "prod", "www", "api", "mail", "ftp"}

// NameRules checks instance names. Zone is the DNS zone (CF_ZONE_NAME);
// Reserved are extra names refused on top of DefaultReserved.
// The zero value is not usable: Zone must be set.
type NameRules struct {
	Zone     string
	Reserved []string
}

// IsLabel reports whether s is one valid DNS label under the format rule.
func IsLabel(s string) bool { return labelPattern.MatchString(s) }

// Check applies every rule that needs no state: empty, format, reserved,
// one-label. It is the one function that every entry point calls before
// anything else; the "taken" rule is enforced by the store.
func (r NameRules) Check(name string) error {
	if name == "" {
		return &NameError{Name: name, Rule: RuleEmpty, Reason: "give a name such as cliente1"}
	}
	zone := strings.ToLower(strings.TrimSuffix(r.Zone, "."))
	if zone != "" && (strings.TrimSuffix(strings.ToLower(name), ".") == zone || name == firstLabel(zone)) {
		return &NameError{Name: name, Rule: RuleReserved, Reason: "the zone's own name is never an instance: the root domain is not touched"}
	}
	if !IsLabel(name) {
		return &NameError{Name: name, Rule: RuleFormat, Reason: formatReason(name)}
	}
	if len(name) > MaxNameLength {
		return &NameError{Name: name, Rule: RuleLength, Reason: fmt.Sprintf(
			"%d characters; at most %d: PostgreSQL cuts names at %d bytes, and the instance's database %s with the suffix restore gives it (%s) must stay whole and distinct",
			len(name), MaxNameLength, maxIdentifier, InternalName("NAME"), RestoreStagingSuffix)}
	}
	for _, res := range append(append([]string(nil), DefaultReserved...), r.Reserved...) {
		if name == strings.ToLower(strings.TrimSpace(res)) {
			return &NameError{Name: name, Rule: RuleReserved, Reason: fmt.Sprintf("%q is reserved; choose another name", name)}
		}
	}
	d := name + "." + zone
	if zone == "" || !IsOneLabelUnder(d, zone) {
		return &NameError{Name: name, Rule: RuleOneLabel, Reason: fmt.Sprintf("%s is not one label under the zone %q", d, zone)}
	}
	return nil
}

// Domain returns name.<zone>. It does not validate; call Check first.
func (r NameRules) Domain(name string) string {
	return name + "." + strings.ToLower(strings.TrimSuffix(r.Zone, "."))
}

// IsOneLabelUnder reports whether fqdn is exactly one valid label followed
// by zone: never the zone itself, never two labels deep, never outside.
// The DNS driver uses it as its own, independent guard.
func IsOneLabelUnder(fqdn, zone string) bool {
	fqdn = strings.TrimSuffix(fqdn, ".")
	zone = strings.TrimSuffix(zone, ".")
	if zone == "" || fqdn == zone {
		return false
	}
	label, ok := strings.CutSuffix(fqdn, "."+zone)
	return ok && IsLabel(label)
}

func firstLabel(zone string) string {
	l, _, _ := strings.Cut(zone, ".")
	return l
}

func formatReason(name string) string {
	switch {
	case len(name) > 63:
		return "at most 63 characters"
	case strings.ToLower(name) != name:
		return "upper case is not allowed; use lower-case letters, digits and inner hyphens"
	case strings.HasPrefix(name, "-") || strings.HasSuffix(name, "-"):
		return "a name cannot start or end with a hyphen"
	case strings.Contains(name, "."):
		return "a name is one label: no dots (the zone is added for you)"
	default:
		return "use only lower-case letters, digits and inner hyphens (1 to 63 characters)"
	}
}

// The suffixes restore gives an instance's database name while it swaps
// databases: the restored copy, then the replaced one.
const (
	RestoreStagingSuffix = "_restore"
	RestoreOldSuffix     = "_old"
)

// maxIdentifier is PostgreSQL's limit on a name (NAMEDATALEN - 1 bytes):
// a longer one is silently cut, so two names could become one.
const maxIdentifier = 63

// MaxNameLength is the longest instance name whose every derived database
// name (InternalName, and it with a restore suffix) fits maxIdentifier:
// 50. The unit, nginx and DNS names derived from a name are shorter than
// their own limits for every name this short.
var MaxNameLength = maxIdentifier - len(InternalName("")) - max(len(RestoreStagingSuffix), len(RestoreOldSuffix))
