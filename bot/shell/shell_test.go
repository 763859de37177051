package shell_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"odoobot/bot/shell"
	"odoobot/commands"
	"odoobot/provision"
)

// TestTerminalDrivesTheDispatcher types commands into the terminal
// adapter and reads what it prints: help for an admin (no allowlist), a
// usage mistake marked as a refusal, and who the user is.
func TestTerminalDrivesTheDispatcher(t *testing.T) {
	d := &commands.Dispatcher{Rules: provision.NameRules{Zone: "example.com"}, Mode: provision.SSLHTTP}
	in := strings.NewReader("/odoo help\n\n/odoo frobnicate\nwhoami\n/odoo create MAYUSCULAS http\n")
	var out bytes.Buffer
	id := commands.Identity{Platform: commands.PlatformShell, UserID: "root", UserName: "root"}
	if err := shell.Run(context.Background(), in, &out, d, id); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"/odoo create NAME", // help lists create for the admin
		"✗ ",                // the unknown verb is refused
		"frobnicate",        // and named
		"root",              // whoami
		`rule format`,       // the bad name names its rule
	} {
		if !strings.Contains(got, want) {
			t.Errorf("terminal output lacks %q:\n%s", want, got)
		}
	}
}

func TestThreadIsIndented(t *testing.T) {
	var out bytes.Buffer
	r := shell.NewResponder(&out)
	th, _ := r.Thread(context.Background(), "creating prod-acme")
	th.Post(context.Background(), "✓ database (1s)")
	th.Finish(context.Background(), "created prod-acme", "Name: acme\nDomain: acme.example.com")
	want := "▶ creating prod-acme\n    │ ✓ database (1s)\n■ created prod-acme\n    Name: acme\n    Domain: acme.example.com\n"
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
	if r.Refused() {
		t.Error("a thread is not a refusal")
	}
}

// TestCLISecretIsNotARefusal: a password is printed as is, and does not
// make the command count as refused; a confirmation asked of the CLI
// prints nothing (--yes answers it) but keeps its code.
func TestCLISecretIsNotARefusal(t *testing.T) {
	var out bytes.Buffer
	r := shell.NewCLIResponder(&out)
	ctx := context.Background()
	if err := r.Secret(ctx, "password: s3cret"); err != nil {
		t.Fatal(err)
	}
	if err := r.Confirm(ctx, "⚠ delete prod-acme: this cannot be undone. Confirm within 5m0s.", "c0ffee"); err != nil {
		t.Fatal(err)
	}
	if r.Refused() || r.PendingCode() != "c0ffee" {
		t.Errorf("refused %v, code %q", r.Refused(), r.PendingCode())
	}
	if got := out.String(); got != "password: s3cret\n" {
		t.Errorf("output %q, want the password alone", got)
	}
}
