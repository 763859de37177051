package odoo

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Lines as Odoo 17 and 19 log them while -i installs modules: a first
// pass of base alone, then the rest; a module's several files count once.
func TestInstallProgress(t *testing.T) {
	var got []string
	p := newInstallProgress(func(s string) { got = append(got, s) })
	log := []string{
		"2026-11-30 15:25:29,873 241 INFO db odoo.modules.loading: loading 1 modules...",
		"2026-11-30 15:25:29,900 241 INFO db odoo.modules.loading: loading base/data/res.lang.csv",
		"2026-11-30 15:25:31,873 241 INFO db odoo.modules.loading: loading 3 modules...",
		"2026-11-30 15:25:31,900 241 INFO db odoo.modules.registry: module web: creating or updating database tables",
		"2026-11-30 15:25:31,901 241 INFO db odoo.modules.loading: loading web/data/ir_attachment.xml",
		"2026-11-30 15:25:31,902 241 INFO db odoo.modules.loading: loading web/views/webclient.xml",
		"2026-11-30 15:25:32,100 241 INFO db odoo.modules.loading: loading contacts/views/contact_views.xml",
		"2026-11-30 15:25:33,100 241 INFO db odoo.modules.loading: loading l10n_ar/data/res_country_data.xml",
		"2026-11-30 15:25:34,100 241 INFO db odoo.modules.loading: Modules loaded.",
	}
	// Written in uneven pieces, as a pipe delivers them.
	all := strings.Join(log, "\n") + "\n"
	for i := 0; i < len(all); i += 37 {
		fmt.Fprint(p, all[i:min(i+37, len(all))])
	}
	want := []string{"installing modules 1/3", "installing modules 2/3", "installing modules 3/3"}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("progress (-got +want):\n%s", diff)
	}
}
