package provision

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"odoobot/templates"
)

func TestNameRulesAPIDEVExamples(t *testing.T) {
	r := NameRules{Zone: "softrigx.com"}
	for _, name := range []string{"cliente1", "empresa-abc", "test-prod", "a", "sucursal-norte", strings.Repeat("a", MaxNameLength)} {
		if err := r.Check(name); err != nil {
			t.Errorf("Check(%q) = %v, want accepted", name, err)
		}
	}
	for _, tc := range []struct {
		name string
		want error
	}{
		{"softrigx.com", ErrNameReserved},
		{"SOFTRIGX.COM", ErrNameReserved},
		{"softrigx.com.", ErrNameReserved},
		{"a.softrigx.com", ErrNameFormat},
		{"production", ErrNameReserved},
		{"prod", ErrNameReserved},
		{"www", ErrNameReserved},
		{"api", ErrNameReserved},
		{"mail", ErrNameReserved},
		{"ftp", ErrNameReserved},
		{"softrigx", ErrNameReserved},
		{"MAYUSCULAS", ErrNameFormat},
		{"Cliente1", ErrNameFormat},
		{"", ErrNameEmpty},
		{"-x", ErrNameFormat},
		{"x-", ErrNameFormat},
		{"a.b", ErrNameFormat},
		{"a_b", ErrNameFormat},
		{"ñandu", ErrNameFormat},
		{" acme", ErrNameFormat},
		{strings.Repeat("a", 64), ErrNameFormat},
	} {
		err := r.Check(tc.name)
		if !errors.Is(err, tc.want) {
			t.Errorf("Check(%q) = %v, want %v", tc.name, err, tc.want)
			continue
		}
		var ne *NameError
		if !errors.As(err, &ne) || !strings.Contains(err.Error(), "rule "+string(ne.Rule)) {
			t.Errorf("Check(%q) error %q does not name its rule", tc.name, err)
		}
	}
}

func TestNameRulesConfiguredReserved(t *testing.T) {
	r := NameRules{Zone: "example.com", Reserved: []string{"billing", " Status "}}
	for _, n := range []string{"billing", "status"} {
		if err := r.Check(n); !errors.Is(err, ErrNameReserved) {
			t.Errorf("Check(%q) = %v, want reserved", n, err)
		}
	}
	if err := r.Check("acme"); err != nil {
		t.Errorf("Check(acme) = %v", err)
	}
}

func TestNameRulesNeedZone(t *testing.T) {
	if err := (NameRules{}).Check("acme"); !errors.Is(err, ErrNameNotOneLabel) {
		t.Errorf("Check without zone = %v, want one-label refusal", err)
	}
}

func TestIsOneLabelUnder(t *testing.T) {
	for _, tc := range []struct {
		fqdn, zone string
		want       bool
	}{
		{"acme.example.com", "example.com", true},
		{"acme.example.com.", "example.com", true},
		{"example.com", "example.com", false},
		{"a.b.example.com", "example.com", false},
		{"acme.example.org", "example.com", false},
		{"acmeexample.com", "example.com", false},
		{".example.com", "example.com", false},
		{"ACME.example.com", "example.com", false},
		{"acme.example.com", "", false},
	} {
		if got := IsOneLabelUnder(tc.fqdn, tc.zone); got != tc.want {
			t.Errorf("IsOneLabelUnder(%q, %q) = %v, want %v", tc.fqdn, tc.zone, got, tc.want)
		}
	}
}

// fuzzZones are the zones FuzzNameRules checks every name under: a short
// one, a deep one, and one so long that the longest names do not fit
// nginx's server names hash with it.
var fuzzZones = []string{
	"softrigx.com",
	"clientes.odoo.softrigx.com.ar",
	strings.Repeat("z", 63) + "." + strings.Repeat("y", 63) + "." + strings.Repeat("x", 60) + ".example",
}

// useraddName is what Debian's useradd accepts by default (the rule of
// provision/tenant).
var useraddName = regexp.MustCompile(`^[a-z][-a-z0-9_]{0,31}$`)

// pgName is a database or role name odoobot creates: lower-case letters,
// digits, '-' and '_', starting with a letter (quoted where it holds '-').
var pgName = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// FuzzNameRules asserts the product's promises on every accepted name,
// under each of fuzzZones: its domain is exactly one label under the
// zone, never the zone itself nor a reserved name; its unit and its site
// in all three modes render through the real templates, with the names
// provision derived; its database names are distinct, valid and at most
// 63 bytes, so PostgreSQL never cuts one into another; its system user is
// one useradd and systemd accept.
func FuzzNameRules(f *testing.F) {
	for _, s := range []string{"cliente1", "softrigx.com", "production", "MAYUSCULAS", "", "-x", "a.softrigx.com", "softrigx", "www",
		strings.Repeat("a", 26), strings.Repeat("a", 27), strings.Repeat("b", 50), strings.Repeat("c", 57), strings.Repeat("d", 63), "a-" + strings.Repeat("9", 48)} {
		f.Add(s)
	}
	tpl, err := templates.Load()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name string) {
		for _, zone := range fuzzZones {
			r := NameRules{Zone: zone, Reserved: []string{"billing"}, UnitPrefix: "odoo19e"}
			if r.Check(name) != nil {
				continue
			}
			checkAccepted(t, tpl, r, name)
		}
	})
}

// checkAccepted asserts what FuzzNameRules promises of name, accepted by r.
func checkAccepted(t *testing.T, tpl *templates.Set, r NameRules, name string) {
	t.Helper()
	n := r.Names(name)
	d := r.Domain(name)
	if d != n.Domain || d == r.Zone || !IsOneLabelUnder(d, r.Zone) || !strings.HasSuffix(d, "."+r.Zone) {
		t.Fatalf("accepted %q gives domain %q, not one label under the zone %q", name, d, r.Zone)
	}
	for _, res := range []string{"production", "prod", "www", "api", "mail", "ftp", "billing", firstLabel(r.Zone)} {
		if name == res {
			t.Fatalf("reserved name %q accepted", name)
		}
	}

	// Databases: whole, valid and distinct, the role too.
	seen := map[string]bool{}
	for _, db := range n.Databases() {
		if len(db) > 63 || !pgName.MatchString(db) {
			t.Fatalf("accepted %q derives the database name %q (%d bytes): PostgreSQL would cut or refuse it", name, db, len(db))
		}
		if seen[db] {
			t.Fatalf("accepted %q derives the database name %q twice: restore would drop the live database", name, db)
		}
		seen[db] = true
	}
	if n.Database != InternalName(name) || n.RestoreStaging != InternalName(name)+RestoreStagingSuffix || n.RestoreOld != InternalName(name)+RestoreOldSuffix {
		t.Fatalf("accepted %q: database names %v are not InternalName and the restore suffixes", name, n.Databases())
	}
	if len(n.DBRole) > 63 || !pgName.MatchString(n.DBRole) || n.DBRole != DBRoleName(name) {
		t.Fatalf("accepted %q derives the role %q", name, n.DBRole)
	}
	if u := n.SystemUser; !useraddName.MatchString(u) || len(u) > 31 || u != SystemUser(name) {
		t.Fatalf("accepted %q derives the system user %q (%d characters): useradd or systemd's User= would refuse it", name, u, len(u))
	}

	// The unit renders with the derived unit name and user.
	dir := "/home/mtg/apps/production/odoo/" + n.Internal
	unit, err := tpl.Unit(templates.Unit{
		Service: n.Unit, Name: n.Internal, Domain: n.Domain, User: n.SystemUser,
		Venv: "/var/lib/odoobot/releases/r1/venv", Release: "/var/lib/odoobot/releases/r1/odoo",
		Conf: dir + "/odoo.conf", Dir: dir, HTTPPort: 2100, GeventPort: 8072,
	})
	if err != nil {
		t.Fatalf("accepted %q: unit %s does not render: %v", name, n.Unit, err)
	}
	if !strings.Contains(string(unit), "User="+n.SystemUser+"\n") || !strings.Contains(string(unit), "SyslogIdentifier="+strings.TrimSuffix(n.Unit, ".service")+"\n") {
		t.Fatalf("accepted %q: unit does not run as %s under %s:\n%s", name, n.SystemUser, n.Unit, unit)
	}

	// The site renders in every mode, declaring the derived names; the
	// same site without them (templates' own rule) is the same text.
	for _, mode := range []string{templates.ModeCloudflare, templates.ModeLetsEncrypt, templates.ModeHTTP} {
		st := templates.Site{
			Mode: mode, Name: n.SiteFile, Domain: n.Domain, HTTPPort: 2100, GeventPort: 8072,
			CertFile: "/var/lib/odoobot/certs/" + n.Internal + "/fullchain.pem", KeyFile: "/var/lib/odoobot/certs/" + n.Internal + "/privkey.pem",
			ACMEWebroot: "/var/lib/odoobot/acme-webroot",
		}
		bare, err := tpl.Site(st)
		if err != nil {
			t.Fatalf("accepted %q: %s site does not render: %v", name, mode, err)
		}
		st.UpstreamHTTP, st.UpstreamGevent, st.SSLCache = n.UpstreamHTTP, n.UpstreamGevent, n.SSLCache
		site, err := tpl.Site(st)
		if err != nil {
			t.Fatalf("accepted %q: %s site with provision's names does not render: %v", name, mode, err)
		}
		if string(site) != string(bare) {
			t.Fatalf("accepted %q: %s site with provision's names differs from templates' own derivation:\n%s\n---\n%s", name, mode, site, bare)
		}
		for _, want := range []string{"upstream " + n.UpstreamHTTP + " {", "upstream " + n.UpstreamGevent + " {", "server_name " + n.Domain + ";"} {
			if !strings.Contains(string(site), want) {
				t.Fatalf("accepted %q: %s site lacks %q", name, mode, want)
			}
		}
		if len(n.Domain) > NginxHashKeyMax(NginxServerNamesHashBucketSize) {
			t.Fatalf("accepted %q: domain %d bytes exceeds what the hash size odoobot installs holds", name, len(n.Domain))
		}
		if strings.Contains(string(site), "\nmap ") {
			t.Fatalf("accepted %q: %s site declares a map (each costs nginx time at every test and reload, for every site)", name, mode)
		}
	}
}

// Names of 51 to 63 characters are valid DNS labels but give a database
// name that PostgreSQL would cut: refused, saying why; 50 is accepted.
func TestNameLengthFitsDerivedNames(t *testing.T) {
	r := NameRules{Zone: "example.com"}
	if MaxNameLength != 50 {
		t.Errorf("MaxNameLength = %d, want 50 (63 - len(\"prod-\") - len(\"_restore\"))", MaxNameLength)
	}
	if err := r.Check(strings.Repeat("a", 50)); err != nil {
		t.Errorf("50 characters refused: %v", err)
	}
	for _, n := range []int{51, 57, 58, 59, 63} {
		err := r.Check(strings.Repeat("a", n))
		var ne *NameError
		if !errors.As(err, &ne) || ne.Rule != RuleLength || !strings.Contains(err.Error(), "at most 50") {
			t.Errorf("%d characters: %v, want a refusal by the length rule", n, err)
		}
	}
}

// A name that fits PostgreSQL may still give a domain that does not fit
// nginx's server names hash (with the bucket size odoobot installs) under
// a long zone: refused by the length rule, naming the domain and nginx's
// setting; the longest one that fits is accepted.
func TestNameLengthFitsNginxUnderLongZone(t *testing.T) {
	zone := fuzzZones[2]
	r := NameRules{Zone: zone}
	fits := NginxHashKeyMax(NginxServerNamesHashBucketSize) - len(zone) - 1
	if fits >= MaxNameLength || fits < 1 {
		t.Fatalf("the long zone (%d bytes) leaves %d characters for a name; the test needs fewer than %d", len(zone), fits, MaxNameLength)
	}
	if err := r.Check(strings.Repeat("a", fits)); err != nil {
		t.Errorf("%d characters under a %d-byte zone refused: %v", fits, len(zone), err)
	}
	err := r.Check(strings.Repeat("a", fits+1))
	var ne *NameError
	if !errors.As(err, &ne) || ne.Rule != RuleLength || !strings.Contains(err.Error(), "domain") || !strings.Contains(err.Error(), "server_names_hash_bucket_size") {
		t.Errorf("%d characters under a %d-byte zone: %v, want a length refusal naming the domain and nginx's setting", fits+1, len(zone), err)
	}
}

// The unit prefix counts: a prefix so long that the unit name passes
// systemd's 255 characters is refused, naming the unit.
func TestNameLengthFitsUnit(t *testing.T) {
	r := NameRules{Zone: "example.com", UnitPrefix: strings.Repeat("p", 240)}
	err := r.Check("acme")
	var ne *NameError
	if !errors.As(err, &ne) || ne.Rule != RuleLength || !strings.Contains(err.Error(), "systemd unit") {
		t.Errorf("Check with a 240-character unit prefix: %v, want a length refusal naming the unit", err)
	}
	if err := (NameRules{Zone: "example.com", UnitPrefix: "odoo19e"}).Check(strings.Repeat("a", MaxNameLength)); err != nil {
		t.Errorf("the longest name with odoo19e: %v", err)
	}
}

// The system user stays within 31 characters, the most systemd's User=
// and templates.Unit take: "odoo-" and the name up to 26 characters,
// a hashed form past that, distinct for names that share their start.
func TestSystemUserFits(t *testing.T) {
	if u := SystemUser(strings.Repeat("a", 26)); u != "odoo-"+strings.Repeat("a", 26) {
		t.Errorf("26 characters: %q, want the plain form", u)
	}
	a, b := SystemUser(strings.Repeat("a", 27)), SystemUser(strings.Repeat("a", 26)+"b")
	for _, u := range []string{a, b, SystemUser(strings.Repeat("a", MaxNameLength))} {
		if len(u) != 31 || !useraddName.MatchString(u) || !strings.HasPrefix(u, "odoo-"+strings.Repeat("a", 17)+"-") {
			t.Errorf("long name gives user %q (%d characters), want odoo-, 17 characters, '-' and 8 hex digits", u, len(u))
		}
	}
	if a == b {
		t.Errorf("two 27-character names share the user %q", a)
	}
}

// Layout.NewInstance takes its names from Layout.Names.
func TestNewInstanceUsesNames(t *testing.T) {
	l := Layout{Zone: "example.com", UnitPrefix: "odoo19e"}
	inst := l.NewInstance("acme", SSLHTTP)
	n := l.Names("acme")
	want := Names{
		Name: "acme", Domain: "acme.example.com", Internal: "prod-acme",
		Database: "prod-acme", RestoreStaging: "prod-acme_restore", RestoreOld: "prod-acme_old", Drill: "prod-acme_drill", DBRole: "prod-acme",
		SystemUser: "odoo-acme", Unit: "odoo19e-prod-acme.service",
		SiteFile: "prod-acme", UpstreamHTTP: "prod-acme-http", UpstreamGevent: "prod-acme-gevent",
		SSLCache: "prod_acme_ssl",
	}
	if n != want {
		t.Errorf("Names(acme) = %+v\nwant %+v", n, want)
	}
	if inst.Domain != n.Domain || inst.Internal != n.Internal || inst.Unit != n.Unit || inst.User != n.SystemUser || inst.DBRole != n.DBRole {
		t.Errorf("NewInstance = %+v, not the names %+v", inst, n)
	}
}

// A name whose mark on its DNS record would pass Cloudflare's 100
// characters (Free plan) is refused before anything is built, saying
// which limit and what to do; without DNS there is no mark to fit.
func TestNameRefusedWhenItsDNSMarkDoesNotFit(t *testing.T) {
	r := NameRules{Zone: "example.com", DNSServer: "100.100.100.100"}
	room := MaxDNSComment - len(DNSMark("100.100.100.100", ""))
	if room != 48 {
		t.Fatalf("room for a name beside an IPv4 server ID = %d, want 48", room)
	}
	if err := r.Check(strings.Repeat("a", room)); err != nil {
		t.Errorf("a %d-character name: %v, want accepted", room, err)
	}
	err := r.Check(strings.Repeat("a", room+1))
	var ne *NameError
	if !errors.As(err, &ne) || ne.Rule != RuleLength {
		t.Fatalf("a %d-character name: %v, want a length refusal", room+1, err)
	}
	for _, want := range []string{"mark on its DNS record", "100", "Free plan", "at most 48 characters", "shorter name", "shorter ODOOBOT_SERVER_ID"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	if err := (NameRules{Zone: "example.com"}).Check(strings.Repeat("a", 50)); err != nil {
		t.Errorf("a 50-character name without DNS: %v, want accepted", err)
	}
	if n, _ := r.Longest(); n != 48 {
		t.Errorf("Longest = %d, want 48", n)
	}
}

// Under a zone so long that no name fits, Longest says so and why.
func TestLongestIsZeroWhenNoNameFits(t *testing.T) {
	zone := strings.Repeat("z", 63) + "." + strings.Repeat("y", 63) + "." + strings.Repeat("x", 63) + "." + strings.Repeat("w", 45) + ".example"
	n, why := NameRules{Zone: zone}.Longest()
	if n != 0 || why == nil {
		t.Errorf("Longest under a %d-character zone = %d, %v; want 0 and a reason", len(zone), n, why)
	}
}
