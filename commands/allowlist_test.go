package commands

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// writeAllowlist writes content to a file in a temporary directory and
// loads it.
func writeAllowlist(t *testing.T, content string) (*Allowlist, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "allowlist")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return LoadAllowlist(path)
}

func mustAllowlist(t *testing.T, content string) *Allowlist {
	t.Helper()
	al, err := writeAllowlist(t, content)
	if err != nil {
		t.Fatalf("LoadAllowlist: %v", err)
	}
	return al
}

const sample = `
# role      platform  kind   id                  [channels]
admin       slack     user   U0123ABCD
operator    slack     group  S0456EFGH           C0789ABCD,C0790ABCD
viewer      slack     user   W0999ZZZZ           # an enterprise-grid user
viewer      slack     user   U0555VIEW
operator    slack     user   U0555VIEW           C0789ABCD
viewer      discord   role   112233445566778899
admin       discord   user   998877665544332211
operator    discord   user   123456789012345678  223344556677889900
admin       shell     user   root
viewer      shell     group  staff
`

func TestAllowlistRole(t *testing.T) {
	al := mustAllowlist(t, sample)
	tests := []struct {
		name    string
		id      Identity
		channel string
		want    Role
		wantOK  bool
	}{
		{"slack admin anywhere", Identity{Platform: "slack", UserID: "U0123ABCD"}, "C0000AAAA", RoleAdmin, true},
		{"slack W user", Identity{Platform: "slack", UserID: "W0999ZZZZ"}, "C0000AAAA", RoleViewer, true},
		{"group grant in its channel", Identity{Platform: "slack", UserID: "U0777NEWB", Groups: []string{"S0111XXXX", "S0456EFGH"}}, "C0790ABCD", RoleOperator, true},
		{"group grant outside its channels", Identity{Platform: "slack", UserID: "U0777NEWB", Groups: []string{"S0456EFGH"}}, "C0000AAAA", RoleNone, false},
		{"channel grant raises the role there", Identity{Platform: "slack", UserID: "U0555VIEW"}, "C0789ABCD", RoleOperator, true},
		{"channel grant does not apply elsewhere", Identity{Platform: "slack", UserID: "U0555VIEW"}, "C0000AAAA", RoleViewer, true},
		{"highest of user and group wins", Identity{Platform: "slack", UserID: "U0123ABCD", Groups: []string{"S0456EFGH"}}, "C0789ABCD", RoleAdmin, true},
		{"unknown slack user refused", Identity{Platform: "slack", UserID: "U0999NOPE", UserName: "root"}, "C0789ABCD", RoleNone, false},
		{"display name never matches", Identity{Platform: "slack", UserID: "", UserName: "U0123ABCD"}, "", RoleNone, false},
		{"same ID on another platform does not match", Identity{Platform: "discord", UserID: "U0123ABCD"}, "", RoleNone, false},
		{"user ID in groups does not match a user grant", Identity{Platform: "slack", UserID: "U0999NOPE", Groups: []string{"U0123ABCD"}}, "", RoleNone, false},
		{"discord role grant", Identity{Platform: "discord", UserID: "111111111111111111", Groups: []string{"112233445566778899"}}, "1", RoleViewer, true},
		{"discord admin user", Identity{Platform: "discord", UserID: "998877665544332211"}, "1", RoleAdmin, true},
		{"discord channel-restricted user in channel", Identity{Platform: "discord", UserID: "123456789012345678"}, "223344556677889900", RoleOperator, true},
		{"discord channel-restricted user elsewhere", Identity{Platform: "discord", UserID: "123456789012345678"}, "1", RoleNone, false},
		{"shell root", Identity{Platform: "shell", UserID: "root"}, "", RoleAdmin, true},
		{"shell group", Identity{Platform: "shell", UserID: "ana", Groups: []string{"staff"}}, "", RoleViewer, true},
		{"shell stranger refused once the file has grants", Identity{Platform: "shell", UserID: "mallory"}, "", RoleNone, false},
		{"unknown platform refused", Identity{Platform: "irc", UserID: "U0123ABCD"}, "", RoleNone, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := al.Role(tt.id, tt.channel)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Role(%+v, %q) = %v, %v; want %v, %v", tt.id, tt.channel, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestAllowlistEmptyOrMissing(t *testing.T) {
	missing, err := LoadAllowlist(filepath.Join(t.TempDir(), "no-such-file"))
	if err != nil {
		t.Fatalf("missing file: %v", err)
	}
	noPath, err := LoadAllowlist("")
	if err != nil {
		t.Fatal(err)
	}
	lists := map[string]*Allowlist{
		"missing file":   missing,
		"no path":        noPath,
		"only comments":  mustAllowlist(t, "# nobody yet\n\n   \n"),
		"nil *Allowlist": nil,
	}
	for name, al := range lists {
		t.Run(name, func(t *testing.T) {
			if !al.ShellDefaultAdmin() {
				t.Error("ShellDefaultAdmin() = false for an empty allowlist")
			}
			if r, ok := al.Role(Identity{Platform: "shell", UserID: "ana"}, ""); r != RoleAdmin || !ok {
				t.Errorf("shell user got %v, %v; want admin", r, ok)
			}
			for _, p := range []string{"slack", "discord"} {
				if r, ok := al.Role(Identity{Platform: p, UserID: "U0123ABCD"}, "C0789ABCD"); r != RoleNone || ok {
					t.Errorf("%s user got %v, %v; want refused", p, r, ok)
				}
			}
		})
	}
	if mustAllowlist(t, sample).ShellDefaultAdmin() {
		t.Error("ShellDefaultAdmin() = true for a non-empty allowlist")
	}
}

func TestAllowlistBadLines(t *testing.T) {
	content := strings.Join([]string{
		"# header",                                         // 1
		"admin slack user U0123ABCD",                       // 2 ok
		"admin slack user ana",                             // 3 display name
		"root slack user U0123ABCE",                        // 4 bad role
		"admin teams user U0123ABCD",                       // 5 bad platform
		"admin discord group 112233445566778899",           // 6 bad kind for discord
		"admin discord user 12345",                         // 7 too short
		"viewer slack group @devops",                       // 8 handle, not ID
		"viewer slack user U0123ABCF #general",             // 9 channel name
		"viewer slack user U0123ABCG C0789ABCD,,C0790ABCD", // 10 empty channel
		"admin slack user",                                 // 11 too few words
		"admin slack user U0123ABCH C0789ABCD C0790ABCD",   // 12 too many words
		"admin slack user U0123ABCD",                       // 13 duplicate of 2
		"admin slack user u0123abcd",                       // 14 lower case
		"viewer slack channel C0789ABCD",                   // 15 channel is not a kind
		"boss slack user bob",                              // 16 two problems on one line
		"operator discord role 112233445566778899 #ops",    // 17 discord channel name
	}, "\n")
	path := filepath.Join(t.TempDir(), "allowlist")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	al, err := LoadAllowlist(path)
	if err == nil {
		t.Fatalf("LoadAllowlist accepted bad lines: %+v", al.Grants())
	}
	if al != nil {
		t.Error("a refused allowlist must not be returned")
	}
	msg := err.Error()
	wantLines := []string{
		path + `:3: "ana" is not a Slack user ID`,
		path + `:4: unknown role "root"`,
		path + `:5: unknown platform "teams"`,
		path + `:6: unknown kind "group" for discord: use user or role`,
		path + `:7: "12345" is not a Discord user ID`,
		path + `:8: "@devops" is not a Slack user-group ID`,
		path + `:9: channel "#general" is not a Slack channel ID`,
		path + `:10: empty channel in the channel list`,
		path + `:11: want ROLE PLATFORM KIND ID [CHANNELS], got 3 word(s)`,
		path + `:12: too many words (6)`,
		path + `:13: slack user U0123ABCD is already granted on line 2`,
		path + `:14: "u0123abcd" is not a Slack user ID`,
		path + `:15: unknown kind "channel" for slack`,
		path + `:16: unknown role "boss"`,
		path + `:16: "bob" is not a Slack user ID`,
		path + `:17: channel "#ops" is not a Discord channel ID`,
	}
	for _, w := range wantLines {
		if !strings.Contains(msg, w) {
			t.Errorf("error does not contain %q", w)
		}
	}
	// One message per problem, nothing for the good line.
	var got []string
	for _, l := range strings.Split(msg, "\n") {
		if strings.HasPrefix(l, path+":") {
			got = append(got, l)
		}
	}
	if len(got) != len(wantLines) {
		t.Errorf("got %d problem lines, want %d:\n%s", len(got), len(wantLines), msg)
	}
	if strings.Contains(msg, path+":2:") || strings.Contains(msg, path+":1:") {
		t.Errorf("good lines reported:\n%s", msg)
	}
}

func TestAllowlistGrants(t *testing.T) {
	al := mustAllowlist(t, "operator slack group S0456EFGH C0789ABCD,C0790ABCD # ops\n\nadmin shell user root\n")
	want := []Grant{
		{Role: RoleOperator, Platform: "slack", Kind: "group", ID: "S0456EFGH", Channels: []string{"C0789ABCD", "C0790ABCD"}, Line: 1},
		{Role: RoleAdmin, Platform: "shell", Kind: "user", ID: "root", Line: 3},
	}
	got := al.Grants()
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("Grants() (-got +want):\n%s", diff)
	}
	got[0].Channels[0] = "C9999ZZZZ"
	if al.Grants()[0].Channels[0] != "C0789ABCD" {
		t.Error("Grants() exposes the allowlist's own slices")
	}
}

func TestAllowlistUnreadable(t *testing.T) {
	dir := t.TempDir() // a directory is not a readable allowlist
	if _, err := LoadAllowlist(dir); err == nil {
		t.Error("LoadAllowlist(directory) = nil error")
	}
}

func TestGroupsMatterOnlyWhenAGroupGrantCouldChangeTheRole(t *testing.T) {
	al, err := ParseAllowlist(strings.NewReader(`
admin    slack user  U0ADMIN01
viewer   slack user  U0VIEW001
operator slack group S0OPS0001
admin    slack group S0ADM0001 C0789ABCD
viewer   discord user 123456789012345678
`), "t")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		user, channel string
		want          bool
	}{
		{"U0ADMIN01", "C1", false},       // admin by user grant: no group can raise it
		{"U0VIEW001", "C1", true},        // a group grant gives operator
		{"U0VIEW001", "C0789ABCD", true}, // and admin here
		{"U0NOBODY1", "C1", true},        // no user grant: only groups can tell
	} {
		if got := al.GroupsMatter(Identity{Platform: "slack", UserID: c.user}, c.channel); got != c.want {
			t.Errorf("GroupsMatter(%s in %s) = %v, want %v", c.user, c.channel, got, c.want)
		}
	}
	if al.GroupsMatter(Identity{Platform: "discord", UserID: "99"}, "C1") {
		t.Error("GroupsMatter is true on a platform with no group grant")
	}
}
