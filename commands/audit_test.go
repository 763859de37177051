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

func TestRedact(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain command untouched", "/odoo create acme cloudflare", "/odoo create acme cloudflare"},
		{"slack bot token", "use xoxb-1234-5678-abcdEFGH please", "use [REDACTED] please"},
		{"slack user token", "xoxp-1-2-3-abc", "[REDACTED]"},
		{"slack app token", "token xapp-1-A0B1C2-123-abcdef", "token [REDACTED]"},
		{"password=", "create acme password=hunter2 now", "create acme password=[REDACTED]"},
		{"token=", "x token=abc def\nnext line", "x token=[REDACTED]\nnext line"},
		{"secret: with spaces", "SECRET : my long secret", "SECRET : [REDACTED]"},
		{"db_password=", "db_password=s3cr3t", "db_password=[REDACTED]"},
		{"api_key=", "api_key=abcd", "api_key=[REDACTED]"},
		{"bearer", "Authorization Bearer abc.def.ghi", "Authorization Bearer [REDACTED]"},
		{"discord token", "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz012345", "[REDACTED]"},
		{"pem key", "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAK\n-----END RSA PRIVATE KEY-----\nafter",
			"key:\n[REDACTED PRIVATE KEY]\nafter"},
		{"unterminated pem", "-----BEGIN PRIVATE KEY-----\nMIIEv", "[REDACTED PRIVATE KEY]"},
		{"certificate kept", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
			"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Redact(tt.in); got != tt.want {
				t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNewAuditEntry(t *testing.T) {
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	req := Request{
		Identity: Identity{Platform: "slack", UserID: "U0123ABCD", UserName: "ana"},
		Channel:  "C0789ABCD",
		Text:     "/odoo create acme token=xyz",
	}
	tests := []struct {
		err  error
		want string
	}{
		{nil, provision.DecisionAllowed},
		{&DeniedError{UserID: "U0123ABCD"}, provision.DecisionDenied},
		{&UsageError{Verb: VerbCreate, Problem: "x"}, provision.DecisionInvalid},
		{errors.New("other"), provision.DecisionInvalid},
	}
	for _, tt := range tests {
		got := NewAuditEntry(at, req, tt.err)
		want := provision.AuditEntry{
			At: at, Platform: "slack", UserID: "U0123ABCD", UserName: "ana", Channel: "C0789ABCD",
			Command: "/odoo create acme token=[REDACTED]", Decision: tt.want,
		}
		if diff := cmp.Diff(got, want); diff != "" {
			t.Errorf("NewAuditEntry(err=%v) (-got +want):\n%s", tt.err, diff)
		}
	}
	long := NewAuditEntry(at, Request{Text: strings.Repeat("é", 3000)}, nil)
	if len(long.Command) > maxAuditText+len("…") || !strings.HasSuffix(long.Command, "…") || !utf8.ValidString(long.Command) {
		t.Errorf("long command kept as %d bytes", len(long.Command))
	}
}
