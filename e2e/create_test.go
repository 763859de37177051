package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/bot/shell"
	"odoobot/commands"
	"odoobot/internal/app"
	"odoobot/provision"
	"odoobot/provision/nginx"
)

// TestCreateTwoAtOnceAndOperate creates two instances at the same time,
// checks each is served, by its own Host, from its own database cloned
// from one template, then runs the day-to-day verbs on them through the
// dispatcher as an operator would from chat.
func TestCreateTwoAtOnceAndOperate(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	names := []string{uniqueName(t, "two-a"), uniqueName(t, "two-b")}
	recs := make([]*recorder, 2)
	jobs := make([]provision.Job, 2)
	errs := make([]error, 2)
	for _, n := range names {
		destroyLater(t, a, n)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Go(func() {
			r := &recorder{}
			recs[i] = r
			task, err := a.Dispatcher.Handle(ctx, commands.Request{Identity: shell.Identity(), Channel: "e2e", Text: "create " + n + " http"}, r)
			if err != nil {
				errs[i] = err
				return
			}
			if task == nil {
				errs[i] = fmt.Errorf("not accepted: %s", r.text())
				return
			}
			jobs[i], errs[i] = task.Wait(ctx)
		})
	}
	wg.Wait()
	t.Logf("two creations at once took %v", time.Since(start).Round(time.Millisecond))
	layout := a.Config.Layout()
	insts := make([]provision.Instance, 2)
	for i, n := range names {
		if errs[i] != nil || jobs[i].State != provision.JobSucceeded {
			log := readFile(layout.Paths(layout.NewInstance(n, provision.SSLHTTP)).CreateLog)
			t.Fatalf("create %s: job %q, %v\nthread:\n%s\ncreation log:\n%s", n, jobs[i].State, errs[i], recs[i].text(), log)
		}
		inst, err := a.Store.Instance(ctx, n)
		if err != nil {
			t.Fatalf("store: %s: %v", n, err)
		}
		if inst.State != provision.StateReady {
			t.Errorf("%s is %s, want ready", n, inst.State)
		}
		insts[i] = inst
	}

	t.Run("served", func(t *testing.T) {
		for _, inst := range insts {
			requireAnswers(t, ctx, inst)
		}
		ports := []int{insts[0].Ports.HTTP, insts[0].Ports.Gevent, insts[1].Ports.HTTP, insts[1].Ports.Gevent}
		if slices.Contains(ports, 0) || len(slices.Compact(slices.Sorted(slices.Values(ports)))) != 4 {
			t.Errorf("ports %v: want four distinct ports", ports)
		}
		var pids []uint32
		for _, inst := range insts {
			st, err := a.Services.Status(ctx, inst.Unit)
			if err != nil {
				t.Fatalf("status %s: %v", inst.Unit, err)
			}
			if !st.Running() || st.MainPID == 0 {
				t.Errorf("%s: %+v, want active with a PID", inst.Unit, st)
			}
			pids = append(pids, st.MainPID)
		}
		if insts[0].Unit == insts[1].Unit || pids[0] == pids[1] {
			t.Errorf("units %s (PID %d) and %s (PID %d): want two distinct services", insts[0].Unit, pids[0], insts[1].Unit, pids[1])
		}
		for _, inst := range insts {
			if line := trackingLine(a, inst.Internal); line == "" {
				t.Errorf("the tracking files do not list %s:\n%s", inst.Internal, readFile(filepath.Join(a.Config.TrackingDir, "prod-instances.txt")))
			}
			want := fmt.Sprintf("%s|%s|%d|%d|http|", inst.Internal, inst.Domain, inst.Ports.HTTP, inst.Ports.Gevent)
			if !strings.Contains(readFile(filepath.Join(a.Config.TrackingDir, "prod-instances.txt")), want) {
				t.Errorf("prod-instances.txt lacks %q", want)
			}
		}
	})

	t.Run("databases from one template", func(t *testing.T) {
		var tpls, uuids []string
		for _, inst := range insts {
			if !databaseExists(t, ctx, a, inst.Internal) {
				t.Fatalf("database %s does not exist", inst.Internal)
			}
			tpls = append(tpls, configParam(t, ctx, a, inst.Internal, "odoobot.template"))
			uuids = append(uuids, configParam(t, ctx, a, inst.Internal, "database.uuid"))
		}
		if tpls[0] == "" || tpls[0] != tpls[1] || !strings.HasPrefix(tpls[0], "odoobot_tpl_") {
			t.Errorf("templates %q: want both databases made from one odoobot_tpl_ template", tpls)
		}
		if uuids[0] == "" || uuids[0] == uuids[1] {
			t.Errorf("database.uuid %q: want two different uuids", uuids)
		}
		conn := connectDB(t, ctx, a, "postgres")
		rows, err := conn.Query(ctx, "SELECT datname, datistemplate FROM pg_database WHERE datname LIKE 'odoobot\\_tpl\\_%' ORDER BY datname")
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		var all []string
		for rows.Next() {
			var name string
			var isTpl bool
			if err := rows.Scan(&name, &isTpl); err != nil {
				t.Fatal(err)
			}
			all = append(all, name)
			if name == tpls[0]+"_spare" && !isTpl {
				continue // the copy kept ready for the next creation
			}
			if strings.HasPrefix(name, tpls[0]) {
				found++
				if name != tpls[0] || !isTpl {
					t.Errorf("database %s (template %v): want only the template %s itself for this release", name, isTpl, tpls[0])
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if found != 1 {
			t.Errorf("template databases %v: want exactly one %s", all, tpls[0])
		}
	})

	secrets := []string{adminPasswd(t, a, insts[0]), adminPasswd(t, a, insts[1])}
	var said strings.Builder // every answer of this test, checked for secrets
	for _, r := range recs {
		said.WriteString(r.text() + "\n")
	}
	do := func(t *testing.T, text string) *recorder {
		t.Helper()
		r, task := dispatch(t, ctx, a, text)
		if task != nil {
			t.Errorf("%s started a job", text)
		}
		said.WriteString(r.text() + "\n")
		return r
	}
	ok := func(t *testing.T, text string) string {
		t.Helper()
		r := do(t, text)
		if p := r.private(); p != "" {
			t.Fatalf("%s refused: %s", text, p)
		}
		return r.text()
	}
	refused := func(t *testing.T, text string, want ...string) {
		t.Helper()
		r := do(t, text)
		p := r.private()
		if p == "" {
			t.Errorf("%s was not refused; answered:\n%s", text, r.text())
			return
		}
		for _, w := range want {
			if !strings.Contains(p, w) {
				t.Errorf("%s refused with %q, want it to say %q", text, p, w)
			}
		}
	}
	status := func(t *testing.T, inst provision.Instance) provision.ServiceStatus {
		t.Helper()
		st, err := a.Services.Status(ctx, inst.Unit)
		if err != nil {
			t.Fatalf("status %s: %v", inst.Unit, err)
		}
		return st
	}
	healthy := func(t *testing.T, inst provision.Instance) {
		t.Helper()
		st, err := a.Operator.Status(ctx, inst.Name)
		if err != nil || !st.Healthy {
			t.Errorf("%s after the verb: %+v, %v; want healthy", inst.Name, st, err)
		}
		requireAnswers(t, ctx, inst)
	}

	t.Run("lifecycle", func(t *testing.T) {
		one, other := insts[0], insts[1]
		otherPID := status(t, other).MainPID

		before := status(t, one)
		if got := ok(t, "restart "+one.Name); !strings.Contains(got, "restarted") {
			t.Errorf("restart answered %q", got)
		}
		after := status(t, one)
		if !after.Running() || after.MainPID == 0 || after.MainPID == before.MainPID {
			t.Errorf("after restart: %+v; want active with a new PID (was %d)", after, before.MainPID)
		}
		healthy(t, one)

		if got := ok(t, "stop "+one.Name); !strings.Contains(got, "stopped") {
			t.Errorf("stop answered %q", got)
		}
		if st := status(t, one); st.ActiveState != "inactive" || st.MainPID != 0 {
			t.Errorf("after stop: %+v; want inactive", st)
		}
		if resp, _, err := throughNginx(ctx, one.Domain); err == nil && resp.StatusCode == http.StatusOK {
			t.Errorf("%s still answers 200 through nginx once stopped", one.Domain)
		}
		refused(t, "stop "+one.Name, "already stopped")
		refused(t, "restart "+one.Name, "stopped", "use start")
		if st := status(t, one); st.ActiveState != "inactive" {
			t.Errorf("a refused restart changed the service: %+v", st)
		}

		if got := ok(t, "start "+one.Name); !strings.Contains(got, "started") {
			t.Errorf("start answered %q", got)
		}
		if st := status(t, one); !st.Running() {
			t.Errorf("after start: %+v; want active", st)
		}
		healthy(t, one)
		refused(t, "start "+one.Name, "already running")

		got := ok(t, "status "+one.Name)
		for _, w := range []string{"active", fmt.Sprintf("http %d, gevent %d", one.Ports.HTTP, one.Ports.Gevent), one.Unit, "healthy"} {
			if !strings.Contains(got, w) {
				t.Errorf("status lacks %q:\n%s", w, got)
			}
		}

		if r := do(t, "logs "+one.Name+" 20"); len(r.longs) != 0 || !strings.Contains(r.private(), "odoo.log") {
			t.Errorf("logs without share answered in the channel, or not privately: %q", r.text())
		}
		r := do(t, "logs "+one.Name+" 20 share")
		if len(r.longs) != 1 || r.private() != "" {
			t.Fatalf("logs … share answered %q", r.text())
		}
		title, text, _ := strings.Cut(r.longs[0], "\n")
		logPath := layout.Paths(one).Log
		if !strings.Contains(title, logPath) {
			t.Errorf("logs title %q: want the lines from %s", title, logPath)
		}
		logLines := strings.Split(text, "\n")
		if len(logLines) == 0 || len(logLines) > 20 || text == "" {
			t.Errorf("logs gave %d lines, want 1 to 20:\n%s", len(logLines), text)
		}
		file := readFile(logPath)
		for _, l := range logLines {
			if !strings.Contains(file, l) {
				t.Errorf("log line %q is not in %s", l, logPath)
			}
		}

		got = ok(t, "info "+one.Name)
		for _, w := range []string{one.Domain, one.Internal, fmt.Sprint(one.Ports.HTTP)} {
			if !strings.Contains(got, w) {
				t.Errorf("info lacks %q:\n%s", w, got)
			}
		}

		got = ok(t, "list")
		for _, inst := range insts {
			if !strings.Contains(got, inst.Name) || !strings.Contains(got, inst.Domain) {
				t.Errorf("list lacks %s:\n%s", inst.Name, got)
			}
		}

		if st := status(t, other); st.MainPID != otherPID || !st.Running() {
			t.Errorf("%s was touched by the verbs on %s: %+v (PID was %d)", other.Name, one.Name, st, otherPID)
		}
		requireAnswers(t, ctx, other)
	})

	t.Run("refusals", func(t *testing.T) {
		missing := uniqueName(t, "nosuch")
		for _, verb := range []string{"status", "info", "logs", "restart", "stop", "start"} {
			refused(t, verb+" "+missing, "no instance named", missing)
		}
		for _, text := range []string{"status MAYUSCULAS", "create MAYUSCULAS http"} {
			refused(t, text, "MAYUSCULAS", "rule format")
		}
		if _, err := a.Store.Instance(ctx, "MAYUSCULAS"); !errors.Is(err, provision.ErrInstanceNotFound) {
			t.Errorf("a refused name reached the store: %v", err)
		}

		again := insts[1]
		before := status(t, again)
		uuid := configParam(t, ctx, a, again.Internal, "database.uuid")
		conf := readFile(layout.Paths(again).Conf)
		refused(t, "create "+again.Name+" http", again.Name, "is taken", "pick another name")
		inst, err := a.Store.Instance(ctx, again.Name)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(inst, again); diff != "" {
			t.Errorf("a refused second create changed the instance (-got +want):\n%s", diff)
		}
		if st := status(t, again); st.MainPID != before.MainPID || !st.Running() {
			t.Errorf("a refused second create touched the service: %+v (PID was %d)", st, before.MainPID)
		}
		if got := configParam(t, ctx, a, again.Internal, "database.uuid"); got != uuid {
			t.Errorf("a refused second create changed the database: uuid %s, was %s", got, uuid)
		}
		if got := readFile(layout.Paths(again).Conf); got != conf {
			t.Errorf("a refused second create rewrote odoo.conf")
		}
		requireAnswers(t, ctx, again)
	})

	for _, s := range secrets {
		if strings.Contains(said.String(), s) {
			t.Errorf("an answer shows an admin_passwd from odoo.conf")
		}
	}
}

// undoable are the steps of an http creation that have something to undo.
var undoable = map[provision.StepName]bool{
	provision.StepReserve: true, provision.StepTenant: true, provision.StepDatabase: true, provision.StepFiles: true,
	provision.StepService: true, provision.StepNginx: true, provision.StepSummary: true,
}

// TestCreateFailureAtEachStep fails a creation at each step in turn and
// checks that the rollback leaves nothing behind, and that nginx and an
// instance created before are never broken by it.
func TestCreateFailureAtEachStep(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	base, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	keep := createReady(t, ctx, base, uniqueName(t, "keep"))

	steps := provision.StepNames(provision.SSLHTTP, provision.PlanOptions{})
	if diff := cmp.Diff(steps, []provision.StepName{"reserve", "release", "tenant", "database", "files", "service", "nginx", "health", "verify", "summary"}); diff != "" {
		t.Errorf("the http plan changed (-got +want):\n%s", diff)
	}
	for i, step := range steps {
		t.Run(string(step), func(t *testing.T) {
			a, closeApp := env.newApp(t, app.Options{FailAt: step})
			defer closeApp()
			name := uniqueName(t, "fail")
			destroyLater(t, base, name)
			task, err := a.Service.Create(ctx, provision.CreateRequest{Name: name, Mode: provision.SSLHTTP, By: "e2e"})
			if err != nil {
				t.Fatalf("Create refused: %v", err)
			}
			job, err := task.Wait(ctx)
			layout := a.Config.Layout()
			p := layout.Paths(layout.NewInstance(name, provision.SSLHTTP))
			log := readFile(p.CreateLog)
			var se *provision.StepError
			if !errors.As(err, &se) {
				t.Fatalf("the job ended with %v (%s), want a *provision.StepError\ncreation log:\n%s", err, job.State, log)
			}
			var want []string
			for j := i; j >= 0; j-- {
				if undoable[steps[j]] {
					want = append(want, string(steps[j]))
				}
			}
			if se.Step != step || len(se.Left) != 0 {
				t.Errorf("StepError at %s, left %v; want at %s with nothing left", se.Step, se.Left, step)
			}
			if diff := cmp.Diff(se.Undone, want); diff != "" {
				t.Errorf("undone (-got +want):\n%s", diff)
			}

			requireGone(t, ctx, a, name)
			for _, w := range []string{"✗ " + string(step), "failure injected at step " + string(step)} {
				if !strings.Contains(log, w) {
					t.Errorf("the creation log %s lacks %q:\n%s", p.CreateLog, w, log)
				}
			}
			rec, err := a.Store.Job(ctx, job.ID)
			if err != nil {
				t.Fatalf("job %d: %v", job.ID, err)
			}
			if rec.State != provision.JobRolledBack || !strings.Contains(rec.Error, "step "+string(step)+" failed") {
				t.Errorf("job record: state %s, error %q; want rolled_back naming step %s", rec.State, rec.Error, step)
			}
			if diff := cmp.Diff(rec.Undone, want); diff != "" {
				t.Errorf("job record's undone (-got +want):\n%s", diff)
			}
			// The injected failure is odoobot's own, not a driver's: the
			// record names the step, with no kind.
			if rec.Failure.Step != step || rec.Failure.Kind != "" || len(rec.Failure.Left) != 0 {
				t.Errorf("job record's failure %+v; want step %s, no kind, nothing left", rec.Failure, step)
			}
			requireNginxTestPasses(t)
			requireAnswers(t, ctx, keep)
		})
	}
}

// TestCreateCrashRecovery kills the odoobot binary in the middle of a
// creation and checks that the next start (any verb) ends the job and
// removes the half-made instance.
func TestCreateCrashRecovery(t *testing.T) {
	needSandbox(t)
	bin := odoobotBin(t)
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	name := uniqueName(t, "crash")
	destroyLater(t, a, name)
	layout := a.Config.Layout()
	inst := layout.NewInstance(name, provision.SSLHTTP)
	p := layout.Paths(inst)

	// Kill once the service is up: the database, the files and the unit
	// exist, nginx does not serve it yet.
	runKilled(t, ctx, env, bin, whenLogShows(p.CreateLog, "✓ "+string(provision.StepService), 2*time.Minute), "create", name, "http")
	t.Logf("creation log at the kill:\n%s", readFile(p.CreateLog))

	open, ok, err := a.Store.ActiveJob(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		// The kill landed after the job ended: then it must be a
		// finished, working instance.
		t.Logf("the job had ended before the kill")
		inst, err := a.Store.Instance(ctx, name)
		if err != nil || inst.State != provision.StateReady {
			t.Fatalf("no open job and instance %+v, %v: want ready", inst, err)
		}
		requireAnswers(t, ctx, inst)
		return
	}
	if st, err := a.Services.Status(ctx, inst.Unit); err != nil || !st.Running() {
		t.Logf("unit after the kill: %+v, %v", st, err)
	}

	// The next start recovers (serve, its input at its end at once); a
	// read-only verb never does.
	rec, _ := recoverWithServe(t, ctx, env, a, bin, open)
	got, err := env.command(ctx, bin, "list").CombinedOutput()
	if err != nil {
		t.Fatalf("odoobot list after the crash: %v\n%s", err, got)
	}
	t.Logf("odoobot list after the crash:\n%s", got)
	for _, l := range lines(string(got)) {
		if f := strings.Fields(l); len(f) > 1 && f[0] == name {
			t.Errorf("list still shows %s after recovery: %q", name, l)
		}
	}
	if rec.State != provision.JobInterrupted || !strings.Contains(rec.Error, "stopped") {
		t.Errorf("job after recovery: state %s, error %q; want interrupted", rec.State, rec.Error)
	}
	if !slices.Contains(rec.Undone, string(provision.StepDatabase)) || !slices.Contains(rec.Undone, string(provision.StepService)) {
		t.Errorf("job after recovery undid %v; want the database and the service among them", rec.Undone)
	}
	requireGone(t, ctx, a, name)
	if log := readFile(p.CreateLog); !strings.Contains(log, "recovery") {
		t.Errorf("the creation log does not tell of the recovery:\n%s", log)
	}
	requireNginxTestPasses(t)
}

// TestCreateBrokenSiteNeverEnabled installs a site nginx refuses through
// the product's nginx driver: it never reaches sites-enabled, and nginx
// keeps serving the instances it served.
func TestCreateBrokenSiteNeverEnabled(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	keep := createReady(t, ctx, a, uniqueName(t, "keep"))

	sites := appSites(a)
	name := "prod-" + uniqueName(t, "broken")
	avail := filepath.Join(a.Config.NginxAvailable, name)
	enabled := filepath.Join(a.Config.NginxEnabled, name)
	t.Cleanup(func() {
		os.Remove(enabled)
		os.Remove(avail)
	})
	broken := []byte("server {\n    listen 80;\n    server_name " + name + ".odoobot.test;\n    location / {\n        proxy_pass http://127.0.0.1:1;\n    # the closing braces are missing\n")
	err := sites.Install(ctx, name, broken)
	if err == nil {
		t.Fatal("Install of a broken site succeeded")
	}
	var te *nginx.TestError
	if !errors.As(err, &te) {
		t.Errorf("Install error %v is not a *nginx.TestError", err)
	}
	t.Logf("Install refused the site: %v", err)
	for _, path := range []string{enabled, avail} {
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists after a refused install (%v)", path, err)
		}
	}
	requireNginxTestPasses(t)
	requireAnswers(t, ctx, keep)
}

// TestCreateRefusesWhatIsAlreadyOnTheHost: a directory of that name that
// odoobot does not know (an API-DEV instance not imported yet) refuses the
// creation, and is left exactly as it was.
func TestCreateRefusesWhatIsAlreadyOnTheHost(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := uniqueName(t, "foreign")
	dir := filepath.Join(a.Config.ProdRoot, provision.InternalName(name))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "odoo.conf")
	if err := os.WriteFile(conf, []byte("[options]\nadmin_passwd = theirs\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	r, task := dispatch(t, ctx, a, "create "+name+" http")
	if task != nil {
		task.Wait(ctx)
		t.Fatalf("create over a foreign directory was accepted:\n%s", r.text())
	}
	if !strings.Contains(r.private(), "odoobot import") {
		t.Errorf("the refusal does not point to import: %q", r.private())
	}
	if b, err := os.ReadFile(conf); err != nil || string(b) != "[options]\nadmin_passwd = theirs\n" {
		t.Errorf("the foreign odoo.conf changed: %q, %v", b, err)
	}
	if _, err := a.Store.Instance(ctx, name); !errors.Is(err, provision.ErrInstanceNotFound) {
		t.Errorf("the refused creation left a store row: %v", err)
	}
}

// TestReadOnlyVerbsLeaveOpenJobsAlone runs the read-only verbs of the
// real binary while the store holds a running job whose process looks
// gone (its owner lock is not held, as after a PostgreSQL restart): none
// of them runs recovery, so the job is left as it is.
func TestReadOnlyVerbsLeaveOpenJobsAlone(t *testing.T) {
	needSandbox(t)
	bin := odoobotBin(t)
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn := connectDB(t, ctx, a, env.stateDB)
	var id int64
	if err := conn.QueryRow(ctx, `INSERT INTO odoobot.jobs (kind, instance, state, requested_by, params, chat_ref, started_at, owner)
		VALUES ('backup', 'ghost', 'running', 'e2e', '{}', '{}', now(), 12345) RETURNING id`).Scan(&id); err != nil {
		t.Fatalf("insert a job: %v", err)
	}
	for _, args := range [][]string{{"list"}, {"capacity"}, {"certs"}, {"status", "ghost"}, {"backups", "ghost"}} {
		out, _ := env.command(ctx, bin, args...).CombinedOutput()
		if strings.Contains(string(out), "interrupted") {
			t.Errorf("%v reported recovering a job:\n%s", args, out)
		}
	}
	var state string
	if err := conn.QueryRow(ctx, `SELECT state FROM odoobot.jobs WHERE id = $1`, id).Scan(&state); err != nil {
		t.Fatal(err)
	}
	if state != "running" {
		t.Errorf("after the read-only verbs the job is %s, want it left running", state)
	}
}
