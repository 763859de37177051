package e2e

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/config"
	"odoobot/internal/app"
	"odoobot/provision"
)

// BenchmarkCloneBig times `clone` of a big stand-in instance, the old
// serial way (one pg_dump -Fc file, one pg_restore) and the parallel
// way (pg_dump -Fd -j N, pg_restore -j N, N the host's CPUs up to 8),
// alternating, in the same run, at each size the source grows to: a
// filestore of 256 MB, 512 MB, then 1 GB of random files, with a
// database of 100 MB, then 300 MB, written through the instance's own
// role into four tables with an index each, as a tenant's Odoo would.
// Each size reports the medians of the whole clone, of its dump, its
// restore and its filestore copy, each way, and serial/parallel.
// One run of the sizes takes about as long as 40 clones of a new
// instance: run it alone (scripts/bench.sh runs it with -benchtime 3x).
func BenchmarkCloneBig(b *testing.B) {
	// The copy's scratch directory is under BACKUP_DIR: on disk, as on
	// a server, not in a tmpfs.
	if err := os.MkdirAll("/var/lib/odoobot-sandbox/bench", 0o755); err != nil {
		b.Fatal(err)
	}
	backups, err := os.MkdirTemp("/var/lib/odoobot-sandbox/bench", "big-backups-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(backups) })
	b.Setenv("BACKUP_DIR", backups)
	cfg := benchEnv(b, false)
	a := benchAppWith(b, cfg, app.Options{})
	src := "bench-big-src"
	benchCreate(b, a, src)
	a.Close()
	b.Cleanup(func() {
		a := benchAppWith(b, cfg, app.Options{})
		benchDestroy(b, a, src)
		a.Close()
	})
	g := newGrower(b, cfg, src)
	defer g.close()
	const mb = 1 << 20
	for k, p := range []struct{ fs, db int64 }{{256, 100}, {512, 100}, {1024, 100}, {1024, 300}} {
		b.Run(fmt.Sprintf("fs=%dMB/db=%dMB", p.fs, p.db), func(b *testing.B) {
			g.grow(p.fs*mb, p.db*mb)
			ways := map[int]*cloneTimes{1: {}, 0: {}}
			for i := 0; b.Loop(); i++ {
				order := []int{1, 0}
				if i%2 == 1 {
					order = []int{0, 1}
				}
				for _, jobs := range order {
					ways[jobs].add(benchCloneWith(b, cfg, src, fmt.Sprintf("bench-big-%d-%d-%d", k, i, jobs), jobs))
				}
			}
			s, par := ways[1].report(b, "serial"), ways[0].report(b, "parallel")
			b.ReportMetric(s/par, "serial/parallel")
			b.ReportMetric(float64(g.fsBytes)/mb, "MB-filestore")
			b.ReportMetric(float64(g.dbSize())/mb, "MB-database")
		})
	}
}

// cloneTimes are the times of a few clones made one way.
type cloneTimes struct{ total, dump, restore, files []time.Duration }

// add records one clone's times.
func (c *cloneTimes) add(t cloneTime) {
	c.total, c.dump = append(c.total, t.total), append(c.dump, t.dump)
	c.restore, c.files = append(c.restore, t.restore), append(c.files, t.files)
}

// report reports the medians as way and returns the total's.
func (c *cloneTimes) report(b *testing.B, way string) float64 {
	total := medianMS(c.total)
	b.ReportMetric(total, "ms/clone-"+way)
	b.ReportMetric(medianMS(c.dump), "ms/dump-"+way)
	b.ReportMetric(medianMS(c.restore), "ms/restore-"+way)
	b.ReportMetric(medianMS(c.files), "ms/filestore-"+way)
	return total
}

// cloneTime is one clone's time: in all, and its copy step's dump,
// restore (with the copy's new identity and rename) and filestore copy,
// read from the step's progress notes.
type cloneTime struct{ total, dump, restore, files time.Duration }

// benchCloneWith clones src to name with an app whose copies run jobs
// workers (1 the serial way, 0 the host's CPUs), then destroys the
// clone and closes the app; only the clone is timed.
func benchCloneWith(b *testing.B, cfg *config.Config, src, name string, jobs int) cloneTime {
	b.StopTimer()
	a := benchAppWith(b, cfg, app.Options{CopyJobs: jobs})
	var mu sync.Mutex
	at := map[string]time.Time{}
	record := func(e provision.Event) {
		if e.Step != string(provision.StepCopy) {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case e.Kind == provision.EventStart:
			at["start"] = e.At
		case e.Kind == provision.EventProgress && strings.HasPrefix(e.Message, "dumped "):
			at["dumped"] = e.At
		case e.Kind == provision.EventProgress && strings.HasPrefix(e.Message, "restored "):
			at["restored"] = e.At
		case e.Kind == provision.EventDone:
			at["done"] = e.At
		}
	}
	b.StartTimer()
	start := time.Now()
	task, err := a.Service.Clone(context.Background(), provision.CloneRequest{
		Source: src, Name: name, Neutralize: true, By: "bench", Subscribe: []provision.Subscriber{record},
	})
	if err != nil {
		b.Fatalf("clone %s: %v", name, err)
	}
	if _, err := task.Wait(context.Background()); err != nil {
		b.Fatalf("clone %s: %v", name, err)
	}
	total := time.Since(start)
	b.StopTimer()
	bigDestroy(b, a, name)
	a.Close()
	b.StartTimer()
	mu.Lock()
	defer mu.Unlock()
	for _, k := range []string{"start", "dumped", "restored", "done"} {
		if at[k].IsZero() {
			b.Fatalf("clone %s: the copy step said no %q", name, k)
		}
	}
	return cloneTime{total: total, dump: at["dumped"].Sub(at["start"]), restore: at["restored"].Sub(at["dumped"]), files: at["done"].Sub(at["restored"])}
}

// benchAppWith is benchApp with opt; the caller closes it.
func benchAppWith(b *testing.B, cfg *config.Config, opt app.Options) *app.App {
	b.Helper()
	a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler), opt)
	if err != nil {
		b.Fatalf("app.New: %v", err)
	}
	return a
}

// grower makes an instance's data big as its tenant would: rows written
// through the instance's own role (its odoo.conf's), and files in its
// filestore given to its user.
type grower struct {
	b       *testing.B
	conn    *pgx.Conn
	dir     string
	uid     int
	gid     int
	fsBytes int64
	rnd     *rand.ChaCha8
}

// newGrower connects to src's database as src's role.
func newGrower(b *testing.B, cfg *config.Config, src string) *grower {
	ctx := context.Background()
	inst := cfg.Layout().NewInstance(src, provision.SSLHTTP)
	p := cfg.Layout().Paths(inst)
	conf := map[string]string{}
	raw, err := os.ReadFile(p.Conf)
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			conf[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	pc, err := pgx.ParseConfig("")
	if err != nil {
		b.Fatal(err)
	}
	port, _ := strconv.Atoi(conf["db_port"])
	pc.Host, pc.Port, pc.User, pc.Password, pc.Database = conf["db_host"], uint16(port), conf["db_user"], conf["db_password"], inst.Internal
	if pc.User != inst.DBRole {
		b.Fatalf("%s's odoo.conf names role %q, want %s", src, pc.User, inst.DBRole)
	}
	conn, err := pgx.ConnectConfig(ctx, pc)
	if err != nil {
		b.Fatalf("connect as %s: %v", pc.User, err)
	}
	u, err := user.Lookup(inst.User)
	if err != nil {
		b.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir := filepath.Join(p.DataDir, "filestore", inst.Internal)
	for _, d := range []string{filepath.Dir(dir), dir} {
		if _, err := os.Lstat(d); os.IsNotExist(err) {
			if err := os.Mkdir(d, 0o750); err != nil {
				b.Fatal(err)
			}
			if err := os.Lchown(d, uid, gid); err != nil {
				b.Fatal(err)
			}
		}
	}
	return &grower{b: b, conn: conn, dir: dir, uid: uid, gid: gid,
		rnd: rand.NewChaCha8([32]byte{1})}
}

func (g *grower) close() { g.conn.Close(context.Background()) }

// dbSize is the database's size on disk.
func (g *grower) dbSize() int64 {
	var n int64
	if err := g.conn.QueryRow(context.Background(), "SELECT pg_database_size(current_database())").Scan(&n); err != nil {
		g.b.Fatal(err)
	}
	return n
}

// grow adds rows until the database holds db bytes, and files until
// the filestore holds fs bytes.
func (g *grower) grow(fs, db int64) {
	ctx := context.Background()
	tables := []string{"bench_mail_message", "bench_move_line", "bench_stock_move", "bench_attachment_note"}
	for _, t := range tables {
		if _, err := g.conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS public."+t+" (id serial PRIMARY KEY, res_id int NOT NULL, body text, amount numeric); CREATE INDEX IF NOT EXISTS "+t+"_res_id ON public."+t+" (res_id)"); err != nil {
			g.b.Fatalf("grow the database: %v", err)
		}
	}
	for i := 0; g.dbSize() < db; i++ {
		t := tables[i%len(tables)]
		if _, err := g.conn.Exec(ctx, "INSERT INTO public."+t+" (res_id, body, amount) SELECT (random() * 100000)::int, repeat(md5(random()::text), 8), round((random() * 10000)::numeric, 2) FROM generate_series(1, 50000)"); err != nil {
			g.b.Fatalf("grow the database: %v", err)
		}
	}
	if _, err := g.conn.Exec(ctx, "ANALYZE"); err != nil {
		g.b.Fatalf("grow the database: %v", err)
	}
	const size = 512 << 10
	buf := make([]byte, size)
	for g.fsBytes < fs {
		g.rnd.Read(buf)
		name := hex.EncodeToString(buf[:20])
		sub := filepath.Join(g.dir, name[:2])
		if err := os.MkdirAll(sub, 0o750); err != nil {
			g.b.Fatal(err)
		}
		path := filepath.Join(sub, name)
		if err := os.WriteFile(path, buf, 0o640); err != nil {
			g.b.Fatal(err)
		}
		for _, p := range []string{sub, path} {
			if err := os.Lchown(p, g.uid, g.gid); err != nil {
				g.b.Fatal(err)
			}
		}
		g.fsBytes += size
	}
}

// bigDestroy is benchDestroy once the clone's unit is gone and its
// database dropped: the stand-in's session may outlive its unit a
// moment, and odoobot's role may not end a tenant's session (DROP …
// WITH (FORCE) fails), so a plain DROP is tried until it passes.
func bigDestroy(b *testing.B, a *app.App, name string) {
	b.Helper()
	ctx := context.Background()
	inst := a.Config.Layout().NewInstance(name, provision.SSLHTTP)
	a.Services.Remove(ctx, a.Config.Layout().Paths(inst).Unit)
	conn, err := pgx.Connect(ctx, a.Config.AdminDSN())
	if err != nil {
		b.Fatalf("remove %s: %v", name, err)
	}
	defer conn.Close(ctx)
	// A plain DROP DATABASE fails while a session is on it: try again.
	for i := 0; ; i++ {
		_, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{inst.Internal}.Sanitize())
		if err == nil {
			break
		}
		if i == 300 {
			b.Fatalf("remove %s's database: %v", name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	benchDestroy(b, a, name)
}
