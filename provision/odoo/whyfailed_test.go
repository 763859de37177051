package odoo

import (
	"strings"
	"testing"
)

// TestWhyOdooFailed: from a failed `odoo-bin -u all` (the output of
// Odoo 17 updating a module whose view names a field that does not
// exist), the error keeps the log's ERROR and CRITICAL lines and the
// exception with its message, each once, and none of the traceback's
// frames.
func TestWhyOdooFailed(t *testing.T) {
	out := `2026-11-30 20:44:58,101 529 INFO prod-x odoo.modules.loading: loading 12 modules...
2026-11-30 20:45:00,480 529 ERROR prod-x odoo.modules.registry: Failed to load registry
Traceback (most recent call last):
  File "/r/odoo/odoo/tools/convert.py", line 698, in _tag_root
    f(rec)
odoo.tools.convert.ParseError: while parsing /r/odoo/odoo/addons/contacts/views/odoobot_broken.xml:3
Error while validating view near:

<form __validate__="1">
  <field name="odoobot_no_such_field"/>
</form>

Field "odoobot_no_such_field" does not exist in model "res.partner"

View error context:
{'file': '/r/odoo/odoo/addons/contacts/views/odoobot_broken.xml'}
2026-11-30 20:45:00,481 529 CRITICAL prod-x odoo.service.server: Failed to initialize database ` + "`prod-x`" + `.
Traceback (most recent call last):
  File "/r/odoo/odoo/service/server.py", line 1301, in preload_registries
odoo.tools.convert.ParseError: while parsing /r/odoo/odoo/addons/contacts/views/odoobot_broken.xml:3
Error while validating view near:

<form __validate__="1">
  <field name="odoobot_no_such_field"/>
</form>

Field "odoobot_no_such_field" does not exist in model "res.partner"

View error context:
`
	got := whyOdooFailed(out)
	want := "\n" + strings.Join([]string{
		"2026-11-30 20:45:00,480 529 ERROR prod-x odoo.modules.registry: Failed to load registry",
		"odoo.tools.convert.ParseError: while parsing /r/odoo/odoo/addons/contacts/views/odoobot_broken.xml:3",
		"Error while validating view near:",
		`<form __validate__="1">`,
		`  <field name="odoobot_no_such_field"/>`,
		"</form>",
		`Field "odoobot_no_such_field" does not exist in model "res.partner"`,
		"2026-11-30 20:45:00,481 529 CRITICAL prod-x odoo.service.server: Failed to initialize database `prod-x`.",
	}, "\n")
	if got != want {
		t.Errorf("WhyOdooFailed =%s\nwant%s", got, want)
	}
	if got := whyOdooFailed("no log lines\nat all"); !strings.Contains(got, "at all") {
		t.Errorf("WhyOdooFailed of an output with nothing it knows = %q, want the output's tail", got)
	}
}
