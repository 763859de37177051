package odoo

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/internal/pgdb"
	"odoobot/internal/pgerr"
	"odoobot/internal/pgrole"
	"odoobot/provision"
	"odoobot/templates"
)

// templatePrefix starts the name of every template database odoobot makes.
const templatePrefix = "odoobot_tpl_"

// markerKey is the ir_config_parameter written into every database odoobot
// creates; its value is the template the database was cloned from.
const markerKey = "odoobot.template"

// DatabaseConfig configures Databases.
type DatabaseConfig struct {
	// AdminDSN connects to the "postgres" database as a role that may
	// create databases (CREATEDB). It holds a password: it is never logged.
	AdminDSN string
	// Owner (DB_USER) owns the template databases.
	Owner string
	// Tenant opens a connection to an instance's database logged in as
	// the role that owns it, search_path pg_catalog (tenant.Manager's
	// Connect): every statement odoobot runs in an instance's database
	// (its admin's password, a copy's identity, Param, the marker Drop
	// reads) runs on it, so that what the tenant planted there runs as
	// the tenant. Its error for a database odoobot must not log in to is
	// pgrole.ErrForeignRole. Required: without it, everything that
	// reads or writes in an instance's database fails, saying so.
	Tenant func(ctx context.Context, db string) (*pgx.Conn, error)
	// DBHost and DBPort are where odoo-bin reaches PostgreSQL to
	// initialise a template. It connects as the template's own role
	// (templateRole), with a password made for that one initialisation:
	// Odoo's code never sees odoobot's credentials.
	DBHost string
	DBPort int
	// FilestoreDir keeps the templates' filestores, one directory per
	// template, e.g. <STATE_DIR>/templates. Created if missing.
	FilestoreDir string
	// Lang (e.g. "es_AR") is loaded into every new template and made the
	// admin user's language, as Odoo's database creation does; "" keeps
	// en_US alone.
	Lang string
	// Country (an ISO 3166 code, e.g. "AR") is set on the first company of
	// every new template, with its currency, and its time zone on the users
	// when it has only one, as Odoo's database creation does; "" sets none.
	Country string
	// Unaccent also creates the unaccent extension (made IMMUTABLE, as
	// Odoo does; that needs a superuser) and initialises templates with
	// Odoo's unaccent option.
	Unaccent bool
	// Community refuses, before initialising a template, modules whose
	// licence is not LGPL-3 among those the installation brings (the
	// modules asked for, their dependencies, and what auto-installs with
	// them, read from their manifests), and modules not found.
	Community bool
	// BuildUser runs every odoo-bin of a template's initialisation and
	// owns its work dir while it runs; the template's filestore is then
	// handed to root. nil runs odoo-bin as odoobot's own user.
	BuildUser *BuildUser
	// Logger receives progress; nil logs nothing.
	Logger *slog.Logger
}

// Databases creates Odoo databases from per-release templates: the first
// database of a (release, modules, demo, language, country, unaccent) is
// made as Odoo's database creation makes one (UTF8, collation C from
// template0, pg_trgm), initialised by odoo-bin and kept as a template;
// every database is then a CREATE DATABASE … TEMPLATE, made unique as
// Odoo's own duplicate does. Safe for concurrent use, also across
// processes (a PostgreSQL advisory lock guards each template).
type Databases struct {
	cfg       DatabaseConfig
	log       *slog.Logger
	spareBusy atomic.Bool    // a spare database is being made
	bg        sync.WaitGroup // background work (spares), for Close
	builds    templateBuilds // the templates this process initialises (templatebuilds.go)
}

// Close waits for the background work (a spare database being made) to
// end. The Databases may still be used after it.
func (d *Databases) Close() { d.bg.Wait() }

// NewDatabases returns a database maker for cfg.
func NewDatabases(cfg DatabaseConfig) *Databases {
	return &Databases{cfg: cfg, log: orDiscard(cfg.Logger)}
}

// asTenant opens a connection to database db as its own role (Tenant),
// or says that none is configured.
func (d *Databases) asTenant(ctx context.Context, db string) (*pgx.Conn, error) {
	if d.cfg.Tenant == nil {
		return nil, errors.New("odoo: no connection as an instance's role is configured (DatabaseConfig.Tenant): odoobot does not log in to an instance's database as its own role")
	}
	return d.cfg.Tenant(ctx, db)
}

// templateFormat names how templates are made (collation, extensions,
// the init runs); it changes when that does, so that a template made the
// old way is never cloned.
const templateFormat = "3"

// TemplateName is the template database that spec's database is cloned
// from: "odoobot_tpl_" and 12 hex digits of a hash of everything that
// makes its content: how templates are made, the release key, the sorted
// module list, the demo flag, Lang, Country, Unaccent and Community.
func (d *Databases) TemplateName(spec provision.DatabaseSpec) string {
	h := sha256.New()
	for _, part := range []string{
		templateFormat,
		spec.Release.Key,
		strings.Join(normModules(spec.Modules), ","),
		strconv.FormatBool(spec.Demo),
		d.cfg.Lang,
		strings.ToUpper(d.cfg.Country),
		strconv.FormatBool(d.cfg.Unaccent),
		strconv.FormatBool(d.cfg.Community),
	} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return templatePrefix + hex.EncodeToString(h.Sum(nil))[:12]
}

// Create makes database spec.Name (UTF8, owned by Owner) from its template,
// initialising the template first when it does not exist; concurrent
// callers wait for one initialisation. The new database gets a fresh
// database.uuid and database.secret, loses database.enterprise_code, has
// web.base.url = spec.BaseURL frozen and report.url = spec.ReportURL (when
// set), and its filestore is copied to <spec.DataDir>/filestore/<spec.Name>.
// Its admin user keeps the template's password ("admin"): the caller sets
// another with SetAdminPassword.
//
// A database of that name already made by odoobot from the same template
// is left alone (nil): Create is safe to repeat. Any other existing
// database is refused and never touched. A failed Create leaves no
// database of that name behind.
func (d *Databases) Create(ctx context.Context, spec provision.DatabaseSpec) (err error) {
	defer pgerr.Type(&err)
	if spec.Name == "" || spec.DataDir == "" || spec.Release.Key == "" || d.cfg.Owner == "" {
		return errors.New("odoo: create database: Name, DataDir, Release and Owner must be set")
	}
	owner := spec.Owner
	if owner == "" {
		owner = d.cfg.Owner
	}
	tpl := d.TemplateName(spec)
	log := d.log.With("database", spec.Name, "template", tpl)

	exists, err := d.Exists(ctx, spec.Name)
	if err != nil {
		return fmt.Errorf("odoo: create database %s: %w", spec.Name, err)
	}
	if exists {
		done, err := d.checkOurs(ctx, spec.Name, tpl)
		if err != nil {
			return err
		}
		if done {
			if spec.AdminPassword == "" {
				return nil
			}
			return d.SetAdminPassword(ctx, spec.Name, spec.AdminPassword)
		}
		// Copied by odoobot but never finished (a crash between the copy
		// and the end of finishClone): made again.
		log.Warn("database copied but never finished: made again")
		if err := d.drop(ctx, spec.Name); err != nil {
			return fmt.Errorf("odoo: create database %s: %w", spec.Name, err)
		}
	}
	// The password's hash (600,000 rounds of PBKDF2, about half a second)
	// is computed while the database is copied.
	hashed := make(chan hashResult, 1)
	if spec.AdminPassword != "" {
		go func() {
			h, err := HashPassword(spec.AdminPassword, 0)
			hashed <- hashResult{h, err}
		}()
	} else {
		hashed <- hashResult{}
	}
	if err := d.ensureTemplate(ctx, spec, tpl); err != nil {
		return fmt.Errorf("odoo: create database %s: %w", spec.Name, err)
	}

	start := time.Now()
	conn, err := d.connect(ctx, "")
	if err != nil {
		return fmt.Errorf("odoo: create database %s: %w", spec.Name, err)
	}
	spare, err := d.takeSpare(ctx, conn, tpl, spec.Name)
	if err == nil && !spare {
		_, err = conn.Exec(ctx, "CREATE DATABASE "+ident(spec.Name)+" TEMPLATE "+ident(tpl)+
			" OWNER "+ident(d.cfg.Owner)+" ENCODING 'UTF8'")
	}
	if err == nil {
		err = closeAndOwn(ctx, conn, spec.Name, owner)
	}
	conn.Close(context.WithoutCancel(ctx))
	if err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if dropErr := d.drop(cctx, spec.Name); dropErr != nil {
			err = errors.Join(err, dropErr)
		}
		return fmt.Errorf("odoo: create database %s from %s: %w", spec.Name, tpl, err)
	}
	d.replenish(tpl)
	store := filepath.Join(spec.DataDir, "filestore", spec.Name)
	if err := d.finishClone(ctx, spec, tpl, owner, store, hashed); err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if dropErr := d.drop(cctx, spec.Name); dropErr != nil {
			err = errors.Join(err, dropErr)
		}
		if rmErr := os.RemoveAll(store); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("remove filestore: %w", rmErr))
		}
		return fmt.Errorf("odoo: create database %s (rolled back): %w", spec.Name, err)
	}
	log.Info("database created from template", "took", time.Since(start).Round(time.Millisecond), "spare", spare)
	return nil
}

type hashResult struct {
	hash string
	err  error
}

// closeAndOwn closes database db to every role but its owner and gives
// it to owner (whose members, odoobot's role among them, keep access).
func closeAndOwn(ctx context.Context, conn *pgx.Conn, db, owner string) error {
	if _, err := conn.Exec(ctx, "REVOKE CONNECT, TEMPORARY ON DATABASE "+ident(db)+" FROM PUBLIC"); err != nil {
		return fmt.Errorf("close %s to other roles: %w", db, err)
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident(db)+" OWNER TO "+ident(owner)); err != nil {
		return fmt.Errorf("give %s to role %s: %w", db, owner, err)
	}
	return nil
}

// spareName is the database kept copied from template tpl in advance, so
// that a creation renames it rather than waits for a copy (a copy of a
// real Odoo template takes seconds on a busy disk; a rename, none). A
// spare carries no odoobot marker until it becomes an instance's.
func spareName(tpl string) string { return tpl + "_spare" }

// takeSpare renames tpl's spare database to name when there is one; it
// reports whether it did. Two creations racing for one spare are safe:
// the rename is atomic and the loser finds none.
func (d *Databases) takeSpare(ctx context.Context, conn *pgx.Conn, tpl, name string) (bool, error) {
	ok, err := pgdb.Exists(ctx, conn, spareName(tpl))
	if err != nil || !ok {
		return false, err
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident(spareName(tpl))+" RENAME TO "+ident(name)); err != nil {
		d.log.Warn("spare database not taken; copying the template", "template", tpl, "err", err)
		return false, nil
	}
	return true, nil
}

// replenish makes tpl's spare database again, in the background: copied
// under another name, then renamed, so a spare is always whole. One runs
// at a time per Databases; a copy left by a crash is dropped first. A
// failure is logged and costs only the next creation's speed.
func (d *Databases) replenish(tpl string) {
	if !d.spareBusy.CompareAndSwap(false, true) {
		return
	}
	d.bg.Add(1)
	go func() {
		defer d.bg.Done()
		defer d.spareBusy.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if err := d.makeSpare(ctx, tpl); err != nil {
			d.log.Warn("spare database not made", "template", tpl, "err", err)
		}
	}()
}

func (d *Databases) makeSpare(ctx context.Context, tpl string) error {
	conn, err := d.connect(ctx, "")
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// Under the template's lock, as its initialisation and gc: gc never
	// drops a template while its spare is being copied (and a spare is
	// never copied from a template gc is dropping).
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", advisoryKey(tpl)); err != nil {
		return err
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", advisoryKey(tpl))
	spare, tmp := spareName(tpl), spareName(tpl)+"_new"
	if ok, err := pgdb.Exists(ctx, conn, tpl); err != nil || !ok {
		return err // gone (gc): nothing to copy
	}
	if ok, err := pgdb.Exists(ctx, conn, spare); err != nil || ok {
		return err
	}
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(tmp)+" WITH (FORCE)"); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident(tmp)+" TEMPLATE "+ident(tpl)+
		" OWNER "+ident(d.cfg.Owner)+" ENCODING 'UTF8'"); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "REVOKE CONNECT, TEMPORARY ON DATABASE "+ident(tmp)+" FROM PUBLIC"); err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "ALTER DATABASE "+ident(tmp)+" RENAME TO "+ident(spare))
	return err
}

// dropSpare drops tpl's spare, and a half-made one, with the template.
func dropSpare(ctx context.Context, conn *pgx.Conn, tpl string) error {
	for _, n := range []string{spareName(tpl), spareName(tpl) + "_new"} {
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(n)+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop %s: %w", n, err)
		}
	}
	return nil
}

// finishClone does what Odoo's duplicate does after the copy: the
// filestore, then everything in the database given to owner, new identity
// parameters and the odoobot marker, written last so that a database
// marked complete is a complete one.
func (d *Databases) finishClone(ctx context.Context, spec provision.DatabaseSpec, tpl, owner, store string, hashed <-chan hashResult) error {
	if err := copyTree(filepath.Join(d.cfg.FilestoreDir, tpl), store); err != nil {
		return fmt.Errorf("copy filestore: %w", err)
	}
	// What Odoo made in the template belongs to the template's role,
	// which owns nothing else: its objects here become owner's. This
	// needs odoobot's role (a member of both) on a copy of odoobot's own
	// template that no tenant has touched; REASSIGN runs no user code.
	admin, err := d.connectSafe(ctx, spec.Name)
	if err != nil {
		return err
	}
	_, err = admin.Exec(ctx, "REASSIGN OWNED BY "+ident(templateRole(tpl))+" TO "+ident(owner))
	admin.Close(context.WithoutCancel(ctx))
	if err != nil {
		return fmt.Errorf("give the database's objects to %s: %w", owner, err)
	}
	var h hashResult
	select {
	case h = <-hashed:
	case <-ctx.Done():
		return ctx.Err()
	}
	if h.err != nil {
		return h.err
	}
	conn, err := d.asTenant(ctx, spec.Name)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if h.hash != "" {
			if err := setAdminHash(ctx, tx, spec.AdminPassword, h.hash); err != nil {
				return err
			}
		}
		return newIdentity(ctx, tx, spec.BaseURL, spec.ReportURL, tpl)
	})
	if err != nil {
		return fmt.Errorf("reset parameters: %w", err)
	}
	return nil
}

// setParam sets an ir_config_parameter without relying on a unique index
// on key (Odoo has one; nothing here needs it).
func setParam(ctx context.Context, tx pgx.Tx, key, value string) error {
	if _, err := tx.Exec(ctx, "UPDATE public.ir_config_parameter SET value = $2 WHERE key = $1", key, value); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, "INSERT INTO public.ir_config_parameter (key, value) SELECT $1::varchar, $2::text"+
		" WHERE NOT EXISTS (SELECT 1 FROM public.ir_config_parameter WHERE key = $1::varchar)", key, value)
	return err
}

// pendingPrefix starts the marker of a database copied from a template
// but not finished: every template carries it, so a copy is odoobot's
// from its first moment, and finishClone replaces it with the template's
// name, last.
const pendingPrefix = "pending:"

// checkOurs reports, for an existing database name, whether odoobot made
// it from tpl and finished it (true), or copied it and never finished it
// (false, a crash in between: the caller makes it again); any other
// database is an error saying why it is not odoobot's to take.
func (d *Databases) checkOurs(ctx context.Context, name, tpl string) (done bool, err error) {
	got, err := d.marker(ctx, name)
	switch {
	case err != nil:
		return false, fmt.Errorf("odoo: create database: database %s already exists and could not be checked: %w", name, err)
	case got == tpl:
		d.log.Info("database already exists, made by odoobot", "database", name, "template", tpl)
		return true, nil
	case strings.HasPrefix(got, pendingPrefix):
		return false, nil
	case got == "":
		return false, fmt.Errorf("odoo: create database: database %s already exists and was not made by odoobot: %w", name, provision.ErrInstanceExists)
	default:
		return false, fmt.Errorf("odoo: create database: database %s already exists, made by odoobot from another template (%s, not %s): %w", name, got, tpl, provision.ErrInstanceExists)
	}
}

// marker returns the database's odoobot.template parameter, "" if none,
// read as the database's own role (Tenant). A database owned by a role
// that is neither odoobot's nor one it made for an instance has none:
// it is not odoobot's.
func (d *Databases) marker(ctx context.Context, name string) (string, error) {
	conn, err := d.asTenant(ctx, name)
	if errors.Is(err, pgrole.ErrForeignRole) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var table *string
	if err := conn.QueryRow(ctx, "SELECT pg_catalog.to_regclass('public.ir_config_parameter')::text").Scan(&table); err != nil {
		return "", err
	}
	if table == nil {
		return "", nil
	}
	var v string
	err = conn.QueryRow(ctx, "SELECT value FROM public.ir_config_parameter WHERE key = $1", markerKey).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// ensureTemplate makes template tpl when it does not exist yet, under an
// advisory lock so that concurrent callers wait for one initialisation.
//
// A template is whole only with its filestore (FilestoreDir/<tpl>): one
// whose filestore is gone (FilestoreDir moved, a disk cleaned) is dropped
// and made again rather than cloned without its files.
func (d *Databases) ensureTemplate(ctx context.Context, spec provision.DatabaseSpec, tpl string) error {
	if ready, err := d.templateReady(ctx, tpl); err != nil || ready {
		return err
	}
	return d.sharedBuild(ctx, spec, tpl)
}

// templateReady reports whether template tpl exists with its filestore.
func (d *Databases) templateReady(ctx context.Context, tpl string) (bool, error) {
	_, statErr := os.Stat(filepath.Join(d.cfg.FilestoreDir, tpl))
	ok, err := d.Exists(ctx, tpl)
	return ok && statErr == nil, err
}

// buildTemplate is ensureTemplate's build, under the template's advisory
// lock: another process building it is waited for (said through
// spec.Progress); a template without its filestore is dropped and made
// again.
func (d *Databases) buildTemplate(ctx context.Context, spec provision.DatabaseSpec, tpl string) error {
	store := filepath.Join(d.cfg.FilestoreDir, tpl)
	conn, err := d.connect(ctx, "")
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	lockKey := advisoryKey(tpl)
	if err := lockTemplate(ctx, conn, lockKey, spec.Progress); err != nil {
		return fmt.Errorf("wait for template %s: %w", tpl, err)
	}
	// Closing the session releases the lock too, should the unlock fail.
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockKey)
	ok, err := pgdb.Exists(ctx, conn, tpl)
	if err != nil {
		return err
	}
	if ok {
		if _, err := os.Stat(store); err == nil {
			return nil
		}
		d.log.Warn("template database without its filestore: made again", "template", tpl, "filestore", store)
		if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident(tpl)+" WITH IS_TEMPLATE false"); err != nil {
			return fmt.Errorf("drop incomplete template %s: %w", tpl, err)
		}
		if _, err := conn.Exec(ctx, "DROP DATABASE "+ident(tpl)+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop incomplete template %s: %w", tpl, err)
		}
		if err := dropSpare(ctx, conn, tpl); err != nil {
			return fmt.Errorf("drop incomplete template %s: %w", tpl, err)
		}
	}
	return d.initTemplate(ctx, conn, spec, tpl)
}

// initTemplate runs odoo-bin -i into <tpl>_init, then turns it into the
// template tpl. On failure nothing of it is left.
func (d *Databases) initTemplate(ctx context.Context, conn *pgx.Conn, spec provision.DatabaseSpec, tpl string) (err error) {
	start := time.Now()
	modules := normModules(spec.Modules)
	log := d.log.With("template", tpl, "release", spec.Release.Key, "modules", strings.Join(modules, ","))
	if d.cfg.Community {
		set, err := ResolveModules(moduleDirs(spec.Release), modules)
		if err != nil {
			return fmt.Errorf("check the modules' licences: %w", err)
		}
		if err := set.CheckCommunity(); err != nil {
			return err
		}
		log.Info("community edition: every module to install is LGPL-3", "installed", len(set))
	}
	log.Info("initialising template database")
	initDB := tpl + "_init"
	drop := func() error { // on a fresh connection: a cancelled ctx may have closed conn
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		return d.drop(cctx, initDB)
	}
	if err := drop(); err != nil { // left by a crash
		return fmt.Errorf("drop stale %s: %w", initDB, err)
	}
	if err := os.MkdirAll(d.cfg.FilestoreDir, 0o755); err != nil {
		return fmt.Errorf("template filestores: %w", err)
	}
	work, err := os.MkdirTemp(d.cfg.FilestoreDir, ".init-"+tpl+"-")
	if err != nil {
		return fmt.Errorf("template work dir: %w", err)
	}
	defer os.RemoveAll(work)
	if err := d.cfg.BuildUser.give(work); err != nil {
		return fmt.Errorf("template work dir: %w", err)
	}
	defer func() {
		if err != nil {
			if dropErr := drop(); dropErr != nil {
				err = errors.Join(err, fmt.Errorf("drop %s: %w", initDB, dropErr))
			}
		}
	}()

	// As Odoo's _create_empty_database: collation C, which is safe with
	// template0 only and gives more useful indexes.
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident(initDB)+" OWNER "+ident(d.cfg.Owner)+
		" ENCODING 'UTF8' LC_COLLATE 'C' TEMPLATE template0"); err != nil {
		return fmt.Errorf("create %s: %w", initDB, err)
	}
	// Which release the template belongs to, for GC; the rename to tpl
	// keeps it.
	if _, err := conn.Exec(ctx, "COMMENT ON DATABASE "+ident(initDB)+" IS "+quoteLiteral(releaseComment(spec.Release.Key))); err != nil {
		return fmt.Errorf("record the release of %s: %w", initDB, err)
	}
	if err := d.prepare(ctx, initDB); err != nil {
		return err
	}
	role := templateRole(tpl)
	rolePassword, err := d.loginTemplateRole(ctx, conn, role)
	if err != nil {
		return err
	}
	defer func() {
		// The password dies with the initialisation.
		if _, nerr := conn.Exec(context.WithoutCancel(ctx), "ALTER ROLE "+ident(role)+" NOLOGIN PASSWORD NULL"); nerr != nil && err == nil {
			err = fmt.Errorf("close template role %s: %w", role, nerr)
		}
	}()
	dataDir := filepath.Join(work, "data")
	conf := filepath.Join(work, "odoo.conf")
	if err := os.WriteFile(conf, []byte(d.initConf(spec.Release, dataDir, role, rolePassword)), 0o600); err != nil {
		return fmt.Errorf("write init odoo.conf: %w", err)
	}
	if err := d.cfg.BuildUser.give(conf); err != nil { // odoo-bin reads it
		return fmt.Errorf("write init odoo.conf: %w", err)
	}
	if err := d.initRuns(ctx, spec, work, conf, initDB, modules); err != nil {
		return err
	}
	// odoo-bin is done: its odoo.conf goes, and the work dir is root's
	// before its filestore is taken out of it.
	if err := os.Remove(conf); err != nil {
		return fmt.Errorf("remove init odoo.conf: %w", err)
	}
	if err := d.cfg.BuildUser.handOver(work); err != nil {
		return fmt.Errorf("keep template filestore: %w", err)
	}
	if err := d.markPending(ctx, initDB, tpl); err != nil {
		return err
	}

	store := filepath.Join(d.cfg.FilestoreDir, tpl)
	if err := os.RemoveAll(store); err != nil { // left by a crash
		return fmt.Errorf("remove stale template filestore: %w", err)
	}
	src := filepath.Join(dataDir, "filestore", initDB)
	if _, statErr := os.Stat(src); errors.Is(statErr, fs.ErrNotExist) {
		err = os.MkdirAll(store, 0o755) // no attachment yet: an empty filestore
	} else {
		err = os.Rename(src, store)
	}
	if err != nil {
		return fmt.Errorf("keep template filestore: %w", err)
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident(initDB)+" RENAME TO "+ident(tpl)); err != nil {
		return fmt.Errorf("rename %s to %s: %w", initDB, tpl, err)
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident(tpl)+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if dropErr := d.drop(cctx, tpl); dropErr != nil {
			err = errors.Join(err, dropErr)
		}
		return fmt.Errorf("mark %s as a template: %w", tpl, err)
	}
	log.Info("template database ready", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// templateRole is the PostgreSQL role that owns what Odoo makes in
// template tpl. It owns nothing else (the databases themselves are
// odoobot's role's), so REASSIGN OWNED BY it in a copy hands exactly the
// copy's objects to the instance's role.
func templateRole(tpl string) string { return tpl + "_owner" }

// loginTemplateRole makes role (or takes the existing one) able to log in
// with a new random password, granted to odoobot's role, and returns the
// password (pgrole.LoginRole).
func (d *Databases) loginTemplateRole(ctx context.Context, conn *pgx.Conn, role string) (string, error) {
	pw, err := pgrole.NewPassword()
	if err != nil {
		return "", err
	}
	if _, err := pgrole.LoginRole(ctx, conn, role, pw, d.cfg.Owner); err != nil {
		return "", fmt.Errorf("template %w", err)
	}
	return pw, nil
}

// markPending writes the pending marker into a template being made, so
// that every copy of it is known as odoobot's from its first moment.
func (d *Databases) markPending(ctx context.Context, db, tpl string) error {
	conn, err := d.connect(ctx, db)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error { return setParam(ctx, tx, markerKey, pendingPrefix+tpl) })
	if err != nil {
		return fmt.Errorf("mark template %s: %w", tpl, err)
	}
	return nil
}

// prepare does to a new database what Odoo's _create_empty_database does
// after CREATE DATABASE: the pg_trgm extension (Odoo's trigram indexes),
// unaccent when configured, and CREATE on schema public for everyone
// (PostgreSQL 15+ took it away; Odoo gives it back, and only warns when
// it cannot).
func (d *Databases) prepare(ctx context.Context, db string) error {
	conn, err := d.connect(ctx, db)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_trgm"); err != nil {
		return fmt.Errorf("create extension pg_trgm in %s (a database owner may create it from PostgreSQL 13): %w", db, err)
	}
	if d.cfg.Unaccent {
		if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS unaccent"); err != nil {
			return fmt.Errorf("create extension unaccent in %s: %w", db, err)
		}
		// Odoo's own reasoning: the unaccent rules do not change in the
		// life of a database, so indexes on unaccent() are safe.
		if _, err := conn.Exec(ctx, "ALTER FUNCTION unaccent(text) IMMUTABLE"); err != nil {
			return fmt.Errorf("make unaccent immutable in %s (needs a superuser, as for Odoo): %w", db, err)
		}
	}
	if _, err := conn.Exec(ctx, "GRANT CREATE ON SCHEMA public TO PUBLIC"); err != nil {
		d.log.Warn("could not make schema public writable by everyone, as Odoo does", "database", db, "err", err)
	}
	return nil
}

// initRuns runs odoo-bin on the prepared database initDB, as Odoo's
// database creation then an installation would: with a Country, base
// first (with Lang loaded), then the first company's country, currency
// and time zone and the admin's language (an odoo-bin shell script),
// then the modules base's run did not install (notInstalled), so that
// they install for a company of that country; without one, the modules
// at once (with Lang loaded), then the admin's language. Demo data
// follows spec.Demo in the release's series' terms.
func (d *Databases) initRuns(ctx context.Context, spec provision.DatabaseSpec, work, conf, initDB string, modules []string) error {
	series := templates.SeriesOf(spec.Release.Version)
	country := strings.ToUpper(strings.TrimSpace(d.cfg.Country))
	install := func(mods []string, lang string) error {
		args := []string{spec.Release.OdooBin, "-c", conf, "-d", initDB, "-i", strings.Join(mods, ","), "--stop-after-init"}
		args = append(args, series.DemoArgs(spec.Demo)...)
		if lang != "" {
			args = append(args, "--load-language="+lang)
		}
		if _, err := d.odooBin(ctx, work, "", spec.Progress, spec.Release.Python, args...); err != nil {
			return fmt.Errorf("initialise template with odoo-bin -i %s: %w", strings.Join(mods, ","), err)
		}
		return nil
	}
	first := modules
	if country != "" {
		first = []string{"base"}
	}
	if err := install(first, d.cfg.Lang); err != nil {
		return err
	}
	if d.cfg.Lang != "" || country != "" {
		script := firstCompanyScript(d.cfg.Lang, country)
		if spec.Progress != nil {
			spec.Progress("setting the first company's country and language")
		}
		if _, err := d.odooBin(ctx, work, script, nil, spec.Release.Python, spec.Release.OdooBin, "shell", "-c", conf, "-d", initDB); err != nil {
			return fmt.Errorf("set the language (%q) and country (%q) of the template with odoo-bin shell: %w", d.cfg.Lang, country, err)
		}
	}
	if country != "" && !slices.Equal(modules, first) {
		rest, err := d.notInstalled(ctx, initDB, modules)
		if err != nil {
			return err
		}
		if len(rest) > 0 {
			return install(rest, "")
		}
	}
	return nil
}

// notInstalled returns the modules of mods that database db does not have
// installed. An installed module named to odoo-bin -i is not skipped but
// loaded again, data and translations (base's alone takes 10–17 s), so a
// second -i names only the modules still to install; Odoo installs what
// they depend on.
func (d *Databases) notInstalled(ctx context.Context, db string, mods []string) ([]string, error) {
	conn, err := d.connect(ctx, db)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, "SELECT name FROM ir_module_module WHERE state = 'installed'")
	if err != nil {
		return nil, fmt.Errorf("read the installed modules of %s: %w", db, err)
	}
	installed, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read the installed modules of %s: %w", db, err)
	}
	var rest []string
	for _, m := range mods {
		if !slices.Contains(installed, m) {
			rest = append(rest, m)
		}
	}
	return rest, nil
}

// firstCompanyScript is the Python fed to odoo-bin shell that does what
// Odoo's _initialize_db (odoo/service/db.py, 17.0 and 19.0) does after
// loading the language: the first company gets the country and its
// currency, the users the country's time zone when it has only one, and
// the admin user the language. It fails (a non-zero exit) when the
// language is not installed or no country has that code.
func firstCompanyScript(lang, country string) string {
	params, _ := json.Marshal(map[string]string{"lang": lang, "country": country})
	return `import json
from pytz import country_timezones
params = json.loads(` + strconv.Quote(string(params)) + `)
lang, country_code = params["lang"], params["country"]
if lang and not env["res.lang"].search([("code", "=", lang)]):
    raise SystemExit("odoobot: language %s is not installed" % lang)
if country_code:
    country = env["res.country"].search([("code", "=ilike", country_code)], limit=1)
    if not country:
        raise SystemExit("odoobot: no country with code %s" % country_code)
    env["res.company"].browse(1).write({"country_id": country.id, "currency_id": country.currency_id.id})
    if len(country_timezones.get(country_code, [])) == 1:
        env["res.users"].search([]).write({"tz": country_timezones[country_code][0]})
if lang:
    env.ref("base.user_admin").write({"lang": lang})
env.cr.commit()
print("odoobot: first company and admin user set")
`
}

// odooBin runs an odoo-bin command with stdin (none when ""), as runAs
// does as the build user, and logs the WARNING and ERROR lines of its
// output; progress (nil for none) hears how many modules it has
// installed.
func (d *Databases) odooBin(ctx context.Context, dir, stdin string, progress func(string), name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = minimalEnv()
	cmd.WaitDelay = 5 * time.Second
	d.cfg.BuildUser.apply(cmd)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if progress != nil {
		w := io.MultiWriter(&out, newInstallProgress(progress))
		cmd.Stdout, cmd.Stderr = w, w
	}
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	start := time.Now()
	err := cmd.Run()
	d.log.Info("odoo-bin ran", "command", strings.Join(args[1:min(len(args), 7)], " "), "took", time.Since(start).Round(time.Millisecond))
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, " WARNING ") || strings.Contains(l, " ERROR ") || strings.Contains(l, " CRITICAL ") {
			d.log.Warn("odoo-bin: "+provision.RedactURLs(strings.TrimSpace(l)), "command", short(name, args[1:]))
		}
	}
	if err != nil {
		return out.Bytes(), fmt.Errorf("%s: %w%s", short(name, args), err, provision.RedactURLs(tailOf(out.Bytes())))
	}
	return out.Bytes(), nil
}

// initConf is the odoo.conf odoo-bin initialises a template with. It
// writes nothing as False (an unset host, port or password is left out),
// listens on 127.0.0.1 only should anything start a server, and lists in
// addons_path only the release's directories that hold modules: Odoo 19
// warns about each of these otherwise.
func (d *Databases) initConf(rel provision.Release, dataDir, user, password string) string {
	var b strings.Builder
	line := func(k, v string) {
		if v != "" {
			b.WriteString(k + " = " + v + "\n")
		}
	}
	b.WriteString("[options]\n")
	line("http_interface", "127.0.0.1")
	line("db_host", d.cfg.DBHost)
	if d.cfg.DBPort != 0 {
		line("db_port", strconv.Itoa(d.cfg.DBPort))
	}
	line("db_user", user)
	line("db_password", password)
	var addons []string
	for _, p := range rel.AddonsPaths {
		if holdsModules(p) {
			addons = append(addons, p)
		}
	}
	line("addons_path", strings.Join(addons, ","))
	line("data_dir", dataDir)
	line("list_db", "False")
	if d.cfg.Unaccent {
		line("unaccent", "True")
	}
	return b.String()
}

// holdsModules reports whether dir holds at least one module (a directory
// with __init__.py and __manifest__.py), Odoo's test of an addons path.
func holdsModules(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		_, err1 := os.Stat(filepath.Join(dir, e.Name(), "__init__.py"))
		_, err2 := os.Stat(filepath.Join(dir, e.Name(), "__manifest__.py"))
		if err1 == nil && err2 == nil {
			return true
		}
	}
	return false
}

// moduleDirs are where the modules of rel are looked for: its addons
// paths, then the odoo/addons beside its odoo-bin and in its directory
// (where base is, which odoo-bin adds by itself).
func moduleDirs(rel provision.Release) []string {
	dirs := append([]string{}, rel.AddonsPaths...)
	for _, p := range []string{filepath.Join(filepath.Dir(rel.OdooBin), "odoo", "addons"), filepath.Join(rel.Dir, "odoo", "addons")} {
		if rel.OdooBin != "" && !slices.Contains(dirs, p) && holdsModules(p) {
			dirs = append(dirs, p)
		}
	}
	return dirs
}

// Drop removes database name if odoobot made it (it carries the
// odoobot.template marker), closing its connections; a missing database
// is not an error. A database odoobot did not make is never dropped: it
// is left alone with a warning, so that the rollback of a creation that
// found a foreign database of the same name cannot destroy it. The
// instance's filestore is the caller's to remove.
func (d *Databases) Drop(ctx context.Context, name string) (err error) {
	defer pgerr.Type(&err)
	if ok, err := d.Exists(ctx, name); err != nil || !ok {
		return err
	}
	if got, err := d.marker(ctx, name); err != nil {
		return fmt.Errorf("odoo: drop database %s: check that odoobot made it: %w", name, err)
	} else if got == "" {
		d.log.Warn("database not made by odoobot: left alone", "database", name)
		return nil
	}
	return d.drop(ctx, name)
}

// DropAdopted removes database name whoever made it: for an instance
// adopted by `odoobot import` being deleted, whose database carries no
// odoobot marker. A missing database is not an error.
func (d *Databases) DropAdopted(ctx context.Context, name string) error {
	return pgerr.Typed(d.drop(ctx, name))
}

// drop removes database name whoever made it: for the half-made databases
// of this package's own failed steps.
func (d *Databases) drop(ctx context.Context, name string) error {
	conn, err := d.connect(ctx, "")
	if err != nil {
		return fmt.Errorf("odoo: drop database %s: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("odoo: drop database %s: %w", name, err)
	}
	return nil
}

// Exists reports whether database name exists.
func (d *Databases) Exists(ctx context.Context, name string) (_ bool, err error) {
	defer pgerr.Type(&err)
	conn, err := d.connect(ctx, "")
	if err != nil {
		return false, fmt.Errorf("odoo: database exists: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	ok, err := pgdb.Exists(ctx, conn, name)
	if err != nil {
		return false, fmt.Errorf("odoo: database exists: %w", err)
	}
	return ok, nil
}

// connect opens a connection with the admin credentials to database db
// ("" means the DSN's own). Errors never show the DSN.
func (d *Databases) connect(ctx context.Context, db string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(d.cfg.AdminDSN)
	if err != nil {
		return nil, errors.New("parse AdminDSN: invalid connection string") // the parse error may quote the password
	}
	if db != "" {
		cfg.Database = db
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", cfg.Database, err)
	}
	return conn, nil
}

// connectSafe is connect to database db with search_path pg_catalog
// (pgrole.SafeSearchPath), for the few statements odoobot's role must
// run inside an instance's database itself: a new copy's REASSIGN, and
// isolate's GiveTo, for an instance that ran as odoobot's role until
// then.
func (d *Databases) connectSafe(ctx context.Context, db string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(d.cfg.AdminDSN)
	if err != nil {
		return nil, errors.New("parse AdminDSN: invalid connection string")
	}
	cfg.Database = db
	cfg.RuntimeParams["search_path"] = pgrole.SafeSearchPath
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", db, err)
	}
	return conn, nil
}

func ident(s string) string { return pgdb.Ident(s) }

// advisoryKey is the pg_advisory_lock key of a template.
func advisoryKey(tpl string) int64 {
	h := sha256.Sum256([]byte("odoobot template " + tpl))
	return int64(binary.BigEndian.Uint64(h[:8]))
}

// normModules trims, de-duplicates and sorts a module list.
func normModules(mods []string) []string {
	var out []string
	for _, m := range mods {
		if m = strings.TrimSpace(m); m != "" {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// newUUID returns a random (version 4) UUID, as Odoo's uuid.uuid4().
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// copyTree copies the regular files and directories under src into dst,
// which is replaced: the copy is made beside it and renamed into place.
func copyTree(src, dst string) error {
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("template filestore: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".copy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	err = filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(tmp, rel)
		switch {
		case e.IsDir():
			return os.MkdirAll(to, 0o755)
		case e.Type().IsRegular():
			return copyFile(p, to)
		default:
			return nil // Odoo's filestore holds only files and directories
		}
	})
	if err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
