package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/internal/app"
	"odoobot/provision"
)

// TestCreationRidesOutAPostgreSQLRestart restarts the sandbox's
// PostgreSQL cluster under a running creation (odoobot in-process, held
// at the start of its service step: its database made, its files
// written). Every session dies, the one holding the creation's ownership
// lock too. Then, from other processes, `odoobot list` and `odoobot
// create` of another name (which runs recovery) both work and leave the
// running creation alone; the first odoobot proves its ownership again,
// and its creation, let go, finishes ready and served.
func TestCreationRidesOutAPostgreSQLRestart(t *testing.T) {
	needSandbox(t)
	bin := odoobotBin(t)
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	first, second := uniqueName(t, "pgrestart-a"), uniqueName(t, "pgrestart-b")
	destroyLater(t, a, first)
	destroyLater(t, a, second)

	held, release := make(chan struct{}), make(chan struct{})
	var holdOnce, releaseOnce sync.Once
	letGo := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(letGo) // a failing test must not leave the worker held
	hold := func(e provision.Event) {
		if e.Kind == provision.EventStart && e.Step == string(provision.StepService) {
			holdOnce.Do(func() { close(held); <-release })
		}
	}
	task, err := a.Service.Create(ctx, provision.CreateRequest{
		Name: first, Mode: provision.SSLHTTP, By: "e2e", Subscribe: []provision.Subscriber{hold},
	})
	if err != nil {
		t.Fatalf("create %s: %v", first, err)
	}
	createLog := func() string {
		return readFile(a.Config.Layout().Paths(a.Config.Layout().NewInstance(first, provision.SSLHTTP)).CreateLog)
	}
	select {
	case <-held:
	case <-task.Done():
		t.Fatalf("the creation of %s ended before its service step:\n%s", first, createLog())
	case <-ctx.Done():
		t.Fatalf("the creation of %s never reached its service step:\n%s", first, createLog())
	}

	job, running, err := a.Store.ActiveJob(ctx, first)
	if err != nil || !running || job.State != provision.JobRunning {
		t.Fatalf("the held creation's job: %+v, %v, %v; want running", job, running, err)
	}
	owner := stateQueryInt(t, ctx, env, `SELECT owner FROM odoobot.jobs WHERE id = $1`, job.ID)
	lockPID := ownerLockHolder(t, ctx, env, owner)
	if lockPID == 0 {
		t.Fatalf("no session holds the lock of owner %d, which runs job %d", owner, job.ID)
	}
	before := stateQueryTime(t, ctx, env, `SELECT pg_postmaster_start_time()`)

	restartSandboxPostgres(t, ctx)
	if after := stateQueryTime(t, ctx, env, `SELECT pg_postmaster_start_time()`); !after.After(before) {
		t.Fatalf("PostgreSQL started at %v before the restart and %v after: it did not restart", before, after)
	}
	t.Logf("PostgreSQL restarted under job %d; owner %d's lock was held by session %d", job.ID, owner, lockPID)

	out, err := env.command(ctx, bin, "list").CombinedOutput()
	if err != nil || !strings.Contains(string(out), first) {
		t.Errorf("odoobot list after the restart: %v; want it to list %s:\n%s", err, first, out)
	}
	out, err = env.command(ctx, bin, "create", second, "http").CombinedOutput()
	if err != nil {
		t.Fatalf("odoobot create %s after the restart: %v\n%s", second, err, out)
	}
	if strings.Contains(string(out), "interrupted") || strings.Contains(string(out), fmt.Sprintf("job %d ", job.ID)) {
		t.Errorf("odoobot create %s touched the running job %d:\n%s", second, job.ID, out)
	}
	if still, ok, err := a.Store.ActiveJob(ctx, first); err != nil || !ok || still.ID != job.ID || still.State != provision.JobRunning {
		t.Fatalf("after another process's create, job %d is %+v (open %v, %v); want it still running", job.ID, still, ok, err)
	}

	// The first odoobot has taken its lock again, on a new session.
	var reproved int32
	if !waitFor(time.Minute, func() bool {
		reproved = ownerLockHolder(t, ctx, env, owner)
		return reproved != 0 && reproved != lockPID
	}) {
		t.Fatalf("owner %d did not take its lock again within a minute of the restart", owner)
	}
	t.Logf("owner %d proved again, by session %d", owner, reproved)

	letGo()
	ended, err := task.Wait(ctx)
	if err != nil || ended.State != provision.JobSucceeded {
		t.Fatalf("the held creation of %s: %s, %v\n%s", first, ended.State, err, createLog())
	}
	select {
	case <-task.Recorded():
	case <-ctx.Done():
		t.Fatalf("the end of job %d was never recorded", job.ID)
	}
	rec, err := a.Store.Job(ctx, job.ID)
	if err != nil || rec.State != provision.JobSucceeded {
		t.Errorf("job %d in the store: %+v, %v; want succeeded", job.ID, rec, err)
	}
	for _, name := range []string{first, second} {
		inst, err := a.Store.Instance(ctx, name)
		if err != nil {
			t.Errorf("instance %s: %v", name, err)
			continue
		}
		if inst.State != provision.StateReady {
			t.Errorf("instance %s is %s, want ready", name, inst.State)
		}
		requireAnswers(t, ctx, inst)
	}
}

// restartSandboxPostgres restarts the sandbox's PostgreSQL cluster unit
// (postgresql@VERSION-odoobot.service) and waits for systemd to finish.
func restartSandboxPostgres(t *testing.T, ctx context.Context) {
	t.Helper()
	conn := sandboxSystemd(t, ctx)
	units, err := conn.ListUnitsByPatternsContext(ctx, nil, []string{"postgresql@*-odoobot.service"})
	if err != nil || len(units) != 1 {
		t.Fatalf("the sandbox's PostgreSQL unit: %v, %v; want one", units, err)
	}
	done := make(chan string, 1)
	if _, err := conn.RestartUnitContext(ctx, units[0].Name, "replace", done); err != nil {
		t.Fatalf("restart %s: %v", units[0].Name, err)
	}
	select {
	case result := <-done:
		if result != "done" {
			t.Fatalf("restart %s: %s", units[0].Name, result)
		}
	case <-ctx.Done():
		t.Fatalf("restart %s: %v", units[0].Name, ctx.Err())
	}
}

// stateQuery runs one query on a new connection to the test's state
// database: connections made before a restart of PostgreSQL are dead.
func stateQuery(t *testing.T, ctx context.Context, env *createEnv, sql string, dest any, args ...any) {
	t.Helper()
	cfg, err := pgx.ParseConfig(env.config(t).AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = env.stateDB
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect to %s: %v", env.stateDB, err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(ctx, sql, args...).Scan(dest); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("%s: %v", sql, err)
	}
}

func stateQueryInt(t *testing.T, ctx context.Context, env *createEnv, sql string, args ...any) int32 {
	t.Helper()
	var v int32
	stateQuery(t, ctx, env, sql, &v, args...)
	return v
}

func stateQueryTime(t *testing.T, ctx context.Context, env *createEnv, sql string, args ...any) time.Time {
	t.Helper()
	var v time.Time
	stateQuery(t, ctx, env, sql, &v, args...)
	return v
}

// ownerLockHolder is the backend PID holding the job owner's advisory
// lock (key 0x6f646f6f, owner; see provision/postgres/owner.go), 0 when
// no session does.
func ownerLockHolder(t *testing.T, ctx context.Context, env *createEnv, owner int32) int32 {
	t.Helper()
	return stateQueryInt(t, ctx, env, `
SELECT pid FROM pg_locks
WHERE locktype = 'advisory' AND granted AND classid = $1::oid AND objid = $2::oid AND objsubid = 2`,
		int64(0x6f646f6f), int64(owner))
}
