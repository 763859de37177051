// Package commands is odoobot's chat-agnostic front: it parses the text of
// "/odoo VERB ARGS", decides from the allowlist whether the caller's role
// may run it, writes the help and whoami replies, and redacts command text
// before it is audited. Chat adapters (bot/...) hand it a Request; it never
// imports a chat library, and provision never imports it.
package commands

import (
	"strconv"
	"strings"
	"time"
)

// Verb is the first word of a command.
type Verb string

// The verbs of SPEC.md, in the order help lists them.
const (
	VerbCreate  Verb = "create"
	VerbList    Verb = "list"
	VerbStatus  Verb = "status"
	VerbInfo    Verb = "info"
	VerbLogs    Verb = "logs"
	VerbRestart Verb = "restart"
	VerbStop    Verb = "stop"
	VerbStart   Verb = "start"
	// VerbAck acknowledges an instance's open alert.
	VerbAck Verb = "ack"
	// VerbMaintenance opens or ends a maintenance window.
	VerbMaintenance Verb = "maintenance"
	VerbBackup      Verb = "backup"
	VerbBackups     Verb = "backups"
	VerbRestore     Verb = "restore"
	// VerbDrill proves an instance's latest backup restores, on a
	// throwaway copy.
	VerbDrill  Verb = "drill"
	VerbDelete Verb = "delete"
	// VerbClone makes a staging copy of an instance.
	VerbClone Verb = "clone"
	// VerbUpgrade moves an instance to another release of Odoo.
	VerbUpgrade Verb = "upgrade"
	// VerbResetAdmin sets a new random password for an instance's Odoo
	// "admin" user and shows it to the requester alone.
	VerbResetAdmin Verb = "reset-admin"
	VerbCapacity   Verb = "capacity"
	VerbCerts      Verb = "certs"
	VerbHelp       Verb = "help"
	VerbWhoami     Verb = "whoami"
	// VerbAudit exports the audit log as a CSV file, privately.
	VerbAudit   Verb = "audit"
	VerbConfirm Verb = "confirm"
	// VerbApprove and VerbDeny decide a request waiting for a second
	// admin's approval (two-person approval, see NeedsApproval).
	VerbApprove Verb = "approve"
	VerbDeny    Verb = "deny"
)

// VerbOverview shows every instance at a glance: state, health, memory,
// last good backup, jobs, and the commands waiting.
const VerbOverview Verb = "overview"

// DefaultLogLines is N of "logs NAME" when N is not given; MaxLogLines is
// the largest N accepted.
const (
	DefaultLogLines = 50
	MaxLogLines     = 1000
)

// args is the shape of a verb's arguments.
type args int

const (
	argsNone        args = iota // VERB
	argsName                    // VERB NAME
	argsNameMode                // VERB NAME [MODE]
	argsNameLines               // VERB NAME [N] [share]
	argsNameBackup              // VERB NAME BACKUP
	argsNameTarget              // VERB NAME TARGET [--neutralize|--no-neutralize]
	argsNameRelease             // VERB NAME [COMMIT|TAG|latest]
	argsNameWindow              // VERB NAME DURATION|off [REASON...]
	argsAudit                   // VERB [SINCE] [USER]
)

// verbSpec is one row of the verb table: everything Parse, Required and
// HelpText know about a verb.
type verbSpec struct {
	verb    Verb
	args    args
	usage   string // the arguments, as help shows them
	summary string
	role    Role
}

// verbTable is the single source of truth for the verbs, in help order.
var verbTable = []verbSpec{
	{VerbCreate, argsNameMode, "NAME [cloudflare|letsencrypt|http]", "provision a new instance (default: the server's DEFAULT_SSL_MODE); progress in a thread", RoleAdmin},
	{VerbList, argsNone, "", "all instances: name, domain, state, ports", RoleViewer},
	{VerbStatus, argsName, "NAME", "service state, health, ports, uptime, memory", RoleViewer},
	{VerbInfo, argsName, "NAME", "the instance's summary (info-instancia)", RoleViewer},
	{VerbLogs, argsNameLines, "NAME [N] [share]", "the last N log lines (default 50, at most 1000), to you alone; share posts them in the channel", RoleOperator},
	{VerbRestart, argsName, "NAME", "restart the instance's service", RoleOperator},
	{VerbStop, argsName, "NAME", "stop the instance's service", RoleOperator},
	{VerbStart, argsName, "NAME", "start the instance's service", RoleOperator},
	{VerbAck, argsName, "NAME", "acknowledge the open alert about the instance: its card shows you took it, and it is not repeated", RoleOperator},
	{VerbMaintenance, argsNameWindow, "NAME DURATION|off [REASON]", "silence the instance's alerts for DURATION (e.g. 30m, 2h, at most 168h), shown in status; off ends it", RoleOperator},
	{VerbBackup, argsName, "NAME", "database dump + filestore archive", RoleOperator},
	{VerbBackups, argsName, "NAME", "the instance's backups", RoleViewer},
	{VerbRestore, argsNameBackup, "NAME BACKUP", "restore a backup over the instance; NAME --at \"YYYY-MM-DD HH:MM\" (UTC): its database as it was then", RoleAdmin},
	{VerbDrill, argsName, "NAME", "restore drill: the latest offsite backup restored into a throwaway copy nothing serves, opened with Odoo, compared with what it recorded, dropped; production untouched; progress in a thread", RoleOperator},
	{VerbDelete, argsName, "NAME", "remove everything, after a confirmation and a final backup", RoleAdmin},
	{VerbClone, argsNameTarget, "SRC DST [--no-neutralize]", "a staging copy of SRC at DST from a fresh dump, production untouched; neutralized (mail and crons off) unless --no-neutralize; progress in a thread", RoleAdmin},
	{VerbUpgrade, argsNameRelease, "NAME [COMMIT|TAG|latest]", "move the instance to another Odoo release of its series (default: the configured one), after a confirmation: safety backup, test on a copy, then production, rolled back on any failure; progress in a thread", RoleAdmin},
	{VerbResetAdmin, argsName, "NAME", "a new password for the instance's Odoo admin user, shown to you alone, after a confirmation", RoleAdmin},
	{VerbCapacity, argsNone, "", "how many more instances this host can hold", RoleViewer},
	{VerbCerts, argsNone, "", "certificates and their expiry", RoleViewer},
	{VerbOverview, argsNone, "", "every instance at a glance: state (a maintenance window as a banner), health, memory, age of the last good backup, running jobs; and the confirmations and approvals waiting", RoleViewer},
	{VerbTemplates, argsNone, "", "the template databases creations copy: release, modules, language, ready or building (how far) or failed (why), size, age", RoleViewer},
	{VerbAudit, argsAudit, "[SINCE] [USER]", "the audit log since SINCE (24h, 7d, 2026-12-01; default 7d), of USER if given, as a CSV file to you alone", RoleAdmin},
	{VerbHelp, argsNone, "", "the commands you may run", RoleViewer},
	{VerbWhoami, argsNone, "", "your platform ID and role here", RoleNone},
	{VerbConfirm, argsName, "CODE", "confirm a delete, restore, upgrade or reset-admin you asked for (the code it gave you)", RoleViewer},
	{VerbApprove, argsName, "CODE", "when two-person approval is on: approve the delete, restore or upgrade another admin asked for, which then runs", RoleAdmin},
	{VerbDeny, argsName, "CODE", "when two-person approval is on: deny (or, as its requester, withdraw) a request waiting for approval; nothing runs", RoleAdmin},
}

func lookupVerb(v Verb) (verbSpec, bool) {
	for _, s := range verbTable {
		if s.verb == v {
			return s, true
		}
	}
	return verbSpec{}, false
}

// Verbs lists every verb, in help order.
func Verbs() []Verb {
	vs := make([]Verb, len(verbTable))
	for i, s := range verbTable {
		vs[i] = s.verb
	}
	return vs
}

// Usage is the usage line of v, e.g. "/odoo logs NAME [N]"; "" for an
// unknown verb.
func Usage(v Verb) string {
	s, ok := lookupVerb(v)
	if !ok {
		return ""
	}
	if s.usage == "" {
		return "/odoo " + string(s.verb)
	}
	return "/odoo " + string(s.verb) + " " + s.usage
}

// Required is the lowest role that may run v: viewer for reading verbs and
// help, operator for logs, service control and backup, admin for create,
// delete, restore and reset-admin. whoami needs no role (RoleNone): it only tells the
// caller their own ID, which is what an admin needs to add them. An
// unknown verb requires RoleAdmin+1, which nobody holds.
func Required(v Verb) Role {
	s, ok := lookupVerb(v)
	if !ok {
		return RoleAdmin + 1
	}
	return s.role
}

// Command is a parsed command. Name is present for every verb that takes
// one and is not checked against the name rules here (the dispatcher
// applies provision.NameRules). Mode is set only for create (one of
// provision.SSLModes; empty when omitted, and the server's DEFAULT_SSL_MODE
// applies), Lines and Share only for logs
// (1..MaxLogLines, DefaultLogLines when omitted; Share when the last word
// is "share": the lines go to the channel instead of the requester
// alone), Backup only for restore.
type Command struct {
	Verb   Verb
	Name   string
	Mode   string
	Lines  int
	Share  bool
	Backup string
	// Target is the new instance of clone, and KeepLive its
	// --no-neutralize (clone neutralizes by default).
	Target   string
	KeepLive bool
	// Release is upgrade's target: a commit, a tag or "latest"; "" for
	// the configured release.
	Release string
	// Window is maintenance's length, 0 for off; Reason its words.
	Window time.Duration
	Reason string
	// Since is audit's SINCE as typed and checked ("" for the default),
	// User its USER.
	Since, User string
	// At is restore's --at: the database as it was then, from the
	// cluster's WAL archive, instead of a Backup.
	At time.Time
}

// String is the canonical text of c, without "/odoo ": Parse(c.String())
// gives c back for every c that Parse returned. Defaults are written out
// ("create acme cloudflare", "logs acme 50").
func (c Command) String() string {
	parts := []string{string(c.Verb)}
	if c.Name != "" {
		parts = append(parts, c.Name)
	}
	switch c.Verb {
	case VerbCreate:
		if c.Mode != "" {
			parts = append(parts, c.Mode)
		}
	case VerbClone:
		if c.Target != "" {
			parts = append(parts, c.Target)
		}
		if c.KeepLive {
			parts = append(parts, noNeutralizeFlag)
		}
	case VerbLogs:
		if c.Lines != 0 {
			parts = append(parts, strconv.Itoa(c.Lines))
		}
		if c.Share {
			parts = append(parts, shareWord)
		}
	case VerbRestore:
		if c.Backup != "" {
			parts = append(parts, c.Backup)
		}
		if !c.At.IsZero() {
			parts = append(parts, atFlag, c.At.UTC().Format(time.RFC3339Nano))
		}
	case VerbUpgrade:
		if c.Release != "" {
			parts = append(parts, c.Release)
		}
	case VerbAudit:
		for _, w := range []string{c.Since, c.User} {
			if w != "" {
				parts = append(parts, w)
			}
		}
	case VerbMaintenance:
		if c.Window == 0 {
			parts = append(parts, offWord)
		} else {
			parts = append(parts, c.Window.String())
		}
		if c.Reason != "" {
			parts = append(parts, c.Reason)
		}
	}
	return strings.Join(parts, " ")
}
