package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"odoobot/internal/nofollow"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/internal/app"
	"odoobot/provision"
	"odoobot/provision/hostfacts"
	"odoobot/provision/probe"
)

// TestCapacityGuard: with a capacity model no host can satisfy, a
// creation is refused with the numbers and leaves nothing (no job, no
// row, no directory); with the default model the same creation runs, and
// capacity then shows the instance's memory.
func TestCapacityGuard(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	facts, err := hostfacts.Read("/var/lib/odoobot-sandbox")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("INSTANCE_MEMORY_MB", fmt.Sprint(facts.MemTotal>>20+1))
	full, closeFull := env.newApp(t, app.Options{})

	name := uniqueName(t, "cap")
	r, task := dispatch(t, ctx, full, "create "+name+" http")
	if task != nil {
		task.Wait(ctx)
		t.Fatalf("create under an absurd capacity model was accepted:\n%s", r.text())
	}
	refusal := r.private()
	for _, want := range []string{
		fmt.Sprintf("this host has %s of memory", provision.GiB(facts.MemTotal)),
		"0 instances take 0.0 GiB", "a 1st would exceed it", "INSTANCE_MEMORY_MB=",
	} {
		if !strings.Contains(refusal, want) {
			t.Errorf("the refusal lacks %q: %q", want, refusal)
		}
	}
	if _, err := full.Store.Instance(ctx, name); !errors.Is(err, provision.ErrInstanceNotFound) {
		t.Errorf("the refused creation left a store row: %v", err)
	}
	if j, ok, err := full.Store.ActiveJob(ctx, name); err != nil || ok {
		t.Errorf("the refused creation left a job: %+v %v %v", j, ok, err)
	}
	if open, err := full.Store.OpenJobs(ctx); err != nil || len(open) != 0 {
		t.Errorf("open jobs after a refusal: %+v %v", open, err)
	}
	if _, err := os.Stat(filepath.Join(full.Config.ProdRoot, provision.InternalName(name))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused creation left a directory: %v", err)
	}

	closeFull()
	os.Unsetenv("INSTANCE_MEMORY_MB") // t.Setenv above restores it at the end
	a, _ := env.newApp(t, app.Options{})
	destroyLater(t, a, name)
	createReady(t, ctx, a, name)

	r, _ = dispatch(t, ctx, a, "capacity")
	out := r.text()
	if !strings.Contains(out, "instances  1 now") || !strings.Contains(out, "free under "+a.Config.ProdRoot) {
		t.Errorf("capacity:\n%s", out)
	}
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, name+" ") {
			line = l
		}
	}
	if !strings.Contains(line, "ready") || !strings.HasSuffix(line, " MiB") {
		t.Errorf("capacity shows no memory use for %s (line %q):\n%s", name, line, out)
	}
}

// TestImportAPIDEVInstance makes an instance odoobot does not know, laid
// out as API-DEV does (a created instance whose store row is removed, and
// API-DEV's tracking files), imports it with `odoobot import`, and runs
// the day-to-day verbs on it.
func TestImportAPIDEVInstance(t *testing.T) {
	needSandbox(t)
	bin := odoobotBin(t)
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	name := uniqueName(t, "imp")
	made := createReady(t, ctx, a, name)
	// API-DEV's instances run as the service user on the shared role.
	makeShared(t, ctx, a, made)
	// API-DEV's databases carry no odoobot marker: remove it.
	db := connectDB(t, ctx, a, made.Internal)
	if _, err := db.Exec(ctx, `DELETE FROM ir_config_parameter WHERE key = 'odoobot.template'`); err != nil {
		t.Fatal(err)
	}
	db.Close(ctx)
	if err := a.Store.ReleaseInstance(ctx, name); err != nil {
		t.Fatal(err)
	}
	r, _ := dispatch(t, ctx, a, "list")
	if strings.Contains(r.text(), name) {
		t.Fatalf("list shows %s after its row was removed:\n%s", name, r.text())
	}
	apidev := apidevTracking(t, env, made)

	odoobot := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, bin, append([]string{"--env-file", "/dev/null", "import", "--tracking-dir", apidev}, args...)...)
		cmd.Env = os.Environ()
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return strings.Join(strings.Fields(out.String()), " "), err
	}
	row := fmt.Sprintf("%s %s %d %d http", name, made.Domain, made.Ports.HTTP, made.Ports.Gevent)
	out, err := odoobot("--dry-run")
	if err != nil || !strings.Contains(out, row) || !strings.Contains(out, "would import") {
		t.Fatalf("import --dry-run: %v\n%s", err, out)
	}
	if _, err := a.Store.Instance(ctx, name); !errors.Is(err, provision.ErrInstanceNotFound) {
		t.Fatalf("the dry run recorded %s: %v", name, err)
	}
	out, err = odoobot()
	if err != nil || !strings.Contains(out, "imported") || !strings.Contains(out, "1 imported, 0 already recorded, 0 not imported") {
		t.Fatalf("import: %v\n%s", err, out)
	}
	t.Logf("odoobot import: %s", out)
	if want := "1 instance still runs on odoobot's own database role " + a.Config.DBUser; !strings.Contains(out, want) || !strings.Contains(out, "odoobot isolate NAME --yes") {
		t.Errorf("import does not say that %s shares odoobot's role and how to isolate it (%q):\n%s", name, want, out)
	}
	got, err := a.Store.Instance(ctx, name)
	if err != nil {
		t.Fatalf("%s after the import: %v", name, err)
	}
	if got.Ports != made.Ports || got.State != provision.StateReady || got.SSLMode != provision.SSLHTTP || got.Unit != made.Unit {
		t.Errorf("imported %+v, made %+v", got, made)
	}

	r, _ = dispatch(t, ctx, a, "list")
	if !strings.Contains(r.text(), name) {
		t.Errorf("list does not show the imported %s:\n%s", name, r.text())
	}
	if !strings.Contains(r.text(), "on odoobot's role") || !strings.Contains(r.text(), "odoobot isolate NAME --yes") {
		t.Errorf("list does not say that the imported %s runs on odoobot's role, and how to isolate it:\n%s", name, r.text())
	}
	r, _ = dispatch(t, ctx, a, "status "+name)
	if !strings.Contains(r.text(), "healthy") || !strings.Contains(r.text(), fmt.Sprintf("http %d", made.Ports.HTTP)) {
		t.Errorf("status of the imported %s:\n%s", name, r.text())
	}
	before, err := a.Services.Status(ctx, made.Unit)
	if err != nil {
		t.Fatal(err)
	}
	r, _ = dispatch(t, ctx, a, "restart "+name)
	if !strings.Contains(r.text(), name+" restarted") {
		t.Fatalf("restart of the imported %s:\n%s", name, r.text())
	}
	after, err := a.Services.Status(ctx, made.Unit)
	if err != nil {
		t.Fatal(err)
	}
	if !after.Running() || after.MainPID == before.MainPID {
		t.Errorf("after restart: %+v (before: pid %d)", after, before.MainPID)
	}
	requireAnswers(t, ctx, got)

	// A backup of the imported instance, like any other's.
	t.Cleanup(func() { os.RemoveAll(filepath.Join(a.Config.BackupDir, got.Internal)) })
	task, err := a.Service.Backup(ctx, provision.JobRequest{Name: name, By: "e2e"})
	requireSucceeded(t, ctx, "backup of the imported "+name, task, err)
	if list, err := a.Service.Backups(ctx, name); err != nil || len(list) != 1 || !list[0].Intact {
		t.Errorf("backups of the imported %s: %+v, %v", name, list, err)
	}

	out, _ = odoobot()
	if !strings.Contains(out, "skipped: already recorded by odoobot") {
		t.Errorf("a second import did not skip %s:\n%s", name, out)
	}
	if got.User != "" || got.DBRole != "" {
		t.Errorf("the imported %s records user %q and role %q: it keeps running as it did", name, got.User, got.DBRole)
	}

	// isolate moves it to a user and role of its own; a failure at its
	// last step puts everything back, and it still serves.
	isolate := func(failAt string) (string, error) {
		cmd := exec.CommandContext(ctx, bin, "--env-file", "/dev/null", "isolate", name, "--yes")
		cmd.Env = append(os.Environ(), "ODOOBOT_FAIL_AT="+failAt)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := isolate("store"); err == nil || !strings.Contains(out, "isolate "+name+" failed at step store and was undone") {
		t.Fatalf("isolate with a failure injected at its last step: %v\n%s", err, out)
	}
	layout := a.Config.Layout()
	own := layout.NewInstance(name, provision.SSLHTTP)
	if _, err := user.Lookup(own.User); err == nil {
		t.Errorf("the failed isolate left system user %s", own.User)
	}
	if back, err := a.Store.Instance(ctx, name); err != nil || back.User != "" || back.DBRole != "" {
		t.Errorf("after the failed isolate the store has %+v, %v; want no user or role of its own", back, err)
	}
	if conf := readOdooConf(t, layout.Paths(made).Conf); conf["db_user"] != a.Config.DBUser {
		t.Errorf("the failed isolate left odoo.conf with db_user %q", conf["db_user"])
	}
	requireAnswers(t, ctx, got)
	out2, err := isolate("")
	if err != nil || !strings.Contains(out2, "now runs as system user "+own.User) {
		t.Fatalf("isolate: %v\n%s", err, out2)
	}
	t.Logf("odoobot isolate: %s", out2)
	if want := "No instance shares odoobot's database role " + a.Config.DBUser + " any more"; !strings.Contains(out2, want) || !strings.Contains(out2, "DB_PASSWORD") {
		t.Errorf("after the last isolate, odoobot does not say that its role's password must change (%q):\n%s", want, out2)
	}
	isolated, err := a.Store.Instance(ctx, name)
	if err != nil || isolated.User != own.User || isolated.DBRole != own.DBRole {
		t.Fatalf("after isolate the store has %+v, %v", isolated, err)
	}
	if r, _ := dispatch(t, ctx, a, "list"); strings.Contains(r.text(), "odoobot's role") {
		t.Errorf("list still says an instance runs on odoobot's role after the isolate:\n%s", r.text())
	}
	// Its unit now binds only its own two ports.
	unit := readFile(a.Config.Layout().Paths(isolated).Unit)
	for _, l := range []string{fmt.Sprintf("SocketBindAllow=tcp:%d", isolated.Ports.HTTP), fmt.Sprintf("SocketBindAllow=tcp:%d", isolated.Ports.Gevent), "SocketBindDeny=any"} {
		if strings.Count(unit, "\n"+l+"\n") != 1 {
			t.Errorf("the isolated unit has %d lines %s, want one:\n%s", strings.Count(unit, "\n"+l+"\n"), l, unit)
		}
	}
	other := createReady(t, ctx, a, uniqueName(t, "imp-b"))
	destroyLater(t, a, other.Name)
	requireTenantsApart(t, ctx, a, isolated, other)

	// Deleted like any other: its database, which carries no odoobot
	// marker, goes too, because the store vouches for it.
	task, err = a.Service.Delete(ctx, provision.JobRequest{Name: name, By: "e2e"})
	requireSucceeded(t, ctx, "delete of the imported "+name, task, err)
	requireGone(t, ctx, a, name)
}

// apidevTracking writes API-DEV's tracking files naming an instance
// (its name, and its two ports on one line) into a directory of the test
// and returns that directory, for `odoobot import --tracking-dir`.
func apidevTracking(t *testing.T, env *createEnv, made provision.Instance) string {
	t.Helper()
	dir := filepath.Join(env.root, "api-dev", "data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for file, content := range map[string]string{
		provision.TrackingInstancesFile: made.Internal + "\n",
		provision.TrackingPortsFile:     fmt.Sprintf("%d %d\n", made.Ports.HTTP, made.Ports.Gevent),
	} {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// makeImported makes an instance odoobot made into one as `odoobot
// import` records API-DEV's (makeShared, and no user or role of its own
// in the store), and returns the store's record of it.
func makeImported(t *testing.T, ctx context.Context, a *app.App, made provision.Instance) provision.Instance {
	t.Helper()
	makeShared(t, ctx, a, made)
	if err := a.Store.SetTenant(ctx, made.Name, "", ""); err != nil {
		t.Fatal(err)
	}
	inst, err := a.Store.Instance(ctx, made.Name)
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

// makeShared turns an instance odoobot made into one as API-DEV made
// them: running as the service user, its odoo.conf naming odoobot's
// role, its database and files the shared role's and user's; its own
// user and role gone.
func makeShared(t *testing.T, ctx context.Context, a *app.App, inst provision.Instance) {
	t.Helper()
	p := a.Config.Layout().Paths(inst)
	if err := a.Services.Stop(ctx, inst.Unit); err != nil {
		t.Fatal(err)
	}
	unit := strings.NewReplacer("User="+inst.User+"\n", "User="+a.Config.ServiceUser+"\n", "Group="+inst.User+"\n", "Group="+a.Config.ServiceUser+"\n",
		// API-DEV's units bind any port.
		fmt.Sprintf("SocketBindAllow=tcp:%d\n", inst.Ports.HTTP), "", fmt.Sprintf("SocketBindAllow=tcp:%d\n", inst.Ports.Gevent), "", "SocketBindDeny=any\n", "").Replace(readFile(p.Unit))
	if err := a.Services.Install(ctx, p.Unit, []byte(unit)); err != nil {
		t.Fatal(err)
	}
	var conf []string
	for _, l := range lines(readFile(p.Conf)) {
		switch {
		case strings.HasPrefix(l, "db_user"):
			l = "db_user = " + a.Config.DBUser
		case strings.HasPrefix(l, "db_password"):
			l = "db_password = " + a.Config.DBPassword.Reveal()
		}
		conf = append(conf, l)
	}
	if err := os.WriteFile(p.Conf, []byte(strings.Join(conf, "\n")+"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	db := connectDB(t, ctx, a, inst.Internal)
	for _, q := range []string{
		"REASSIGN OWNED BY " + pgx.Identifier{inst.DBRole}.Sanitize() + " TO " + pgx.Identifier{a.Config.DBUser}.Sanitize(),
		"GRANT CONNECT, TEMPORARY ON DATABASE " + pgx.Identifier{inst.Internal}.Sanitize() + " TO PUBLIC",
	} {
		if _, err := db.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close(ctx)
	admin := connectDB(t, ctx, a, "postgres")
	if _, err := admin.Exec(ctx, "DROP ROLE "+pgx.Identifier{inst.DBRole}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.CommandContext(ctx, "chown", "-R", a.Config.ServiceUser+":"+a.Config.ServiceUser, p.Dir).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v: %s", err, out)
	}
	if out, err := exec.CommandContext(ctx, "userdel", inst.User).CombinedOutput(); err != nil {
		t.Fatalf("userdel: %v: %s", err, out)
	}
	if err := a.Services.Start(ctx, inst.Unit); err != nil {
		t.Fatal(err)
	}
	if err := provision.WaitHealthy(ctx, probe.Health{}, inst.Ports.HTTP, time.Minute, provision.LogTail{Path: p.Log, Lines: func(_ context.Context, n int) []string { return nofollow.Tail(p.Log, n) }}); err != nil {
		t.Fatalf("the shared instance does not start: %v", err)
	}
}
