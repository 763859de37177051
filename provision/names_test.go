package provision

import (
	"errors"
	"strings"
	"testing"
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

// FuzzNameRules asserts the product's first promise: any accepted name
// gives a domain exactly one label under the zone, never the zone itself.
func FuzzNameRules(f *testing.F) {
	for _, s := range []string{"cliente1", "softrigx.com", "production", "MAYUSCULAS", "", "-x", "a.softrigx.com", "softrigx", "www"} {
		f.Add(s)
	}
	r := NameRules{Zone: "softrigx.com", Reserved: []string{"billing"}}
	f.Fuzz(func(t *testing.T, name string) {
		if r.Check(name) != nil {
			return
		}
		d := r.Domain(name)
		if d == "softrigx.com" || !IsOneLabelUnder(d, "softrigx.com") {
			t.Fatalf("accepted %q gives domain %q, not one label under the zone", name, d)
		}
		if strings.Count(d, ".") != 2 || !strings.HasSuffix(d, ".softrigx.com") {
			t.Fatalf("accepted %q gives domain %q", name, d)
		}
		for _, res := range append([]string{"production", "prod", "www", "api", "mail", "ftp", "billing"}, "softrigx") {
			if name == res {
				t.Fatalf("reserved name %q accepted", name)
			}
		}
		// Every database name derived from it fits PostgreSQL's 63 bytes,
		// so none is cut, and they stay distinct.
		db := InternalName(name)
		derived := []string{db, db + RestoreStagingSuffix, db + RestoreOldSuffix}
		for _, n := range derived {
			if len(n) > 63 {
				t.Fatalf("accepted %q derives the database name %q, %d bytes: PostgreSQL would cut it", name, n, len(n))
			}
		}
	})
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
