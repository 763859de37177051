// Command odoobot creates and operates Odoo production instances on this
// server, from Slack, Discord or the terminal. `odoobot serve` runs the bot;
// the other verbs are the same as the chat's, for the command line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"odoobot/config"
	"odoobot/internal/app"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "odoobot:", err)
		var ue *usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

const usage = `usage: odoobot [--env-file FILE] VERB [ARGS]

Verbs:
  serve                          run the bot (Slack, Discord, or the terminal when no token is set)
  create NAME [cloudflare|letsencrypt|http]
                                 create an instance, streaming its progress
  plan NAME [cloudflare|letsencrypt|http]
                                 show what a creation would do; changes nothing
  list                           all instances
  overview                       every instance at a glance: state, health, memory, last good backup, jobs
  status NAME                    service state, health, ports, uptime, memory
  info NAME                      the instance's info-instancia summary
  logs NAME [N]                  the last N (default 50) lines of its odoo.log
  restart NAME | stop NAME | start NAME
                                 service control (stop keeps it stopped, across reboots too, until start)
  maintenance NAME DURATION|off [REASON]
                                 silence the instance's alerts for DURATION (at most 168h), shown in status
  backup NAME | backups NAME | restore NAME BACKUP [--yes]
                                 backups of an instance's database and files
  delete NAME [--yes]            remove an instance, after a final backup
  clone SRC DST [--no-neutralize]
                                 a staging copy of SRC at DST, from a fresh dump; neutralized unless --no-neutralize
  upgrade NAME [COMMIT|TAG|latest] [--yes]
                                 move an instance to another Odoo release of its series (default: the configured one):
                                 safety backup, test on a copy, then production; rolled back on any failure
  backup-all                     a scheduled backup of every ready instance (what the timer runs)
  recover NAME [BACKUP] [--take-over-dns] | recover --all [--take-over-dns]
                                 serve instances again from their backups alone (offsite when not kept here),
                                 on a server that does not have them: record, release, data, files, unit, site, certificate, DNS
  install-timer                  install the daily backup as a systemd timer at BACKUP_TIME (removed when off)
  reset-admin NAME [--yes]       a new password for the instance's Odoo admin user, shown here once
  capacity                       what the host holds and can still hold
  audit [SINCE] [USER]           the audit log since SINCE (24h, 7d, 2026-12-01; default 7d) as CSV
  certs                          certificates and their expiry
  templates                      the template databases: ready, building (how far) or failed (why), size, age
  import [--dry-run] [--tracking-dir DIR]
                                 adopt API-DEV's existing instances
  isolate NAME --yes             move an adopted instance to a system user and database role of its own
  gc                             remove the releases and template databases no instance uses (the newest release is kept)
  setup                          as root, once: build the configured release, installing the Debian packages it needs
  config                         the effective configuration, secrets redacted
  version                        the build's version

The configuration comes from the environment and the env file
(default ` + config.DefaultEnvFile + `); see the README.
`

// run is main without the process: it parses global flags, loads the
// configuration when the verb needs it, and runs the verb.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("odoobot", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	envFile := fs.String("env-file", "", "env file (default "+config.DefaultEnvFile+")")
	if err := fs.Parse(args); err != nil {
		return &usageError{msg: err.Error() + "\n" + usage}
	}
	args = fs.Args()
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return nil
	}
	verb, rest := args[0], args[1:]
	switch verb {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "version":
		fmt.Fprintln(stdout, "odoobot", version)
		return nil
	}
	file, mustExist := *envFile, true
	if file == "" {
		file, mustExist = config.DefaultEnvFile, false
	}
	cfg, err := config.Load(file, mustExist)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	switch verb {
	case "config":
		return printConfig(stdout, cfg)
	case "plan":
		return plan(ctx, stdout, cfg, rest)
	case "install-timer":
		return installTimer(ctx, stdout, stderr, cfg, file)
	case "backup-all":
		return backupAll(ctx, stdout, stderr, cfg)
	case "setup":
		return setupVerb(ctx, stdout, stderr, cfg, rest)
	case "recover":
		return recoverVerb(ctx, stdout, stderr, cfg, rest)
	}
	return verbs(ctx, stdin, stdout, stderr, cfg, verb, rest)
}

func printConfig(w io.Writer, cfg *config.Config) error {
	for _, s := range cfg.Settings() {
		fmt.Fprintf(w, "%s=%s\n", s.Env, s.Value)
	}
	if st := app.PITRStatus(context.Background(), cfg); st != "" {
		fmt.Fprintf(w, "# %s\n", st)
	}
	return nil
}
