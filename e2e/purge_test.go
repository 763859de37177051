package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"odoobot/internal/app"
	"odoobot/provision/offsite/s3double"
)

// The purge lane. scripts/e2e.sh runs TestPurgedHostRecovery last, in
// two halves, with the sandbox purged between them: its PostgreSQL
// cluster dropped, its state directory (odoobot's state, release cache,
// templates, instance files, backups) removed, then booted empty. Only
// what a server's loss leaves lives on: the offsite repository (an S3
// double the script runs outside the sandbox), the repository's password
// and credentials, which an operator keeps away from the server
// (purgeDirEnv, a directory outside the sandbox's state), and the
// release repository, which is a remote.
const (
	purgeLaneEnv = "ODOOBOT_PURGE_LANE" // "before" or "after"
	purgeDirEnv  = "ODOOBOT_PURGE_DIR"
	// purgeRepositoryEnv is the offsite repository the script serves.
	purgeRepositoryEnv = "ODOOBOT_PURGE_REPOSITORY"
)

// TestPurgedHostRecovery: a real Odoo 19.0 instance, with a partner and
// an attachment written through Odoo, is backed up offsite; the sandbox
// is purged (cluster, state, files) and booted empty; `odoobot recover
// --all`, given only the offsite settings, serves it again: the partner,
// the attachment's bytes, the admin password of before, through nginx.
func TestPurgedHostRecovery(t *testing.T) {
	needSandbox(t)
	dir := os.Getenv(purgeDirEnv)
	switch os.Getenv(purgeLaneEnv) {
	case "before":
		purgeLaneBefore(t, dir)
	case "after":
		purgeLaneAfter(t, dir)
	default:
		t.Skip("a lane of its own: scripts/e2e.sh runs it after every other test, in two halves (" + purgeLaneEnv + "=before, then after) with the sandbox purged between them")
	}
}

// purgeLaneBefore creates the instance, writes into it, backs it up
// offsite, and leaves it running: the server is lost with it.
func purgeLaneBefore(t *testing.T, dir string) {
	env := realOdooEnv(t, "19.0")
	purgeOffsite(t, env, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	said, err := app.InitOffsite(ctx, env.config(t))
	if err != nil || !strings.Contains(said, "created the repository") {
		t.Fatalf("InitOffsite: %q, %v", said, err)
	}
	a, _ := env.newApp(t, app.Options{})
	inst, pw := createRealOdooKept(t, ctx, a, uniqueName(t, "pg"))
	want := writeRecoverable(t, ctx, a, inst, pw)
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "written.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// purgeLaneAfter recovers the instance on the purged sandbox and checks
// what the first half wrote.
func purgeLaneAfter(t *testing.T, dir string) {
	b, err := os.ReadFile(filepath.Join(dir, "written.json"))
	if err != nil {
		t.Fatalf("what the first half wrote: %v (run scripts/e2e.sh, which runs both halves)", err)
	}
	var want recoverable
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{e2eRoot, os.Getenv("STATE_DIR")} {
		if out, err := os.ReadDir(d); err == nil && len(out) > 0 {
			t.Fatalf("the sandbox was not purged: %s holds %d entries", d, len(out))
		}
	}
	env := realOdooEnv(t, "19.0")
	purgeOffsite(t, env, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	recoverAll(t, ctx, env, want)
}

// purgeOffsite points env at the offsite repository the script serves,
// with the password and credentials files in dir, written once.
func purgeOffsite(t *testing.T, env *createEnv, dir string) {
	t.Helper()
	repo := os.Getenv(purgeRepositoryEnv)
	if dir == "" || repo == "" {
		t.Fatalf("%s and %s must be set: run scripts/e2e.sh", purgeDirEnv, purgeRepositoryEnv)
	}
	pw, envFile := filepath.Join(dir, "offsite-password"), filepath.Join(dir, "offsite.env")
	if _, err := os.Stat(pw); os.IsNotExist(err) {
		if err := os.WriteFile(pw, []byte(offsitePassword+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(envFile, []byte("AWS_ACCESS_KEY_ID="+s3double.AccessKey+"\nAWS_SECRET_ACCESS_KEY="+s3double.SecretKey+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env.set(t, "OFFSITE_REPOSITORY", repo)
	env.set(t, "OFFSITE_PASSWORD_FILE", pw)
	env.set(t, "OFFSITE_ENV_FILE", envFile)
}
