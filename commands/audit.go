package commands

import (
	"context"
	"errors"
	"regexp"
	"time"

	"odoobot/provision"
)

// Auditor records every command attempt, allowed or not, in one entry
// each. The state store (provision/postgres) implements it.
//
// A refusal, which runs nothing, is recorded whole with RecordAudit. A
// command that is allowed is recorded before it runs, with OpenAudit
// (its outcome then says AuditRunning), and its entry is completed with
// CloseAudit once it has run: a command whose entry cannot be written is
// not run, so nothing is ever done unaudited, and a crash mid-command
// leaves an entry that says so.
type Auditor interface {
	RecordAudit(ctx context.Context, e provision.AuditEntry) error
	OpenAudit(ctx context.Context, e provision.AuditEntry) (int64, error)
	CloseAudit(ctx context.Context, id int64, outcome string, d time.Duration) error
}

// AuditRunning is the outcome of an entry whose command is running (or
// was, when odoobot stopped before it ended).
const AuditRunning = "running"

// ErrAuditUnavailable is the refusal of a command that was not run
// because its audit entry could not be written.
var ErrAuditUnavailable = errors.New("not run: the audit log could not be written (is odoobot's PostgreSQL database reachable?). Nothing was changed; try again once it is back. The bot's log has the error")

// maxAuditText bounds the command text kept in an audit entry, and
// maxAuditOutcome its outcome.
const (
	maxAuditText    = 4096
	maxAuditOutcome = 4096
)

// NewAuditEntry starts the audit entry of req, decided at at with the
// error Decide returned: Decision is provision.DecisionAllowed for nil,
// DecisionDenied for a *DeniedError, DecisionInvalid otherwise. Command is
// req.Text redacted by Redact, cleaned of NUL and other control
// characters and of invalid UTF-8 (which PostgreSQL refuses), and cut
// to 4 KiB; the identity's fields are cleaned and cut likewise. The
// caller fills Outcome (see AuditOutcome) and Duration once the command
// has run.
func NewAuditEntry(at time.Time, req Request, decideErr error) provision.AuditEntry {
	decision := provision.DecisionAllowed
	switch {
	case decideErr == nil:
	case errors.Is(decideErr, ErrDenied):
		decision = provision.DecisionDenied
	default:
		decision = provision.DecisionInvalid
	}
	req = cleanRequest(req)
	text := cut(Redact(req.Text), maxAuditText)
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

// AuditOutcome is an outcome as an audit entry keeps it: redacted,
// cleaned like the command text and cut to 4 KiB.
func AuditOutcome(outcome string) string {
	return cut(cleanText(Redact(outcome), true), maxAuditOutcome)
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
