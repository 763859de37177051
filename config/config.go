// Package config reads odoobot's configuration from the environment (and
// an env file), keeping API-DEV's variable names where they exist, and
// validates it with one clear message per problem.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/joho/godotenv"
	"github.com/kelseyhightower/envconfig"

	"odoobot/provision"
)

// Secret is a configuration value that must never be printed. Its String
// and GoString methods redact it, so %v, %s and %#v are safe; Reveal gives
// the value to the one caller that needs it.
type Secret string

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString redacts like String.
func (s Secret) GoString() string { return s.String() }

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// Range is an inclusive port range written "2100-3000".
type Range provision.PortRange

// Decode parses "FIRST-LAST" for envconfig.
func (r *Range) Decode(v string) error {
	a, b, ok := strings.Cut(strings.TrimSpace(v), "-")
	first, err1 := strconv.Atoi(strings.TrimSpace(a))
	last, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil {
		return fmt.Errorf("want FIRST-LAST, such as 2100-3000, got %q", v)
	}
	*r = Range{First: first, Last: last}
	return nil
}

func (r Range) String() string { return provision.PortRange(r).String() }

// Config is the whole configuration. Each field's envconfig name is the
// environment variable that sets it; `secret:"true"` fields also accept
// NAME_FILE, the path of a file holding the value.
type Config struct {
	// DNS and TLS (Cloudflare).
	ZoneName         string        `envconfig:"CF_ZONE_NAME" desc:"DNS zone; instances are NAME.<zone>"`
	APIToken         Secret        `envconfig:"CF_API_TOKEN" secret:"true" desc:"Cloudflare API token (Zone.DNS edit, SSL and Certificates edit)"`
	ZoneID           string        `envconfig:"CF_ZONE_ID" desc:"Cloudflare zone ID; looked up by name when empty"`
	CFBaseURL        string        `envconfig:"CF_API_BASE_URL" default:"https://api.cloudflare.com/client/v4/" desc:"Cloudflare API base URL"`
	OriginCert       string        `envconfig:"CF_ORIGIN_CERT" desc:"existing origin certificate (a wildcard) used for every instance in cloudflare mode"`
	OriginKey        string        `envconfig:"CF_ORIGIN_KEY" desc:"its private key"`
	OriginLock       bool          `envconfig:"CF_ORIGIN_LOCK" default:"true" desc:"cloudflare-mode sites answer only Cloudflare's published address ranges (fetched from CF_API_BASE_URL at start and daily) and this host; false lets anyone reach the origin directly"`
	PublicIP         string        `envconfig:"PUBLIC_IP" desc:"the server's public IPv4 address, target of the A records"`
	ServerID         string        `envconfig:"ODOOBOT_SERVER_ID" desc:"this server's name in the mark on its DNS records (1-40 of letters, digits, . - _ :); PUBLIC_IP when empty; keep it stable and unique among servers sharing the zone"`
	CFCallTimeout    time.Duration `envconfig:"CF_API_TIMEOUT" default:"60s" desc:"how long one Cloudflare operation (a record made or removed, a certificate signed) may take, retries and waits included; a creation whose DNS step runs out of it is rolled back"`
	CFRequestTimeout time.Duration `envconfig:"CF_REQUEST_TIMEOUT" default:"15s" desc:"how long one request to Cloudflare may go unanswered before it is retried; also bounds the whole check of token and zone made before a creation"`
	CFRateLimit      int           `envconfig:"CF_API_RATE" default:"1000" desc:"requests to Cloudflare's API per 5 minutes at most (Cloudflare allows 1200 per user, every token together); sweeps take half"`
	DefaultSSLMode   string        `envconfig:"DEFAULT_SSL_MODE" default:"cloudflare" desc:"mode when create names none: cloudflare, letsencrypt or http"`
	ACMEDirectory    string        `envconfig:"ACME_DIRECTORY_URL" default:"https://acme-v02.api.letsencrypt.org/directory" desc:"ACME directory (Let's Encrypt production or staging)"`
	ACMEEmail        string        `envconfig:"ACME_EMAIL" desc:"contact address for the ACME account"`
	VerifyCAFile     string        `envconfig:"TLS_VERIFY_CA_FILE" desc:"PEM roots trusted, besides the system's and Cloudflare's Origin CA roots, when odoobot verifies an instance's HTTPS through nginx (a private ACME server's root)"`

	// PostgreSQL: instance databases and odoobot's own state.
	DBHost      string `envconfig:"DB_HOST" default:"127.0.0.1" desc:"PostgreSQL host"`
	DBPort      int    `envconfig:"DB_PORT" default:"5432" desc:"PostgreSQL port"`
	DBUser      string `envconfig:"DB_USER" default:"odoo" desc:"owner of the instance databases"`
	DBPassword  Secret `envconfig:"DB_PASSWORD" secret:"true" desc:"its password"`
	StateDBName string `envconfig:"STATE_DB_NAME" default:"odoobot" desc:"database holding odoobot's state (schema odoobot)"`

	// Odoo.
	OdooVersion    string   `envconfig:"ODOO_VERSION" default:"19.0" desc:"Odoo version"`
	OdooEdition    string   `envconfig:"ODOO_EDITION" default:"e" desc:"e (enterprise) or c (community); with the version gives the unit prefix odoo19e"`
	OdooRepo       string   `envconfig:"ODOO_REPO" default:"https://github.com/odoo/odoo.git" desc:"Odoo source repository"`
	OdooBranch     string   `envconfig:"ODOO_BRANCH" desc:"branch; the version when empty"`
	OdooCommit     string   `envconfig:"ODOO_COMMIT" desc:"pins the release: a full commit hash or a tag of ODOO_REPO; empty follows ODOO_BRANCH's head, resolved once per creation"`
	EnterpriseRepo string   `envconfig:"ODOO_ENTERPRISE_REPO" desc:"enterprise addons repository (optional)"`
	Modules        []string `envconfig:"ODOO_MODULES" default:"base,web,web_enterprise,contacts,l10n_ar" desc:"modules installed at creation; web_enterprise is dropped without enterprise addons"`
	PythonVersion  string   `envconfig:"PYTHON_VERSION" desc:"Python of the instances' virtual environments: empty for the system's /usr/bin/python3 (Debian 12: 3.11), a version such as 3.11 (python3.11 on PATH), or an absolute path"`
	PythonDeps     string   `envconfig:"ODOO_PYTHON_DEPS" default:"debian" desc:"where Odoo's Python dependencies come from: debian (Debian's python3-* packages, installed by odoobot, in a venv that sees them; no pip) or pip (pip install -r requirements.txt)"`
	PipArgs        string   `envconfig:"ODOO_PIP_ARGS" desc:"extra arguments to pip install in pip mode, space-separated (e.g. --no-index --find-links=/srv/wheels)"`
	OdooLang       string   `envconfig:"ODOO_LANG" default:"es_AR" desc:"language loaded into every new database and set on its users (Odoo's code, e.g. es_AR, en_US)"`
	OdooCountry    string   `envconfig:"ODOO_COUNTRY" default:"AR" desc:"country of the first company of every new database (ISO 3166 code); empty leaves Odoo's default"`
	Unaccent       bool     `envconfig:"DB_UNACCENT" default:"false" desc:"create PostgreSQL's unaccent extension in new databases and let Odoo use it (Odoo's --unaccent)"`
	Workers        int      `envconfig:"WORKERS" default:"2" desc:"Odoo workers per instance (2 or more runs the gevent worker)"`
	MaxCronThreads int      `envconfig:"MAX_CRON_THREADS" default:"1" desc:"Odoo cron threads per instance"`
	MemorySoftMB   int      `envconfig:"LIMIT_MEMORY_SOFT_MB" default:"640" desc:"Odoo limit_memory_soft per worker, MiB"`
	MemoryHardMB   int      `envconfig:"LIMIT_MEMORY_HARD_MB" default:"768" desc:"Odoo limit_memory_hard per worker, MiB"`
	HTTPPorts      Range    `envconfig:"HTTP_PORT_RANGE" default:"2100-3000" desc:"range of the instances' HTTP ports"`
	GeventPorts    Range    `envconfig:"GEVENT_PORT_RANGE" default:"8072-8999" desc:"range of the instances' gevent (websocket) ports"`
	ReservedNames  []string `envconfig:"RESERVED_NAMES" desc:"names refused besides the zone, production, prod, www, api, mail, ftp"`

	// Capacity model (API-DEV's guidance: 0.5–1 GB of memory and ~2 GB of
	// disk an instance with 2 workers).
	InstanceMemoryMB    int `envconfig:"INSTANCE_MEMORY_MB" default:"1024" desc:"memory each instance is counted for by the capacity guard, MiB"`
	InstanceDiskMB      int `envconfig:"INSTANCE_DISK_MB" default:"2048" desc:"disk free needed under PROD_ROOT for one more instance, MiB"`
	SystemMemoryMB      int `envconfig:"SYSTEM_MEMORY_MB" default:"1024" desc:"memory kept for the system by the capacity guard, MiB"`
	CapacityWarnPercent int `envconfig:"CAPACITY_WARN_PERCENT" default:"80" desc:"the guard warns above this share of the host's memory"`

	// Host layout.
	ServiceUser   string `envconfig:"SERVICE_USER" default:"mtg" desc:"system user that instances imported from API-DEV run as (until isolate); every instance odoobot creates runs as its own"`
	BuildUser     string `envconfig:"BUILD_USER" default:"odoobot-build" desc:"unprivileged system user that builds releases and initialises templates (made if missing)"`
	ProdRoot      string `envconfig:"PROD_ROOT" default:"/home/mtg/apps/production/odoo" desc:"instance directories"`
	TrackingDir   string `envconfig:"TRACKING_DIR" desc:"where API-DEV's tracking files are exported (off when empty)"`
	LogDir        string `envconfig:"LOG_DIR" default:"/var/log/odoobot" desc:"creation logs create-prod-NAME.log"`
	BackupDir     string `envconfig:"BACKUP_DIR" default:"/home/mtg/backups" desc:"backups"`
	BackupKeep    int    `envconfig:"BACKUP_KEEP" desc:"deprecated name of BACKUP_KEEP_DAILY, used when that is not set"`
	BackupDaily   int    `envconfig:"BACKUP_KEEP_DAILY" default:"7" desc:"manual and scheduled backups: the newest of each of this many most recent days is kept"`
	BackupWeekly  int    `envconfig:"BACKUP_KEEP_WEEKLY" default:"4" desc:"… and of each of this many most recent ISO weeks"`
	BackupMonthly int    `envconfig:"BACKUP_KEEP_MONTHLY" default:"3" desc:"… and of each of this many most recent months"`
	BackupSafety  int    `envconfig:"BACKUP_KEEP_SAFETY" default:"5" desc:"restores' safety backups kept per instance, newest first"`
	BackupFinal   int    `envconfig:"BACKUP_KEEP_FINAL" default:"3" desc:"deletes' final backups kept per instance name, newest first"`
	BackupTime    string `envconfig:"BACKUP_TIME" default:"03:00" desc:"daily backup of every instance, HH:MM UTC; off to disable"`

	// The offsite copy of every backup (a restic repository).
	OffsiteRepository   string        `envconfig:"OFFSITE_REPOSITORY" desc:"restic repository every backup is also pushed to, encrypted: a path, s3:https://host/bucket, sftp:user@host:/path, rest:https://host/; put no credential in it (OFFSITE_ENV_FILE); empty: backups stay on this server only"`
	OffsitePasswordFile string        `envconfig:"OFFSITE_PASSWORD_FILE" desc:"root's file (mode 0600 or 0400) holding the repository's password; required with OFFSITE_REPOSITORY; keep a copy away from this server: without it the offsite backups cannot be read"`
	OffsiteEnvFile      string        `envconfig:"OFFSITE_ENV_FILE" desc:"root's env file (mode 0600 or 0400) of the backend's credentials (AWS_ACCESS_KEY_ID=…, AWS_SECRET_ACCESS_KEY=…, RESTIC_REST_PASSWORD=…), given to restic alone"`
	OffsiteRetry        time.Duration `envconfig:"OFFSITE_RETRY" default:"1m" desc:"first wait before a failed offsite push is tried again; it doubles after each failure, up to an hour"`
	OffsiteAlertAfter   int           `envconfig:"OFFSITE_ALERT_AFTER" default:"3" desc:"failed offsite pushes in a row before the alert channels are told"`
	DrillEvery          time.Duration `envconfig:"DRILL_EVERY" default:"168h" desc:"serve drills each instance's latest backup (restored into a throwaway copy, opened with Odoo, compared, dropped) once per this long; 0 turns the scheduled drill off"`

	// The point-in-time archive of the cluster (pgBackRest).
	PITRRepository     string `envconfig:"PITR_REPOSITORY" desc:"pgBackRest's repository of the cluster's continuous WAL archive and base backups: s3:https://HOST[:PORT]/BUCKET[/PATH] (TLS, path-style URIs), or a POSIX path (on a real server a mounted remote store); empty: no restore to a time"`
	PITRS3EnvFile      string `envconfig:"PITR_S3_ENV_FILE" desc:"root's file (mode 0600 or 0400) of the bucket's keys, AWS_ACCESS_KEY_ID=… and AWS_SECRET_ACCESS_KEY=…; required with an S3 PITR_REPOSITORY"`
	PITRS3CAFile       string `envconfig:"PITR_S3_CA_FILE" desc:"PEM of the CA the S3 endpoint's certificate is checked against (a private store's); the system's roots when empty"`
	PITRS3Region       string `envconfig:"PITR_S3_REGION" default:"us-east-1" desc:"the bucket's region"`
	PITRCipherPassFile string `envconfig:"PITR_CIPHER_PASS_FILE" desc:"root's file (mode 0600 or 0400) holding the repository's cipher pass (aes-256-cbc, at least 20 characters); required with PITR_REPOSITORY; keep a copy away from this server"`
	PITRDataDir        string `envconfig:"PITR_PG_DATA" desc:"the data directory of the cluster at DB_PORT, which must run on this host (Debian: /var/lib/postgresql/15/main); required with PITR_REPOSITORY"`
	PITRSocketDir      string `envconfig:"PITR_PG_SOCKET" default:"/var/run/postgresql" desc:"the cluster's Unix socket directory, where pgBackRest reaches it as postgres"`
	PITRScratchDir     string `envconfig:"PITR_SCRATCH_DIR" desc:"where a restore to a time makes its scratch cluster; default STATE_DIR/pitr"`
	PITRConfigFile     string `envconfig:"PITR_CONFIG_FILE" default:"/etc/odoobot/pgbackrest.conf" desc:"pgBackRest's configuration, written by odoobot setup (root's, group postgres, 0640)"`
	PITRBackupTime     string `envconfig:"PITR_BACKUP_TIME" default:"02:30" desc:"daily base backup of the cluster, HH:MM UTC: full on Sundays, incremental otherwise"`

	StateDir       string `envconfig:"STATE_DIR" default:"/var/lib/odoobot" desc:"release cache, template filestores, ACME account; nothing nginx needs (certificates are beside NGINX_CONF)"`
	NginxAvailable string `envconfig:"NGINX_SITES_AVAILABLE" default:"/etc/nginx/sites-available" desc:"nginx sites-available"`
	NginxEnabled   string `envconfig:"NGINX_SITES_ENABLED" default:"/etc/nginx/sites-enabled" desc:"nginx sites-enabled"`
	NginxConf      string `envconfig:"NGINX_CONF" default:"/etc/nginx/nginx.conf" desc:"nginx's main configuration; odoobot keeps its own files for nginx beside it (snippets/odoobot-cloudflare.conf, and odoobot/ with the default server's certificate and odoobot/certs/ with the instances'), so that nginx starts without odoobot's state"`
	UnitDir        string `envconfig:"SYSTEMD_UNIT_DIR" default:"/etc/systemd/system" desc:"where instance units are written"`
	LogrotateFile  string `envconfig:"LOGROTATE_FILE" default:"/etc/logrotate.d/odoobot-instances" desc:"the rotation of the instances' odoo.log, rewritten by odoobot"`

	// The bot.
	JobWorkers    int    `envconfig:"JOB_WORKERS" default:"2" desc:"creations run at the same time"`
	AllowlistFile string `envconfig:"ALLOWLIST_FILE" default:"/etc/odoobot/allowlist" desc:"who may run what (see README)"`
	SlackBotToken Secret `envconfig:"SLACK_BOT_TOKEN" secret:"true" desc:"Slack bot token xoxb-…"`
	SlackAppToken Secret `envconfig:"SLACK_APP_TOKEN" secret:"true" desc:"Slack app-level token xapp-… (Socket Mode)"`
	SlackAPIURL   string `envconfig:"SLACK_API_URL" default:"https://slack.com/api/" desc:"Slack Web API base URL"`
	SlackAlerts   string `envconfig:"SLACK_ALERT_CHANNEL" desc:"Slack channel ID where failed renewals and scheduled backups are posted"`
	DiscordToken  Secret `envconfig:"DISCORD_BOT_TOKEN" secret:"true" desc:"Discord bot token"`
	DiscordAppID  string `envconfig:"DISCORD_APP_ID" desc:"Discord application ID"`
	DiscordGuild  string `envconfig:"DISCORD_GUILD_ID" desc:"guild where /odoo is registered (global when empty)"`
	DiscordAPIURL string `envconfig:"DISCORD_API_URL" default:"https://discord.com/api/v10/" desc:"Discord API base URL"`
	DiscordAlerts string `envconfig:"DISCORD_ALERT_CHANNEL" desc:"Discord channel ID where failed renewals and scheduled backups are posted"`
	// AlertRepeat: an instance's alert card neither acknowledged nor
	// silenced is repeated this often; 0 never.
	AlertRepeat         time.Duration `envconfig:"ALERT_REPEAT" default:"30m" desc:"an unacknowledged instance alert is repeated in the alert channel this often; 0 never"`
	SlackAlertMention   string        `envconfig:"SLACK_ALERT_MENTION" desc:"Slack user group ID (S…) notified by a new alert card and its repeats"`
	DiscordAlertMention string        `envconfig:"DISCORD_ALERT_MENTION" desc:"Discord role ID notified by a new alert card and its repeats"`

	// TemplateCheck is how often serve checks whether the configured
	// branch moved, to build its new release and template ahead of need.
	TemplateCheck time.Duration `envconfig:"TEMPLATE_CHECK" default:"10m" desc:"how often serve checks the configured branch and builds a new release's template ahead of need; 0 turns the ahead-of-need build off"`

	// The watcher (on-call alerts).
	WatchInterval   time.Duration `envconfig:"WATCH_INTERVAL" default:"1m" desc:"how often serve checks every instance; 0 turns the watcher off"`
	WatchFailures   int           `envconfig:"WATCH_FAILURES" default:"3" desc:"consecutive failed checks before an alert"`
	WatchQuiet      time.Duration `envconfig:"WATCH_QUIET" default:"30m" desc:"after a recovery, no new alert for the same instance before this much time"`
	WatchDiskFreeMB int           `envconfig:"WATCH_DISK_FREE_MB" default:"1024" desc:"the disk check fails below this much free space under PROD_ROOT, MiB"`
	WatchCertDays   int           `envconfig:"WATCH_CERT_DAYS" default:"14" desc:"the certificate check fails when fewer days are left"`

	// Sampled metrics, graphed by status and capacity.
	MetricsEvery time.Duration `envconfig:"METRICS_EVERY" default:"1m" desc:"how often serve samples every ready instance's memory, CPU and response time and the host's memory and disk (kept 7 days, graphed by status and capacity); 0 turns sampling off"`

	// Two-person approval of delete, restore and upgrade.
	ApprovalRequired bool          `envconfig:"APPROVAL_REQUIRED" default:"false" desc:"delete, restore and upgrade wait for a second admin's approval (Approve in chat, or approve CODE) instead of their requester's confirmation"`
	ApprovalTTL      time.Duration `envconfig:"APPROVAL_TTL" default:"30m" desc:"how long a request waits for approval before it expires, nothing run"`
}

// DefaultEnvFile is the env file read when --env-file is not given.
const DefaultEnvFile = "/etc/odoobot/odoobot.env"

// Load reads the env file into the environment (variables already set
// in the environment win over the file), resolves NAME_FILE variants of
// secrets, and builds a validated Config. A missing env file is an error
// only when mustExist is set (the user named it). The error lists every
// problem, one per line. It is called once, at start-up.
func Load(envFile string, mustExist bool) (*Config, error) {
	// Secrets are never set into the process environment, which every
	// child would inherit: those of the env file and of NAME_FILE files
	// are kept here and put into the Config after envconfig has read the
	// rest.
	secrets := map[string]string{}
	if envFile != "" {
		vals, err := godotenv.Read(envFile)
		if err != nil && (mustExist || !errors.Is(err, os.ErrNotExist)) {
			return nil, fmt.Errorf("config: read env file %s: %w", envFile, err)
		}
		secret := map[string]bool{}
		for _, f := range fields() {
			if f.secret {
				secret[f.env], secret[f.env+"_FILE"] = true, true
			}
		}
		for k, v := range vals {
			if _, set := os.LookupEnv(k); set {
				continue // the environment wins over the file
			}
			if secret[k] {
				secrets[k] = v
				continue
			}
			os.Setenv(k, v)
		}
	}
	lookup := func(k string) string {
		if v, ok := os.LookupEnv(k); ok {
			return v
		}
		return secrets[k]
	}
	var problems []error
	for _, f := range fields() {
		path := lookup(f.env + "_FILE")
		if !f.secret || path == "" {
			continue
		}
		if lookup(f.env) != "" {
			problems = append(problems, fmt.Errorf("%s and %s_FILE are both set: keep one", f.env, f.env))
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s_FILE: cannot read %s: %w", f.env, path, errors.Unwrap(err)))
			continue
		}
		secrets[f.env] = strings.TrimSpace(string(b))
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	var c Config
	if err := envconfig.Process("", &c); err != nil {
		var pe *envconfig.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("config: %s=%q: %w", pe.KeyName, pe.Value, pe.Err)
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	if _, set := os.LookupEnv("BACKUP_KEEP_DAILY"); !set && c.BackupKeep > 0 {
		c.BackupDaily = c.BackupKeep // BACKUP_KEEP, the deprecated name
	}
	v := reflect.ValueOf(&c).Elem()
	for i, f := range fields() {
		if f.secret && os.Getenv(f.env) == "" {
			if val, ok := secrets[f.env]; ok {
				v.Field(i).SetString(val)
			}
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate checks the whole configuration and reports every problem, one
// per line, each saying what is wrong and what to do.
func (c *Config) Validate() error {
	var p []error
	add := func(format string, a ...any) { p = append(p, fmt.Errorf(format, a...)) }

	zone := strings.TrimSuffix(c.ZoneName, ".")
	switch {
	case zone == "":
		add("CF_ZONE_NAME is not set: give the DNS zone, such as example.com")
	case !validZone(zone):
		add("CF_ZONE_NAME %q is not a DNS zone such as example.com", c.ZoneName)
	}
	if _, err := provision.ParseSSLMode(c.DefaultSSLMode, ""); err != nil || c.DefaultSSLMode == "" {
		add("DEFAULT_SSL_MODE %q is unknown: use cloudflare, letsencrypt or http", c.DefaultSSLMode)
	}
	if c.ManagesDNS() {
		if ip := net.ParseIP(c.PublicIP); ip == nil || ip.To4() == nil {
			add("PUBLIC_IP %q is not an IPv4 address: it is required to create DNS records (CF_API_TOKEN is set)", c.PublicIP)
		}
	}
	if c.ServerID != "" && !serverIDRE.MatchString(c.ServerID) {
		add("ODOOBOT_SERVER_ID %q: use 1-40 letters, digits, '.', '-', '_' or ':'", c.ServerID)
	} else if validZone(zone) {
		if n, why := c.NameRules().Longest(); n == 0 {
			add("no instance name fits this configuration (CF_ZONE_NAME, ODOOBOT_SERVER_ID): a one-letter one is refused: %v; shorten the zone or ODOOBOT_SERVER_ID", why)
		}
	}
	if c.CFCallTimeout < time.Second || c.CFRequestTimeout < time.Second || c.CFRequestTimeout > c.CFCallTimeout {
		add("CF_API_TIMEOUT %s, CF_REQUEST_TIMEOUT %s: give durations of at least 1s (such as 60s and 15s), the request's no longer than the operation's", c.CFCallTimeout, c.CFRequestTimeout)
	}
	if c.CFRateLimit < 10 || c.CFRateLimit > 1200 {
		add("CF_API_RATE %d: give the requests per 5 minutes odoobot may send, 10 to 1200 (Cloudflare's limit per user)", c.CFRateLimit)
	}
	if (c.OriginCert == "") != (c.OriginKey == "") {
		add("CF_ORIGIN_CERT and CF_ORIGIN_KEY go together: set both or neither")
	}
	for _, r := range []struct {
		name string
		r    Range
	}{{"HTTP_PORT_RANGE", c.HTTPPorts}, {"GEVENT_PORT_RANGE", c.GeventPorts}} {
		if r.r.First < 1 || r.r.Last > 65535 {
			add("%s %s is outside 1-65535", r.name, r.r)
		}
		if r.r.First > r.r.Last {
			add("%s %s is inverted: write the lower port first", r.name, r.r)
		}
	}
	hLo, hHi := min(c.HTTPPorts.First, c.HTTPPorts.Last), max(c.HTTPPorts.First, c.HTTPPorts.Last)
	gLo, gHi := min(c.GeventPorts.First, c.GeventPorts.Last), max(c.GeventPorts.First, c.GeventPorts.Last)
	if hLo <= gHi && gLo <= hHi {
		add("HTTP_PORT_RANGE %s and GEVENT_PORT_RANGE %s overlap: an instance's two ports must come from distinct ranges", c.HTTPPorts, c.GeventPorts)
	}
	for _, d := range []struct{ name, v string }{
		{"PROD_ROOT", c.ProdRoot}, {"LOG_DIR", c.LogDir}, {"BACKUP_DIR", c.BackupDir},
		{"STATE_DIR", c.StateDir}, {"NGINX_SITES_AVAILABLE", c.NginxAvailable},
		{"NGINX_SITES_ENABLED", c.NginxEnabled}, {"NGINX_CONF", c.NginxConf}, {"SYSTEMD_UNIT_DIR", c.UnitDir}, {"LOGROTATE_FILE", c.LogrotateFile},
		{"TRACKING_DIR", c.TrackingDir}, {"ALLOWLIST_FILE", c.AllowlistFile},
		{"CF_ORIGIN_CERT", c.OriginCert}, {"CF_ORIGIN_KEY", c.OriginKey}, {"TLS_VERIFY_CA_FILE", c.VerifyCAFile},
	} {
		if d.v != "" && !filepath.IsAbs(d.v) {
			add("%s %q is a relative path: give an absolute path", d.name, d.v)
		}
	}
	if pin := c.OdooCommit; pin != "" && (strings.ContainsAny(pin, " \t\n") || strings.HasPrefix(pin, "-")) {
		add("ODOO_COMMIT %q is neither a commit hash nor a tag: give a full 40-digit commit hash or a tag of ODOO_REPO", pin)
	}
	if c.OdooEdition != "e" && c.OdooEdition != "c" {
		add("ODOO_EDITION %q is unknown: use e (enterprise) or c (community)", c.OdooEdition)
	}
	if major, _, _ := strings.Cut(c.OdooVersion, "."); major == "" || strings.Trim(major, "0123456789") != "" {
		add("ODOO_VERSION %q is not a version such as 19.0", c.OdooVersion)
	}
	if c.PythonDeps != "debian" && c.PythonDeps != "pip" {
		add("ODOO_PYTHON_DEPS %q is unknown: use debian (Debian's python3-* packages) or pip", c.PythonDeps)
	}
	if c.PipArgs != "" && c.PythonDeps != "pip" {
		add("ODOO_PIP_ARGS is set but ODOO_PYTHON_DEPS is %s: pip runs only with ODOO_PYTHON_DEPS=pip", c.PythonDeps)
	}
	if c.OdooLang != "" && !langRE.MatchString(c.OdooLang) {
		add("ODOO_LANG %q is not a language code such as es_AR or en_US", c.OdooLang)
	}
	if c.OdooCountry != "" && !countryRE.MatchString(c.OdooCountry) {
		add("ODOO_COUNTRY %q is not a two-letter country code such as AR", c.OdooCountry)
	}
	if c.Workers < 0 {
		add("WORKERS %d is negative", c.Workers)
	}
	if c.InstanceMemoryMB <= 0 || c.InstanceDiskMB <= 0 || c.SystemMemoryMB < 0 {
		add("INSTANCE_MEMORY_MB %d, INSTANCE_DISK_MB %d and SYSTEM_MEMORY_MB %d: give positive sizes in MiB", c.InstanceMemoryMB, c.InstanceDiskMB, c.SystemMemoryMB)
	}
	if c.CapacityWarnPercent <= 0 || c.CapacityWarnPercent > 100 {
		add("CAPACITY_WARN_PERCENT %d: give a percentage between 1 and 100", c.CapacityWarnPercent)
	}
	if c.BackupKeep < 0 {
		add("BACKUP_KEEP %d is negative: set BACKUP_KEEP_DAILY (at least 1) instead", c.BackupKeep)
	}
	if c.BackupDaily < 1 || c.BackupWeekly < 0 || c.BackupMonthly < 0 || c.BackupSafety < 1 || c.BackupFinal < 1 {
		add("BACKUP_KEEP_DAILY %d, BACKUP_KEEP_WEEKLY %d, BACKUP_KEEP_MONTHLY %d, BACKUP_KEEP_SAFETY %d, BACKUP_KEEP_FINAL %d: keep at least 1 daily, 1 safety and 1 final backup, and 0 or more weekly and monthly ones",
			c.BackupDaily, c.BackupWeekly, c.BackupMonthly, c.BackupSafety, c.BackupFinal)
	}
	if _, _, err := c.DailyBackup(); err != nil {
		add("%v", err)
	}
	if c.OffsiteRepository != "" {
		if c.OffsitePasswordFile == "" {
			add("OFFSITE_REPOSITORY is set but OFFSITE_PASSWORD_FILE is not: give root's file holding the repository's password")
		}
		for _, f := range []struct{ name, path string }{{"OFFSITE_PASSWORD_FILE", c.OffsitePasswordFile}, {"OFFSITE_ENV_FILE", c.OffsiteEnvFile}} {
			if f.path == "" {
				continue
			}
			if err := rootOnlyFile(f.path); err != nil {
				add("%s %s: %v", f.name, f.path, err)
			}
		}
		if strings.HasPrefix(c.OffsiteRepository, "-") || strings.ContainsAny(c.OffsiteRepository, "\n\r") {
			add("OFFSITE_REPOSITORY is not a restic repository: give a path, s3:…, sftp:… or rest:…")
		}
	} else if c.OffsitePasswordFile != "" || c.OffsiteEnvFile != "" {
		add("OFFSITE_PASSWORD_FILE or OFFSITE_ENV_FILE is set but OFFSITE_REPOSITORY is not: set the repository, or remove them")
	}
	if c.OffsiteRetry < time.Second {
		add("OFFSITE_RETRY %s: give a duration of at least 1s, such as 1m", c.OffsiteRetry)
	}
	if c.DrillEvery < 0 || c.DrillEvery > 0 && c.DrillEvery < time.Second {
		add("DRILL_EVERY %s: give a duration of at least 1s (such as 168h), or 0 to turn the scheduled drill off", c.DrillEvery)
	}
	if c.PITRRepository != "" {
		if c.PITRCipherPassFile == "" {
			add("PITR_REPOSITORY is set but PITR_CIPHER_PASS_FILE is not: give root's file holding the repository's cipher pass")
		} else if err := rootOnlyFile(c.PITRCipherPassFile); err != nil {
			add("PITR_CIPHER_PASS_FILE %s: %v", c.PITRCipherPassFile, err)
		}
		repo := c.PITRRepository
		if strings.HasPrefix(repo, "s3:") {
			if !strings.HasPrefix(repo, "s3:https://") || strings.Contains(repo, "@") {
				add("PITR_REPOSITORY %q: an S3 repository is s3:https://HOST[:PORT]/BUCKET[/PATH] (pgBackRest speaks S3 over TLS only; its keys go in PITR_S3_ENV_FILE)", repo)
			}
			if c.PITRS3EnvFile == "" {
				add("PITR_REPOSITORY is an S3 bucket but PITR_S3_ENV_FILE is not set: give root's file of its keys")
			} else if err := rootOnlyFile(c.PITRS3EnvFile); err != nil {
				add("PITR_S3_ENV_FILE %s: %v", c.PITRS3EnvFile, err)
			}
			repo = "/s3"
		}
		for _, f := range []struct{ name, path string }{{"PITR_REPOSITORY", repo}, {"PITR_PG_DATA", c.PITRDataDir}, {"PITR_PG_SOCKET", c.PITRSocketDir}, {"PITR_CONFIG_FILE", c.PITRConfigFile}, {"PITR_SCRATCH_DIR", c.PITRScratchDir}} {
			if f.name != "PITR_SCRATCH_DIR" && f.path == "" {
				add("PITR_REPOSITORY is set but %s is not", f.name)
			} else if f.path != "" && (!filepath.IsAbs(f.path) || strings.ContainsAny(f.path, "\n\r\x00")) {
				add("%s %q: give an absolute path", f.name, f.path)
			}
		}
		if _, err := time.Parse("15:04", c.PITRBackupTime); err != nil {
			add("PITR_BACKUP_TIME %q: give HH:MM (UTC)", c.PITRBackupTime)
		}
	} else if c.PITRCipherPassFile != "" || c.PITRDataDir != "" {
		add("PITR_CIPHER_PASS_FILE or PITR_PG_DATA is set but PITR_REPOSITORY is not: set the repository, or remove them")
	}
	if c.OffsiteAlertAfter < 1 {
		add("OFFSITE_ALERT_AFTER %d: at least 1", c.OffsiteAlertAfter)
	}
	if c.TemplateCheck < 0 || c.TemplateCheck > 0 && c.TemplateCheck < time.Second {
		add("TEMPLATE_CHECK %s: give a duration of at least 1s (such as 10m), or 0 to turn the ahead-of-need build off", c.TemplateCheck)
	}
	if c.WatchInterval < 0 || c.WatchInterval > 0 && c.WatchInterval < time.Second {
		add("WATCH_INTERVAL %s: give a duration of at least 1s (such as 1m), or 0 to turn the watcher off", c.WatchInterval)
	}
	if c.MetricsEvery < 0 || c.MetricsEvery > 0 && c.MetricsEvery < time.Second {
		add("METRICS_EVERY %s: give a duration of at least 1s (such as 1m), or 0 to turn sampling off", c.MetricsEvery)
	}
	if c.WatchFailures < 1 {
		add("WATCH_FAILURES %d: at least 1", c.WatchFailures)
	}
	if c.ApprovalTTL != 0 && (c.ApprovalTTL < time.Minute || c.ApprovalTTL > 24*time.Hour) {
		add("APPROVAL_TTL %s is out of range: give a duration from 1m to 24h, such as 30m", c.ApprovalTTL)
	}
	if c.WatchQuiet < 0 {
		add("WATCH_QUIET %s is negative: give a duration such as 30m, or 0 for no damping", c.WatchQuiet)
	}
	if c.AlertRepeat < 0 || c.AlertRepeat > 0 && c.AlertRepeat < time.Second {
		add("ALERT_REPEAT %s: give a duration of at least 1s (such as 30m), or 0 never to repeat an alert", c.AlertRepeat)
	}
	if m := c.SlackAlertMention; m != "" && !regexp.MustCompile(`^S[A-Z0-9]{1,31}$`).MatchString(m) {
		add("SLACK_ALERT_MENTION %q: give a Slack user group ID, such as S0123ABCD (the group's profile, Copy group ID)", m)
	}
	if m := c.DiscordAlertMention; m != "" && !regexp.MustCompile(`^[0-9]{17,20}$`).MatchString(m) {
		add("DISCORD_ALERT_MENTION %q: give a Discord role ID, 17 to 20 digits (Server Settings, Roles, Copy Role ID)", m)
	}
	if c.WatchDiskFreeMB < 0 || c.WatchCertDays < 0 {
		add("WATCH_DISK_FREE_MB %d and WATCH_CERT_DAYS %d: give sizes and days of 0 or more", c.WatchDiskFreeMB, c.WatchCertDays)
	}
	if c.JobWorkers < 1 {
		add("JOB_WORKERS %d: at least 1", c.JobWorkers)
	}
	if c.MemorySoftMB <= 0 || c.MemoryHardMB < c.MemorySoftMB {
		add("LIMIT_MEMORY_SOFT_MB %d and LIMIT_MEMORY_HARD_MB %d: both positive, hard >= soft", c.MemorySoftMB, c.MemoryHardMB)
	}
	if c.ServiceUser == "" {
		add("SERVICE_USER is empty: name the system user the instances run as")
	}
	if c.BuildUser == "" || c.BuildUser == "root" {
		add("BUILD_USER %q: name an unprivileged system user for builds and template initialisations (default odoobot-build)", c.BuildUser)
	}
	if c.DBUser == "" {
		add("DB_USER is empty")
	}
	if len(c.InstanceModules()) == 0 {
		add("ODOO_MODULES is empty: give at least base")
	}
	for _, n := range c.ReservedNames {
		if n = strings.TrimSpace(n); n != "" && !provision.IsLabel(n) {
			add("RESERVED_NAMES entry %q is not a valid name", n)
		}
	}
	if (c.SlackBotToken == "") != (c.SlackAppToken == "") {
		add("SLACK_BOT_TOKEN and SLACK_APP_TOKEN go together: Socket Mode needs both")
	}
	if c.DiscordToken != "" && c.DiscordAppID == "" {
		add("DISCORD_APP_ID is required with DISCORD_BOT_TOKEN")
	}
	return errors.Join(p...)
}

var (
	langRE     = regexp.MustCompile(`^[a-z]{2,3}(_[A-Z]{2})?(@[a-z]+)?$`)
	countryRE  = regexp.MustCompile(`^[A-Z]{2}$`)
	serverIDRE = regexp.MustCompile(`^[A-Za-z0-9.:_-]{1,40}$`)
)

// PipArguments are ODOO_PIP_ARGS split on spaces.
func (c *Config) PipArguments() []string { return strings.Fields(c.PipArgs) }

// Community reports whether only community (LGPL-3) modules may be
// installed: ODOO_EDITION=c.
func (c *Config) Community() bool { return c.OdooEdition == "c" }

// ManagesDNS reports whether odoobot creates Cloudflare records (a token
// is configured).
func (c *Config) ManagesDNS() bool { return c.APIToken != "" }

// UnitPrefix is "odoo" + the major version + the edition: odoo19e.
func (c *Config) UnitPrefix() string {
	major, _, _ := strings.Cut(c.OdooVersion, ".")
	return "odoo" + major + c.OdooEdition
}

// Branch is the Odoo branch to build: ODOO_BRANCH, or the version.
func (c *Config) Branch() string {
	if c.OdooBranch != "" {
		return c.OdooBranch
	}
	return c.OdooVersion
}

// InstanceModules is the module list, without web_enterprise when no
// enterprise addons are configured.
func (c *Config) InstanceModules() []string {
	var out []string
	for _, m := range c.Modules {
		m = strings.TrimSpace(m)
		if m == "" || (m == "web_enterprise" && c.EnterpriseRepo == "") {
			continue
		}
		out = append(out, m)
	}
	return out
}

// Zone is the zone without a trailing dot, lower case.
func (c *Config) Zone() string { return strings.ToLower(strings.TrimSuffix(c.ZoneName, ".")) }

// Layout is where things live on the host, for provision.
func (c *Config) Layout() provision.Layout {
	return provision.Layout{
		Zone:           c.Zone(),
		UnitPrefix:     c.UnitPrefix(),
		ProdRoot:       c.ProdRoot,
		LogDir:         c.LogDir,
		NginxAvailable: c.NginxAvailable,
		NginxEnabled:   c.NginxEnabled,
		UnitDir:        c.UnitDir,
		// Beside nginx's configuration, not in STATE_DIR: nginx must
		// start whatever becomes of odoobot's state.
		CertDir: filepath.Join(filepath.Dir(c.NginxConf), "odoobot", "certs"),
	}
}

// DailyBackup is when the daily backup runs, as an offset from midnight
// UTC; on is false when BACKUP_TIME is "off".
func (c *Config) DailyBackup() (at time.Duration, on bool, err error) {
	v := strings.TrimSpace(c.BackupTime)
	if v == "off" || v == "" {
		return 0, false, nil
	}
	t, err := time.Parse("15:04", v)
	if err != nil {
		return 0, false, fmt.Errorf("BACKUP_TIME %q is not HH:MM (UTC) or off", c.BackupTime)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, true, nil
}

// CapacityModel is the capacity guard's model of an instance's needs.
func (c *Config) CapacityModel() provision.CapacityModel {
	return provision.CapacityModel{
		PerInstanceMemory: uint64(c.InstanceMemoryMB) << 20,
		PerInstanceDisk:   uint64(c.InstanceDiskMB) << 20,
		ReserveMemory:     uint64(c.SystemMemoryMB) << 20,
		WarnAt:            float64(c.CapacityWarnPercent) / 100,
	}
}

// NameRules are the name rules for this zone and reserved list.
func (c *Config) NameRules() provision.NameRules {
	r := provision.NameRules{Zone: c.Zone(), Reserved: c.ReservedNames}
	if c.ManagesDNS() {
		r.DNSServer = c.DNSServerID()
	}
	return r
}

// DNSServerID is this server's name in the mark on its DNS records:
// ODOOBOT_SERVER_ID, or PUBLIC_IP when it is empty.
func (c *Config) DNSServerID() string {
	if id := strings.TrimSpace(c.ServerID); id != "" {
		return id
	}
	return strings.TrimSpace(c.PublicIP)
}

// SSLMode is the default SSL mode (validated).
func (c *Config) SSLMode() provision.SSLMode {
	m, _ := provision.ParseSSLMode(c.DefaultSSLMode, provision.SSLCloudflare)
	return m
}

// Setting is one line of the effective configuration.
type Setting struct {
	Env, Value, Desc string
}

// Settings lists the effective configuration, secrets redacted, in
// declaration order. It is what `odoobot config` prints.
func (c *Config) Settings() []Setting {
	v := reflect.ValueOf(c).Elem()
	var out []Setting
	for i, f := range fields() {
		fv := v.Field(i)
		var s string
		switch x := fv.Interface().(type) {
		case Secret:
			s = x.String()
			if x != "" {
				s = "[redacted]"
			}
		case []string:
			s = strings.Join(x, ",")
		default:
			s = fmt.Sprint(x)
		}
		out = append(out, Setting{Env: f.env, Value: provision.RedactURLs(s), Desc: f.desc})
	}
	return out
}

type field struct {
	env, desc string
	secret    bool
}

func fields() []field {
	t := reflect.TypeFor[Config]()
	out := make([]field, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		out[i] = field{env: f.Tag.Get("envconfig"), desc: f.Tag.Get("desc"), secret: f.Tag.Get("secret") == "true"}
	}
	return out
}

func validZone(z string) bool {
	labels := strings.Split(strings.ToLower(z), ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if !provision.IsLabel(l) {
			return false
		}
	}
	return true
}

// StateDSN is the connection URL of odoobot's state database. It holds
// the password: pass it to the driver, never to a log or an error.
func (c *Config) StateDSN() string { return c.dsn(c.StateDBName) }

// AdminDSN is the connection URL of the maintenance database "postgres",
// used to create and drop instance databases. It holds the password.
func (c *Config) AdminDSN() string { return c.dsn("postgres") }

func (c *Config) dsn(db string) string {
	u := url.URL{Scheme: "postgres", Host: net.JoinHostPort(c.DBHost, strconv.Itoa(c.DBPort)), Path: "/" + db}
	if c.DBPassword != "" {
		u.User = url.UserPassword(c.DBUser, c.DBPassword.Reveal())
	} else {
		u.User = url.User(c.DBUser)
	}
	q := url.Values{"sslmode": {"prefer"}, "application_name": {"odoobot"}}
	u.RawQuery = q.Encode()
	return u.String()
}

// rootOnlyFile refuses a file other users could read or replace: it must
// be a regular file (not a link), owned by root, with no permission for
// its group or others.
func rootOnlyFile(path string) error {
	if !filepath.IsAbs(path) {
		return errors.New("is a relative path: give an absolute path")
	}
	st, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("cannot be read: %w", errors.Unwrap(err))
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("is not a regular file (%s)", st.Mode().Type())
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("has mode %04o: it holds a secret, make it root's alone (chmod 600)", st.Mode().Perm())
	}
	if uid, ok := fileOwner(st); ok && uid != 0 {
		return fmt.Errorf("is owned by uid %d: it holds a secret, make it root's (chown root)", uid)
	}
	return nil
}

// OffsiteEnv returns the variables of OFFSITE_ENV_FILE ("KEY=value"),
// sorted, for restic's environment alone; none when it is not set. A
// variable that OFFSITE_REPOSITORY or OFFSITE_PASSWORD_FILE sets is
// refused.
func (c *Config) OffsiteEnv() ([]string, error) {
	if c.OffsiteEnvFile == "" {
		return nil, nil
	}
	vals, err := godotenv.Read(c.OffsiteEnvFile)
	if err != nil {
		return nil, fmt.Errorf("config: OFFSITE_ENV_FILE %s: %w", c.OffsiteEnvFile, err)
	}
	var out []string
	for k, v := range vals {
		if strings.HasPrefix(k, "RESTIC_REPOSITORY") || strings.HasPrefix(k, "RESTIC_PASSWORD") {
			return nil, fmt.Errorf("config: OFFSITE_ENV_FILE %s sets %s: the repository and its password come from OFFSITE_REPOSITORY and OFFSITE_PASSWORD_FILE; remove it", c.OffsiteEnvFile, k)
		}
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out, nil
}
