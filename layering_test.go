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

// hostIO are the packages through which a program reaches the host:
// processes, users, system calls, HTTP, PostgreSQL and D-Bus. The
// domain reaches the host only through its drivers.
var hostIO = []string{
	"os",  // and os/exec, os/user, os/signal
	"net", // and net/http
	"syscall",
	"golang.org/x/sys/unix",
	"github.com/jackc/",
	"github.com/godbus/",
	// odoobot's own helpers over the host's files and processes
	"odoobot/internal/safefs",
	"odoobot/internal/atomicfile",
	"odoobot/internal/backup",
	"odoobot/internal/listeners",
	"odoobot/internal/childenv",
	"odoobot/internal/nofollow",
	"odoobot/internal/pgdb",
	"odoobot/internal/pgrole",
	"odoobot/internal/pgerr",
}

// sdkRules are the outside systems' SDKs, which only drivers and the
// wiring import.
var sdkRules = []string{"github.com/jackc/", "github.com/godbus/"}

// TestLayering holds the arrows of the design: commands and provision
// never depend on a chat library, a cloud, ACME, systemd, PostgreSQL or
// D-Bus SDK, a provision driver or the bot runtime; provision never
// depends on commands, and imports no package that reaches the host
// (hostIO: checked on its own imports, since the standard library's
// os itself imports syscall); no driver imports another driver; no bot
// imports a driver. Only the packages themselves are checked (their
// non-test dependencies, direct or not), not their subpackages.
func TestLayering(t *testing.T) {
	goBin := testenv.LookPath(t, "go")
	list := func(t *testing.T, field, pkg string) []string {
		t.Helper()
		format := `{{join .` + field + ` "\n"}}`
		if field == "ImportPath" {
			format = `{{.ImportPath}}`
		}
		out, err := exec.Command(goBin, "list", "-f", format, pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		return strings.Fields(string(out))
	}
	tests := []struct {
		pkg, field string
		rules      []string
	}{
		{"odoobot/commands", "Deps", append(sdkRules, layerRules...)},
		{"odoobot/provision", "Deps", append([]string{"odoobot/commands"}, append(sdkRules, layerRules...)...)},
		{"odoobot/provision", "Imports", hostIO},
	}
	for _, pkg := range list(t, "ImportPath", "odoobot/bot/...") {
		tests = append(tests, struct {
			pkg, field string
			rules      []string
		}{pkg, "Deps", []string{"odoobot/provision/"}})
	}
	for _, pkg := range list(t, "ImportPath", "odoobot/provision/...") {
		if pkg == "odoobot/provision" {
			continue
		}
		// A driver may import its own subpackages (its test doubles).
		driver := strings.Join(strings.Split(pkg, "/")[:3], "/")
		var others []string
		for _, d := range list(t, "ImportPath", "odoobot/provision/...") {
			if d != "odoobot/provision" && d != driver && !strings.HasPrefix(d, driver+"/") {
				others = append(others, d)
			}
		}
		tests = append(tests, struct {
			pkg, field string
			rules      []string
		}{pkg, "Imports", others})
	}
	for _, tt := range tests {
		t.Run(tt.pkg+"/"+tt.field, func(t *testing.T) {
			deps := list(t, tt.field, tt.pkg)
			if len(deps) == 0 {
				t.Fatalf("go list %s listed no %s: the check would prove nothing", tt.pkg, tt.field)
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
	for _, dep := range []string{"os", "os/exec", "syscall", "net", "net/http", "github.com/jackc/pgx/v5", "github.com/godbus/dbus/v5", "odoobot/internal/backup"} {
		if brokenRule(dep, hostIO) == "" {
			t.Errorf("hostIO does not catch %s", dep)
		}
	}
	for _, dep := range []string{"io/fs", "path/filepath", "context", "crypto/rand"} {
		if r := brokenRule(dep, hostIO); r != "" {
			t.Errorf("hostIO forbids %s (rule %q)", dep, r)
		}
	}
	if got := brokenRule("odoobot/commands", []string{"odoobot/commands"}); got == "" {
		t.Error("provision's extra rule does not catch odoobot/commands")
	}
}
