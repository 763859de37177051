package commands

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/provision"
)

type templateList []provision.TemplateInfo

func (l templateList) Templates(context.Context) ([]provision.TemplateInfo, error) { return l, nil }

// TestTemplatesVerb: a viewer lists the templates: release, Odoo,
// language, state (the configured one starred), size, age, modules, and
// under a building or failed one how far it is or why it failed.
func TestTemplatesVerb(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	d, _, audit := newTestDispatcher(t)
	d.Now = func() time.Time { return now }
	d.Templates = templateList{
		{Name: "odoobot_tpl_aaaaaaaaaaaa", Release: "0123456789ab", Version: "19.0", Modules: []string{"contacts", "web"}, Lang: "es_AR",
			State: provision.TemplateBuilding, Progress: "installing modules 12/47", Since: now.Add(-90 * time.Second)},
		{Name: "odoobot_tpl_bbbbbbbbbbbb", Release: "fedcba987654", Version: "19.0", Modules: []string{"contacts"},
			State: provision.TemplateFailed, Error: "odoo-bin -i contacts: exit status 1\nboom", Since: now.Add(-time.Hour)},
		{Name: "odoobot_tpl_cccccccccccc", Release: "0011223344ff", Version: "19.0", Modules: []string{"contacts", "web"}, Lang: "es_AR",
			State: provision.TemplateReady, Size: 52 << 20, Since: now.Add(-3 * 24 * time.Hour), Configured: true},
		{Name: "odoobot_tpl_dddddddddddd", Release: "9f3e2d1c0b0a0908", State: provision.TemplateReady, Size: 40 << 20, Since: now.Add(-5 * time.Hour)},
	}
	r := &recordingResponder{}
	viewer := Identity{Platform: "slack", UserID: "U0VIEW001"}
	if _, err := d.Handle(context.Background(), Request{Identity: viewer, Channel: "C1", Text: "templates"}, r); err != nil {
		t.Fatal(err)
	}
	if len(r.long) != 1 {
		t.Fatalf("long %q replies %q privates %q, want one long answer", r.long, r.replies, r.privates)
	}
	got := strings.Split(strings.TrimPrefix(r.long[0], "\n"), "\n")
	for i := range got {
		got[i] = strings.Join(strings.Fields(got[i]), " ")
	}
	want := []string{
		"RELEASE ODOO LANG STATE SIZE AGE MODULES",
		"0123456789ab 19.0 es_AR building - 1m contacts,web",
		"odoobot_tpl_aaaaaaaaaaaa: installing modules 12/47",
		"fedcba987654 19.0 en_US failed - 1h contacts",
		"odoobot_tpl_bbbbbbbbbbbb failed: odoo-bin -i contacts: exit status 1 boom",
		"0011223344ff 19.0 es_AR ready* 52.0 MiB 3d contacts,web",
		"9f3e2d1c0b0a0908 - - ready 40.0 MiB 5h ?",
		"* the template the next creation uses",
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("templates (-got +want):\n%s", diff)
	}
	if last := audit.entries[len(audit.entries)-1]; last.Outcome != "ok" {
		t.Errorf("audit outcome %q, want ok", last.Outcome)
	}
	if line := TemplatesLine(d.Templates.(templateList)); line != "templates  2 ready, 1 building, 1 failed (building: installing modules 12/47); see templates" {
		t.Errorf("capacity's line: %q", line)
	}
}
