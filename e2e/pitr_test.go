package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"odoobot/internal/app"
	"odoobot/internal/testenv"
	"odoobot/provision/offsite/s3double"
)

// pitrCluster is a PostgreSQL cluster of the test's own in the sandbox
// host, made as an operator makes one on Debian (pg_createcluster, its
// unit postgresql@VERSION-NAME started by systemd), with odoobot's login
// role as scripts/sandbox.sh makes it: the setup step of a restore to a
// time restarts the cluster it archives, which the sandbox's shared
// cluster must never be.
type pitrCluster struct {
	version, name string
	port          int
	data          string
}

// ownCluster makes and starts the cluster; it is dropped when the test
// ends (registered first, so it goes after everything that uses it).
func ownCluster(tb testing.TB) *pitrCluster {
	tb.Helper()
	needSandbox(tb)
	testenv.LookPath(tb, "pgbackrest")
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(dirs) == 0 {
		tb.Fatal("no PostgreSQL server binaries")
	}
	slices.Sort(dirs)
	c := &pitrCluster{version: filepath.Base(filepath.Dir(filepath.Dir(dirs[len(dirs)-1]))), name: "pitr" + randomHex(tb, 3)}
	for p := 5560; p < 5600; p++ {
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err == nil {
			l.Close()
			c.port = p
			break
		}
	}
	if c.port == 0 {
		tb.Fatal("no free port in 5560-5599 for the test's cluster")
	}
	c.data = filepath.Join("/var/lib/postgresql", c.version, c.name)
	run := func(name string, args ...string) {
		tb.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = "/"
		if out, err := cmd.CombinedOutput(); err != nil {
			tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	run("pg_createcluster", "--start-conf=manual", "-p", strconv.Itoa(c.port), c.version, c.name)
	tb.Cleanup(func() {
		cmd := exec.Command("pg_dropcluster", "--stop", c.version, c.name)
		cmd.Dir = "/"
		if out, err := cmd.CombinedOutput(); err != nil {
			tb.Errorf("pg_dropcluster %s %s: %v\n%s", c.version, c.name, err, out)
		}
	})
	run("systemctl", "start", "postgresql@"+c.version+"-"+c.name+".service")
	user, pw := sandboxEnv("DB_USER", "odoo"), sandboxEnv("DB_PASSWORD", "odoo")
	c.psql(tb, fmt.Sprintf("CREATE ROLE %q LOGIN CREATEDB CREATEROLE PASSWORD '%s'", user, strings.ReplaceAll(pw, "'", "''")))
	return c
}

// psql runs one statement on the cluster as postgres.
func (c *pitrCluster) psql(tb testing.TB, stmt string) string {
	tb.Helper()
	cmd := exec.Command("runuser", "-u", "postgres", "--", "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", "/var/run/postgresql", "-p", strconv.Itoa(c.port), "-d", "postgres", "-c", stmt)
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("psql %q: %v\n%s", stmt, err, out)
	}
	return strings.TrimSpace(string(out))
}

// pitrSettings points odoobot at the cluster (DB_PORT) with a
// point-in-time archive (PITR_*: pgBackRest's S3 repository in an S3
// double served over TLS on loopback for the test, its CA and the keys'
// root-only file, a root-only cipher pass file, the config file
// pgBackRest reads, all in dir), and its own STATE_DIR: the templates it
// initialises on this cluster must not replace the filestores of the
// shared cluster's templates.
func (c *pitrCluster) pitrSettings(tb testing.TB, dir string, set func(k, v string)) {
	tb.Helper()
	s3, err := s3double.StartTLS("127.0.0.1:0", "pitr")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s3.Close() })
	ca, keys := filepath.Join(dir, "pitr-s3-ca.pem"), filepath.Join(dir, "pitr-s3.env")
	if err := os.WriteFile(ca, s3.CAPEM(), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(keys, []byte(strings.Join(s3.Env(), "\n")+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	pass := filepath.Join(dir, "pitr-cipher-pass")
	if err := os.WriteFile(pass, []byte("e2e-cipher-pass-"+randomHex(tb, 16)+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	if err := os.MkdirAll(state, 0o755); err != nil {
		tb.Fatal(err)
	}
	for k, v := range map[string]string{
		"DB_PORT":               strconv.Itoa(c.port),
		"STATE_DIR":             state,
		"PITR_REPOSITORY":       fmt.Sprintf("s3:https://localhost:%d/%s/cluster", s3.Port(), s3.Bucket()),
		"PITR_S3_ENV_FILE":      keys,
		"PITR_S3_CA_FILE":       ca,
		"PITR_CIPHER_PASS_FILE": pass,
		"PITR_PG_DATA":          c.data,
		"PITR_PG_SOCKET":        "/var/run/postgresql",
		"PITR_CONFIG_FILE":      filepath.Join(dir, "pgbackrest.conf"),
	} {
		set(k, v)
	}
}

// TestRealOdooRestoreAt: on real Odoo 19.0 whose cluster archives its
// WAL with pgBackRest (set up by the setup step, which restarts it),
// partner A is written through Odoo, the time noted, partner B written;
// restore --at that time (asked in the chat, confirmed) brings back A
// and not B, the thread says which time was reached and whose filestore
// came with it, and the instance serves its login page through nginx and
// logs in with its admin password.
func TestRealOdooRestoreAt(t *testing.T) {
	cl := ownCluster(t)
	env := realOdooEnv(t, "19.0")
	cl.pitrSettings(t, env.root, func(k, v string) { env.set(t, k, v) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	var said []string
	if err := app.SetupPITR(ctx, env.config(t), func(s string) { said = append(said, s) }); err != nil {
		t.Fatalf("setup: %v\n%s", err, strings.Join(said, "\n"))
	}
	logText(t, "setup:\n%s", strings.Join(said, "\n"))
	if got := cl.psql(t, "SHOW archive_mode"); got != "on" {
		t.Fatalf("archive_mode after setup = %q", got)
	}
	a, _ := env.newApp(t, app.Options{})
	inst, pw := createRealOdoo(t, ctx, a, uniqueName(t, "pt"))
	oc := newOdooClient(t, inst)
	if _, err := oc.authenticate(ctx, "admin", pw); err != nil {
		t.Fatalf("log in to %s: %v", inst.Domain, err)
	}
	// The filestore of a restore to a time is that of the last backup
	// at or before it.
	r, _ := dispatch(t, ctx, a, "backup "+inst.Name)
	waitFinished(t, r)
	if _, err := oc.callInt(ctx, "res.partner", "create", []any{map[string]any{"name": "Partner A"}}); err != nil {
		t.Fatalf("create partner A: %v", err)
	}
	time.Sleep(2 * time.Second)
	at := time.Now().UTC()
	time.Sleep(2 * time.Second)
	if _, err := oc.callInt(ctx, "res.partner", "create", []any{map[string]any{"name": "Partner B"}}); err != nil {
		t.Fatalf("create partner B: %v", err)
	}

	r, _ = dispatch(t, ctx, a, "restore "+inst.Name+" --at "+at.Format(time.RFC3339Nano))
	start := time.Now()
	c := confirmAndWait(t, ctx, a, r)
	took := time.Since(start)
	end := finishes(c)
	if !strings.Contains(end, "restored "+inst.Internal+" to") || !strings.Contains(end, "last transaction replayed was committed at") || !strings.Contains(end, "the filestore is backup") {
		t.Fatalf("restore --at: the thread ended:\n%s\n%s", end, c.text())
	}
	t.Logf("restore --at on real Odoo 19.0: %s", took.Round(time.Millisecond))
	logText(t, "restore --at thread:\n%s", c.text())

	requireLoginPage(t, ctx, inst)
	oc = newOdooClient(t, inst)
	if _, err := oc.authenticate(ctx, "admin", pw); err != nil {
		t.Fatalf("log in after restore --at: %v", err)
	}
	for name, want := range map[string]int{"Partner A": 1, "Partner B": 0} {
		n, err := oc.callInt(ctx, "res.partner", "search_count", []any{[]any{[]any{"name", "=", name}}})
		if err != nil || n != want {
			t.Errorf("partners named %s after restore --at: %d, %v; want %d", name, n, err, want)
		}
	}
	// odoobot config and capacity say the archive is on and how far
	// behind it is.
	out, err := env.command(ctx, odoobotBin(t), "config").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "# point-in-time archive: on (archive_timeout 1min), last WAL archived") {
		t.Errorf("odoobot config: %v\n%s", err, out)
	}
	if strings.Contains(string(out), s3SecretOf(t, env.overrides["PITR_S3_ENV_FILE"])) {
		t.Errorf("odoobot config shows the S3 secret")
	}
	r, _ = dispatch(t, ctx, a, "capacity")
	if !strings.Contains(r.text(), "archive    on (archive_timeout 1min), last WAL archived") {
		t.Errorf("capacity:\n%s", r.text())
	}
	// Nothing of the scratch cluster is left.
	if left, _ := filepath.Glob(filepath.Join(env.root, "state", "pitr", "*")); len(left) != 0 {
		t.Errorf("scratch left: %v", left)
	}

	// A time in the future, and one before the first base backup, are
	// refused at once and change nothing.
	for _, when := range []string{time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "2020-01-01 00:00"} {
		r, _ := dispatch(t, ctx, a, "restore "+inst.Name+" --at "+when)
		c, task := dispatch(t, ctx, a, "confirm "+r.lastCode())
		if task != nil {
			t.Errorf("restore --at %s was accepted:\n%s", when, c.text())
		}
		if p := c.private(); !strings.Contains(p, "in the future") && !strings.Contains(p, "before the archive's first base backup") {
			t.Errorf("restore --at %s: said %q", when, p)
		}
	}
}

// s3SecretOf is the secret key in an env file of S3 keys.
func s3SecretOf(t *testing.T, file string) string {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "AWS_SECRET_ACCESS_KEY="); ok && v != "" {
			return v
		}
	}
	t.Fatalf("no secret in %s", file)
	return ""
}
