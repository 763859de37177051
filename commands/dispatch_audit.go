package commands

import (
	"context"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
	"time"

	"odoobot/provision"
)

// AuditExporter reads the audit log for audit (provision/postgres.Store).
type AuditExporter interface {
	AuditSince(ctx context.Context, q provision.AuditQuery) ([]provision.AuditEntry, error)
}

// MaxAuditRows bounds one export: the newest rows beyond it are left
// out, and the answer says so and how to ask for the rest.
const MaxAuditRows = 10000

// DefaultAuditSince is audit's SINCE when none is given.
const DefaultAuditSince = "7d"

// auditVerb sends the requester alone the audit log cmd selects as a CSV
// file, and says in a private line how many entries it holds.
func (d *Dispatcher) auditVerb(ctx context.Context, cmd Command, r Responder) (*provision.Task, string, error) {
	now := time.Now().UTC()
	word := cmd.Since
	if word == "" {
		word = DefaultAuditSince
	}
	since, ok := SinceOf(word, now)
	if !ok {
		return nil, "invalid", r.Private(ctx, "audit: "+quote(word)+" is not a time to start from: give a length (24h, 7d) or a date (2026-12-01)")
	}
	entries, err := d.Audits.AuditSince(ctx, provision.AuditQuery{Since: since, User: cmd.User, Limit: MaxAuditRows + 1})
	if err != nil {
		outcome, err := d.failed(ctx, r, cmd, err)
		return nil, outcome, err
	}
	cut := len(entries) > MaxAuditRows
	if cut {
		entries = entries[:MaxAuditRows]
	}
	name := "odoobot-audit-" + since.Format("20060102T1504") + "-" + now.Format("20060102T1504") + ".csv"
	if err := r.PrivateFile(ctx, name, AuditCSV(entries)); err != nil {
		return nil, "failed", err
	}
	who := "everyone"
	if cmd.User != "" {
		who = cmd.User
	}
	text := fmt.Sprintf("audit: %d entries of %s since %s (UTC), in %s", len(entries), who, since.Format("2006-01-02 15:04"), name)
	if cut {
		text += fmt.Sprintf("; only the first %d: ask again from %s for the rest", MaxAuditRows, entries[len(entries)-1].At.UTC().Format("2006-01-02"))
	}
	return nil, "ok", r.Private(ctx, text)
}

// AuditCSV renders entries as CSV with a header: at (RFC 3339, UTC),
// platform, user_id, user_name, channel, command (as audited: secrets
// redacted), decision, outcome, duration_ms. A cell a spreadsheet would
// read as a formula (starting with =, +, -, @, a tab or a carriage
// return) is prefixed with a quote, so that a user name or a command
// text typed by someone cannot run in the reader's spreadsheet.
func AuditCSV(entries []provision.AuditEntry) string {
	var b strings.Builder
	w := csv.NewWriter(&b)
	w.Write([]string{"at", "platform", "user_id", "user_name", "channel", "command", "decision", "outcome", "duration_ms"})
	for _, e := range entries {
		row := []string{e.At.UTC().Format(time.RFC3339), e.Platform, e.UserID, e.UserName, e.Channel, e.Command, e.Decision, e.Outcome,
			strconv.FormatInt(e.Duration.Milliseconds(), 10)}
		for i := range row[:8] {
			row[i] = inert(row[i])
		}
		w.Write(row)
	}
	w.Flush()
	return b.String()
}

// inert prefixes with a quote a cell that starts as a spreadsheet formula.
func inert(cell string) string {
	if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
		return "'" + cell
	}
	return cell
}
