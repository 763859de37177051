package odoo

import (
	"context"
	"errors"
	"fmt"
	"odoobot/internal/nofollow"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/provision"
)

// releaseCommentPrefix starts the comment of every template database
// odoobot makes (COMMENT ON DATABASE): "odoobot release <key>", the
// release the template was initialised from.
const releaseCommentPrefix = "odoobot release "

// releaseComment is the comment of a template of release key.
func releaseComment(key string) string { return releaseCommentPrefix + key }

// quoteLiteral quotes s as an SQL string literal.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

var (
	releaseKeyRE   = regexp.MustCompile(`^[0-9a-f]{16}$`)
	templateNameRE = regexp.MustCompile(`^` + templatePrefix + `[0-9a-f]{12}$`)
)

// Collector removes the releases and template databases no instance
// uses (provision.GarbageCollector). Releases and Databases are the
// ones creations use; both are required.
type Collector struct {
	Releases  *Releases
	Databases *Databases
}

// Collect removes, from the release cache, every release directory whose
// key is not in use, and every template database whose release (its
// comment, "odoobot release <key>") is not in use, with its spare copy,
// its half-made _init database, its _owner role and its filestore. When
// only is not empty, only release only and its templates are candidates
// (what a delete made unused); everything else is left as it is.
//
// In use are: the keys inUse returns, the releases named in the files it
// returns (an instance that records no release: its odoo.conf and unit
// name its release's directory), and the newest release — the one whose
// completion marker was touched last, as Ensure touches it at every use:
// the release the next creation most likely takes. inUse is called at
// the start and again before each removal, under the release's lock
// (which Ensure takes shared while it hands a release out); an error
// from it (a creation running) stops the collection there, keeping what
// is left. A release being built (its lock held) and a template being
// initialised or copied (its advisory lock held) are left alone; so are
// templates without the release comment (made before it was written),
// templates that are not this host's (their filestore is not under
// Databases' FilestoreDir: another odoobot sharing the cluster), and
// anything in the cache that is not a release.
func (c *Collector) Collect(ctx context.Context, only string, inUse func(context.Context) (provision.ReleasesInUse, error)) (provision.GCReport, error) {
	var rep provision.GCReport
	if c.Releases == nil || c.Databases == nil || inUse == nil {
		return rep, errors.New("odoo: gc: Releases, Databases and inUse must be set")
	}
	cache := c.Releases.cfg.CacheDir
	keep := func(ctx context.Context) (map[string]bool, error) {
		u, err := inUse(ctx)
		if err != nil {
			return nil, err
		}
		keys := map[string]bool{}
		for k := range u.Keys {
			keys[k] = true
		}
		for _, f := range u.Files {
			raw, err := nofollow.ReadFile(f, 1<<20)
			if errors.Is(err, os.ErrNotExist) {
				continue // a file that is not there runs nothing
			}
			if err != nil {
				return nil, fmt.Errorf("which release runs an instance that records none: %w; nothing more removed", err)
			}
			for _, k := range releasesNamed(string(raw), cache) {
				keys[k] = true
			}
		}
		return keys, nil
	}
	keys, err := keep(ctx)
	if err != nil {
		return rep, fmt.Errorf("odoo: gc: %w", err)
	}
	releases, err := listReleases(cache)
	if err != nil {
		return rep, fmt.Errorf("odoo: gc: %w", err)
	}
	if newest := newestRelease(releases); newest != "" {
		rep.Newest = newest
		keys[newest] = true
	}
	for _, rel := range releases {
		if only != "" && rel.key != only {
			continue
		}
		if keys[rel.key] {
			rep.KeptReleases = append(rep.KeptReleases, rel.key)
			continue
		}
		removed, err := c.removeRelease(ctx, cache, rel.key, keep)
		if err != nil {
			return rep, fmt.Errorf("odoo: gc: release %s: %w", rel.key, err)
		}
		if removed {
			rep.RemovedReleases = append(rep.RemovedReleases, rel.key)
		} else {
			rep.KeptReleases = append(rep.KeptReleases, rel.key)
		}
	}
	if err := c.collectTemplates(ctx, only, keys, keep, &rep); err != nil {
		return rep, fmt.Errorf("odoo: gc: %w", err)
	}
	return rep, nil
}

// removeRelease removes release key's directory under its exclusive
// lock, after asking keep again; it reports false when the release is
// busy (being built or handed out) or now in use.
func (c *Collector) removeRelease(ctx context.Context, cache, key string, keep func(context.Context) (map[string]bool, error)) (bool, error) {
	unlock, ok, err := tryFlock(filepath.Join(cache, key+".lock"))
	if err != nil || !ok {
		return false, err
	}
	defer unlock()
	keys, err := keep(ctx)
	if err != nil {
		return false, err
	}
	if keys[key] {
		return false, nil
	}
	dir := filepath.Join(cache, key)
	// The marker goes first: a removal cut short leaves a half-built
	// release, which Ensure rebuilds, never a complete-looking broken one.
	if err := os.Remove(filepath.Join(dir, completeMarker)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return false, err
	}
	c.Releases.log.Info("release removed: no instance uses it", "release", key, "dir", dir)
	return true, nil
}

// cachedRelease is a release directory in the cache.
type cachedRelease struct {
	key  string
	used time.Time // its completion marker's modification time; zero when incomplete
}

// listReleases lists the directories of cache named like a release key,
// ordered by key. A missing cache holds none.
func listReleases(cache string) ([]cachedRelease, error) {
	entries, err := os.ReadDir(cache)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []cachedRelease
	for _, e := range entries {
		if !e.IsDir() || !releaseKeyRE.MatchString(e.Name()) {
			continue
		}
		r := cachedRelease{key: e.Name()}
		if st, err := os.Stat(filepath.Join(cache, e.Name(), completeMarker)); err == nil {
			r.used = st.ModTime()
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out, nil
}

// newestRelease is the complete release used last; "" when none is
// complete.
func newestRelease(rels []cachedRelease) string {
	var newest cachedRelease
	for _, r := range rels {
		if !r.used.IsZero() && r.used.After(newest.used) {
			newest = r
		}
	}
	return newest.key
}

// releasesNamed returns the keys of the releases of cache that text
// names by their directory (cache/<key>/…).
func releasesNamed(text, cache string) []string {
	prefix := strings.TrimSuffix(cache, "/") + "/"
	var keys []string
	for rest := text; ; {
		i := strings.Index(rest, prefix)
		if i < 0 {
			return keys
		}
		rest = rest[i+len(prefix):]
		if len(rest) >= 16 && releaseKeyRE.MatchString(rest[:16]) && (len(rest) == 16 || !isHex(rest[16])) {
			keys = append(keys, rest[:16])
		}
	}
}

func isHex(b byte) bool { return b >= '0' && b <= '9' || b >= 'a' && b <= 'f' }

// collectTemplates drops the templates whose release is not kept.
func (c *Collector) collectTemplates(ctx context.Context, only string, keys map[string]bool, keep func(context.Context) (map[string]bool, error), rep *provision.GCReport) error {
	d := c.Databases
	conn, err := d.connect(ctx, "")
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT datname, coalesce(shobj_description(oid, 'pg_database'), '')
FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname`, templatePrefix)
	if err != nil {
		return fmt.Errorf("list templates: %w", err)
	}
	type template struct{ name, key string }
	var tpls []template
	for rows.Next() {
		var name, comment string
		if err := rows.Scan(&name, &comment); err != nil {
			rows.Close()
			return fmt.Errorf("list templates: %w", err)
		}
		if !templateNameRE.MatchString(name) {
			continue // a spare, an _init: handled with their template
		}
		if _, err := os.Stat(filepath.Join(c.Databases.cfg.FilestoreDir, name)); err != nil {
			continue // not this host's: its filestore is elsewhere (another odoobot sharing the cluster)
		}
		key, ok := strings.CutPrefix(comment, releaseCommentPrefix)
		switch {
		case !ok && only == "":
			rep.UnmarkedTemplates = append(rep.UnmarkedTemplates, name)
			continue
		case !ok || (only != "" && key != only):
			continue
		}
		tpls = append(tpls, template{name, key})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list templates: %w", err)
	}
	for _, t := range tpls {
		if keys[t.key] {
			rep.KeptTemplates = append(rep.KeptTemplates, t.name)
			continue
		}
		dropped, err := c.dropTemplate(ctx, conn, t.name, t.key, keep)
		if err != nil {
			return fmt.Errorf("template %s: %w", t.name, err)
		}
		if dropped {
			rep.RemovedTemplates = append(rep.RemovedTemplates, t.name)
		} else {
			rep.KeptTemplates = append(rep.KeptTemplates, t.name)
		}
	}
	return nil
}

// roleDependents names the databases where role still owns objects or
// holds privileges (pg_shdepend), for an error that says where to look.
func roleDependents(ctx context.Context, conn *pgx.Conn, role string) string {
	rows, err := conn.Query(ctx, `SELECT DISTINCT coalesce(d.datname, '(the cluster)') || ' (' || s.deptype || ')'
FROM pg_shdepend s LEFT JOIN pg_database d ON d.oid = s.dbid
WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = (SELECT oid FROM pg_roles WHERE rolname = $1)
ORDER BY 1`, role)
	if err != nil {
		return "an unknown database (" + err.Error() + ")"
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(names) == 0 {
		return "another database"
	}
	return strings.Join(names, ", ")
}

// templateLockWait bounds how long gc waits for a template's lock: longer
// than a spare's copy, shorter than a template's initialisation.
const templateLockWait = 2 * time.Minute

// dropTemplate drops template tpl of release key with its spare, its
// _init database, its role and its filestore, under the template's
// advisory lock and after asking keep again; it reports false when the
// template is busy or its release now in use.
func (c *Collector) dropTemplate(ctx context.Context, conn *pgx.Conn, tpl, key string, keep func(context.Context) (map[string]bool, error)) (bool, error) {
	d := c.Databases
	// The lock is held by the template's initialisation and by a spare
	// being copied from it (seconds): wait for those, a bounded time.
	var locked bool
	lctx, cancel := context.WithTimeout(ctx, templateLockWait)
	err := conn.QueryRow(lctx, "SELECT pg_advisory_lock($1) IS NOT NULL", advisoryKey(tpl)).Scan(&locked)
	cancel()
	if err != nil {
		if ctx.Err() == nil && lctx.Err() != nil {
			return false, nil // still busy: left for the next gc
		}
		return false, err
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", advisoryKey(tpl))
	keys, err := keep(ctx)
	if err != nil {
		return false, err
	}
	if keys[key] {
		return false, nil
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident(tpl)+" WITH IS_TEMPLATE false"); err != nil {
		return false, fmt.Errorf("unmark template: %w", err)
	}
	for _, db := range []string{tpl, tpl + "_init"} {
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(db)+" WITH (FORCE)"); err != nil {
			return false, fmt.Errorf("drop %s: %w", db, err)
		}
	}
	if err := dropSpare(ctx, conn, tpl); err != nil {
		return false, err
	}
	if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+ident(templateRole(tpl))); err != nil {
		return false, fmt.Errorf("drop role %s (it still has objects or privileges in %s): %w", templateRole(tpl), roleDependents(ctx, conn, templateRole(tpl)), err)
	}
	if err := os.RemoveAll(filepath.Join(d.cfg.FilestoreDir, tpl)); err != nil {
		return false, fmt.Errorf("remove its filestore: %w", err)
	}
	d.log.Info("template removed: no instance uses its release", "template", tpl, "release", key)
	return true, nil
}
