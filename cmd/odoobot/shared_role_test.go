package main

import (
	"strings"
	"testing"

	"odoobot/provision"
)

func TestSharedRoleNote(t *testing.T) {
	own := provision.Instance{Name: "acme", DBRole: "prod-acme", User: "odoo-acme"}
	imported := provision.Instance{Name: "legacy"}
	other := provision.Instance{Name: "old"}

	note := sharedRoleNote([]provision.Instance{own, imported, other}, "odoo", false)
	for _, want := range []string{"2 instances still run on odoobot's own database role odoo", "legacy, old", "odoobot isolate NAME --yes"} {
		if !strings.Contains(note, want) {
			t.Errorf("note %q does not say %q", note, want)
		}
	}
	if strings.Contains(note, "acme") {
		t.Errorf("note %q names an instance with its own role", note)
	}
	if note := sharedRoleNote([]provision.Instance{own, imported}, "odoo", true); !strings.Contains(note, "1 instance still runs") {
		t.Errorf("one left after an isolate: %q", note)
	}
	if note := sharedRoleNote([]provision.Instance{own}, "odoo", false); note != "" {
		t.Errorf("no imported instance, not after an isolate: %q, want nothing", note)
	}
	note = sharedRoleNote([]provision.Instance{own}, "odoo", true)
	for _, want := range []string{"No instance shares odoobot's database role odoo", "change it now", "\\password odoo", "DB_PASSWORD", "restart odoobot"} {
		if !strings.Contains(note, want) {
			t.Errorf("after the last isolate, %q does not say %q", note, want)
		}
	}
}
