package discord

import (
	"strconv"
	"strings"
	"unicode"

	"github.com/bwmarrin/discordgo"

	"odoobot/commands"
)

// commandName is the application command: /odoo SUBCOMMAND [OPTIONS].
const commandName = "odoo"

// option is one option of a subcommand, in the order its value takes in
// the command text.
type option struct {
	name     string
	kind     discordgo.ApplicationCommandOptionType
	desc     string
	required bool
	choices  []string
	min, max float64 // integers only
	// words keeps a text's spaces: the last option, taking the rest of
	// the command (a maintenance's reason).
	words bool
	// suggest, a commands.Field…, makes the option autocomplete: Discord
	// asks for the values of that field as the user types (see
	// Bot.autocomplete). Discord refuses an option that has both choices
	// and autocomplete.
	suggest string
}

// subcommand is one verb of /odoo.
type subcommand struct {
	verb commands.Verb
	desc string
	opts []option
	// group, when set, is the subcommand group the verb is under:
	// /odoo GROUP VERB. Discord takes at most 25 subcommands and groups
	// in one command, and 25 subcommands in one group.
	group string
}

// groupAdmin holds the admin verbs typed least, so that /odoo stays
// within Discord's 25: /odoo admin delete NAME.
const groupAdmin = "admin"

// groupDesc describes each subcommand group.
var groupDesc = map[string]string{
	groupAdmin: "admin: delete, clone, upgrade, reset-admin, audit, approve, deny",
}

var (
	optName  = option{name: "name", kind: discordgo.ApplicationCommandOptionString, desc: "the instance name (its subdomain), e.g. acme", required: true, suggest: commands.FieldName}
	optNew   = option{name: "name", kind: discordgo.ApplicationCommandOptionString, desc: "the new instance's name (its subdomain), e.g. acme", required: true}
	optMode  = option{name: "mode", kind: discordgo.ApplicationCommandOptionString, desc: "TLS mode: cloudflare, letsencrypt or http (default: the server's)", suggest: commands.FieldMode}
	optLine  = option{name: "lines", kind: discordgo.ApplicationCommandOptionInteger, desc: "how many lines (default 50)", min: 1, max: commands.MaxLogLines}
	optShare = option{name: "share", kind: discordgo.ApplicationCommandOptionBoolean, desc: "post the lines in the channel (default: to you alone)"}
	optBack  = option{name: "backup", kind: discordgo.ApplicationCommandOptionString, desc: "the backup to restore (see /odoo backups)", required: true, suggest: commands.FieldBackup}
	optCode  = option{name: "code", kind: discordgo.ApplicationCommandOptionString, desc: "the confirmation code", required: true}
	optSrc   = option{name: "source", kind: discordgo.ApplicationCommandOptionString, desc: "the instance to copy, e.g. acme", required: true, suggest: commands.FieldName}
	optDst   = option{name: "name", kind: discordgo.ApplicationCommandOptionString, desc: "the new staging instance's name, e.g. acme-staging", required: true}
	optRel   = option{name: "release", kind: discordgo.ApplicationCommandOptionString, desc: "a commit, a tag or latest (default: the configured release)"}
	optLive  = option{name: "no-neutralize", kind: discordgo.ApplicationCommandOptionBoolean, desc: "keep mail servers and crons live (default: neutralized)"}
	optLen   = option{name: "length", kind: discordgo.ApplicationCommandOptionString, desc: "how long, e.g. 30m or 2h (at most 168h), or off to end it", required: true}
	optWhy   = option{name: "reason", kind: discordgo.ApplicationCommandOptionString, desc: "why, shown in status", words: true}
	optSince = option{name: "since", kind: discordgo.ApplicationCommandOptionString, desc: "from when: a length (24h, 7d) or a date (2026-12-01); default 7d"}
	optUser  = option{name: "user", kind: discordgo.ApplicationCommandOptionString, desc: "only this user's commands (an ID or a name)"}
)

// subcommands are the verbs of commands, as /odoo subcommands, in help
// order. A test holds them equal to commands.Verbs().
var subcommands = []subcommand{
	{commands.VerbCreate, "provision a new instance; progress in a thread", []option{optNew, optMode}, ""},
	{commands.VerbList, "all instances: name, domain, state, ports", nil, ""},
	{commands.VerbStatus, "service state, health, ports, uptime, memory", []option{optName}, ""},
	{commands.VerbInfo, "the instance's summary", []option{optName}, ""},
	{commands.VerbLogs, "the last log lines of an instance", []option{optName, optLine, optShare}, ""},
	{commands.VerbRestart, "restart an instance's service", []option{optName}, ""},
	{commands.VerbStop, "stop an instance's service", []option{optName}, ""},
	{commands.VerbStart, "start an instance's service", []option{optName}, ""},
	{commands.VerbAck, "acknowledge the open alert about an instance: no more repeats", []option{optName}, ""},
	{commands.VerbMaintenance, "silence an instance's alerts for a while, shown in status", []option{optName, optLen, optWhy}, ""},
	{commands.VerbBackup, "back up an instance: database and filestore", []option{optName}, ""},
	{commands.VerbBackups, "an instance's backups", []option{optName}, ""},
	{commands.VerbRestore, "restore an instance from a backup", []option{optName, optBack}, ""},
	{commands.VerbDrill, "restore drill: the latest backup restored into a throwaway copy, opened and compared", []option{optName}, ""},
	{commands.VerbDelete, "remove an instance, after a confirmation and a final backup", []option{optName}, groupAdmin},
	{commands.VerbClone, "a staging copy of an instance, from a fresh dump; neutralized by default", []option{optSrc, optDst, optLive}, groupAdmin},
	{commands.VerbUpgrade, "move an instance to another Odoo release, tested on a copy first", []option{optName, optRel}, groupAdmin},
	{commands.VerbResetAdmin, "a new password for an instance's Odoo admin user, shown to you alone", []option{optName}, groupAdmin},
	{commands.VerbCapacity, "what this server can still hold", nil, ""},
	{commands.VerbCerts, "certificates and their expiry", nil, ""},
	{commands.VerbTemplates, "template databases: ready, building (how far) or failed", nil, ""},
	{commands.VerbOverview, "every instance at a glance: state, health, memory, last backup, jobs", nil, ""},
	{commands.VerbAudit, "the audit log as a CSV file, to you alone", []option{optSince, optUser}, groupAdmin},
	{commands.VerbHelp, "the commands you may run", nil, ""},
	{commands.VerbWhoami, "your IDs and role, as the bot sees them", nil, ""},
	{commands.VerbConfirm, "confirm a dangerous command by its code", []option{optCode}, ""},
	{commands.VerbApprove, "approve another admin's request waiting for approval", []option{optReq}, groupAdmin},
	{commands.VerbDeny, "deny (or withdraw) a request waiting for approval", []option{optReq}, groupAdmin},
}

// applicationCommand is the /odoo command as registered with Discord.
func applicationCommand() *discordgo.ApplicationCommand {
	cmd := &discordgo.ApplicationCommand{
		Type:        discordgo.ChatApplicationCommand,
		Name:        commandName,
		Description: "operate the Odoo instances of this server",
	}
	groups := map[string]*discordgo.ApplicationCommandOption{}
	for _, sc := range subcommands {
		sub := &discordgo.ApplicationCommandOption{
			Type:        discordgo.ApplicationCommandOptionSubCommand,
			Name:        string(sc.verb),
			Description: sc.desc,
		}
		for _, o := range sc.opts {
			opt := &discordgo.ApplicationCommandOption{Type: o.kind, Name: o.name, Description: o.desc, Required: o.required,
				Autocomplete: o.suggest != ""}
			for _, c := range o.choices {
				opt.Choices = append(opt.Choices, &discordgo.ApplicationCommandOptionChoice{Name: c, Value: c})
			}
			if o.kind == discordgo.ApplicationCommandOptionInteger {
				lo := o.min
				opt.MinValue, opt.MaxValue = &lo, o.max
			}
			sub.Options = append(sub.Options, opt)
		}
		if sc.group == "" {
			cmd.Options = append(cmd.Options, sub)
			continue
		}
		g, ok := groups[sc.group]
		if !ok {
			g = &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionSubCommandGroup,
				Name: sc.group, Description: groupDesc[sc.group]}
			groups[sc.group] = g
			cmd.Options = append(cmd.Options, g)
		}
		g.Options = append(g.Options, sub)
	}
	return cmd
}

// invoked is the subcommand an interaction names, under its group when
// it has one; nil when it names none.
func invoked(data discordgo.ApplicationCommandInteractionData) *discordgo.ApplicationCommandInteractionDataOption {
	if len(data.Options) == 0 || data.Options[0] == nil {
		return nil
	}
	sub := data.Options[0]
	if sub.Type == discordgo.ApplicationCommandOptionSubCommandGroup {
		if len(sub.Options) == 0 || sub.Options[0] == nil {
			return nil
		}
		return sub.Options[0]
	}
	return sub
}

// commandText turns an /odoo interaction into the text commands.Parse
// reads: "VERB ARG…", the options in the order the verb's usage gives
// them. A value containing white space has it replaced by '_', so that
// one option stays one word: "acme http" given as a name becomes the
// name "acme_http", which the name rules refuse, instead of a name and
// a mode. A boolean option is its name when true ("share") and nothing
// otherwise; a missing (null) option or value is left out. An unknown
// subcommand is passed on as is, for commands to refuse (and audit).
func commandText(data discordgo.ApplicationCommandInteractionData) string {
	sub := invoked(data)
	if sub == nil {
		return string(commands.VerbHelp)
	}
	words := []string{oneWord(sub.Name)}
	for _, sc := range subcommands {
		if string(sc.verb) != sub.Name {
			continue
		}
		for _, o := range sc.opts {
			for _, given := range sub.Options {
				if given == nil || given.Name != o.name {
					continue
				}
				if o.kind == discordgo.ApplicationCommandOptionBoolean {
					// A flag is its name when true ("share"), nothing when false.
					if v, ok := given.Value.(bool); ok && v {
						words = append(words, o.name)
					}
					continue
				}
				if s, ok := given.Value.(string); ok && o.words {
					words = append(words, strings.Fields(s)...)
					continue
				}
				if w := optionWord(given); w != "" {
					words = append(words, w)
				}
			}
		}
	}
	return strings.Join(words, " ")
}

func optionWord(o *discordgo.ApplicationCommandInteractionDataOption) string {
	switch v := o.Value.(type) {
	case string:
		return oneWord(v)
	case float64:
		return strconv.FormatInt(int64(v), 10)
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return ""
	}
	return "_"
}

func oneWord(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return '_'
		}
		return r
	}, strings.TrimSpace(s))
}
