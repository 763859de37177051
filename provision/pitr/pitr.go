// Package pitr drives pgBackRest (Debian's pgbackrest) for point-in-time
// restores: the continuous archiving of the write-ahead log of the
// PostgreSQL cluster that holds the instances' databases, its base
// backups, and the restore of one database as it was at a given time.
//
// pgBackRest runs as the cluster's system user (postgres), as the
// cluster's own archive_command does. Its configuration file, which holds
// the repository's cipher pass, is root's and readable by that user's
// group only (mode 0640): the cluster's system user is its superuser and
// reads every database anyway. The pass is read from a root-only file and
// is never put on a command line, in a log or in an error.
//
// A restore to a time is made in a scratch cluster: pgBackRest restores
// the newest base backup before the time into a scratch data directory
// with only that database (--db-include; the other databases come back
// as empty sparse files), replays the archived WAL up to the time
// (--type=time, --target-action=promote), the scratch cluster is started
// on a private socket with a minimal configuration of odoobot's (no TCP,
// no archiving), the database is dumped logged in as the role that owns
// it, and the scratch cluster is stopped and removed.
package pitr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"odoobot/internal/childenv"
	"odoobot/internal/tailbuf"
	"odoobot/provision"
)

// DefaultStanza is the pgBackRest stanza odoobot archives the cluster
// under.
const DefaultStanza = "odoobot"

// ArchiveTimeout is the cluster's archive_timeout: a WAL segment with
// any committed write is archived at most this long after its first
// write, so a server lost with its disk loses at most this much of
// committed data (plus the time one archive-push takes).
const ArchiveTimeout = 60 * time.Second

// Retention of base backups in the repository: RetentionFull full
// backups are kept, with the incremental ones and the WAL that depend on
// them; with a weekly full backup and a daily incremental one, any time
// of the last RetentionFull weeks can be restored.
const RetentionFull = 2

// Driver runs pgBackRest for one cluster. Its zero value is not usable:
// fill Config.
type Driver struct {
	cfg Config
}

// Config says where the cluster and the repository are.
type Config struct {
	// ConfigFile is pgBackRest's configuration, written by WriteConfig
	// (root's, group OSUser, mode 0640). Required.
	ConfigFile string
	// Stanza is pgBackRest's name for the cluster; DefaultStanza when
	// empty.
	Stanza string
	// DataDir is the cluster's data directory (pg1-path). Required.
	DataDir string
	// Port and SocketDir reach the cluster as OSUser (peer or trust on
	// the local socket, as Debian's clusters allow the postgres user).
	Port      int
	SocketDir string
	// Repository is pgBackRest's repository: a POSIX path (on a real
	// server a mounted remote store), made and owned by OSUser; or an S3
	// bucket, s3:https://HOST[:PORT]/BUCKET[/PATH], reached over TLS with
	// path-style URIs. Required.
	Repository string
	// S3EnvFile is root's file (0600 or 0400) of the bucket's keys,
	// AWS_ACCESS_KEY_ID=… and AWS_SECRET_ACCESS_KEY=…; required with an
	// S3 repository.
	S3EnvFile string
	// S3CAFile, when set, is the PEM of the CA the S3 endpoint's
	// certificate is checked against (repo1-storage-ca-file); readable
	// by OSUser. The system's roots otherwise.
	S3CAFile string
	// S3Region is the bucket's region; "us-east-1" when empty.
	S3Region string
	// CipherPassFile is root's file (0600 or 0400) holding the
	// repository's cipher pass (aes-256-cbc). Required.
	CipherPassFile string
	// ScratchDir is where a restore to a time makes its scratch cluster
	// and its dump; root's, made when missing. Required.
	ScratchDir string
	// OSUser is the cluster's system user; "postgres" when empty.
	OSUser string
	// Login returns credentials that log in to database db as the role
	// that owns it (tenant.Manager's Login); Extract logs in to the
	// scratch cluster with them (host and port replaced). Required for
	// Extract.
	Login func(ctx context.Context, db string) (provision.DBConn, error)
	// Restart restarts the cluster (after archiving is turned on). nil
	// restarts a Debian cluster (/var/lib/postgresql/VERSION/NAME) with
	// pg_ctlcluster.
	Restart func(ctx context.Context) error
	// Bin is the directory of PostgreSQL's programs; "" finds the newest
	// /usr/lib/postgresql/*/bin.
	Bin string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// New checks cfg and returns its driver.
func New(cfg Config) (*Driver, error) {
	if cfg.Stanza == "" {
		cfg.Stanza = DefaultStanza
	}
	if cfg.OSUser == "" {
		cfg.OSUser = "postgres"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SocketDir == "" {
		cfg.SocketDir = "/var/run/postgresql"
	}
	if cfg.Port == 0 {
		cfg.Port = 5432
	}
	if cfg.S3Region == "" {
		cfg.S3Region = "us-east-1"
	}
	repo := cfg.Repository
	if s3, err := parseS3(cfg.Repository); err != nil {
		return nil, err
	} else if s3 != nil {
		repo = s3.path
		if cfg.S3EnvFile == "" {
			return nil, errors.New("pitr: an S3 repository needs the file of its keys (PITR_S3_ENV_FILE)")
		}
	}
	for _, f := range []struct{ name, v string }{{"config file", cfg.ConfigFile}, {"data directory", cfg.DataDir}, {"repository", repo}, {"cipher pass file", cfg.CipherPassFile}, {"scratch directory", cfg.ScratchDir}} {
		if f.v == "" || !filepath.IsAbs(f.v) {
			return nil, fmt.Errorf("pitr: the %s must be an absolute path, not %q", f.name, f.v)
		}
	}
	if cfg.Bin == "" {
		dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
		slices.SortFunc(dirs, func(a, b string) int {
			va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
			vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
			return vb - va
		})
		if len(dirs) == 0 {
			return nil, errors.New("pitr: PostgreSQL's programs not found in /usr/lib/postgresql/*/bin: install postgresql")
		}
		cfg.Bin = dirs[0]
	}
	return &Driver{cfg: cfg}, nil
}

// ErrNotSetUp is returned when the stanza has no base backup yet: the
// setup step (odoobot setup) has not run.
var ErrNotSetUp = errors.New("point-in-time archive not set up")

// WriteConfig writes pgBackRest's configuration: the repository (POSIX
// path, encrypted with aes-256-cbc under the pass of CipherPassFile),
// the retention (RetentionFull full backups), compression, and the
// cluster. The file is root's, group OSUser, mode 0640, replaced
// atomically.
func (d *Driver) WriteConfig() error {
	pass, err := readSecret(d.cfg.CipherPassFile)
	if err != nil {
		return fmt.Errorf("pitr: cipher pass file %s: %w", d.cfg.CipherPassFile, err)
	}
	var b strings.Builder
	b.WriteString("# Written by odoobot setup; changes are overwritten.\n[global]\n")
	s3, _ := parseS3(d.cfg.Repository)
	lock := filepath.Join(d.cfg.Repository, ".lock")
	if s3 != nil {
		keys, err := readS3Keys(d.cfg.S3EnvFile)
		if err != nil {
			return fmt.Errorf("pitr: S3 keys file %s: %w", d.cfg.S3EnvFile, err)
		}
		fmt.Fprintf(&b, "repo1-type=s3\nrepo1-s3-endpoint=%s\nrepo1-storage-port=%d\nrepo1-s3-bucket=%s\nrepo1-s3-region=%s\nrepo1-s3-uri-style=path\n", s3.host, s3.port, s3.bucket, d.cfg.S3Region)
		fmt.Fprintf(&b, "repo1-s3-key=%s\nrepo1-s3-key-secret=%s\n", keys[0], keys[1])
		if d.cfg.S3CAFile != "" {
			fmt.Fprintf(&b, "repo1-storage-ca-file=%s\n", d.cfg.S3CAFile)
		}
		fmt.Fprintf(&b, "repo1-path=%s\n", s3.path)
		lock = filepath.Join(filepath.Dir(d.cfg.ConfigFile), "pgbackrest-lock")
	} else {
		fmt.Fprintf(&b, "repo1-path=%s\n", d.cfg.Repository)
	}
	b.WriteString("repo1-cipher-type=aes-256-cbc\n")
	fmt.Fprintf(&b, "repo1-cipher-pass=%s\n", pass)
	fmt.Fprintf(&b, "repo1-retention-full=%d\n", RetentionFull)
	b.WriteString("compress-type=zst\nstart-fast=y\nlog-level-console=warn\nlog-level-stderr=error\nlog-level-file=off\n")
	fmt.Fprintf(&b, "lock-path=%s\n", lock)
	fmt.Fprintf(&b, "\n[%s]\n", d.cfg.Stanza)
	fmt.Fprintf(&b, "pg1-path=%s\npg1-port=%d\npg1-socket-path=%s\npg1-user=postgres\n", d.cfg.DataDir, d.cfg.Port, d.cfg.SocketDir)
	gid, err := d.osGroup()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(d.cfg.ConfigFile), 0o755); err != nil {
		return fmt.Errorf("pitr: %w", err)
	}
	tmp := d.cfg.ConfigFile + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("pitr: write config: %w", err)
	}
	_, werr := f.WriteString(b.String())
	if err := errors.Join(werr, f.Chown(0, gid), f.Chmod(0o640), f.Sync(), f.Close()); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("pitr: write config %s: %w", d.cfg.ConfigFile, err)
	}
	if err := os.Rename(tmp, d.cfg.ConfigFile); err != nil {
		return fmt.Errorf("pitr: write config: %w", err)
	}
	if s3 != nil {
		// pgBackRest's locks, the cluster's user's.
		uid, _, err := d.osUser()
		if err != nil {
			return err
		}
		if err := errors.Join(os.MkdirAll(lock, 0o750), os.Chown(lock, uid, gid)); err != nil {
			return fmt.Errorf("pitr: lock directory %s: %w", lock, err)
		}
		return nil
	}
	// The repository: the cluster's user writes it, nobody else reads it.
	if err := os.MkdirAll(d.cfg.Repository, 0o750); err != nil {
		return fmt.Errorf("pitr: repository: %w", err)
	}
	uid, _, err := d.osUser()
	if err != nil {
		return err
	}
	if err := errors.Join(os.Chown(d.cfg.Repository, uid, gid), os.Chmod(d.cfg.Repository, 0o750)); err != nil {
		return fmt.Errorf("pitr: repository %s: %w", d.cfg.Repository, err)
	}
	return nil
}

// readSecret reads a root-only file's first line.
func readSecret(path string) (string, error) {
	st, err := os.Lstat(path)
	if err != nil {
		return "", errors.Unwrap(err)
	}
	if !st.Mode().IsRegular() {
		return "", errors.New("is not a regular file")
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("has mode %04o: it holds a secret, make it root's alone (chmod 600)", st.Mode().Perm())
	}
	if s, ok := st.Sys().(*syscall.Stat_t); ok && s.Uid != 0 {
		return "", fmt.Errorf("is owned by uid %d: it holds a secret, make it root's (chown root)", s.Uid)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", errors.Unwrap(err)
	}
	pass, _, _ := strings.Cut(string(raw), "\n")
	pass = strings.TrimSpace(pass)
	if len(pass) < 20 || strings.ContainsAny(pass, "\r\x00") {
		return "", errors.New("holds no pass of at least 20 characters on its first line")
	}
	return pass, nil
}

// s3Repo is an S3 repository's place.
type s3Repo struct {
	host         string
	port         int
	bucket, path string
}

// parseS3 reads s3:https://HOST[:PORT]/BUCKET[/PATH]; nil for anything
// that does not start with "s3:".
func parseS3(repo string) (*s3Repo, error) {
	rest, ok := strings.CutPrefix(repo, "s3:")
	if !ok {
		return nil, nil
	}
	u, err := url.Parse(rest)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || strings.ContainsAny(repo, "\n\r\x00 ") {
		return nil, fmt.Errorf("pitr: repository %q: an S3 repository is s3:https://HOST[:PORT]/BUCKET[/PATH] (pgBackRest speaks S3 over TLS only; no credentials in it)", repo)
	}
	r := &s3Repo{host: u.Hostname(), port: 443}
	if p := u.Port(); p != "" {
		if r.port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("pitr: repository %q: port %q", repo, p)
		}
	}
	bucket, path, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if bucket == "" {
		return nil, fmt.Errorf("pitr: repository %q names no bucket", repo)
	}
	r.bucket, r.path = bucket, "/"+strings.Trim(path, "/")
	return r, nil
}

// readS3Keys reads the access key and secret of a root-only env file.
func readS3Keys(path string) ([2]string, error) {
	var keys [2]string
	if _, err := readSecret(path); err != nil && !strings.Contains(err.Error(), "no pass") {
		return keys, err
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return keys, errors.Unwrap(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
		v = strings.Trim(strings.TrimSpace(v), `"'`)
		switch strings.TrimSpace(k) {
		case "AWS_ACCESS_KEY_ID":
			keys[0] = v
		case "AWS_SECRET_ACCESS_KEY":
			keys[1] = v
		}
	}
	if keys[0] == "" || keys[1] == "" || strings.ContainsAny(keys[0]+keys[1], "\r\x00") {
		return keys, errors.New("sets no AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	return keys, nil
}

func (d *Driver) osUser() (uid, gid int, err error) {
	u, err := user.Lookup(d.cfg.OSUser)
	if err != nil {
		return 0, 0, fmt.Errorf("pitr: the cluster's system user %q: %w", d.cfg.OSUser, err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid, nil
}

func (d *Driver) osGroup() (int, error) {
	_, gid, err := d.osUser()
	return gid, err
}

// asOS returns a command running prog as the cluster's system user.
func (d *Driver) asOS(ctx context.Context, prog string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", d.cfg.OSUser, "--", prog}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, prog, args...)
	}
	cmd.Env = childenv.Env("PGAPPNAME=odoobot")
	cmd.Dir = "/"
	return cmd
}

// run runs cmd; its error carries the end of its output.
func run(cmd *exec.Cmd, what string) (string, error) {
	var stdout bytes.Buffer
	stderr := &tailbuf.Buffer{Max: 4096}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(tail(stdout.String(), 2000))
		}
		return stdout.String(), fmt.Errorf("pitr: %s: %w: %s", what, err, msg)
	}
	return stdout.String(), nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// pgbackrest runs pgBackRest's command cmd on the stanza as the
// cluster's user.
func (d *Driver) pgbackrest(ctx context.Context, cmd string, args ...string) (string, error) {
	all := append([]string{"--config=" + d.cfg.ConfigFile, "--stanza=" + d.cfg.Stanza}, args...)
	all = append(all, cmd)
	return run(d.asOS(ctx, "pgbackrest", all...), "pgbackrest "+cmd)
}

// psql runs one query on the cluster as its superuser through the local
// socket and returns its unaligned output.
func (d *Driver) psql(ctx context.Context, query string) (string, error) {
	out, err := run(d.asOS(ctx, filepath.Join(d.cfg.Bin, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
		"-h", d.cfg.SocketDir, "-p", strconv.Itoa(d.cfg.Port), "-U", "postgres", "-d", "postgres", "-c", query), "psql")
	return strings.TrimSpace(out), err
}

// The archive settings Setup gives the cluster.
func (d *Driver) archiveCommand() string {
	return fmt.Sprintf("pgbackrest --config=%s --stanza=%s archive-push %%p", d.cfg.ConfigFile, d.cfg.Stanza)
}

// Setup turns continuous archiving on, once: it writes the configuration,
// sets archive_mode, archive_command and archive_timeout (ArchiveTimeout)
// with ALTER SYSTEM, restarts the cluster when archive_mode was off (the
// one restart it needs), creates the stanza, checks that a WAL segment
// reaches the repository, and takes the first full backup when there is
// none. Run again it changes nothing that stands. say reports each step.
func (d *Driver) Setup(ctx context.Context, say func(string)) error {
	if err := d.WriteConfig(); err != nil {
		return err
	}
	say("pgBackRest's configuration written: " + d.cfg.ConfigFile)
	mode, err := d.psql(ctx, "SHOW archive_mode")
	if err != nil {
		return err
	}
	stmts := []string{
		"ALTER SYSTEM SET wal_level = 'replica'",
		"ALTER SYSTEM SET archive_mode = 'on'",
		"ALTER SYSTEM SET archive_command = '" + strings.ReplaceAll(d.archiveCommand(), "'", "''") + "'",
		fmt.Sprintf("ALTER SYSTEM SET archive_timeout = '%ds'", int(ArchiveTimeout.Seconds())),
	}
	for _, s := range stmts {
		if _, err := d.psql(ctx, s); err != nil {
			return err
		}
	}
	if _, err := d.psql(ctx, "SELECT pg_reload_conf()"); err != nil {
		return err
	}
	level, err := d.psql(ctx, "SHOW wal_level")
	if err != nil {
		return err
	}
	if mode != "on" || (level != "replica" && level != "logical") {
		say("restarting PostgreSQL to turn archiving on (archive_mode needs a restart)")
		if err := d.restart(ctx); err != nil {
			return err
		}
	}
	say(fmt.Sprintf("archiving on: archive_timeout %s", ArchiveTimeout))
	if _, err := d.pgbackrest(ctx, "stanza-create"); err != nil {
		return err
	}
	if _, err := d.pgbackrest(ctx, "check"); err != nil {
		return err
	}
	say("stanza " + d.cfg.Stanza + " created and checked: WAL reaches the repository")
	info, err := d.Info(ctx)
	if err != nil {
		return err
	}
	if len(info.Backups) == 0 {
		if err := d.Backup(ctx, "full"); err != nil {
			return err
		}
		say("first full backup taken")
	}
	return nil
}

// restart restarts the cluster (Config.Restart, else pg_ctlcluster).
func (d *Driver) restart(ctx context.Context) error {
	if d.cfg.Restart != nil {
		return d.cfg.Restart(ctx)
	}
	rel, err := filepath.Rel("/var/lib/postgresql", d.cfg.DataDir)
	parts := strings.Split(rel, string(filepath.Separator))
	if err != nil || len(parts) != 2 {
		return fmt.Errorf("pitr: %s is not a Debian cluster's data directory (/var/lib/postgresql/VERSION/NAME): restart PostgreSQL yourself, then run setup again", d.cfg.DataDir)
	}
	cmd := exec.CommandContext(ctx, "pg_ctlcluster", parts[0], parts[1], "restart")
	cmd.Env = childenv.Env()
	_, err = run(cmd, "restart PostgreSQL")
	return err
}

// Backup takes a base backup: kind is "full", "diff" or "incr"; an
// incremental one without a full one before it becomes full. The
// retention then expires what it no longer keeps.
func (d *Driver) Backup(ctx context.Context, kind string) error {
	if kind != "full" && kind != "diff" && kind != "incr" {
		return fmt.Errorf("pitr: backup kind %q: full, diff or incr", kind)
	}
	_, err := d.pgbackrest(ctx, "backup", "--type="+kind)
	return err
}

// Info is the repository as pgBackRest's info reports it.
type Info struct {
	// Backups are the base backups, oldest first.
	Backups []BaseBackup
	// ArchiveMin, ArchiveMax are the oldest and newest WAL segments in
	// the repository.
	ArchiveMin, ArchiveMax string
	// Status is pgBackRest's word on the stanza ("ok" when well).
	Status string
}

// BaseBackup is one base backup of the repository.
type BaseBackup struct {
	Label       string
	Type        string
	Start, Stop time.Time
	Size        int64 // of the cluster it copied
	RepoSize    int64 // in the repository
}

type infoJSON struct {
	Archive []struct {
		Min string `json:"min"`
		Max string `json:"max"`
	} `json:"archive"`
	Backup []struct {
		Label     string `json:"label"`
		Type      string `json:"type"`
		Timestamp struct {
			Start int64 `json:"start"`
			Stop  int64 `json:"stop"`
		} `json:"timestamp"`
		Info struct {
			Size       int64 `json:"size"`
			Repository struct {
				Size int64 `json:"size"`
			} `json:"repository"`
		} `json:"info"`
	} `json:"backup"`
	Status struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"status"`
}

// Info returns what the repository holds for the stanza.
func (d *Driver) Info(ctx context.Context) (Info, error) {
	out, err := d.pgbackrest(ctx, "info", "--output=json")
	if err != nil {
		return Info{}, err
	}
	var raw []infoJSON
	if err := json.Unmarshal([]byte(out), &raw); err != nil || len(raw) != 1 {
		return Info{}, fmt.Errorf("pitr: pgbackrest info: unexpected output (%v)", err)
	}
	r := raw[0]
	info := Info{Status: r.Status.Message}
	for _, a := range r.Archive {
		if info.ArchiveMin == "" || a.Min < info.ArchiveMin {
			info.ArchiveMin = a.Min
		}
		if a.Max > info.ArchiveMax {
			info.ArchiveMax = a.Max
		}
	}
	for _, b := range r.Backup {
		info.Backups = append(info.Backups, BaseBackup{Label: b.Label, Type: b.Type,
			Start: time.Unix(b.Timestamp.Start, 0).UTC(), Stop: time.Unix(b.Timestamp.Stop, 0).UTC(),
			Size: b.Info.Size, RepoSize: b.Info.Repository.Size})
	}
	return info, nil
}

// Status says whether the cluster archives and how far behind: what
// PostgreSQL's archiver last archived and when, its last failure, and
// the repository's newest base backup.
func (d *Driver) Status(ctx context.Context) (provision.ArchiveStatus, error) {
	var st provision.ArchiveStatus
	out, err := d.psql(ctx, `SELECT current_setting('archive_mode'), coalesce(last_archived_wal,''), coalesce(extract(epoch from last_archived_time)::bigint, 0),
		coalesce(last_failed_wal,''), coalesce(extract(epoch from last_failed_time)::bigint, 0), current_setting('archive_timeout') FROM pg_stat_archiver`)
	if err != nil {
		return st, err
	}
	f := strings.Split(out, "|")
	if len(f) != 6 {
		return st, fmt.Errorf("pitr: archiver status: unexpected %q", out)
	}
	st.On = f[0] == "on" && strings.Contains(d.archiveCommandNow(ctx), "pgbackrest")
	st.LastWAL = f[1]
	if n, _ := strconv.ParseInt(f[2], 10, 64); n > 0 {
		st.LastArchived = time.Unix(n, 0).UTC()
	}
	st.FailedWAL = f[3]
	if n, _ := strconv.ParseInt(f[4], 10, 64); n > 0 {
		st.LastFailed = time.Unix(n, 0).UTC()
	}
	st.Timeout = f[5]
	if info, err := d.Info(ctx); err == nil {
		st.Repository = info.Status
		if n := len(info.Backups); n > 0 {
			st.Earliest = info.Backups[0].Stop
			st.NewestBackup = info.Backups[n-1].Stop
			st.Backups = n
		}
	} else {
		st.Repository = err.Error()
	}
	return st, nil
}

func (d *Driver) archiveCommandNow(ctx context.Context) string {
	s, _ := d.psql(ctx, "SHOW archive_command")
	return s
}

// Window returns the earliest time a restore can reach (the end of the
// oldest base backup); ErrNotSetUp when there is none.
func (d *Driver) Window(ctx context.Context) (time.Time, error) {
	info, err := d.Info(ctx)
	if err != nil {
		return time.Time{}, err
	}
	if len(info.Backups) == 0 {
		return time.Time{}, fmt.Errorf("%w: the repository has no base backup; run odoobot setup", ErrNotSetUp)
	}
	return info.Backups[0].Stop, nil
}

// SwitchWAL closes the current WAL segment and waits until the archiver
// has archived it (at most timeout), so that a restore can reach
// moments of the last archive_timeout.
func (d *Driver) SwitchWAL(ctx context.Context, timeout time.Duration) error {
	seg, err := d.psql(ctx, "SELECT pg_walfile_name(pg_switch_wal())")
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		last, err := d.psql(ctx, "SELECT coalesce(last_archived_wal,'') FROM pg_stat_archiver")
		if err != nil {
			return err
		}
		// Segment names sort in WAL order within a timeline.
		if len(last) >= 24 && last[len(last)-16:] >= seg[len(seg)-16:] {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pitr: WAL segment %s not archived within %s (last archived: %q); see pgbackrest's check", seg, timeout, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
