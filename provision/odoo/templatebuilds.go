package odoo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/internal/atomicfile"
	"odoobot/internal/pgerr"
	"odoobot/provision"
)

// templateBuilds are the template initialisations of one Databases: the
// one running for each template, shared by every caller that needs it,
// and the last failure of each, for Templates.
type templateBuilds struct {
	mu      sync.Mutex
	running map[string]*templateBuild
	failed  map[string]templateFailure
	started atomic.Int64 // initialisations started, for tests
}

// templateBuild is one initialisation in progress. Its progress lines go
// to every caller waiting for it.
type templateBuild struct {
	meta    templateMeta
	started time.Time
	done    chan struct{}
	err     error // set before done is closed
	gaveUp  bool  // the builder's context ended: a waiter builds again

	mu   sync.Mutex
	last string
	subs map[int]func(string)
	next int
}

type templateFailure struct {
	meta templateMeta
	err  string
	at   time.Time
}

// report sends a progress line to every waiting caller.
func (b *templateBuild) report(text string) {
	b.mu.Lock()
	b.last = text
	subs := make([]func(string), 0, len(b.subs))
	for _, f := range b.subs {
		subs = append(subs, f)
	}
	b.mu.Unlock()
	for _, f := range subs {
		f(text)
	}
}

// subscribe adds f (nil: nothing) to the build's listeners; it returns
// the last line reported so far and the function that removes f.
func (b *templateBuild) subscribe(f func(string)) (string, func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if f == nil {
		return b.last, func() {}
	}
	if b.subs == nil {
		b.subs = map[int]func(string){}
	}
	id := b.next
	b.next++
	b.subs[id] = f
	return b.last, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.subs, id)
	}
}

func (b *templateBuild) lastLine() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}

// sharedBuild builds template tpl, or, when this process is already
// building it, waits for that build instead of starting another: the
// waiting caller's spec.Progress hears that it waits, the build's last
// line, and every line after it. A build whose own caller went away
// (its context ended) is taken over by a waiter. Across processes, the
// template's advisory lock (buildTemplate) keeps it to one build.
func (d *Databases) sharedBuild(ctx context.Context, spec provision.DatabaseSpec, tpl string) error {
	for {
		b, lead := d.builds.join(tpl, d.meta(spec))
		if lead {
			return d.lead(ctx, spec, tpl, b)
		}
		last, stop := b.subscribe(spec.Progress)
		if spec.Progress != nil {
			spec.Progress(fmt.Sprintf("waiting for template %s, being built since %s", tpl, b.started.UTC().Format("15:04:05")))
			if last != "" {
				spec.Progress(last)
			}
		}
		select {
		case <-b.done:
			stop()
		case <-ctx.Done():
			stop()
			return fmt.Errorf("wait for template %s: %w", tpl, ctx.Err())
		}
		if b.err == nil {
			return nil
		}
		if !b.gaveUp {
			return fmt.Errorf("template %s: the build this waited for failed: %w", tpl, b.err)
		}
	}
}

// join returns the running build of tpl, or a new one that the caller
// leads (lead true).
func (t *templateBuilds) join(tpl string, meta templateMeta) (*templateBuild, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if b := t.running[tpl]; b != nil {
		return b, false
	}
	if t.running == nil {
		t.running = map[string]*templateBuild{}
	}
	b := &templateBuild{meta: meta, started: time.Now(), done: make(chan struct{})}
	t.running[tpl] = b
	return b, true
}

// lead runs build b of tpl, for its caller and whoever joins it.
func (d *Databases) lead(ctx context.Context, spec provision.DatabaseSpec, tpl string, b *templateBuild) (err error) {
	d.builds.started.Add(1)
	_, stop := b.subscribe(spec.Progress)
	defer func() {
		stop()
		d.builds.mu.Lock()
		delete(d.builds.running, tpl)
		if d.builds.failed == nil {
			d.builds.failed = map[string]templateFailure{}
		}
		if err != nil && ctx.Err() == nil {
			d.builds.failed[tpl] = templateFailure{meta: b.meta, err: err.Error(), at: time.Now()}
		} else {
			delete(d.builds.failed, tpl)
		}
		d.builds.mu.Unlock()
		b.err, b.gaveUp = err, err != nil && ctx.Err() != nil
		close(b.done)
	}()
	run := spec
	run.Progress = b.report
	b.report(fmt.Sprintf("building template %s (Odoo %s %s, %d modules)", tpl, run.Release.Version, shortSHA(run.Release.Commit), len(normModules(spec.Modules))))
	if err := d.buildTemplate(ctx, run, tpl); err != nil {
		return err
	}
	if err := d.writeMeta(tpl, b.meta); err != nil {
		d.log.Warn("template made; what it holds is not recorded", "template", tpl, "err", err)
	}
	return nil
}

// lockTemplate takes the template's advisory lock; when another process
// holds it (building the template), progress hears so before the wait.
func lockTemplate(ctx context.Context, conn *pgx.Conn, key int64, progress func(string)) error {
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
		return err
	}
	if got {
		return nil
	}
	if progress != nil {
		progress("waiting for another odoobot process building this template")
	}
	_, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", key)
	return err
}

// EnsureTemplate makes the template of spec (its Release, Modules and
// Demo; Name, DataDir and the rest are not used) when it does not exist,
// as a creation would, sharing a build already running in this process
// (Create shares it too), then makes its spare copy in the background
// (Close waits for it). It returns the template's name and whether
// this call waited for a build (its own or one it joined).
func (d *Databases) EnsureTemplate(ctx context.Context, spec provision.DatabaseSpec) (_ string, built bool, err error) {
	defer pgerr.Type(&err)
	if spec.Release.Key == "" || d.cfg.Owner == "" {
		return "", false, errors.New("odoo: ensure template: Release and Owner must be set")
	}
	tpl := d.TemplateName(spec)
	ready, err := d.templateReady(ctx, tpl)
	if err != nil || ready {
		return tpl, false, err
	}
	if err := d.sharedBuild(ctx, spec, tpl); err != nil {
		return tpl, true, fmt.Errorf("odoo: ensure template %s: %w", tpl, err)
	}
	// Its spare too, so that the first creation from it renames one.
	d.replenish(tpl)
	return tpl, true, nil
}

// TemplateBuildsStarted returns how many template initialisations this
// Databases has started (a joined build counts once).
func (d *Databases) TemplateBuildsStarted() int64 { return d.builds.started.Load() }

// templateMeta is what a template holds, recorded beside its filestore
// (<FilestoreDir>/<template>.json) for Templates: the name is a hash.
type templateMeta struct {
	Release string    `json:"release"` // the release key
	Commit  string    `json:"commit"`
	Version string    `json:"version"`
	Modules []string  `json:"modules"`
	Demo    bool      `json:"demo"`
	Lang    string    `json:"lang"`
	Country string    `json:"country"`
	Made    time.Time `json:"made"`
}

func (d *Databases) meta(spec provision.DatabaseSpec) templateMeta {
	return templateMeta{
		Release: spec.Release.Key, Commit: spec.Release.Commit, Version: spec.Release.Version,
		Modules: normModules(spec.Modules), Demo: spec.Demo, Lang: d.cfg.Lang, Country: d.cfg.Country,
	}
}

func (d *Databases) metaPath(tpl string) string {
	return filepath.Join(d.cfg.FilestoreDir, tpl+".json")
}

func (d *Databases) writeMeta(tpl string, m templateMeta) error {
	m.Made = time.Now().UTC()
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return atomicfile.Write(d.metaPath(tpl), b, 0o644)
}

// readMeta returns what tpl's record says; ok false when there is none
// (a template made before odoobot kept one).
func (d *Databases) readMeta(tpl string) (templateMeta, bool) {
	var m templateMeta
	b, err := os.ReadFile(d.metaPath(tpl))
	if err != nil || json.Unmarshal(b, &m) != nil {
		return templateMeta{}, false
	}
	return m, true
}

// Templates lists this host's templates (those whose filestore is under
// FilestoreDir): the ready ones with their size and age, those this
// process is building with their last progress line, those being built
// by another process (their _init database exists), and those whose last
// build here failed, with why. Sorted: building, failed, then ready, the
// newest first.
func (d *Databases) Templates(ctx context.Context) (_ []provision.TemplateInfo, err error) {
	defer pgerr.Type(&err)
	conn, err := d.connect(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("odoo: templates: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, "SELECT datname, CASE WHEN pg_catalog.has_database_privilege(oid, 'CONNECT') THEN pg_catalog.pg_database_size(oid) ELSE 0 END,"+
		" coalesce(pg_catalog.shobj_description(oid, 'pg_database'), '')"+
		" FROM pg_catalog.pg_database WHERE datname LIKE $1", templatePrefix+"%")
	if err != nil {
		return nil, fmt.Errorf("odoo: templates: %w", err)
	}
	type dbRow struct {
		name    string
		size    int64
		comment string
	}
	dbs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (dbRow, error) {
		var x dbRow
		return x, r.Scan(&x.name, &x.size, &x.comment)
	})
	if err != nil {
		return nil, fmt.Errorf("odoo: templates: %w", err)
	}
	d.builds.mu.Lock()
	running := make(map[string]*templateBuild, len(d.builds.running))
	for k, v := range d.builds.running {
		running[k] = v
	}
	failed := make(map[string]templateFailure, len(d.builds.failed))
	for k, v := range d.builds.failed {
		failed[k] = v
	}
	d.builds.mu.Unlock()

	var out []provision.TemplateInfo
	seen := map[string]bool{}
	for tpl, b := range running {
		seen[tpl] = true
		out = append(out, infoOf(tpl, b.meta, true, provision.TemplateInfo{
			State: provision.TemplateBuilding, Progress: b.lastLine(), Since: b.started}))
	}
	for _, db := range dbs {
		tpl, init := strings.CutSuffix(db.name, "_init")
		if !templateNameRE.MatchString(tpl) || seen[tpl] {
			continue
		}
		if init {
			if _, ok := failed[tpl]; ok {
				continue // left by the failure shown below
			}
			m, ok := d.readMeta(tpl)
			if !ok {
				m.Release, _ = strings.CutPrefix(db.comment, releaseCommentPrefix)
			}
			seen[tpl] = true
			out = append(out, infoOf(tpl, m, ok, provision.TemplateInfo{
				State: provision.TemplateBuilding, Progress: "being built by another odoobot process"}))
			continue
		}
		store, err := os.Stat(filepath.Join(d.cfg.FilestoreDir, tpl))
		if err != nil {
			continue // not this host's, or incomplete: the next creation makes it again
		}
		m, ok := d.readMeta(tpl)
		if !ok {
			m.Release, _ = strings.CutPrefix(db.comment, releaseCommentPrefix)
			m.Made = store.ModTime()
		}
		seen[tpl] = true
		out = append(out, infoOf(tpl, m, ok, provision.TemplateInfo{State: provision.TemplateReady, Size: db.size, Since: m.Made}))
	}
	for tpl, f := range failed {
		if seen[tpl] {
			continue
		}
		out = append(out, infoOf(tpl, f.meta, true, provision.TemplateInfo{State: provision.TemplateFailed, Error: f.err, Since: f.at}))
	}
	order := map[provision.TemplateState]int{provision.TemplateBuilding: 0, provision.TemplateFailed: 1, provision.TemplateReady: 2}
	slices.SortFunc(out, func(a, b provision.TemplateInfo) int {
		if c := order[a.State] - order[b.State]; c != 0 {
			return c
		}
		return b.Since.Compare(a.Since)
	})
	return out, nil
}

// infoOf fills in what meta says of template tpl (known: meta was
// recorded) into info.
func infoOf(tpl string, m templateMeta, known bool, info provision.TemplateInfo) provision.TemplateInfo {
	info.Name = tpl
	info.Release, info.Key = m.Release, m.Release
	if m.Commit != "" {
		info.Release = shortSHA(m.Commit)
	}
	info.Version = m.Version
	if known {
		info.Modules, info.Lang = m.Modules, m.Lang
		if info.Modules == nil {
			info.Modules = []string{}
		}
	}
	return info
}
