package pitr

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/internal/testenv"
	"odoobot/provision"
	"odoobot/provision/offsite/s3double"
)

// testCluster is the package's own cluster (privateCluster), with its
// data directory and socket.
type testCluster struct {
	url           string
	port          int
	data, socket  string
	tenant, tpass string
}

func superQuery(t *testing.T, u, q string, args ...any) string {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var s string
	if err := c.QueryRow(ctx, q, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s
}

func superExec(t *testing.T, u string, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	for _, s := range stmts {
		if _, err := c.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// newDriver sets up archiving on the test cluster into a new repository
// and returns its driver.
func newDriver(t *testing.T, tune ...func(base string, c *Config)) (*Driver, testCluster) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "the pgBackRest tests run as root (they run pgBackRest and a cluster of their own as postgres)")
	}
	testenv.LookPath(t, "pgbackrest")
	u := privateCluster(t)
	pu, _ := url.Parse(u)
	port, _ := strconv.Atoi(pu.Port())
	tc := testCluster{url: u, port: port}
	tc.data = superQuery(t, u, "SHOW data_directory")
	tc.socket = strings.Split(superQuery(t, u, "SHOW unix_socket_directories"), ",")[0]
	base := filepath.Join("/var/tmp", "pitr-test-"+strconv.Itoa(port))
	private.base = base
	if err := os.RemoveAll(base); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	pass := filepath.Join(t.TempDir(), "cipher")
	if err := os.WriteFile(pass, []byte("a-cipher-pass-of-the-tests-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Dir(testenv.LookPath(t, "pg_ctl"))
	if dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin"); len(dirs) > 0 {
		bin = dirs[len(dirs)-1]
	}
	tc.tenant, tc.tpass = "pitr_tenant", "tenant-pass-0123"
	cfg := Config{
		ConfigFile:     filepath.Join(base, "pgbackrest.conf"),
		DataDir:        tc.data,
		Port:           port,
		SocketDir:      tc.socket,
		Repository:     filepath.Join(base, "repo"),
		CipherPassFile: pass,
		ScratchDir:     filepath.Join(base, "scratch"),
		Bin:            bin,
		Login: func(ctx context.Context, db string) (provision.DBConn, error) {
			return provision.DBConn{Host: "127.0.0.1", Port: port, User: tc.tenant, Password: tc.tpass}, nil
		},
		Restart: func(ctx context.Context) error {
			cmd := exec.CommandContext(ctx, "runuser", "-u", "postgres", "--", filepath.Join(bin, "pg_ctl"), "-D", tc.data, "-l", filepath.Join(tc.data, "server.log"), "-m", "fast", "-w", "-t", "60", "restart")
			// The server's output goes to its log (-l), never to a pipe
			// of ours, which it would hold open.
			cmd.Dir = "/"
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("pg_ctl restart: %w", err)
			}
			return nil
		},
	}
	for _, f := range tune {
		f(base, &cfg)
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var said []string
	if err := d.Setup(context.Background(), func(s string) { said = append(said, s) }); err != nil {
		t.Fatalf("setup: %v (said %q)", err, said)
	}
	t.Logf("setup said %q", said)
	return d, tc
}

// Setup turns archiving on with the promised settings, writes a config
// nobody but root and the cluster's user reads, with the pass nowhere
// else, and takes the first full backup.
func TestSetupArchivesAndBacksUp(t *testing.T) {
	d, tc := newDriver(t)
	ctx := context.Background()
	if got := superQuery(t, tc.url, "SHOW archive_mode"); got != "on" {
		t.Errorf("archive_mode = %q, want on", got)
	}
	if got := superQuery(t, tc.url, "SHOW archive_timeout"); got != "1min" {
		t.Errorf("archive_timeout = %q, want 1min", got)
	}
	if got := superQuery(t, tc.url, "SHOW archive_command"); strings.Contains(got, "cipher") || !strings.Contains(got, "archive-push") {
		t.Errorf("archive_command = %q", got)
	}
	st, err := os.Stat(d.cfg.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o640 {
		t.Errorf("config mode %04o, want 0640", st.Mode().Perm())
	}
	info, err := d.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Backups) != 1 || info.Backups[0].Type != "full" {
		t.Fatalf("backups after setup: %+v, want one full", info.Backups)
	}
	// The repository is encrypted: even its backup.info is ciphertext
	// (OpenSSL's salted format), nothing in it is plain.
	raw, err := os.ReadFile(filepath.Join(d.cfg.Repository, "backup", d.cfg.Stanza, "backup.info"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(raw), "Salted__") || strings.Contains(string(raw), "backup-current") {
		t.Errorf("backup.info is not encrypted: %.80q", raw)
	}
	// Run again: nothing to restart, still one backup.
	if err := d.Setup(ctx, func(s string) {
		if strings.Contains(s, "restart") {
			t.Errorf("second setup restarted: %s", s)
		}
	}); err != nil {
		t.Fatal(err)
	}
	status, err := d.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !status.On || status.Backups != 1 || status.LastWAL == "" || status.LastArchived.IsZero() {
		t.Errorf("status %+v: want on, one backup, a last archived WAL", status)
	}
}

// A restore to a time between two writes has the first and not the
// second, logged in as the database's own role, and leaves no scratch
// cluster behind.
func TestExtractLandsBetweenTwoWrites(t *testing.T) {
	d, tc := newDriver(t)
	landsBetweenTwoWrites(t, d, tc)
}

// The repository may be an S3 bucket, reached over TLS (the S3 double
// on loopback, its CA named in the configuration) with the keys of a
// root-only file, which appear in no command line.
func TestS3Repository(t *testing.T) {
	s3, err := s3double.StartTLS("127.0.0.1:0", "pitr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s3.Close() })
	d, tc := newDriver(t, func(base string, c *Config) {
		ca := filepath.Join(base, "s3-ca.pem")
		keys := filepath.Join(base, "s3.env")
		if err := errors.Join(os.WriteFile(ca, s3.CAPEM(), 0o644), os.WriteFile(keys, []byte(strings.Join(s3.Env(), "\n")+"\n"), 0o600)); err != nil {
			t.Fatal(err)
		}
		c.Repository = fmt.Sprintf("s3:https://localhost:%d/%s/cluster", s3.Port(), s3.Bucket())
		c.S3EnvFile, c.S3CAFile = keys, ca
	})
	if got := superQuery(t, tc.url, "SHOW archive_command"); strings.Contains(got, s3double.SecretKey) {
		t.Errorf("archive_command holds the secret: %q", got)
	}
	keys, err := s3.Keys("cluster/")
	if err != nil || len(keys) == 0 {
		t.Fatalf("nothing in the bucket after setup: %v, %v", keys, err)
	}
	landsBetweenTwoWrites(t, d, tc)
}

func landsBetweenTwoWrites(t *testing.T, d *Driver, tc testCluster) {
	ctx := context.Background()
	db := "pitr_db"
	superExec(t, tc.url, "DROP DATABASE IF EXISTS "+db, "DROP ROLE IF EXISTS "+tc.tenant,
		"CREATE ROLE "+tc.tenant+" LOGIN PASSWORD '"+tc.tpass+"'", "CREATE DATABASE "+db+" OWNER "+tc.tenant)
	t.Cleanup(func() {
		superExec(t, tc.url, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)", "DROP ROLE IF EXISTS "+tc.tenant)
	})
	tu, _ := url.Parse(tc.url)
	tu.User = url.UserPassword(tc.tenant, tc.tpass)
	tu.Path = "/" + db
	superExec(t, tu.String(), "CREATE TABLE partner (name text)", "INSERT INTO partner VALUES ('A')")
	// A base backup after the database exists, and the WAL after it.
	if err := d.Backup(ctx, "incr"); err != nil {
		t.Fatal(err)
	}
	superExec(t, tu.String(), "INSERT INTO partner VALUES ('A2')")
	time.Sleep(1100 * time.Millisecond)
	at := time.Now()
	time.Sleep(1100 * time.Millisecond)
	superExec(t, tu.String(), "INSERT INTO partner VALUES ('B')")
	if err := d.SwitchWAL(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r, err := d.Extract(ctx, db, at, 8<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("extracted in %s: %+v", time.Since(start).Round(time.Millisecond), r)
	t.Cleanup(func() { _ = d.Clean(ctx, db) })
	if r.LastTransaction.IsZero() || r.LastTransaction.After(at) {
		t.Errorf("last transaction replayed %s, want at or before %s", r.LastTransaction, at)
	}
	if !strings.Contains(r.Stopped, "recovery stopping before commit") {
		t.Errorf("stopped: %q", r.Stopped)
	}
	// The scratch cluster is gone; the dump alone remains.
	_, cluster, _, _ := d.scratch(db)
	if _, err := os.Stat(cluster); !os.IsNotExist(err) {
		t.Errorf("scratch cluster %s still there (%v)", cluster, err)
	}
	superExec(t, tc.url, "DROP DATABASE IF EXISTS pitr_check", "CREATE DATABASE pitr_check OWNER "+tc.tenant)
	t.Cleanup(func() { superExec(t, tc.url, "DROP DATABASE IF EXISTS pitr_check WITH (FORCE)") })
	tu.Path = "/pitr_check"
	out, err := exec.Command(filepath.Join(d.cfg.Bin, "pg_restore"), "--no-owner", "-d", tu.String(), r.Dump).CombinedOutput()
	if err != nil {
		t.Fatalf("pg_restore: %v: %s", err, out)
	}
	cu := tu.String()
	if got := superQuery(t, cu, "SELECT string_agg(name, ',' ORDER BY name) FROM partner"); got != "A,A2" {
		t.Errorf("restored partners %q, want A,A2", got)
	}
	if got := superQuery(t, cu, "SELECT tableowner FROM pg_tables WHERE tablename='partner'"); got != tc.tenant {
		t.Errorf("partner owned by %q", got)
	}
	if err := d.Clean(ctx, db); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(r.Dump); !os.IsNotExist(err) {
		t.Errorf("dump still there after Clean (%v)", err)
	}
}

// Too little room: refused with the numbers, nothing made.
func TestExtractRefusesWithoutRoom(t *testing.T) {
	d, _ := newDriver(t)
	_, err := d.Extract(context.Background(), "pitr_db", time.Now(), 1<<50)
	if !errors.Is(err, provision.ErrPointInTime) || !strings.Contains(err.Error(), "MiB free") {
		t.Fatalf("err = %v, want a refusal with the numbers", err)
	}
	dir, _, _, _ := d.scratch("pitr_db")
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("scratch %s made (%v)", dir, err)
	}
}

// A scratch cluster left running by a crash is stopped and removed by
// Clean (and so by the next Extract).
func TestCleanRemovesACrashedScratch(t *testing.T) {
	d, _ := newDriver(t)
	ctx := context.Background()
	dir, cluster, sock, _ := d.scratch("leftover")
	uid, gid, _ := d.osUser()
	if err := os.MkdirAll(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{cluster, sock} {
		if err := errors.Join(os.Mkdir(p, 0o700), os.Chown(p, uid, gid)); err != nil {
			t.Fatal(err)
		}
	}
	out, err := d.asOS(ctx, filepath.Join(d.cfg.Bin, "initdb"), "-D", cluster, "-A", "trust", "-U", "postgres").CombinedOutput()
	if err != nil {
		t.Fatalf("initdb: %v %s", err, out)
	}
	if err := d.writeScratchConf(cluster, sock, uid, gid); err != nil {
		t.Fatal(err)
	}
	if out, err := d.asOS(ctx, filepath.Join(d.cfg.Bin, "pg_ctl"), "-D", cluster, "-l", filepath.Join(cluster, "log"), "-w", "start").CombinedOutput(); err != nil {
		t.Fatalf("start: %v %s", err, out)
	}
	pid, err := os.ReadFile(filepath.Join(cluster, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Clean(ctx, "leftover"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("scratch %s still there", dir)
	}
	p, _ := strconv.Atoi(strings.SplitN(string(pid), "\n", 2)[0])
	if p > 0 {
		// Gone, or a zombie no one reaps in a container.
		if st, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat"); err == nil && !strings.Contains(string(st), ") Z ") {
			t.Errorf("scratch postmaster %d still runs: %s", p, st)
		}
	}
}

// What a crash that takes the server's disk loses is what was committed
// and not yet archived: a write reaches the repository within
// archive_timeout (plus one archive-push), without anything forcing it.
// The test measures that for one write on an otherwise idle cluster.
func TestArchiveLagIsBoundedByTheTimeout(t *testing.T) {
	d, tc := newDriver(t)
	ctx := context.Background()
	superExec(t, tc.url, "DROP TABLE IF EXISTS pitr_lag", "CREATE TABLE pitr_lag (at timestamptz)")
	t.Cleanup(func() { superExec(t, tc.url, "DROP TABLE IF EXISTS pitr_lag") })
	// Start right after a switch, as the worst case: the write opens a
	// new segment, which archive_timeout alone closes.
	if err := d.SwitchWAL(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	superExec(t, tc.url, "INSERT INTO pitr_lag VALUES (now())")
	committed := time.Now()
	seg := superQuery(t, tc.url, "SELECT pg_walfile_name(pg_current_wal_insert_lsn())")
	for {
		last := superQuery(t, tc.url, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
		if len(last) == 24 && last[8:] >= seg[8:] {
			break
		}
		if time.Since(committed) > ArchiveTimeout+30*time.Second {
			t.Fatalf("segment %s not archived %s after the commit (last archived %s)", seg, time.Since(committed), last)
		}
		time.Sleep(200 * time.Millisecond)
	}
	lag := time.Since(committed)
	t.Logf("a committed write reached the repository %s later (archive_timeout %s)", lag.Round(100*time.Millisecond), ArchiveTimeout)
	if lag > ArchiveTimeout+15*time.Second {
		t.Errorf("lag %s, want at most archive_timeout %s and one push", lag, ArchiveTimeout)
	}
}

// A database made after the newest base backup is not in it: the whole
// cluster is restored and replayed, and the database comes out all the
// same.
func TestExtractOfADatabaseNewerThanTheBaseBackup(t *testing.T) {
	d, tc := newDriver(t)
	ctx := context.Background()
	db := "pitr_new_db"
	superExec(t, tc.url, "DROP DATABASE IF EXISTS "+db, "DROP ROLE IF EXISTS "+tc.tenant,
		"CREATE ROLE "+tc.tenant+" LOGIN PASSWORD '"+tc.tpass+"'", "CREATE DATABASE "+db+" OWNER "+tc.tenant)
	t.Cleanup(func() {
		superExec(t, tc.url, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)", "DROP ROLE IF EXISTS "+tc.tenant)
	})
	tu, _ := url.Parse(tc.url)
	tu.User = url.UserPassword(tc.tenant, tc.tpass)
	tu.Path = "/" + db
	superExec(t, tu.String(), "CREATE TABLE partner (name text)", "INSERT INTO partner VALUES ('A')")
	time.Sleep(1100 * time.Millisecond)
	at := time.Now()
	time.Sleep(1100 * time.Millisecond)
	superExec(t, tu.String(), "INSERT INTO partner VALUES ('B')")
	if err := d.SwitchWAL(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	r, err := d.Extract(ctx, db, at, 8<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Clean(ctx, db) })
	out, err := exec.Command(filepath.Join(d.cfg.Bin, "pg_restore"), "-f", "-", "--data-only", "-t", "partner", r.Dump).CombinedOutput()
	if err != nil {
		t.Fatalf("pg_restore: %v %s", err, out)
	}
	if got := copiedRows(string(out)); !slices.Equal(got, []string{"A"}) {
		t.Errorf("the dump's partners %q, want A alone:\n%s", got, out)
	}
}

// copiedRows are the rows of the one COPY block of a data-only dump in
// plain text: the lines between "COPY … FROM stdin;" and "\.". (Other
// lines, such as pg_dump's random \restrict key, are not data.)
func copiedRows(dump string) []string {
	var rows []string
	in := false
	for _, line := range strings.Split(dump, "\n") {
		switch {
		case strings.HasPrefix(line, "COPY ") && strings.HasSuffix(line, "FROM stdin;"):
			in = true
		case line == `\.`:
			in = false
		case in:
			rows = append(rows, line)
		}
	}
	return rows
}
