package commands

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"odoobot/provision"
)

func TestParse(t *testing.T) {
	tests := []struct {
		text string
		want Command
	}{
		{"create acme", Command{Verb: VerbCreate, Name: "acme"}}, // the server's DEFAULT_SSL_MODE applies
		{"/odoo create acme", Command{Verb: VerbCreate, Name: "acme"}},
		{"create acme cloudflare", Command{Verb: VerbCreate, Name: "acme", Mode: "cloudflare"}},
		{"create acme letsencrypt", Command{Verb: VerbCreate, Name: "acme", Mode: "letsencrypt"}},
		{"create acme http", Command{Verb: VerbCreate, Name: "acme", Mode: "http"}},
		{"create acme HTTP", Command{Verb: VerbCreate, Name: "acme", Mode: "http"}},
		{"Create Acme", Command{Verb: VerbCreate, Name: "Acme"}}, // name kept as typed; provision refuses it
		{"  /ODOO \t restart\u00a0acme \n", Command{Verb: VerbRestart, Name: "acme"}},
		{"list", Command{Verb: VerbList}},
		{"status acme", Command{Verb: VerbStatus, Name: "acme"}},
		{"info acme", Command{Verb: VerbInfo, Name: "acme"}},
		{"logs acme", Command{Verb: VerbLogs, Name: "acme", Lines: 50}},
		{"logs acme 1", Command{Verb: VerbLogs, Name: "acme", Lines: 1}},
		{"logs acme 200", Command{Verb: VerbLogs, Name: "acme", Lines: 200}},
		{"logs acme 1000", Command{Verb: VerbLogs, Name: "acme", Lines: 1000}},
		{"logs acme 007", Command{Verb: VerbLogs, Name: "acme", Lines: 7}},
		{"restart acme", Command{Verb: VerbRestart, Name: "acme"}},
		{"stop acme", Command{Verb: VerbStop, Name: "acme"}},
		{"start acme", Command{Verb: VerbStart, Name: "acme"}},
		{"backup acme", Command{Verb: VerbBackup, Name: "acme"}},
		{"backups acme", Command{Verb: VerbBackups, Name: "acme"}},
		{"restore acme 2024-05-01T03-00-00", Command{Verb: VerbRestore, Name: "acme", Backup: "2024-05-01T03-00-00"}},
		{"delete acme", Command{Verb: VerbDelete, Name: "acme"}},
		{"reset-admin acme", Command{Verb: VerbResetAdmin, Name: "acme"}},
		{"Reset-Admin acme", Command{Verb: VerbResetAdmin, Name: "acme"}},
		{"logs acme share", Command{Verb: VerbLogs, Name: "acme", Lines: 50, Share: true}},
		{"logs acme 20 SHARE", Command{Verb: VerbLogs, Name: "acme", Lines: 20, Share: true}},
		{"logs share", Command{Verb: VerbLogs, Name: "share", Lines: 50}}, // a name, not the flag
		{"capacity", Command{Verb: VerbCapacity}},
		{"certs", Command{Verb: VerbCerts}},
		{"help", Command{Verb: VerbHelp}},
		{"whoami", Command{Verb: VerbWhoami}},
		{"", Command{Verb: VerbHelp}},
		{"/odoo", Command{Verb: VerbHelp}},
		{"   ", Command{Verb: VerbHelp}},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			got, err := Parse(tt.text)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.text, err)
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("Parse(%q) (-got +want):\n%s", tt.text, diff)
			}
		})
	}
}

func TestParseMistakes(t *testing.T) {
	tests := []struct {
		text     string
		verb     Verb
		contains []string // every one must appear in the message
	}{
		{"frobnicate acme", "", []string{`unknown command "frobnicate"`, "create, list, status", "whoami"}},
		{"/odoo /odoo list", "", []string{`unknown command "/odoo"`}},
		{"cr\u0435ate acme", "", []string{`unknown command "crеate"`}}, // Cyrillic е
		{"bac\u212aup acme", "", []string{"unknown command"}},          // Kelvin sign is not k
		{"create", VerbCreate, []string{"create needs an instance NAME", "usage: /odoo create NAME [cloudflare|letsencrypt|http]"}},
		{"create acme https", VerbCreate, []string{`unknown SSL mode "https"`, "usage: /odoo create NAME"}},
		{"create acme http extra", VerbCreate, []string{`too many words after create: "extra"`}},
		{"status", VerbStatus, []string{"status needs an instance NAME", "usage: /odoo status NAME"}},
		{"status acme now", VerbStatus, []string{`too many words after status: "now"`, "usage: /odoo status NAME"}},
		{"list all", VerbList, []string{`too many words after list: "all"`, "usage: /odoo list"}},
		{"help me please", VerbHelp, []string{`too many words after help: "me please"`}},
		{"logs", VerbLogs, []string{"logs needs an instance NAME", "usage: /odoo logs NAME [N]"}},
		{"logs acme 0", VerbLogs, []string{`N must be a whole number from 1 to 1000, not "0"`}},
		{"logs acme -5", VerbLogs, []string{`not "-5"`}},
		{"logs acme +5", VerbLogs, []string{`not "+5"`}},
		{"logs acme 1001", VerbLogs, []string{`not "1001"`}},
		{"logs acme 99999999999999999999", VerbLogs, []string{"N must be"}},
		{"logs acme ten", VerbLogs, []string{`not "ten"`}},
		{"logs acme ٣", VerbLogs, []string{"N must be"}}, // Arabic-Indic digit
		{"logs acme 10 20", VerbLogs, []string{`too many words after logs: "20"`}},
		{"restore acme", VerbRestore, []string{"restore needs the BACKUP", "usage: /odoo restore NAME BACKUP"}},
		{"restore", VerbRestore, []string{"restore needs an instance NAME"}},
		{"restore acme b1 b2", VerbRestore, []string{`too many words after restore: "b2"`}},
		{"delete", VerbDelete, []string{"usage: /odoo delete NAME"}},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			got, err := Parse(tt.text)
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("Parse(%q) = %+v, %v; want a *UsageError", tt.text, got, err)
			}
			if ue.Verb != tt.verb {
				t.Errorf("Parse(%q) verb = %q, want %q", tt.text, ue.Verb, tt.verb)
			}
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Parse(%q) message %q does not contain %q", tt.text, err.Error(), s)
				}
			}
		})
	}
}

func TestUsageErrorQuotesLongInput(t *testing.T) {
	_, err := Parse(strings.Repeat("x", 5000) + "\x1b[31m")
	if err == nil {
		t.Fatal("want an error")
	}
	if len(err.Error()) > 400 {
		t.Errorf("message is %d bytes long; user text must be shortened", len(err.Error()))
	}
	_, err = Parse("list \x1b[2J")
	if err == nil || strings.Contains(err.Error(), "\x1b") {
		t.Errorf("message %q must show control characters escaped", err)
	}
}

func TestEveryVerbHasUsageAndParses(t *testing.T) {
	for _, v := range Verbs() {
		u := Usage(v)
		if !strings.HasPrefix(u, "/odoo "+string(v)) {
			t.Errorf("Usage(%q) = %q", v, u)
		}
		// The usage line with placeholders filled in must parse.
		text := strings.NewReplacer("NAME", "acme", "[cloudflare|letsencrypt|http]", "http", "[N]", "10", "[share]", "share", "BACKUP", "b1",
			"SRC", "acme", "DST", "acme-staging", "[--no-neutralize]", "--no-neutralize",
			"[COMMIT|TAG|latest]", "latest", "DURATION|off", "30m", "[REASON]", "moving the disk", "[SINCE]", "7d", "[USER]", "U0123").Replace(u)
		c, err := Parse(text)
		if err != nil || c.Verb != v {
			t.Errorf("Parse(%q) = %+v, %v", text, c, err)
		}
	}
}

// TestParseUpgrade: upgrade takes an optional commit, tag or "latest",
// and refuses what git would read as an option or a range.
func TestParseUpgrade(t *testing.T) {
	for text, want := range map[string]string{
		"upgrade acme":               "",
		"upgrade acme LATEST":        "latest",
		"upgrade acme v17.0.1+build": "v17.0.1+build",
		"upgrade acme 0123456789abcdef0123456789abcdef01234567": "0123456789abcdef0123456789abcdef01234567",
		"upgrade acme release/17.0-2026":                        "release/17.0-2026",
	} {
		c, err := Parse(text)
		if err != nil || c.Verb != VerbUpgrade || c.Name != "acme" || c.Release != want {
			t.Errorf("Parse(%q) = %+v, %v; want release %q", text, c, err, want)
		}
		if back, err := Parse(c.String()); err != nil || back != c {
			t.Errorf("Parse(%q.String()) = %+v, %v", text, back, err)
		}
	}
	for _, text := range []string{"upgrade acme --upload-pack=x", "upgrade acme a..b", "upgrade acme a;b", "upgrade acme latest extra", "upgrade"} {
		if c, err := Parse(text); err == nil {
			t.Errorf("Parse(%q) = %+v, want a usage error", text, c)
		}
	}
}

func TestCommandString(t *testing.T) {
	tests := []struct {
		c    Command
		want string
	}{
		{Command{Verb: VerbCreate, Name: "acme", Mode: "cloudflare"}, "create acme cloudflare"},
		{Command{Verb: VerbLogs, Name: "acme", Lines: 50}, "logs acme 50"},
		{Command{Verb: VerbRestore, Name: "acme", Backup: "b1"}, "restore acme b1"},
		{Command{Verb: VerbList}, "list"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.c, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "/odoo create acme", "create acme letsencrypt", "logs acme 10", "logs a 0",
		"restore a b", "list x", "whoami", "HELP", "create \u00a0acme\u2003http", "logs acme ٣",
		"st\u0430tus x", "\xff\xfe", "/odoo", "delete acme\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		c, err := Parse(text)
		if err != nil {
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("Parse(%q) error %T is not a *UsageError", text, err)
			}
			if err.Error() == "" || !utf8.ValidString(err.Error()) {
				t.Fatalf("Parse(%q) message %q is empty or not UTF-8", text, err.Error())
			}
			return
		}
		if _, ok := lookupVerb(c.Verb); !ok {
			t.Fatalf("Parse(%q) gave unknown verb %q", text, c.Verb)
		}
		s := c.String()
		again, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q) = %+v, but its canonical form %q does not parse: %v", text, c, s, err)
		}
		if diff := cmp.Diff(again, c); diff != "" {
			t.Fatalf("round trip of %q via %q (-again +first):\n%s", text, s, diff)
		}
		if again.String() != s {
			t.Fatalf("canonical form not stable: %q then %q", s, again.String())
		}
		if c.Verb == VerbLogs && (c.Lines < 1 || c.Lines > MaxLogLines) {
			t.Fatalf("Parse(%q) Lines = %d", text, c.Lines)
		}
		if c.Verb == VerbCreate && c.Mode != "" {
			if _, err := provision.ParseSSLMode(c.Mode, ""); err != nil {
				t.Fatalf("Parse(%q) Mode = %q", text, c.Mode)
			}
		}
	})
}

// TestParseMaintenance: a length from 1m to 168h and a reason of any
// words, or off alone; anything else is refused with the usage.
func TestParseMaintenance(t *testing.T) {
	for text, want := range map[string]Command{
		"maintenance acme 30m":                    {Verb: VerbMaintenance, Name: "acme", Window: 30 * time.Minute},
		"maintenance acme 2h moving  the disk":    {Verb: VerbMaintenance, Name: "acme", Window: 2 * time.Hour, Reason: "moving the disk"},
		"MAINTENANCE acme OFF":                    {Verb: VerbMaintenance, Name: "acme"},
		"maintenance acme 168h":                   {Verb: VerbMaintenance, Name: "acme", Window: 168 * time.Hour},
		"/odoo maintenance acme 1h30m upgrade db": {Verb: VerbMaintenance, Name: "acme", Window: 90 * time.Minute, Reason: "upgrade db"},
	} {
		c, err := Parse(text)
		if err != nil || c != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", text, c, err, want)
			continue
		}
		if back, err := Parse(c.String()); err != nil || back != c {
			t.Errorf("Parse(%q.String()) = %+v, %v", text, back, err)
		}
	}
	for _, text := range []string{"maintenance acme", "maintenance acme 30s", "maintenance acme 169h", "maintenance acme soon", "maintenance acme off now", "maintenance acme -1h",
		"maintenance acme 1h " + strings.Repeat("x", 201)} {
		var ue *UsageError
		if _, err := Parse(text); !errors.As(err, &ue) || ue.Verb != VerbMaintenance {
			t.Errorf("Parse(%q) = %v, want a usage error of maintenance", text, err)
		}
	}
}

// TestParseAudit: SINCE (a length or a date) and USER, each optional;
// a USER alone is taken as USER; two words need a SINCE first.
func TestParseAudit(t *testing.T) {
	for text, want := range map[string]Command{
		"audit":                 {Verb: VerbAudit},
		"audit 24h":             {Verb: VerbAudit, Since: "24h"},
		"audit 30d U0123":       {Verb: VerbAudit, Since: "30d", User: "U0123"},
		"audit 2026-12-01 olga": {Verb: VerbAudit, Since: "2026-12-01", User: "olga"},
		"audit olga":            {Verb: VerbAudit, User: "olga"},
	} {
		c, err := Parse(text)
		if err != nil || c != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", text, c, err, want)
			continue
		}
		if back, err := Parse(c.String()); err != nil || back != c {
			t.Errorf("Parse(%q.String()) = %+v, %v", text, back, err)
		}
	}
	for _, text := range []string{"audit soon olga", "audit 7d olga extra", "audit 400d olga", "audit 30s olga", "audit " + strings.Repeat("u", 101)} {
		var ue *UsageError
		if _, err := Parse(text); !errors.As(err, &ue) || ue.Verb != VerbAudit {
			t.Errorf("Parse(%q) = %v, want a usage error of audit", text, err)
		}
	}
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for word, want := range map[string]time.Time{
		"7d": now.AddDate(0, 0, -7), "90m": now.Add(-90 * time.Minute), "2026-12-01": time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
	} {
		if got, ok := SinceOf(word, now); !ok || !got.Equal(want) {
			t.Errorf("SinceOf(%q) = %v, %v; want %v", word, got, ok, want)
		}
	}
}
