package systemd

import (
	"strings"
	"testing"
)

func TestCheckUnit(t *testing.T) {
	good := []string{
		"odoo19e-prod-acme.service",
		"nginx.service",
		"postgresql@15-main.service",
		"a.service",
		"Odoo_19.e-prod.service",
		strings.Repeat("a", maxUnitName-len(".service")) + ".service",
	}
	for _, name := range good {
		if err := checkUnit(name); err != nil {
			t.Errorf("checkUnit(%q) = %v, want nil", name, err)
		}
	}
	bad := map[string]string{
		"":                                    "must end in .service",
		".service":                            "must end in .service",
		"odoo":                                "must end in .service",
		"odoo.socket":                         "must end in .service",
		"odoo.service.bak":                    "must end in .service",
		"-u.service":                          "must start with a letter or digit",
		".hidden.service":                     "must start with a letter or digit",
		"@.service":                           "must start with a letter or digit",
		"../evil.service":                     "must start with a letter or digit",
		"a/b.service":                         "not allowed",
		"a b.service":                         "not allowed",
		"a;rm -rf.service":                    "not allowed",
		"a\n.service":                         "not allowed",
		"odoo$(id).service":                   "not allowed",
		"prod-acmé.service":                   "not allowed",
		strings.Repeat("a", 256) + ".service": "longer than",
	}
	for name, want := range bad {
		err := checkUnit(name)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("checkUnit(%q) = %v, want an error containing %q", name, err, want)
		}
	}
}

func TestUnitFromPath(t *testing.T) {
	got, err := unitFromPath("/etc/systemd/system/odoo19e-prod-acme.service")
	if err != nil || got != "odoo19e-prod-acme.service" {
		t.Errorf("unitFromPath = %q, %v; want odoo19e-prod-acme.service, nil", got, err)
	}
	for _, p := range []string{"odoo.service", "etc/systemd/system/odoo.service", "/etc/systemd/system/odoo.conf", "/etc/systemd/system/"} {
		if _, err := unitFromPath(p); err == nil {
			t.Errorf("unitFromPath(%q) = nil error, want one", p)
		}
	}
}
