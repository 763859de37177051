package odoobot_test

import (
	"os/exec"
	"strings"
	"testing"

	"odoobot/internal/testenv"
)

// layerRules are the import paths that commands and provision must not
// depend on. A rule ending in "/" forbids every package below it; any
// other rule forbids that package and every package below it.
var layerRules = []string{
	"github.com/slack-go/",
	"github.com/bwmarrin/discordgo",
	"github.com/cloudflare/",
	"github.com/go-acme/",
	"github.com/coreos/go-systemd/",
	"odoobot/provision/", // the drivers, not provision itself
	"odoobot/bot",
	"odoobot/cmd",
}

// commandsRules are what commands must not import itself besides
// layerRules: the PostgreSQL and D-Bus libraries, whose errors the
// drivers turn into provision.Error before chat sees them. (Checked on
// its own imports: provision still reaches pgx.)
var commandsRules = []string{"github.com/jackc/", "github.com/godbus/"}

// brokenRule returns the rule that dep breaks, or "".
func brokenRule(dep string, rules []string) string {
	for _, r := range rules {
		if strings.HasSuffix(r, "/") {
			if strings.HasPrefix(dep, r) {
				return r
			}
			continue
		}
		if dep == r || strings.HasPrefix(dep, r+"/") {
			return r
		}
	}
	return ""
}

// TestLayering holds the arrows of DESIGN.md: commands and provision never
// depend on a chat library, a cloud, ACME or systemd SDK, a provision
// driver or the bot runtime, commands never imports the PostgreSQL or
// D-Bus libraries, and provision never depends on commands.
// Only the packages themselves are checked (their non-test dependencies,
// direct or not), not their subpackages, which are the drivers.
func TestLayering(t *testing.T) {
	tests := []struct {
		pkg    string
		rules  []string
		direct bool // only the package's own imports
	}{
		{"odoobot/commands", layerRules, false},
		{"odoobot/commands", commandsRules, true},
		{"odoobot/provision", append([]string{"odoobot/commands"}, layerRules...), false},
	}
	goBin := testenv.LookPath(t, "go")
	for _, tt := range tests {
		t.Run(tt.pkg, func(t *testing.T) {
			list := `{{join .Deps "\n"}}`
			if tt.direct {
				list = `{{join .Imports "\n"}}`
			}
			out, err := exec.Command(goBin, "list", "-f", list, tt.pkg).CombinedOutput()
			if err != nil {
				t.Fatalf("go list %s: %v\n%s", tt.pkg, err, out)
			}
			deps := strings.Fields(string(out))
			if len(deps) == 0 {
				t.Fatalf("go list %s listed no dependencies: the check would prove nothing", tt.pkg)
			}
			for _, d := range deps {
				if r := brokenRule(d, tt.rules); r != "" {
					t.Errorf("%s depends on %s, which the layering forbids (rule %q)", tt.pkg, d, r)
				}
			}
		})
	}
}

// TestBrokenRule checks the matcher, so that TestLayering cannot pass by
// matching nothing.
func TestBrokenRule(t *testing.T) {
	tests := []struct {
		dep, want string
	}{
		{"github.com/slack-go/slack", "github.com/slack-go/"},
		{"github.com/slack-go/slack/socketmode", "github.com/slack-go/"},
		{"github.com/bwmarrin/discordgo", "github.com/bwmarrin/discordgo"},
		{"github.com/cloudflare/cloudflare-go/v6/dns", "github.com/cloudflare/"},
		{"github.com/go-acme/lego/v5/lego", "github.com/go-acme/"},
		{"github.com/coreos/go-systemd/v22/dbus", "github.com/coreos/go-systemd/"},
		{"odoobot/provision/postgres", "odoobot/provision/"},
		{"odoobot/bot/slack", "odoobot/bot"},
		{"odoobot/bot", "odoobot/bot"},
		{"odoobot/provision", ""},
		{"odoobot/botany", ""},
		{"github.com/google/go-cmp/cmp", ""},
		{"strings", ""},
	}
	for _, tt := range tests {
		if got := brokenRule(tt.dep, layerRules); got != tt.want {
			t.Errorf("brokenRule(%q) = %q, want %q", tt.dep, got, tt.want)
		}
	}
	for _, dep := range []string{"github.com/jackc/pgx/v5/pgconn", "github.com/godbus/dbus/v5"} {
		if got := brokenRule(dep, commandsRules); got == "" {
			t.Errorf("commands' extra rules do not catch %s", dep)
		}
	}
	if got := brokenRule("odoobot/commands", []string{"odoobot/commands"}); got == "" {
		t.Error("provision's extra rule does not catch odoobot/commands")
	}
}
