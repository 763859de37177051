package commands

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRequired(t *testing.T) {
	want := map[Verb]Role{
		VerbList: RoleViewer, VerbStatus: RoleViewer, VerbInfo: RoleViewer, VerbHelp: RoleViewer,
		VerbCerts: RoleViewer, VerbCapacity: RoleViewer, VerbBackups: RoleViewer, VerbConfirm: RoleViewer, VerbOverview: RoleViewer, VerbTemplates: RoleViewer,
		VerbLogs: RoleOperator, VerbAck: RoleOperator, VerbRestart: RoleOperator, VerbStop: RoleOperator,
		VerbStart: RoleOperator, VerbMaintenance: RoleOperator, VerbBackup: RoleOperator, VerbDrill: RoleOperator,
		VerbCreate: RoleAdmin, VerbAudit: RoleAdmin, VerbDelete: RoleAdmin, VerbClone: RoleAdmin, VerbRestore: RoleAdmin, VerbResetAdmin: RoleAdmin, VerbUpgrade: RoleAdmin,
		VerbApprove: RoleAdmin, VerbDeny: RoleAdmin,
		VerbWhoami: RoleNone,
	}
	got := map[Verb]Role{}
	for _, v := range Verbs() {
		got[v] = Required(v)
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("Required (-got +want):\n%s", diff)
	}
	if r := Required("sudo"); RoleAdmin.Allows(r) {
		t.Errorf("Required(unknown) = %v, which an admin holds", r)
	}
}

func TestRoleOrderAndParse(t *testing.T) {
	if !(RoleNone < RoleViewer && RoleViewer < RoleOperator && RoleOperator < RoleAdmin) {
		t.Fatal("roles are not ordered viewer < operator < admin")
	}
	for _, r := range Roles {
		got, err := ParseRole(r.String())
		if err != nil || got != r {
			t.Errorf("ParseRole(%q) = %v, %v", r.String(), got, err)
		}
	}
	for _, s := range []string{"", "none", "Admin", "root", "admin "} {
		if _, err := ParseRole(s); err == nil {
			t.Errorf("ParseRole(%q) accepted", s)
		}
	}
}

func TestDecide(t *testing.T) {
	al := mustAllowlist(t, `
viewer    slack user  U0VIEWER1
operator  slack user  U0OPERAT1
admin     slack user  U0ADMIN01
operator  slack group S0ONCALL1 C0OPS0001
`)
	viewer := Identity{Platform: "slack", UserID: "U0VIEWER1", UserName: "vera"}
	operator := Identity{Platform: "slack", UserID: "U0OPERAT1", UserName: "otto"}
	admin := Identity{Platform: "slack", UserID: "U0ADMIN01", UserName: "ana"}
	stranger := Identity{Platform: "slack", UserID: "U0STRANG1", UserName: "ana"} // same display name as the admin
	oncall := Identity{Platform: "slack", UserID: "U0ONCALL9", Groups: []string{"S0ONCALL1"}}
	// Their groups could not be looked up: none is known.
	oncallUnknown := Identity{Platform: "slack", UserID: "U0ONCALL9", GroupsUnknown: true}
	viewerUnknown := Identity{Platform: "slack", UserID: "U0VIEWER1", GroupsUnknown: true}
	const groupsNote = "; your user groups could not be looked up just now, so group grants were not applied: try again in a minute (if it keeps failing, an admin should check the bot's usergroups:read scope and its log)"

	tests := []struct {
		name     string
		id       Identity
		channel  string
		text     string
		wantCmd  Command
		wantRole Role
		wantErr  string // exact message; "" for success
		denied   bool
	}{
		{"viewer lists", viewer, "C1", "/odoo list", Command{Verb: VerbList}, RoleViewer, "", false},
		{"viewer may not restart", viewer, "C1", "restart acme", Command{}, RoleViewer,
			"you (U0VIEWER1) need role operator to run restart; you have viewer", true},
		{"operator restarts", operator, "C1", "restart acme", Command{Verb: VerbRestart, Name: "acme"}, RoleOperator, "", false},
		{"operator may not create", operator, "C1", "create acme", Command{}, RoleOperator,
			"you (U0OPERAT1) need role admin to run create; you have operator", true},
		{"operator may not delete", operator, "C1", "delete acme", Command{}, RoleOperator,
			"you (U0OPERAT1) need role admin to run delete; you have operator", true},
		{"admin creates", admin, "C1", "create acme letsencrypt", Command{Verb: VerbCreate, Name: "acme", Mode: "letsencrypt"}, RoleAdmin, "", false},
		{"admin restores", admin, "C1", "restore acme b1", Command{Verb: VerbRestore, Name: "acme", Backup: "b1"}, RoleAdmin, "", false},
		{"admin gets usage", admin, "C1", "create", Command{}, RoleAdmin,
			"create needs an instance NAME\nusage: /odoo create NAME [cloudflare|letsencrypt|http]", false},
		{"stranger refused", stranger, "C1", "list", Command{}, RoleNone, "you (U0STRANG1) are not on the allowlist", true},
		{"stranger gets no usage", stranger, "C1", "frobnicate", Command{}, RoleNone, "you (U0STRANG1) are not on the allowlist", true},
		{"stranger refused help", stranger, "C1", "help", Command{}, RoleNone, "you (U0STRANG1) are not on the allowlist", true},
		{"stranger may whoami", stranger, "C1", "whoami", Command{Verb: VerbWhoami}, RoleNone, "", false},
		{"on-call group in its channel", oncall, "C0OPS0001", "logs acme 20", Command{Verb: VerbLogs, Name: "acme", Lines: 20}, RoleOperator, "", false},
		{"on-call whose groups are unknown", oncallUnknown, "C0OPS0001", "logs acme", Command{}, RoleNone,
			"you (U0ONCALL9) are not on the allowlist by your user ID" + groupsNote, true},
		{"viewer whose groups are unknown", viewerUnknown, "C1", "restart acme", Command{}, RoleViewer,
			"you (U0VIEWER1) need role operator to run restart; you have viewer" + groupsNote, true},
		{"on-call group elsewhere", oncall, "C2", "logs acme", Command{}, RoleNone, "you (U0ONCALL9) have no role in this channel: your grants apply only in C0OPS0001; run the command there, or ask an admin for a grant here", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, role, err := Decide(al, Request{Identity: tt.id, Channel: tt.channel, Text: tt.text})
			if diff := cmp.Diff(cmd, tt.wantCmd); diff != "" {
				t.Errorf("command (-got +want):\n%s", diff)
			}
			if role != tt.wantRole {
				t.Errorf("role = %v, want %v", role, tt.wantRole)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("error: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
			var de *DeniedError
			var ue *UsageError
			if tt.denied != errors.As(err, &de) || tt.denied != errors.Is(err, ErrDenied) {
				t.Errorf("error %T: denied = %v, want %v", err, errors.As(err, &de), tt.denied)
			}
			if !tt.denied && !errors.As(err, &ue) {
				t.Errorf("error %T is not a *UsageError", err)
			}
		})
	}
}

func TestDecideShellDefault(t *testing.T) {
	cmd, role, err := Decide(nil, Request{Identity: Identity{Platform: "shell", UserID: "root"}, Text: "delete acme"})
	if err != nil || role != RoleAdmin || cmd.Verb != VerbDelete {
		t.Errorf("shell with no allowlist: %+v, %v, %v; want delete as admin", cmd, role, err)
	}
	_, _, err = Decide(nil, Request{Identity: Identity{Platform: "slack", UserID: "U0ADMIN01"}, Text: "list"})
	if !errors.Is(err, ErrDenied) {
		t.Errorf("slack with no allowlist: %v; want denied", err)
	}
}
