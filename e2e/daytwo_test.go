package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"odoobot/internal/app"
	"odoobot/provision"
	"odoobot/provision/cloudflare/cftest"
)

// The day-two tests (TestDayTwo*) run backup, backups, restore and delete
// through the dispatcher, as an admin would from chat, against real
// instances of the stand-in Odoo in the sandbox host.

// withBackupDir gives the test its own BACKUP_DIR under its root.
func (e *createEnv) withBackupDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(e.root, "backups")
	e.overrides["BACKUP_DIR"] = dir
	t.Setenv("BACKUP_DIR", dir)
	return dir
}

// confirmAndWait confirms the action r asked for and waits for the job's
// thread to finish; it returns what the confirmation answered.
func confirmAndWait(t *testing.T, ctx context.Context, a *app.App, r *recorder) *recorder {
	t.Helper()
	code := r.lastCode()
	if code == "" {
		t.Fatalf("no confirmation was asked for:\n%s", r.text())
	}
	c, task := dispatch(t, ctx, a, "confirm "+code)
	if task != nil {
		task.Wait(ctx)
	}
	return waitFinished(t, c)
}

// waitFinished waits for the thread of r to be finished.
func waitFinished(t *testing.T, r *recorder) *recorder {
	t.Helper()
	if !waitFor(4*time.Minute, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.finishes) > 0 || len(r.privates) > 0
	}) {
		t.Fatalf("the job's thread never finished:\n%s", r.text())
	}
	return r
}

func finishes(r *recorder) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.finishes, "\n")
}

// TestDayTwoDeleteOneOfTwo deletes one of two instances that have DNS
// records in the fake Cloudflare: every trace of it goes, its final
// backup stays, and the other instance, nginx and the zone apex are
// untouched.
func TestDayTwoDeleteOneOfTwo(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	backups := env.withBackupDir(t)
	zone := os.Getenv("CF_ZONE_NAME")
	cf := cftest.New(zone, "e2e-token")
	t.Setenv("CF_API_BASE_URL", cf.Start())
	t.Cleanup(cf.Close)
	t.Setenv("CF_API_TOKEN", "e2e-token")
	t.Setenv("PUBLIC_IP", "127.0.0.1")
	apex := cf.AddRecord(cftest.Record{Type: "A", Name: zone, Content: "192.0.2.10", Comment: "the company site"})

	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	keep := createReady(t, ctx, a, uniqueName(t, "keep"))
	gone := createReady(t, ctx, a, uniqueName(t, "gone"))

	goneRecs := recordsOf(cf, gone.Domain)
	if len(goneRecs) == 0 {
		t.Fatalf("no DNS record for %s after its creation: %+v", gone.Domain, cf.Records())
	}
	goneRec := goneRecs[0]
	if len(recordsOf(cf, keep.Domain)) == 0 {
		t.Fatalf("no DNS record for %s after its creation", keep.Domain)
	}
	before := cf.RequestCount()

	r, _ := dispatch(t, ctx, a, "delete "+gone.Name)
	if r.lastCode() == "" {
		t.Fatalf("delete did not ask for a confirmation:\n%s", r.text())
	}
	if !strings.Contains(r.private(), "final backup") {
		t.Errorf("the confirmation prompt does not mention the final backup: %q", r.private())
	}
	if _, err := a.Store.Instance(ctx, gone.Name); err != nil {
		t.Fatalf("delete ran before it was confirmed: %v", err)
	}
	requireAnswers(t, ctx, gone)

	c := confirmAndWait(t, ctx, a, r)
	if f := finishes(c); !strings.Contains(f, "deleted "+gone.Internal) {
		t.Fatalf("delete did not finish as deleted:\n%s", c.text())
	}
	thread := c.text()
	for _, step := range []string{"backup", "dns", "nginx", "service", "database", "files", "tracking"} {
		if !strings.Contains(thread, "✓ "+step) {
			t.Errorf("the thread lacks step %s:\n%s", step, thread)
		}
	}

	requireGone(t, ctx, a, gone.Name)
	requireNginxTestPasses(t)
	requireAnswers(t, ctx, keep)
	requireNoRecord(t, cf, gone.Domain)
	if len(recordsOf(cf, keep.Domain)) == 0 {
		t.Errorf("the DNS record of %s was removed too", keep.Domain)
	}
	if got := recordsOf(cf, zone); len(got) == 0 || got[0].ID != apex.ID || got[0].Content != apex.Content {
		t.Errorf("the zone apex record changed: %+v, was %+v", got, apex)
	}
	deletes := 0
	for _, req := range cf.Requests()[before:] {
		if req.Method == http.MethodGet {
			continue
		}
		if req.Method != http.MethodDelete || !strings.HasSuffix(req.Path, "/"+goneRec.ID) {
			t.Errorf("the delete sent %s %s to Cloudflare; want only DELETE of %s's record", req.Method, req.Path, gone.Domain)
			continue
		}
		deletes++
	}
	if deletes != 1 {
		t.Errorf("%d DELETE requests for %s's record, want 1", deletes, gone.Domain)
	}

	// The final backup outlives the instance.
	list, _ := dispatch(t, ctx, a, "backups "+gone.Name)
	if got := list.text(); !strings.Contains(got, "final") || !strings.Contains(got, "intact") {
		t.Errorf("backups %s after the delete:\n%s", gone.Name, got)
	}
	if entries, err := os.ReadDir(filepath.Join(backups, gone.Internal)); err != nil || len(entries) != 1 {
		t.Errorf("backup directory of %s: %v, %v; want one final backup", gone.Internal, entries, err)
	}
	if got, _ := dispatch(t, ctx, a, "delete "+gone.Name); !strings.Contains(got.private(), "no instance named") {
		t.Errorf("a second delete answered:\n%s", got.text())
	}
}

// TestDayTwoBackupRestore backs an instance up, changes its data and
// files, restores the backup and finds them back; a corrupted backup is
// refused before the service is stopped.
func TestDayTwoBackupRestore(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	backups := env.withBackupDir(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	inst := createReady(t, ctx, a, uniqueName(t, "bk"))
	db := connectDB(t, ctx, a, inst.Internal)
	setMarker := markerSetter(t, ctx, db)
	marker := func() string { return configParam(t, ctx, a, inst.Internal, "e2e.marker") }
	fs := filepath.Join(a.Config.Layout().Paths(inst).DataDir, "filestore", inst.Internal)
	attachment := filepath.Join(fs, "ab", "abcdef0123")
	added := filepath.Join(fs, "cd", "cdef456789")
	write := func(path, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	setMarker("before")
	write(attachment, "attachment before")

	r, _ := dispatch(t, ctx, a, "backup "+inst.Name)
	waitFinished(t, r)
	if f := finishes(r); !strings.Contains(f, "backed up "+inst.Internal) {
		t.Fatalf("backup did not succeed:\n%s", r.text())
	}
	bl, err := a.Service.Backups(ctx, inst.Name)
	if err != nil || len(bl) != 1 {
		t.Fatalf("Backups: %v, %v; want one", bl, err)
	}
	b := bl[0]
	for _, f := range []string{"manifest.json", "database.dump", "filestore.tar.gz", "odoo.conf"} {
		st, err := os.Stat(filepath.Join(b.Dir, f))
		if err != nil {
			t.Errorf("backup lacks %s: %v", f, err)
		} else if st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is mode %v: a backup holds secrets, want no access for others", f, st.Mode().Perm())
		}
	}
	if filepath.Dir(b.Dir) != filepath.Join(backups, inst.Internal) || b.OdooRelease == "" || b.BotVersion == "" || len(b.Files) != 3 {
		t.Errorf("backup %+v: want it under %s with the release, the version and three files", b, filepath.Join(backups, inst.Internal))
	}
	if err := a.Service.VerifyBackup(b); err != nil {
		t.Errorf("VerifyBackup of a fresh backup: %v", err)
	}
	if got, _ := dispatch(t, ctx, a, "backups "+inst.Name); !strings.Contains(got.text(), b.ID) || !strings.Contains(got.text(), "intact") {
		t.Errorf("backups answered:\n%s", got.text())
	}

	setMarker("after")
	write(attachment, "attachment after")
	write(added, "added after the backup")

	r, _ = dispatch(t, ctx, a, "restore "+inst.Name+" "+b.ID)
	if marker() != "after" {
		t.Fatalf("restore ran before it was confirmed")
	}
	c := confirmAndWait(t, ctx, a, r)
	if f := finishes(c); !strings.Contains(f, "restored "+inst.Internal) {
		t.Fatalf("restore did not succeed:\n%s", c.text())
	}
	if got := marker(); got != "before" {
		t.Errorf("marker after the restore = %q, want before", got)
	}
	if got := readFile(attachment); got != "attachment before" {
		t.Errorf("attachment after the restore = %q, want the backed-up content", got)
	}
	if _, err := os.Stat(added); err == nil {
		t.Errorf("%s, added after the backup, is still there", added)
	}
	requireAnswers(t, ctx, inst)
	for _, leftover := range []string{inst.Internal + "_restore", inst.Internal + "_old"} {
		if databaseExists(t, ctx, a, leftover) {
			t.Errorf("database %s is left over", leftover)
		}
	}
	bl, _ = a.Service.Backups(ctx, inst.Name)
	if len(bl) != 2 || bl[0].Reason != provision.ReasonSafety {
		t.Errorf("backups after the restore: %+v; want the safety backup and the first", bl)
	}

	t.Run("corrupted backup refused", func(t *testing.T) {
		db := connectDB(t, ctx, a, inst.Internal)
		if _, err := db.Exec(ctx, `UPDATE ir_config_parameter SET value = 'untouched' WHERE key = 'e2e.marker'`); err != nil {
			t.Fatal(err)
		}
		dump := filepath.Join(b.Dir, "database.dump")
		raw, err := os.ReadFile(dump)
		if err != nil {
			t.Fatal(err)
		}
		raw[len(raw)/2] ^= 0xff // same size, another checksum
		if err := os.WriteFile(dump, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := a.Services.Status(ctx, inst.Unit)
		if err != nil || !st.Running() {
			t.Fatalf("status before: %+v, %v", st, err)
		}
		count := len(bl)
		r, _ := dispatch(t, ctx, a, "restore "+inst.Name+" "+b.ID)
		c := confirmAndWait(t, ctx, a, r)
		if f := finishes(c); !strings.Contains(f, "failed") || !strings.Contains(c.text(), "checksum mismatch") {
			t.Errorf("a corrupted backup was not refused for its checksum:\n%s", c.text())
		}
		if strings.Contains(c.text(), "✓ "+string(provision.StepCheck)) || strings.Contains(c.text(), string(provision.StepSwap)) {
			t.Errorf("the restore went past the verification:\n%s", c.text())
		}
		after, err := a.Services.Status(ctx, inst.Unit)
		if err != nil || !after.Running() || after.MainPID != st.MainPID {
			t.Errorf("the service was touched: %+v (PID was %d), %v", after, st.MainPID, err)
		}
		if got := configParam(t, ctx, a, inst.Internal, "e2e.marker"); got != "untouched" {
			t.Errorf("the data changed: marker %q", got)
		}
		if now, _ := a.Service.Backups(ctx, inst.Name); len(now) != count {
			t.Errorf("%d backups after a refused restore, want %d (no safety backup)", len(now), count)
		}
		requireAnswers(t, ctx, inst)
	})
}

// TestDayTwoDeleteKilledAndRunAgain kills the odoobot binary in the middle
// of a delete, once before its commit step (the drop of the database)
// and once after it: the next odoobot puts the first instance back as it
// was, serving, and finishes the delete of the second; a delete asked
// again then removes the first.
func TestDayTwoDeleteKilledAndRunAgain(t *testing.T) {
	needSandbox(t)
	bin := odoobotBin(t)
	env := newCreateEnv(t)
	env.withBackupDir(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	keep := createReady(t, ctx, a, uniqueName(t, "keep"))
	before := createReady(t, ctx, a, uniqueName(t, "kbef"))
	after := createReady(t, ctx, a, uniqueName(t, "kaft"))

	// Killed as the service stops: the backup is taken, nothing removed.
	job, _ := killedAt(t, ctx, env, a, bin, before.Name, provision.StepStop, "delete", before.Name, "--yes")
	if got, err := a.Store.Instance(ctx, before.Name); err != nil || got.State != provision.StateDeleting {
		t.Errorf("after the kill: %+v, %v; want the instance in state deleting", got, err)
	}
	rec, said := recoverWithServe(t, ctx, env, a, bin, job)
	if rec.State == provision.JobSucceeded {
		t.Errorf("a delete killed before its commit was recorded as succeeded:\n%s", said)
	}
	if got, err := a.Store.Instance(ctx, before.Name); err != nil || got.State != provision.StateReady {
		t.Errorf("after the recovery: %+v, %v; want the instance ready again", got, err)
	}
	if !databaseExists(t, ctx, a, before.Internal) {
		t.Errorf("the recovery lost the database of %s", before.Name)
	}
	requireAnswers(t, ctx, before)

	// Killed as the unit is removed, after the database was dropped: the
	// next odoobot finishes the delete.
	log := jobLog(a, provision.JobDelete, after)
	out := runKilled(t, ctx, env, bin, whenLogShows(log, "… "+string(provision.StepService), 3*time.Minute), "delete", after.Name, "--yes")
	job = requireOpenJob(t, ctx, a, after.Name, out)
	t.Logf("delete log at the kill:\n%s", readFile(log))
	if databaseExists(t, ctx, a, after.Internal) {
		t.Errorf("the kill came before the database was dropped")
	}
	_, said = recoverWithServe(t, ctx, env, a, bin, job)
	requireSaysFinished(t, said, job)
	requireGone(t, ctx, a, after.Name)

	got, err := env.command(ctx, bin, "delete", before.Name, "--yes").CombinedOutput()
	if err != nil {
		t.Fatalf("the delete asked again: %v\n%s", err, got)
	}
	if !strings.Contains(string(got), "deleted "+before.Internal) {
		t.Errorf("the delete asked again did not report the end:\n%s", got)
	}
	requireGone(t, ctx, a, before.Name)
	requireNginxTestPasses(t)
	requireAnswers(t, ctx, keep)
}

// TestDayTwoRestoreKilledIsRolledBack kills `odoobot restore` after it
// swapped the restored database in, while the service starts again; the
// next odoobot puts the instance back as it was before the restore.
func TestDayTwoRestoreKilledIsRolledBack(t *testing.T) {
	needSandbox(t)
	bin := odoobotBin(t)
	env := newCreateEnv(t)
	env.withBackupDir(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	inst := createReady(t, ctx, a, uniqueName(t, "rk"))
	backup := markedBackup(t, ctx, a, inst)

	log := jobLog(a, provision.JobRestore, inst)
	out := runKilled(t, ctx, env, bin, whenLogShows(log, "… "+string(provision.StepStart), 3*time.Minute), "restore", inst.Name, backup.ID, "--yes")
	job := requireOpenJob(t, ctx, a, inst.Name, out)
	t.Logf("restore log at the kill:\n%s", readFile(log))
	if !databaseExists(t, ctx, a, inst.Internal+"_old") {
		t.Fatalf("the kill did not land after the swap: no %s_old", inst.Internal)
	}

	recoverWithServe(t, ctx, env, a, bin, job)
	if v := configParam(t, ctx, a, inst.Internal, "e2e.marker"); v != "live before the restore" {
		t.Errorf("after the recovery the database holds %q, want the one from before the restore", v)
	}
	for _, leftover := range []string{inst.Internal + "_restore", inst.Internal + "_old"} {
		if databaseExists(t, ctx, a, leftover) {
			t.Errorf("database %s is left over", leftover)
		}
	}
	requireAnswers(t, ctx, inst)
}

// TestDayTwoDeleteWithoutDatabase deletes an instance whose database was
// dropped behind odoobot's back: the thread says no final backup was
// taken, rather than showing one, and the delete finishes.
func TestDayTwoDeleteWithoutDatabase(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	env.withBackupDir(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	inst := createReady(t, ctx, a, uniqueName(t, "nodb"))
	if err := dropDatabase(ctx, a, inst.Internal); err != nil {
		t.Fatal(err)
	}
	r, _ := dispatch(t, ctx, a, "delete "+inst.Name)
	c := confirmAndWait(t, ctx, a, r)
	if f := finishes(c); !strings.Contains(f, "deleted "+inst.Internal) {
		t.Fatalf("delete did not finish:\n%s", c.text())
	}
	if !strings.Contains(c.text(), "no final backup: database "+inst.Internal+" is already gone") {
		t.Errorf("the thread does not say that no final backup was taken:\n%s", c.text())
	}
	if bl, err := a.Service.Backups(ctx, inst.Name); err != nil || len(bl) != 0 {
		t.Errorf("backups after the delete: %+v, %v; want none", bl, err)
	}
	requireGone(t, ctx, a, inst.Name)
}
