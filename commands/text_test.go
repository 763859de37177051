package commands

import (
	"strings"
	"testing"
)

func TestHelpText(t *testing.T) {
	tests := []struct {
		role     Role
		has, not []string
	}{
		{RoleViewer,
			[]string{"/odoo list", "/odoo status NAME", "/odoo info NAME", "/odoo backups NAME", "/odoo capacity", "/odoo certs", "/odoo help", "/odoo whoami", "role viewer"},
			[]string{"/odoo logs", "/odoo restart", "/odoo backup NAME", "/odoo create", "/odoo delete", "/odoo restore"}},
		{RoleOperator,
			[]string{"/odoo list", "/odoo logs NAME [N]", "/odoo restart NAME", "/odoo stop NAME", "/odoo start NAME", "/odoo backup NAME"},
			[]string{"/odoo create", "/odoo delete", "/odoo restore"}},
		{RoleAdmin,
			[]string{"/odoo create NAME [cloudflare|letsencrypt|http]", "/odoo delete NAME", "/odoo restore NAME BACKUP", "/odoo logs NAME [N]", "/odoo list"},
			nil},
		{RoleNone, []string{"/odoo whoami"}, []string{"/odoo list", "/odoo help"}},
	}
	for _, tt := range tests {
		t.Run(tt.role.String(), func(t *testing.T) {
			got := HelpText(tt.role)
			for _, s := range tt.has {
				if !strings.Contains(got, s) {
					t.Errorf("help for %v lacks %q:\n%s", tt.role, s, got)
				}
			}
			for _, s := range tt.not {
				if strings.Contains(got, s) {
					t.Errorf("help for %v shows %q:\n%s", tt.role, s, got)
				}
			}
		})
	}
}

func TestWhoamiText(t *testing.T) {
	ana := Identity{Platform: "slack", UserID: "U0123ABCD", UserName: "ana"}
	tests := []struct {
		id        Identity
		role      Role
		ok        bool
		elsewhere []string
		want      string
	}{
		{ana, RoleOperator, true, nil, "You are ana (slack U0123ABCD), role operator in this channel"},
		{ana, RoleNone, false, nil, "You are ana (slack U0123ABCD), not on the allowlist in this channel"},
		{ana, RoleNone, false, []string{"C0OPS0001", "C0OPS0002"},
			"You are ana (slack U0123ABCD), not on the allowlist in this channel; your grants apply only in C0OPS0001, C0OPS0002"},
		{Identity{Platform: "slack", UserID: "U0123ABCD", UserName: "ana", GroupsUnknown: true}, RoleNone, false, nil,
			"You are ana (slack U0123ABCD), not on the allowlist in this channel; your user groups could not be looked up just now, so group grants were not applied: try again in a minute (if it keeps failing, an admin should check the bot's usergroups:read scope and its log)"},
		{Identity{Platform: "discord", UserID: "998877665544332211"}, RoleAdmin, true, nil,
			"You are 998877665544332211 (discord 998877665544332211), role admin in this channel"},
	}
	for _, tt := range tests {
		if got := WhoamiText(tt.id, tt.role, tt.ok, tt.elsewhere); got != tt.want {
			t.Errorf("WhoamiText(%+v, %v, %v) = %q, want %q", tt.id, tt.role, tt.ok, got, tt.want)
		}
	}
}
