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
		id   Identity
		role Role
		ok   bool
		want string
	}{
		{ana, RoleOperator, true, "You are ana (slack U0123ABCD), role operator in this channel"},
		{ana, RoleNone, false, "You are ana (slack U0123ABCD), not on the allowlist in this channel"},
		{Identity{Platform: "discord", UserID: "998877665544332211"}, RoleAdmin, true,
			"You are 998877665544332211 (discord 998877665544332211), role admin in this channel"},
	}
	for _, tt := range tests {
		if got := WhoamiText(tt.id, tt.role, tt.ok); got != tt.want {
			t.Errorf("WhoamiText(%+v, %v, %v) = %q, want %q", tt.id, tt.role, tt.ok, got, tt.want)
		}
	}
}
