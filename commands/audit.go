package commands

import (
	"context"
	"errors"
	"regexp"
	"time"
	"unicode/utf8"

	"odoobot/provision"
)

// Auditor records every command attempt, allowed or not. The state store
// (provision/postgres) implements it; the dispatcher calls it once per
// Request.
type Auditor interface {
	RecordAudit(ctx context.Context, e provision.AuditEntry) error
}

// maxAuditText bounds the command text kept in an audit entry.
const maxAuditText = 1024

// NewAuditEntry starts the audit entry of req, decided at at with the
// error Decide returned: Decision is provision.DecisionAllowed for nil,
// DecisionDenied for a *DeniedError, DecisionInvalid otherwise. Command is
// req.Text redacted by Redact and cut to 1 KiB. The caller fills Outcome
// and Duration once the command has run.
func NewAuditEntry(at time.Time, req Request, decideErr error) provision.AuditEntry {
	decision := provision.DecisionAllowed
	switch {
	case decideErr == nil:
	case errors.Is(decideErr, ErrDenied):
		decision = provision.DecisionDenied
	default:
		decision = provision.DecisionInvalid
	}
	text := Redact(req.Text)
	if len(text) > maxAuditText {
		cut := maxAuditText
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut] + "…"
	}
	return provision.AuditEntry{
		At:       at,
		Platform: req.Identity.Platform,
		UserID:   req.Identity.UserID,
		UserName: req.Identity.UserName,
		Channel:  req.Channel,
		Command:  text,
		Decision: decision,
	}
}

// Redacted replaces a secret in redacted text.
const Redacted = "[REDACTED]"

var (
	// A PEM private key block, or an unterminated one to the end.
	pemKey = regexp.MustCompile(`(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)`)
	// Slack tokens: bot, user, app-level, refresh, configuration.
	slackToken = regexp.MustCompile(`(xox[abeoprs]|xapp)-[A-Za-z0-9-]+`)
	// A Discord bot token: three base64url parts separated by dots.
	discordToken = regexp.MustCompile(`\b[MNO][A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{20,}`)
	// key=value and key: value with a secret-looking key; the rest of the
	// line is blanked, as a value may contain spaces.
	secretKV = regexp.MustCompile(`(?i)\b([a-z0-9_-]*(?:password|passwd|pwd|token|secret|api[_-]?key)[a-z0-9_-]*)(\s*[=:]\s*)[^\r\n]*`)
	// An HTTP bearer credential.
	bearer = regexp.MustCompile(`(?i)\b(bearer)\s+[^\s]+`)
)

// Redact blanks the secrets that may appear in command text before it is
// logged or audited: Slack tokens (xoxb-, xoxp-, xapp-, …), Discord bot
// tokens, bearer credentials, PEM private key blocks, and everything after
// "password=", "token=", "secret=", "api_key=" (or ':' instead of '=', any
// key containing those words) up to the end of the line. It errs on the
// side of blanking too much.
func Redact(text string) string {
	text = pemKey.ReplaceAllString(text, "[REDACTED PRIVATE KEY]")
	text = secretKV.ReplaceAllString(text, "${1}${2}"+Redacted)
	text = slackToken.ReplaceAllString(text, Redacted)
	text = discordToken.ReplaceAllString(text, Redacted)
	text = bearer.ReplaceAllString(text, "${1} "+Redacted)
	return text
}
