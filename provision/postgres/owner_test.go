package postgres_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/internal/testenv"
	"odoobot/provision"
	"odoobot/provision/jobends"
	"odoobot/provision/postgres"
)

// ownerLockSpace is the first key of the owners' advisory locks, as
// owner.go takes them.
const ownerLockSpace = 0x6f646f6f

// elsewhere is a process this one cannot see: only its lease speaks for
// it.
var elsewhere = postgres.Process{Host: "another-host/pid:[1]", PID: 4242, Start: 1}

func openWith(t *testing.T, dsn string, opt postgres.Options) *postgres.Store {
	t.Helper()
	s, err := postgres.OpenWith(testContext(t), dsn, opt)
	if err != nil {
		t.Fatalf("OpenWith: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// adminConn is a connection of the test's own to the database.
func adminConn(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(testContext(t), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// ownerOf is the owner recorded in job id.
func ownerOf(t *testing.T, c *pgx.Conn, id int64) int32 {
	t.Helper()
	var owner int32
	if err := c.QueryRow(testContext(t), `SELECT owner FROM odoobot.jobs WHERE id = $1`, id).Scan(&owner); err != nil {
		t.Fatal(err)
	}
	return owner
}

// lockHolder is the backend PID holding owner's lock, 0 when none does.
func lockHolder(t *testing.T, c *pgx.Conn, owner int32) int32 {
	t.Helper()
	var pid int32
	err := c.QueryRow(testContext(t), `
SELECT pid FROM pg_locks
WHERE locktype = 'advisory' AND granted AND classid = $1::oid AND objid = $2::oid AND objsubid = 2`,
		int64(ownerLockSpace), int64(owner)).Scan(&pid)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func leaseOf(t *testing.T, c *pgx.Conn, owner int32) time.Time {
	t.Helper()
	var until time.Time
	if err := c.QueryRow(testContext(t), `SELECT lease_until FROM odoobot.job_owners WHERE id = $1`, owner).Scan(&until); err != nil {
		t.Fatal(err)
	}
	return until
}

// requireNoOrphans fails the test when s sees an orphaned job.
func requireNoOrphans(t *testing.T, s *postgres.Store, when string) {
	t.Helper()
	got, err := s.OrphanedJobs(testContext(t))
	if err != nil || len(got) != 0 {
		t.Fatalf("orphans %s: %+v, %v; want none", when, got, err)
	}
}

// requireOrphans fails the test unless s sees exactly the jobs ids as
// orphans.
func requireOrphans(t *testing.T, s *postgres.Store, when string, ids ...int64) {
	t.Helper()
	got, err := s.OrphanedJobs(testContext(t))
	if err != nil {
		t.Fatalf("orphans %s: %v", when, err)
	}
	var gotIDs []int64
	for _, j := range got {
		gotIDs = append(gotIDs, j.ID)
	}
	if len(gotIDs) != len(ids) {
		t.Fatalf("orphans %s: jobs %v, want %v", when, gotIDs, ids)
	}
	for i := range ids {
		if gotIDs[i] != ids[i] {
			t.Fatalf("orphans %s: jobs %v, want %v", when, gotIDs, ids)
		}
	}
}

// waitReproved waits (up to a minute) until owner's ownership is proved
// again: a session other than the one with PID lost holds its lock, and
// its lease was renewed past before.
func waitReproved(t *testing.T, c *pgx.Conn, owner, lost int32, before time.Time) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		pid := lockHolder(t, c, owner)
		lease := leaseOf(t, c, owner)
		if pid != 0 && pid != lost && lease.After(before) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("owner %d was not proved again within a minute of losing session %d: lock held by %d, lease until %v (was %v)",
				owner, lost, pid, lease, before)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOwnershipIsReprovedAfterItsConnectionIsKilled: the server ends the
// connection that holds a running Store's lock (as a PostgreSQL restart
// does). The Store takes its lock again on a new connection and renews its
// lease; another Store never takes its job for an orphan, before or after;
// once the first Store is closed, it does.
func TestOwnershipIsReprovedAfterItsConnectionIsKilled(t *testing.T) {
	for _, tc := range []struct {
		name string
		proc postgres.Process // zero: this process, which the other Store sees in /proc
	}{
		{"same host", postgres.Process{}},
		{"another host, by its lease", elsewhere},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := testenv.NewDatabase(t)
			ctx := testContext(t)
			running := openWith(t, dsn, postgres.Options{Process: tc.proc, OwnerLease: time.Hour})
			other := openDSN(t, dsn)
			admin := adminConn(t, dsn)
			j, err := running.CreateJob(ctx, provision.Job{Kind: provision.JobCreate, Instance: "acme", State: provision.JobRunning})
			if err != nil {
				t.Fatal(err)
			}
			owner := ownerOf(t, admin, j.ID)
			held := lockHolder(t, admin, owner)
			if held == 0 {
				t.Fatalf("no session holds owner %d's lock while its Store is open", owner)
			}
			lease := leaseOf(t, admin, owner)

			var ended bool
			if err := admin.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, held).Scan(&ended); err != nil || !ended {
				t.Fatalf("pg_terminate_backend(%d) = %v, %v", held, ended, err)
			}
			// Right away, whether or not the lock is taken again yet.
			requireNoOrphans(t, other, "right after the owner's connection was killed")

			waitReproved(t, admin, owner, held, lease)
			requireNoOrphans(t, other, "once the ownership was proved again")
			if _, err := running.CreateJob(ctx, provision.Job{Kind: provision.JobBackup, Instance: "beta"}); err != nil {
				t.Errorf("the running Store after its connection was killed: %v", err)
			}

			running.Close()
			got, err := other.OrphanedJobs(ctx)
			if err != nil || len(got) != 2 || got[0].ID != j.ID {
				t.Fatalf("orphans after the owner was closed: %+v, %v; want job %d and the backup", got, err, j.ID)
			}
		})
	}
}

// TestOwnerJudgement applies the rule of owner.go to owners written by
// hand: which owners' open jobs are orphans.
func TestOwnerJudgement(t *testing.T) {
	dsn := testenv.NewDatabase(t)
	ctx := testContext(t)
	judge := openDSN(t, dsn)
	admin := adminConn(t, dsn)
	holder := adminConn(t, dsn) // holds the locks of the owners that have one

	me := postgres.ThisProcess()
	if me.Host == "" {
		t.Fatal("ThisProcess has no host: /proc cannot be read here")
	}
	reused := me
	reused.Start++ // this PID, another start: the owner's process is gone

	for i, tc := range []struct {
		name         string
		proc         postgres.Process
		noRow        bool // an owner from before the owners' rows
		closed       bool
		leaseExpired bool
		locked       bool
		wantOrphaned bool
	}{
		{name: "closed", proc: me, closed: true, locked: true, wantOrphaned: true},
		{name: "locked", proc: elsewhere, leaseExpired: true, locked: true},
		{name: "this host, alive", proc: me, leaseExpired: true},
		{name: "this host, PID reused", proc: reused, wantOrphaned: true},
		{name: "elsewhere, in its lease", proc: elsewhere},
		{name: "elsewhere, lease expired", proc: elsewhere, leaseExpired: true, wantOrphaned: true},
		{name: "no row, locked", noRow: true, locked: true},
		{name: "no row, free", noRow: true, wantOrphaned: true},
	} {
		owner := int32(1000 + i)
		if !tc.noRow {
			lease := "now() + interval '1 hour'"
			if tc.leaseExpired {
				lease = "now() - interval '1 second'"
			}
			closed := "NULL"
			if tc.closed {
				closed = "now()"
			}
			if _, err := admin.Exec(ctx, `INSERT INTO odoobot.job_owners (id, host, pid, pid_start, lease_until, closed_at)
VALUES ($1, $2, $3, $4, `+lease+`, `+closed+`)`, owner, tc.proc.Host, tc.proc.PID, int64(tc.proc.Start)); err != nil {
				t.Fatal(err)
			}
		}
		if tc.locked {
			if _, err := holder.Exec(ctx, `SELECT pg_advisory_lock($1, $2)`, int32(ownerLockSpace), owner); err != nil {
				t.Fatal(err)
			}
		}
		var id int64
		if err := admin.QueryRow(ctx, `INSERT INTO odoobot.jobs (kind, instance, state, owner) VALUES ('create', $1, 'running', $2) RETURNING id`,
			"inst"+string(rune('a'+i)), owner).Scan(&id); err != nil {
			t.Fatal(err)
		}
		got, err := judge.OrphanedJobs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		orphaned := false
		for _, j := range got {
			if j.ID == id {
				orphaned = true
			}
		}
		if orphaned != tc.wantOrphaned {
			t.Errorf("%s: orphaned = %v, want %v", tc.name, orphaned, tc.wantOrphaned)
		}
		// One owner at a time: end the job before the next.
		if _, err := admin.Exec(ctx, `UPDATE odoobot.jobs SET state = 'interrupted' WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
	}
}

// TestClosedStoreJobsAreOrphansAtOnce: when Close returns, the closed
// Store's lock is free and another Store takes its open jobs for orphans,
// without waiting for the server to drop anything; also for a Store
// standing for a process on another host, whose lease still runs. Many
// rounds: nothing depends on timing.
func TestClosedStoreJobsAreOrphansAtOnce(t *testing.T) {
	dsn := testenv.NewDatabase(t)
	ctx := testContext(t)
	other := openDSN(t, dsn)
	admin := adminConn(t, dsn)
	for round := range 20 {
		proc := postgres.Process{}
		if round%2 == 1 {
			proc = elsewhere
		}
		s, err := postgres.OpenWith(ctx, dsn, postgres.Options{Process: proc, OwnerLease: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		j, err := s.CreateJob(ctx, provision.Job{Kind: provision.JobCreate, Instance: "acme", State: provision.JobRunning})
		if err != nil {
			t.Fatal(err)
		}
		requireNoOrphans(t, other, "while the owner is open")
		owner := ownerOf(t, admin, j.ID)
		s.Close()
		requireOrphans(t, other, "right after the owner's Close", j.ID)
		if pid := lockHolder(t, admin, owner); pid != 0 {
			t.Fatalf("round %d: session %d still holds owner %d's lock after Close returned", round, pid, owner)
		}
		if err := other.FinishJob(ctx, j.ID, provision.JobInterrupted, "recovered", nil); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOwnerRowsArePruned: the row of a closed owner with no open job goes
// at the next Open; one whose job is still open stays.
func TestOwnerRowsArePruned(t *testing.T) {
	dsn := testenv.NewDatabase(t)
	ctx := testContext(t)
	admin := adminConn(t, dsn)
	idle := openDSN(t, dsn)
	busy := openDSN(t, dsn)
	j, err := busy.CreateJob(ctx, provision.Job{Kind: provision.JobCreate, Instance: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	busyOwner := ownerOf(t, admin, j.ID)
	idle.Close()
	busy.Close()
	openDSN(t, dsn)
	var owners []int32
	rows, err := admin.Query(ctx, `SELECT id FROM odoobot.job_owners WHERE closed_at IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	owners, err = pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		t.Fatal(err)
	}
	if len(owners) != 1 || owners[0] != busyOwner {
		t.Errorf("closed owners left: %v, want only %d (its job is open)", owners, busyOwner)
	}
}

// proxy is a TCP proxy to PostgreSQL that the test turns off (every
// connection cut, new ones refused: PostgreSQL is away, as during a
// restart) and on again.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.setDown(true) })
	return p
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.pipe(c)
	}
}

func (p *proxy) pipe(c net.Conn) {
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.mu.Unlock()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	go func() { io.Copy(up, c); up.Close(); c.Close() }()
	io.Copy(c, up)
	c.Close()
	up.Close()
}

// setDown cuts every connection and refuses new ones (true), or lets
// them through again (false).
func (p *proxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

// through is dsn reaching its server through the proxy.
func (p *proxy) through(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = p.ln.Addr().String()
	return u.String()
}

// TestJobEndRecordedOncePostgreSQLIsBack: PostgreSQL goes away as a job's
// last step ends, so the runner cannot record the job's end; the instance
// stays busy, the job is nobody's orphan, and its end is kept on disk.
// Once PostgreSQL is back, the runner records it by itself: the job has
// succeeded, the instance is free, the kept end is gone, and the Store has
// proved its ownership again.
func TestJobEndRecordedOncePostgreSQLIsBack(t *testing.T) {
	dsn := testenv.NewDatabase(t)
	ctx := testContext(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	pg := newProxy(t, u.Host)
	viaProxy := openDSN(t, pg.through(t, dsn))
	direct := openDSN(t, dsn)
	admin := adminConn(t, dsn)
	outcomes := t.TempDir()
	runner := provision.NewRunner(provision.RunnerConfig{
		Store: viaProxy, CloseRetry: 10 * time.Millisecond, Outcomes: jobends.Dir(outcomes),
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	})
	defer runner.Close()

	job, err := viaProxy.CreateJob(ctx, provision.Job{Kind: provision.JobCreate, Instance: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	owner := ownerOf(t, admin, job.ID)
	held, lease := lockHolder(t, admin, owner), leaseOf(t, admin, owner)
	task := &provision.Task{Job: job, Steps: []provision.Step{{
		Name:  "last",
		Apply: func(context.Context) error { pg.setDown(true); return nil },
	}}}
	if err := runner.Submit(task); err != nil {
		t.Fatal(err)
	}
	ended, err := task.Wait(ctx)
	if err != nil || ended.State != provision.JobSucceeded {
		t.Fatalf("task: %s, %v; want succeeded", ended.State, err)
	}
	kept := filepath.Join(outcomes, "job-"+strconv.FormatInt(job.ID, 10)+".json")
	if b, err := os.ReadFile(kept); err != nil {
		t.Fatalf("the end the store could not record is not kept: %v", err)
	} else {
		t.Logf("kept while PostgreSQL is away: %s", b)
	}
	if open, busy, err := direct.ActiveJob(ctx, "acme"); err != nil || !busy || open.ID != job.ID {
		t.Fatalf("while PostgreSQL is away for the runner: active job %+v, %v, %v; want job %d still open", open, busy, err, job.ID)
	}
	requireNoOrphans(t, direct, "while the runner's end of the job is pending")
	select {
	case <-task.Recorded():
		t.Fatal("Recorded is closed while PostgreSQL is away")
	default:
	}

	pg.setDown(false)
	select {
	case <-task.Recorded():
	case <-ctx.Done():
		t.Fatal("the job's end was not recorded after PostgreSQL came back")
	}
	got, err := direct.Job(ctx, job.ID)
	if err != nil || got.State != provision.JobSucceeded || got.FinishedAt.IsZero() {
		t.Errorf("job after PostgreSQL came back: %+v, %v; want succeeded, finished", got, err)
	}
	if _, busy, err := direct.ActiveJob(ctx, "acme"); err != nil || busy {
		t.Errorf("acme is still busy after its job's end was recorded (%v)", err)
	}
	if _, err := os.Stat(kept); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the kept end is still there once recorded: %v", err)
	}
	waitReproved(t, admin, owner, held, lease)
}

// TestJobEndKeptAcrossARestart: the store is away when the job ends and
// until the runner is closed (the process stops); the next runner, on a
// store that works, records the job's end before anything else, as it
// was, so that recovery finds the job ended, not open.
func TestJobEndKeptAcrossARestart(t *testing.T) {
	dsn := testenv.NewDatabase(t)
	ctx := testContext(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	pg := newProxy(t, u.Host)
	first, err := postgres.Open(ctx, pg.through(t, dsn), nil)
	if err != nil {
		t.Fatal(err)
	}
	outcomes := t.TempDir()
	runner := provision.NewRunner(provision.RunnerConfig{Store: first, CloseRetry: 10 * time.Millisecond, Outcomes: jobends.Dir(outcomes)})
	job, err := first.CreateJob(ctx, provision.Job{Kind: provision.JobRestore, Instance: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	task := &provision.Task{Job: job, Steps: []provision.Step{{
		Name:  "swap",
		Apply: func(context.Context) error { pg.setDown(true); return nil },
	}}}
	if err := runner.Submit(task); err != nil {
		t.Fatal(err)
	}
	if ended, err := task.Wait(ctx); err != nil || ended.State != provision.JobSucceeded {
		t.Fatalf("task: %s, %v; want succeeded", ended.State, err)
	}
	runner.Close()
	first.Close()

	second := openDSN(t, dsn)
	if open, busy, err := second.ActiveJob(ctx, "acme"); err != nil || !busy || open.ID != job.ID {
		t.Fatalf("before the next runner: active job %+v, %v, %v; want job %d open", open, busy, err, job.ID)
	}
	next := provision.NewRunner(provision.RunnerConfig{Store: second, Outcomes: jobends.Dir(outcomes)})
	defer next.Close()
	requireNoOrphans(t, second, "once the next runner has started")
	got, err := second.Job(ctx, job.ID)
	if err != nil || got.State != provision.JobSucceeded {
		t.Errorf("job after the next runner started: %+v, %v; want succeeded", got, err)
	}
	if left, _ := os.ReadDir(outcomes); len(left) != 0 {
		t.Errorf("kept ends left once recorded: %v", left)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}
