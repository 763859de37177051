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
	// UnitPrefix is the unit prefix (odoo19e) the unit name is checked
	// with; "" checks the unit name without one.
	UnitPrefix string
	// DNSServer, set when odoobot manages DNS records, is this server's
	// name in the mark on its records (DNSMark): Check refuses a name
	// whose mark would be longer than MaxDNSComment.
	DNSServer string
}

// IsLabel reports whether s is one valid DNS label under the format rule.
func IsLabel(s string) bool { return labelPattern.MatchString(s) }

// Check applies every rule that needs no state: empty, format, length,
// reserved, one-label, and then the length of every name derived from it
// (Names.Fit). It is the one function that every entry point calls before
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
	n := r.Names(name)
	if zone == "" || !IsOneLabelUnder(n.Domain, zone) {
		return &NameError{Name: name, Rule: RuleOneLabel, Reason: fmt.Sprintf("%s is not one label under the zone %q", n.Domain, zone)}
	}
	if err := n.Fit(); err != nil {
		return err
	}
	return r.fitDNS(n)
}

// fitDNS refuses a name whose DNS records would not fit Cloudflare's
// limits: the mark on its records (a comment, at most MaxDNSComment
// characters on the Free plan) and the name of its ACME challenge record.
func (r NameRules) fitDNS(n Names) error {
	if r.DNSServer == "" {
		return nil
	}
	if c := DNSMark(r.DNSServer, n.Name); len(c) > MaxDNSComment {
		room := MaxDNSComment - len(DNSMark(r.DNSServer, ""))
		return &NameError{Name: n.Name, Rule: RuleLength, Reason: fmt.Sprintf(
			"the mark on its DNS record, %q, would be %d characters, at most %d (Cloudflare's limit on record comments on the Free plan): with ODOOBOT_SERVER_ID %q a name has at most %d characters; choose a shorter name, or set a shorter ODOOBOT_SERVER_ID",
			c, len(c), MaxDNSComment, r.DNSServer, room)}
	}
	if ch := ACMEChallengePrefix + n.Domain; len(ch) > maxDomain {
		return &NameError{Name: n.Name, Rule: RuleLength, Reason: fmt.Sprintf(
			"its ACME challenge record %s would be %d characters, at most %d (DNS names); choose a shorter name", ch, len(ch), maxDomain)}
	}
	return nil
}

// Longest is the length of the longest name the rules accept, 0 when
// none fits; then why is the refusal of a one-letter name. Start-up
// refuses a configuration (zone, unit prefix, server ID) under which no
// name fits.
func (r NameRules) Longest() (n int, why error) {
	for n = MaxNameLength; n > 0; n-- {
		err := r.Check(strings.Repeat("a", n))
		var ne *NameError
		if !errors.As(err, &ne) || ne.Rule != RuleLength {
			return n, nil
		}
		why = err
	}
	return 0, why
}

// Names derives the names of instance name under the rules' zone and unit
// prefix. It does not validate; call Check first.
func (r NameRules) Names(name string) Names { return DeriveNames(name, r.Zone, r.UnitPrefix) }

// Domain returns name.<zone>. It does not validate; call Check first.
func (r NameRules) Domain(name string) string { return r.Names(name).Domain }

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
	// DrillSuffix names the throwaway database a restore drill restores
	// the instance's backup into (drill).
	DrillSuffix = "_drill"
)

// The limits of the systems an instance's names go to. A name longer than
// its limit is refused or, worse, silently cut; Names.Fit checks each.
const (
	// maxIdentifier is PostgreSQL's limit on a name (NAMEDATALEN - 1
	// bytes): a longer one is silently cut, so two names could become one.
	maxIdentifier = 63
	// maxUnitName is systemd's limit on a unit name, suffix included
	// (UNIT_NAME_MAX - 1).
	maxUnitName = 255
	// maxUserName is the longest user name systemd's User= takes in its
	// strict form (UT_NAMESIZE - 1) and templates.Unit renders; Debian's
	// useradd takes one more.
	maxUserName = 31
	// maxDomain is DNS's limit on a host name, without the final dot.
	maxDomain = 253
)

// The http-level nginx settings odoobot installs once (provision/nginx
// writes them into its default server site). nginx keeps server names and
// variable names in hash tables whose buckets are 64 bytes by default on
// this hardware, which holds names of at most 46 bytes: a longer domain
// makes `nginx -t` fail with "could not build server_names_hash", a
// longer map variable with "could not build variables_hash".
const (
	NginxServerNamesHashBucketSize = 256 // server_names_hash_bucket_size: domains up to 238 bytes
	NginxVariablesHashBucketSize   = 128 // variables_hash_bucket_size: variable names up to 110 bytes
)

// NginxHashKeyMax is the longest key a hash of nginx with buckets of
// bucketSize bytes holds on a 64-bit host: a bucket needs room for one
// element (a pointer, then the key and 2 bytes, rounded up to 8) and a
// pointer ending it (ngx_hash_init).
func NginxHashKeyMax(bucketSize int) int { return bucketSize - 2*8 - 2 }

// MaxNameLength is the longest instance name whose every derived database
// name (InternalName, and it with a restore suffix) fits maxIdentifier:
// 50. The other derived names are checked by Names.Fit: the system user
// is shortened with a hash instead; the unit, nginx names and the domain
// fit their limits for every name this short unless the zone or the unit
// prefix is very long.
var MaxNameLength = maxIdentifier - len(InternalName("")) - max(len(RestoreStagingSuffix), len(RestoreOldSuffix), len(DrillSuffix))

// Names are every name derived from one instance's name, in the one place
// they are derived. Every caller takes them from here (Layout.Names,
// Layout.NewInstance) rather than building them again.
type Names struct {
	Name     string // acme: the DNS label under the zone
	Domain   string // acme.example.com: DNS record, certificate, nginx server_name
	Internal string // prod-acme: instance directory, nginx site file, log and certificate names

	Database       string // prod-acme: the instance's database
	RestoreStaging string // prod-acme_restore: the database restore fills before the swap
	RestoreOld     string // prod-acme_old: the replaced database while a restore swaps
	Drill          string // prod-acme_drill: the throwaway database of a restore drill
	DBRole         string // prod-acme: the PostgreSQL role that owns the database

	SystemUser string // odoo-acme: the system user (and group) the instance runs as
	Unit       string // odoo19e-prod-acme.service: the systemd unit

	SiteFile       string // prod-acme: sites-available/ and sites-enabled/ file
	UpstreamHTTP   string // prod-acme-http: nginx upstream of Odoo's HTTP port
	UpstreamGevent string // prod-acme-gevent: nginx upstream of Odoo's gevent port
	SSLCache       string // prod_acme_ssl: nginx ssl_session_cache zone
}

// DeriveNames derives the names of instance name in zone, its unit named
// with unitPrefix (odoo19e). It does not validate: NameRules.Check refuses
// a name whose names do not fit.
func DeriveNames(name, zone, unitPrefix string) Names {
	internal := InternalName(name)
	under := strings.ReplaceAll(internal, "-", "_")
	unit := internal + ".service"
	if unitPrefix != "" {
		unit = unitPrefix + "-" + unit
	}
	return Names{
		Name:           name,
		Domain:         name + "." + strings.ToLower(strings.TrimSuffix(zone, ".")),
		Internal:       internal,
		Database:       internal,
		RestoreStaging: internal + RestoreStagingSuffix,
		RestoreOld:     internal + RestoreOldSuffix,
		Drill:          internal + DrillSuffix,
		DBRole:         DBRoleName(name),
		SystemUser:     SystemUser(name),
		Unit:           unit,
		SiteFile:       internal,
		UpstreamHTTP:   internal + "-http",
		UpstreamGevent: internal + "-gevent",
		SSLCache:       under + "_ssl",
	}
}

// Databases lists the database names: the instance's and restore's two.
func (n Names) Databases() []string { return []string{n.Database, n.RestoreStaging, n.RestoreOld} }

// Fit reports, as a *NameError of RuleLength, the first derived name that
// does not fit its system, saying which name, how long it is, the limit
// and why the limit matters. The PostgreSQL names come first.
func (n Names) Fit() error {
	for _, c := range []struct {
		what, value string
		limit       int
		why         string
	}{
		{"database", n.Database, maxIdentifier, "PostgreSQL cuts names at 63 bytes"},
		{"restore's staging database", n.RestoreStaging, maxIdentifier, "PostgreSQL cuts names at 63 bytes, and restore must not mistake it for the live database"},
		{"restore's replaced database", n.RestoreOld, maxIdentifier, "PostgreSQL cuts names at 63 bytes, and restore must not mistake it for the live database"},
		{"restore drill's database", n.Drill, maxIdentifier, "PostgreSQL cuts names at 63 bytes, and a drill must not mistake it for the live database"},
		{"database role", n.DBRole, maxIdentifier, "PostgreSQL cuts names at 63 bytes"},
		{"system user", n.SystemUser, maxUserName, "systemd's User= takes at most 31 characters"},
		{"systemd unit", n.Unit, maxUnitName, "systemd refuses longer unit names"},
		{"domain", n.Domain, maxDomain, "DNS names are at most 253 characters"},
		{"domain", n.Domain, NginxHashKeyMax(NginxServerNamesHashBucketSize), fmt.Sprintf("nginx's server names hash, with the server_names_hash_bucket_size %d odoobot installs, holds names of at most %d bytes", NginxServerNamesHashBucketSize, NginxHashKeyMax(NginxServerNamesHashBucketSize))},
	} {
		if len(c.value) > c.limit {
			return &NameError{Name: n.Name, Rule: RuleLength, Reason: fmt.Sprintf(
				"its %s %s is %d characters, at most %d: %s; choose a shorter name", c.what, c.value, len(c.value), c.limit, c.why)}
		}
	}
	return nil
}
