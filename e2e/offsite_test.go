package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"odoobot/commands"
	"odoobot/internal/app"
	"odoobot/provision"
	"odoobot/provision/cloudflare/cftest"
	"odoobot/provision/offsite/s3double"
)

// The offsite tests (TestOffsite*) push backups to a restic repository
// (real restic) in an S3 test double on loopback, through the
// dispatcher and the real binary, against instances of the stand-in
// Odoo in the sandbox host.

// offsitePassword is the test repository's password.
const offsitePassword = "e2e offsite password, never shown"

// withOffsite starts an S3 double and points the test's odoobot at a
// repository in it (OFFSITE_REPOSITORY, a root-only OFFSITE_PASSWORD_FILE
// and OFFSITE_ENV_FILE with the storage's keys), with pushes retried
// after a second and an alert after two failures; the repository is
// created as odoobot setup creates it (app.InitOffsite).
func (e *createEnv) withOffsite(t *testing.T) *s3double.Server {
	t.Helper()
	s3, err := s3double.Start("127.0.0.1:0", "offsite")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s3.Close() })
	pw := filepath.Join(e.root, "offsite-password")
	if err := os.WriteFile(pw, []byte(offsitePassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	envFile := filepath.Join(e.root, "offsite.env")
	if err := os.WriteFile(envFile, []byte(strings.Join(s3.Env(), "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"OFFSITE_REPOSITORY": s3.Repository(), "OFFSITE_PASSWORD_FILE": pw, "OFFSITE_ENV_FILE": envFile,
		"OFFSITE_RETRY": "1s", "OFFSITE_ALERT_AFTER": "2",
	} {
		e.overrides[k] = v
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	said, err := app.InitOffsite(ctx, e.config(t))
	if err != nil || !strings.Contains(said, "created the repository") {
		t.Fatalf("InitOffsite: %q, %v", said, err)
	}
	return s3
}

// sameOffsite points e's odoobot at the offsite repository of other, as
// a new server is given the old one's settings.
func (e *createEnv) sameOffsite(t *testing.T, other *createEnv) {
	t.Helper()
	for _, k := range []string{"OFFSITE_REPOSITORY", "OFFSITE_PASSWORD_FILE", "OFFSITE_ENV_FILE"} {
		e.set(t, k, other.overrides[k])
	}
}

// alertLog records what is posted in the alert channels.
type alertLog struct {
	mu    sync.Mutex
	texts []string
}

func (l *alertLog) post(_ context.Context, a commands.Alert) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.texts = append(l.texts, a.Text)
	return nil
}

func (l *alertLog) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, t := range l.texts {
		if strings.Contains(t, s) {
			return true
		}
	}
	return false
}

// TestOffsiteBackupOutagesAndRestore: a backup is pushed offsite by its
// job; while the storage is down a backup still lands here, its job and
// the listing say so, the background push alerts once after two
// failures and says when it pushes again; a backup whose local copy is
// gone is restored from offsite, with its data and its attachment; and
// a wrong password stops serve at start, saying which setting, with no
// secret in what it prints.
func TestOffsiteBackupOutagesAndRestore(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	backups := env.withBackupDir(t)
	s3 := env.withOffsite(t)
	a, _ := env.newApp(t, app.Options{})
	var alerts alertLog
	a.AddActionAlerts(alerts.post)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	inst := createReady(t, ctx, a, uniqueName(t, "off"))
	db := connectDB(t, ctx, a, inst.Internal)
	setMarker := markerSetter(t, ctx, db)
	marker := func() string { return configParam(t, ctx, a, inst.Internal, "e2e.marker") }
	attachment := filepath.Join(a.Config.Layout().Paths(inst).DataDir, "filestore", inst.Internal, "ab", "abcdef0123")
	if err := os.MkdirAll(filepath.Dir(attachment), 0o755); err != nil {
		t.Fatal(err)
	}
	writeAttachment := func(text string) {
		t.Helper()
		if err := os.WriteFile(attachment, []byte(text), 0o640); err != nil {
			t.Fatal(err)
		}
	}

	// Pushed by its own job.
	setMarker("before")
	writeAttachment("attachment before")
	r, _ := dispatch(t, ctx, a, "backup "+inst.Name)
	waitFinished(t, r)
	if f := finishes(r); !strings.Contains(f, "backed up "+inst.Internal) || !strings.Contains(r.text(), "and offsite") || !strings.Contains(r.text(), "offsite") {
		t.Fatalf("the backup does not say it is offsite:\n%s", r.text())
	}
	listing, err := a.Service.BackupPlaces(ctx, inst.Name)
	if err != nil || len(listing.Backups) != 1 || listing.Backups[0].Copy == nil || !listing.Backups[0].Local {
		t.Fatalf("BackupPlaces: %+v, %v; want one backup here and offsite", listing, err)
	}
	first := listing.Backups[0].ID
	if got, _ := dispatch(t, ctx, a, "backups "+inst.Name); !strings.Contains(got.text(), "local,offsite") {
		t.Errorf("backups does not show both places:\n%s", got.text())
	}

	// The storage down: the backup lands here and says so.
	s3.SetDown(true)
	setMarker("later")
	r, _ = dispatch(t, ctx, a, "backup "+inst.Name)
	waitFinished(t, r)
	if f := finishes(r); !strings.Contains(f, "backed up "+inst.Internal) || !strings.Contains(r.text(), "not yet offsite") || !strings.Contains(r.text(), "tried again in the background") {
		t.Fatalf("a backup while offsite is down:\n%s", r.text())
	}
	if got, _ := dispatch(t, ctx, a, "backups "+inst.Name); !strings.Contains(got.text(), "offsite copies unknown") {
		t.Errorf("backups while offsite is down does not say the copies are unknown:\n%s", got.text())
	}
	loop, stopLoop := context.WithCancel(ctx)
	defer stopLoop()
	a.StartOffsite(loop)
	if !waitFor(time.Minute, func() bool { return alerts.has("pushes in a row failed") }) {
		t.Fatalf("no alert while the storage is down; alerts: %q", alerts.texts)
	}
	s3.SetDown(false)
	if !waitFor(time.Minute, func() bool { return alerts.has("pushing again") }) {
		t.Fatalf("no recovery message once the storage is back; alerts: %q", alerts.texts)
	}
	stopLoop()
	// The retention keeps the newest backup of the day, here and
	// offsite: the second, now pushed; the first is gone from both.
	listing, err = a.Service.BackupPlaces(ctx, inst.Name)
	if err != nil || len(listing.Backups) != 1 || listing.Backups[0].ID == first || listing.Backups[0].Copy == nil || !listing.Backups[0].Local {
		t.Fatalf("after the outage: %+v, %v; want the second backup, here and offsite", listing, err)
	}
	second := listing.Backups[0].ID

	// Restored from offsite once gone from here.
	if err := os.RemoveAll(filepath.Join(backups, inst.Internal, second)); err != nil {
		t.Fatal(err)
	}
	setMarker("after")
	writeAttachment("attachment after")
	r, _ = dispatch(t, ctx, a, "restore "+inst.Name+" "+second)
	if !strings.Contains(r.private(), "fetched back from offsite first") {
		t.Errorf("the confirmation does not say the backup comes from offsite: %q", r.private())
	}
	c := confirmAndWait(t, ctx, a, r)
	if f := finishes(c); !strings.Contains(f, "restored "+inst.Internal) || !strings.Contains(c.text(), "✓ fetch") {
		t.Fatalf("restore from offsite:\n%s", c.text())
	}
	if got := marker(); got != "later" {
		t.Errorf("marker after the restore = %q, want later (the second backup's)", got)
	}
	if got := readFile(attachment); got != "attachment before" {
		t.Errorf("attachment after the restore = %q, want the backed-up content", got)
	}
	requireAnswers(t, ctx, inst)

	// A wrong password stops serve at start.
	wrong := filepath.Join(env.root, "wrong-password")
	if err := os.WriteFile(wrong, []byte("not the password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := env.command(ctx, odoobotBin(t), "serve")
	cmd.Env = append(cmd.Env, "OFFSITE_PASSWORD_FILE="+wrong)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 || !strings.Contains(string(out), "OFFSITE_PASSWORD_FILE") || strings.Contains(string(out), "serving") {
		t.Errorf("serve with a wrong password: %v\n%s", err, out)
	}
	for _, secret := range []string{offsitePassword, "not the password", s3double.SecretKey} {
		if strings.Contains(string(out), secret) || strings.Contains(r.text()+c.text(), secret) {
			t.Errorf("a secret (%q) was shown", secret)
		}
	}
}

// TestOffsiteKilledMidPush kills odoobot while restic uploads a
// backup's data: no snapshot is left, the local backup stands, the next
// start finishes the backup and its push, and the repository is found
// sound (restic check).
func TestOffsiteKilledMidPush(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	env.withBackupDir(t)
	s3 := env.withOffsite(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	inst := createReady(t, ctx, a, uniqueName(t, "kp"))

	s3.SetHang("data/")
	uploading := func() bool {
		for _, r := range s3.Requests() {
			if strings.HasPrefix(r, "PUT data/") {
				return true
			}
		}
		return false
	}
	runKilled(t, ctx, env, odoobotBin(t), killPoint{what: "an upload of the backup's data", cond: uploading, within: 2 * time.Minute}, "backup", inst.Name)
	s3.SetHang("")

	list, err := a.Service.Backups(ctx, inst.Name)
	if err != nil || len(list) != 1 || !list[0].Intact {
		t.Fatalf("the local backup after the kill: %+v, %v; want one, intact", list, err)
	}
	if copies := offsiteCopies(t, ctx, a, inst); len(copies) != 0 {
		t.Fatalf("copies after a killed push: %+v; want none", copies)
	}
	open, err := a.Store.OpenJobs(ctx)
	if err != nil || len(open) != 1 {
		t.Fatalf("open jobs after the kill: %+v, %v; want the backup", open, err)
	}
	// The next start finishes the backup, whose push completes.
	rec, said := recoverWithServe(t, ctx, env, a, odoobotBin(t), open[0])
	if rec.State != provision.JobSucceeded {
		t.Fatalf("the killed backup ended %s after the recovery:\n%s", rec.State, said)
	}
	requireSaysFinished(t, said, open[0])
	if copies := offsiteCopies(t, ctx, a, inst); len(copies) != 1 || copies[0].Backup != list[0].ID {
		t.Errorf("copies after the recovery: %+v; want the backup once", copies)
	}
	// The killed restic's lock is stale (its process is gone): unlock
	// removes only such locks, then check reads every pack.
	for _, args := range [][]string{{"unlock", "-q"}, {"check", "-q", "--no-cache"}} {
		cmd := exec.CommandContext(ctx, "restic", args...)
		cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=/nonexistent", "RESTIC_REPOSITORY=" + s3.Repository(), "RESTIC_PASSWORD_FILE=" + env.overrides["OFFSITE_PASSWORD_FILE"]}, s3.Env()...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("restic %s after the killed push: %v\n%s", args[0], err, out)
		}
	}
}

// offsiteCopies lists the instance's copies as the Service sees them.
func offsiteCopies(t *testing.T, ctx context.Context, a *app.App, inst provision.Instance) []provision.OffsiteCopy {
	t.Helper()
	l, err := a.Service.BackupPlaces(ctx, inst.Name)
	if err != nil || l.OffsiteProblem != "" {
		t.Fatalf("BackupPlaces: %v (%s)", err, l.OffsiteProblem)
	}
	var out []provision.OffsiteCopy
	for _, b := range l.Backups {
		if b.Copy != nil {
			out = append(out, *b.Copy)
		}
	}
	return out
}

// TestOffsiteRecoverOnAnEmptyServer: an instance backed up offsite and
// then gone from the server (deleted, its local backups with it) is
// served again by `odoobot recover` on a server whose state, instance
// root and BACKUP_DIR are new and empty, from the offsite repository
// alone: its data, its attachment, its domain through nginx.
func TestOffsiteRecoverOnAnEmptyServer(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	env.withBackupDir(t)
	env.withOffsite(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	inst := createReady(t, ctx, a, uniqueName(t, "rec"))
	db := connectDB(t, ctx, a, inst.Internal)
	if _, err := db.Exec(ctx, `INSERT INTO ir_config_parameter (key, value) VALUES ('e2e.marker', 'kept offsite')`); err != nil {
		t.Fatal(err)
	}
	db.Close(ctx)
	attachment := filepath.Join(a.Config.Layout().Paths(inst).DataDir, "filestore", inst.Internal, "ab", "abcdef0123")
	if err := os.MkdirAll(filepath.Dir(attachment), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(attachment, []byte("attachment kept offsite"), 0o640); err != nil {
		t.Fatal(err)
	}
	r, _ := dispatch(t, ctx, a, "backup "+inst.Name)
	waitFinished(t, r)
	if !strings.Contains(r.text(), "and offsite") {
		t.Fatalf("the backup is not offsite:\n%s", r.text())
	}
	// The server loses the instance: gone, its local backups with it.
	r, _ = dispatch(t, ctx, a, "delete "+inst.Name)
	if c := confirmAndWait(t, ctx, a, r); !strings.Contains(finishes(c), "deleted "+inst.Internal) {
		t.Fatalf("delete:\n%s", c.text())
	}

	// A new server: its own state database, instance root and BACKUP_DIR.
	fresh := newCreateEnv(t)
	fresh.withBackupDir(t)
	fresh.sameOffsite(t, env)
	out, err := fresh.command(ctx, odoobotBin(t), "recover", "--all").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "recovered "+inst.Name) || !strings.Contains(string(out), "✓ fetch") && !strings.Contains(string(out), "done fetch") {
		t.Fatalf("odoobot recover --all: %v\n%s", err, out)
	}
	logText(t, "odoobot recover --all:\n%s", out)
	b, _ := fresh.newApp(t, app.Options{})
	got, err := b.Store.Instance(ctx, inst.Name)
	if err != nil || got.State != provision.StateReady || got.Domain != inst.Domain || !got.Release.Known() {
		t.Fatalf("the recovered record: %+v, %v", got, err)
	}
	destroyLater(t, b, inst.Name)
	if v := configParam(t, ctx, b, got.Internal, "e2e.marker"); v != "kept offsite" {
		t.Errorf("the recovered database's marker = %q, want the backed-up one", v)
	}
	if v := readFile(filepath.Join(b.Config.Layout().Paths(got).DataDir, "filestore", got.Internal, "ab", "abcdef0123")); v != "attachment kept offsite" {
		t.Errorf("the recovered attachment = %q", v)
	}
	requireAnswers(t, ctx, got)
	resp, _, err := throughNginx(ctx, got.Domain)
	if err != nil || resp.StatusCode >= 500 {
		t.Errorf("%s through nginx: %v, %v", got.Domain, resp, err)
	}
	if out, err := fresh.command(ctx, odoobotBin(t), "recover", inst.Name).CombinedOutput(); err == nil || !strings.Contains(string(out), "exists") {
		t.Errorf("recovering an instance the server has: %v\n%s", err, out)
	}
}

// TestRecoverTakesOverTheLostServersDNSRecord: the record the lost
// server made for an instance stays in the zone. `recover NAME` on the
// new server refuses it, naming --take-over-dns, and leaves nothing
// (no instance, the record as it was); `recover NAME --take-over-dns`
// says where the record pointed and updates that very record to this
// server's mark, and the instance serves.
func TestRecoverTakesOverTheLostServersDNSRecord(t *testing.T) {
	env, cf, zone := dnsEnv(t)
	env.withBackupDir(t)
	env.withOffsite(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	inst := createReady(t, ctx, a, uniqueName(t, "tk"))
	r, _ := dispatch(t, ctx, a, "backup "+inst.Name)
	waitFinished(t, r)
	if !strings.Contains(r.text(), "and offsite") {
		t.Fatalf("the backup is not offsite:\n%s", r.text())
	}
	// The server is lost: nothing of the instance is left but its
	// record in the zone and its copy offsite.
	destroy(t, a, inst.Name)
	record := func() cftest.Record {
		t.Helper()
		for _, rec := range cf.Records() {
			if rec.Name == inst.Name+"."+zone {
				return rec
			}
		}
		t.Fatalf("no record of %s in the zone: %+v", inst.Name, cf.Records())
		return cftest.Record{}
	}
	old := record()
	if !strings.Contains(old.Comment, "server="+dnsServerID) {
		t.Fatalf("the lost server's record: %+v", old)
	}

	fresh := newCreateEnv(t)
	fresh.withBackupDir(t)
	fresh.sameOffsite(t, env)
	fresh.set(t, "ODOOBOT_SERVER_ID", "e2e-new")
	out, err := fresh.command(ctx, odoobotBin(t), "recover", inst.Name).CombinedOutput()
	logText(t, "odoobot recover %s:\n%s", inst.Name, out)
	if err == nil || !strings.Contains(string(out), "--take-over-dns") {
		t.Fatalf("recover without --take-over-dns: %v, want refused naming the flag", err)
	}
	b, _ := fresh.newApp(t, app.Options{})
	destroyLater(t, b, inst.Name)
	if _, err := b.Store.Instance(ctx, inst.Name); !errors.Is(err, provision.ErrInstanceNotFound) {
		t.Errorf("a refused recovery left the instance: %v", err)
	}
	if got := record(); got != old {
		t.Errorf("a refused recovery changed the record:\n%+v\nwas\n%+v", got, old)
	}

	out, err = fresh.command(ctx, odoobotBin(t), "recover", inst.Name, "--take-over-dns").CombinedOutput()
	logText(t, "odoobot recover %s --take-over-dns:\n%s", inst.Name, out)
	if err != nil || !strings.Contains(string(out), "recovered "+inst.Name) || !strings.Contains(string(out), "took over the record of "+inst.Domain) {
		t.Fatalf("recover --take-over-dns: %v", err)
	}
	got := record()
	if got.ID != old.ID || got.Comment != "managed-by: odoobot server=e2e-new instance="+inst.Name || got.Content != "127.0.0.1" {
		t.Errorf("the record after the take-over: %+v, want record %s with the new server's mark", got, old.ID)
	}
	rec, err := b.Store.Instance(ctx, inst.Name)
	if err != nil || rec.State != provision.StateReady {
		t.Fatalf("the recovered record: %+v, %v", rec, err)
	}
	requireAnswers(t, ctx, rec)
}
