package odoo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"odoobot/internal/atomicfile"
	"odoobot/provision"
)

// completeMarker is the file whose presence makes a release directory valid.
// It is written last; a directory without it is a half-built release.
const completeMarker = ".complete"

// Where a release's Python dependencies come from (ReleaseConfig.Deps).
const (
	// DepsDebian: Debian's python3-* packages, seen through a venv made
	// with --system-site-packages from the system's /usr/bin/python3.
	// Which packages: the Depends of the odoo package in the source's
	// debian/control when it has one, else requirements.txt through a
	// table of Debian package names (pins ignored, environment markers
	// evaluated for the interpreter). Missing ones are installed with
	// ReleaseConfig.InstallPackages. pip is never run.
	DepsDebian = "debian"
	// DepsPip: `pip install -r requirements.txt` into a plain venv, with
	// ReleaseConfig.PipArgs. It needs a package index that has Odoo's
	// pinned versions (and, for some of them, a compiler and headers).
	DepsPip = "pip"
)

// ReleaseConfig configures Releases.
type ReleaseConfig struct {
	// CacheDir holds one directory per release, e.g. <STATE_DIR>/releases.
	// Created if missing.
	CacheDir string
	// Repo and Branch locate the Odoo source (any URL or path git accepts).
	// Both layouts are taken: a github checkout (odoo-bin and addons/ at
	// the top, the core modules in odoo/addons/) and a source distribution
	// (every module in odoo/addons/, odoo-bin at the top or only
	// setup/odoo).
	Repo, Branch string
	// Commit pins the release to one Odoo commit (ODOO_COMMIT): a full
	// commit hash (40 hex digits, or 64 in a SHA-256 repository), used as
	// is, or a tag, resolved to its commit with `git ls-remote`. The commit
	// need not be Branch's head. "" follows Branch: its head is resolved
	// at each Ensure (once per creation).
	Commit string
	// EnterpriseRepo and EnterpriseBranch locate the enterprise addons;
	// optional (both empty means community only). An empty
	// EnterpriseBranch means Branch.
	EnterpriseRepo, EnterpriseBranch string
	// Python is the interpreter the venv is made from (PYTHON_VERSION), as
	// CheckPython resolves it: "" is the system's /usr/bin/python3; a
	// version such as "3.11" means python3.11 and a name such as "python3"
	// that program, both looked up in the system's directories only
	// (never odoobot's PATH, where a pyenv shim may come first); an
	// absolute path is used as is. With Deps "debian" it must be the
	// system's interpreter.
	Python string
	// Deps is DepsDebian or DepsPip (ODOO_PYTHON_DEPS); "" means
	// DepsDebian.
	Deps string
	// PipArgs are extra arguments to `pip install` in pip mode (e.g.
	// --no-index, --index-url URL); unused in debian mode.
	PipArgs []string
	// InstallPackages installs the Debian packages a release needs and
	// the host lacks, in debian mode: AptInstall for `odoobot setup`. nil
	// installs nothing: a build that lacks a package fails with a
	// *MissingPackagesError naming them, which is what serve and the
	// other verbs do, since odoobot's unit cannot write /usr.
	InstallPackages func(ctx context.Context, pkgs []string) error
	// BuildUser runs git, the venv's creation, pip and the release
	// check, and owns the release while it is built; the finished release
	// is handed to root. nil runs them as odoobot's own user.
	BuildUser *BuildUser
	// Logger receives build progress; nil logs nothing.
	Logger *slog.Logger
}

// Releases builds Odoo releases into a cache and hands out the built ones.
// A release is built once per (repo, branch, commit, enterprise commit,
// deps mode, interpreter): concurrent callers in this process, and in other processes
// sharing the cache, wait for one build instead of building twice. A built
// release is shared read-only by every instance on it: it belongs to root
// (when a BuildUser built it), its directories are 0755 and its files
// 0644 (0755 for executables), so nothing but root may write into it.
//
// Safe for concurrent use.
type Releases struct {
	cfg    ReleaseConfig
	log    *slog.Logger
	keys   keyedMutex
	builds atomic.Int64 // builds run by this value, for tests
	sums   sync.Map     // release key → provision.ModuleSums
}

// NewReleases returns a release builder for cfg.
func NewReleases(cfg ReleaseConfig) *Releases {
	return &Releases{cfg: cfg, log: orDiscard(cfg.Logger)}
}

// Ensure returns the release of the pinned commit (ReleaseConfig.Commit)
// or, with none, of the branch's current commit, building it first when
// the cache does not hold it. A pin that names neither a tag of the
// repository nor a commit it holds fails, naming the pin. A cache hit
// touches the release's completion marker: GC keeps the release used
// last. progress, when not nil, is called
// with a short line as each phase of a build starts ("cloning odoo",
// "creating venv", "installing 3 Debian packages", "checking the
// release", "compiling Python"), from the calling goroutine; not on a cache hit. The warm path costs one
// `git ls-remote` per repository and a few stats. A half-built release
// left by a crash is removed and rebuilt; so is a build that fails, which
// leaves nothing in the cache. A build ends by proving the release runs:
// its interpreter runs `odoo-bin --version` (which must print the series
// of odoo/release.py) and imports odoo.http; a failure names the missing
// Python module and, in debian mode, its Debian package. Errors of a
// failed build carry the tail of the failing command's output.
func (r *Releases) Ensure(ctx context.Context, progress func(phase string)) (provision.Release, error) {
	commit, err := r.Resolve(ctx, "")
	if err != nil {
		return provision.Release{}, err
	}
	return r.ensure(ctx, commit, r.cfg.Commit != "", progress)
}

var _ provision.ReleaseTargets = (*Releases)(nil)

// Cached returns the release rec names, with its files read, when the
// cache holds it complete; an error saying it is missing otherwise.
func (r *Releases) Cached(rec provision.ReleaseRecord) (provision.Release, error) {
	if rec.Key == "" || strings.ContainsAny(rec.Key, "/.") {
		return provision.Release{}, fmt.Errorf("odoo: release %q: not a release key", rec.Key)
	}
	rel := r.release(rec.Key, rec.Commit)
	rel.Interpreter, rel.Deps = rec.Python, rec.Deps
	if !complete(rel.Dir) {
		return provision.Release{}, fmt.Errorf("odoo: release %s is not in the cache (%s)", rec.Key, rel.Dir)
	}
	return r.finished(rel)
}

// Latest is the target of Resolve that names the branch's head, whatever
// ODOO_COMMIT pins.
const Latest = "latest"

// Resolve says which Odoo commit ref names, as a full hash: "" the
// configured one (ReleaseConfig.Commit, else the branch's head), Latest
// the branch's head, a full commit hash itself, anything else a tag of
// the repository. A ref that is none of these is an error naming it.
func (r *Releases) Resolve(ctx context.Context, ref string) (string, error) {
	if r.cfg.CacheDir == "" || r.cfg.Repo == "" || r.cfg.Branch == "" {
		return "", errors.New("odoo: release: CacheDir, Repo and Branch must be set")
	}
	gitEnv, err := r.sourceGitEnv()
	if err != nil {
		return "", fmt.Errorf("odoo: release: %w", err)
	}
	pin := strings.TrimSpace(r.cfg.Commit)
	switch ref = strings.TrimSpace(ref); {
	case strings.EqualFold(ref, Latest):
		pin = ""
	case ref != "":
		pin = ref
	}
	commit, err := r.resolveCommit(ctx, gitEnv, pin)
	if err != nil {
		return "", fmt.Errorf("odoo: release: %w", err)
	}
	return commit, nil
}

// EnsureCommit is Ensure for one commit of the repository (a full hash,
// as Resolve gives it), which need not be the branch's head: the release
// an upgrade moves an instance to.
func (r *Releases) EnsureCommit(ctx context.Context, commit string, progress func(phase string)) (provision.Release, error) {
	return r.ensure(ctx, commit, true, progress)
}

// ensure builds commit's release when the cache lacks it, fetching the
// commit by its hash when byHash is set, else the branch's head (which
// must be commit).
func (r *Releases) ensure(ctx context.Context, commit string, byHash bool, progress func(phase string)) (provision.Release, error) {
	if r.cfg.CacheDir == "" || r.cfg.Repo == "" || r.cfg.Branch == "" {
		return provision.Release{}, errors.New("odoo: release: CacheDir, Repo and Branch must be set")
	}
	if !shaRE.MatchString(commit) {
		return provision.Release{}, fmt.Errorf("odoo: release: %q is not a full commit hash", commit)
	}
	python, err := CheckPython(r.cfg.Python)
	if err != nil {
		return provision.Release{}, fmt.Errorf("odoo: release: %w", err)
	}
	if err := CheckDeps(r.cfg.Deps, python); err != nil {
		return provision.Release{}, fmt.Errorf("odoo: release: %w", err)
	}
	gitEnv, err := r.sourceGitEnv()
	if err != nil {
		return provision.Release{}, fmt.Errorf("odoo: release: %w", err)
	}
	var entCommit string
	if r.cfg.EnterpriseRepo != "" {
		entCommit, err = lsRemote(ctx, r.cfg.BuildUser, gitEnv, r.cfg.EnterpriseRepo, r.entBranch())
		if err != nil {
			return provision.Release{}, fmt.Errorf("odoo: release: enterprise: %w", err)
		}
	}
	key := r.key(commit, entCommit, python)
	rel := r.release(key, commit)
	rel.Interpreter = python
	if p, err := filepath.EvalSymlinks(python); err == nil {
		rel.Interpreter = p // /usr/bin/python3.11 rather than /usr/bin/python3: says the version
	}
	if hit, err := r.warm(ctx, rel); err != nil || hit.Key != "" {
		return hit, err
	}

	unlock, err := r.keys.lock(ctx, key)
	if err != nil {
		return provision.Release{}, fmt.Errorf("odoo: release %s: wait for build: %w", key, err)
	}
	defer unlock()
	if err := os.MkdirAll(r.cfg.CacheDir, 0o755); err != nil {
		return provision.Release{}, fmt.Errorf("odoo: release: %w", err)
	}
	funlock, err := flock(ctx, filepath.Join(r.cfg.CacheDir, key+".lock"))
	if err != nil {
		return provision.Release{}, fmt.Errorf("odoo: release %s: wait for build: %w", key, err)
	}
	defer funlock()
	if complete(rel.Dir) { // another caller built it while we waited
		return r.finished(rel)
	}
	if err := r.build(ctx, rel, python, entCommit, gitEnv, byHash, progress); err != nil {
		if rmErr := os.RemoveAll(rel.Dir); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("remove half-built release: %w", rmErr))
		}
		return provision.Release{}, fmt.Errorf("odoo: release %s (%s@%s): %w", key, r.cfg.Branch, shortSHA(commit), err)
	}
	return r.finished(rel)
}

// warm returns the release when the cache holds it complete, with its
// files read, and the zero Release when it must be built. It reads the
// release under a shared lock of its key, which GC takes exclusively
// before it removes one: a release is never removed while it is handed
// out, and a creation that finds it gone builds it again. A hit touches
// the completion marker (see touchMarker).
func (r *Releases) warm(ctx context.Context, rel provision.Release) (provision.Release, error) {
	if !complete(rel.Dir) {
		return provision.Release{}, nil
	}
	unlock, err := flockShared(ctx, filepath.Join(r.cfg.CacheDir, rel.Key+".lock"))
	if err != nil {
		return provision.Release{}, fmt.Errorf("odoo: release %s: %w", rel.Key, err)
	}
	defer unlock()
	if !complete(rel.Dir) { // removed by GC meanwhile
		return provision.Release{}, nil
	}
	touchMarker(rel.Dir)
	return r.finished(rel)
}

// finished fills in what the release's files say: its odoo-bin, its
// addons paths (those that exist and hold a module) and its series.
func (r *Releases) finished(rel provision.Release) (provision.Release, error) {
	src := filepath.Join(rel.Dir, "odoo")
	bin, err := odooBin(src)
	if err != nil {
		return provision.Release{}, fmt.Errorf("odoo: release %s: %w", rel.Key, err)
	}
	version, err := readSeries(src)
	if err != nil {
		return provision.Release{}, fmt.Errorf("odoo: release %s: %w", rel.Key, err)
	}
	rel.OdooBin, rel.Version = bin, version
	rel.AddonsPaths = addonsDirs(rel.AddonsPaths)
	return rel, nil
}

// build makes the release at its final path (venvs embed absolute paths,
// so they cannot be moved after creation). The caller holds the locks.
// The release's directory is the build user's while its programs run,
// and root's from the moment they are done.
func (r *Releases) build(ctx context.Context, rel provision.Release, python, entCommit string, gitEnv []string, byHash bool, report func(phase string)) error {
	r.builds.Add(1)
	start := time.Now()
	mode := depsMode(r.cfg.Deps)
	as := r.cfg.BuildUser
	log := r.log.With("release", rel.Key, "branch", r.cfg.Branch, "commit", shortSHA(rel.Commit), "deps", mode, "as", as.String())
	progress := func(phase string, args ...any) {
		log.Info(phase, args...)
		if report != nil {
			report(phase)
		}
	}
	if _, err := os.Stat(rel.Dir); err == nil {
		log.Warn("removing a half-built release", "dir", rel.Dir)
		if err := os.RemoveAll(rel.Dir); err != nil {
			return fmt.Errorf("remove half-built release: %w", err)
		}
	}
	if err := os.MkdirAll(rel.Dir, 0o755); err != nil {
		return fmt.Errorf("create release dir: %w", err)
	}
	if err := as.give(rel.Dir); err != nil {
		return err
	}

	progress("cloning odoo", "repo", provision.RedactURLs(r.cfg.Repo))
	src := filepath.Join(rel.Dir, "odoo")
	cloneOdoo := clone
	if byHash {
		cloneOdoo = cloneCommit
	}
	if err := cloneOdoo(ctx, as, gitEnv, r.cfg.Repo, r.cfg.Branch, src, rel.Commit); err != nil {
		return fmt.Errorf("clone odoo: %w", err)
	}
	if r.cfg.EnterpriseRepo != "" {
		progress("cloning enterprise", "repo", provision.RedactURLs(r.cfg.EnterpriseRepo))
		if err := clone(ctx, as, gitEnv, r.cfg.EnterpriseRepo, r.entBranch(), filepath.Join(rel.Dir, "enterprise"), entCommit); err != nil {
			return fmt.Errorf("clone enterprise: %w", err)
		}
	}
	bin, err := odooBin(src)
	if err != nil {
		return err
	}
	version, err := readSeries(src)
	if err != nil {
		return err
	}

	progress("creating venv", "python", python)
	venv := filepath.Join(rel.Dir, "venv")
	args := []string{"-m", "venv"}
	if mode == DepsDebian {
		args = append(args, "--system-site-packages", "--without-pip")
	}
	if _, err := runAs(ctx, as, rel.Dir, nil, python, append(args, venv)...); err != nil {
		return fmt.Errorf("create venv: %w", err)
	}
	if err := addSourceToVenv(venv, src); err != nil {
		return err
	}

	switch mode {
	case DepsDebian:
		if err := r.debianDeps(ctx, rel, src, log, progress); err != nil {
			return err
		}
	case DepsPip:
		req := filepath.Join(src, "requirements.txt")
		if _, err := os.Stat(req); err == nil {
			progress("installing requirements with pip")
			args := append([]string{"-m", "pip", "install", "--disable-pip-version-check", "-r", req}, r.cfg.PipArgs...)
			if _, err := runAs(ctx, as, rel.Dir, nil, rel.Python, args...); err != nil {
				return fmt.Errorf("install requirements: %w", err)
			}
		}
	}

	progress("checking the release")
	if err := checkRelease(ctx, as, rel.Python, bin, src, version, mode == DepsDebian); err != nil {
		return err
	}
	progress("compiling Python")
	compileRelease(ctx, as, rel, log)

	if err := as.handOver(rel.Dir); err != nil {
		return err
	}
	if err := writeMarker(rel.Dir); err != nil {
		return err
	}
	log.Info("release built", "dir", rel.Dir, "version", version, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// compileRelease writes the bytecode of the release's Python sources
// (tests aside), with the venv's interpreter, while the build user may
// still write there. An instance's user cannot write into the release,
// so without it every Odoo process an instance starts (the server, its
// gevent worker, each init or update) compiles again every module it
// imports: about 1.4 s of each start of a four-module instance. A file
// that does not compile is logged and left: Odoo names it if a module to
// install needs it.
func compileRelease(ctx context.Context, as *BuildUser, rel provision.Release, log *slog.Logger) {
	args := []string{"-m", "compileall", "-q", "-j", "0", "-x", `/tests?/`}
	for _, d := range []string{"odoo", "enterprise"} {
		if _, err := os.Stat(filepath.Join(rel.Dir, d)); err == nil {
			args = append(args, filepath.Join(rel.Dir, d))
		}
	}
	start := time.Now()
	if _, err := runAs(ctx, as, rel.Dir, nil, rel.Python, args...); err != nil {
		log.Warn("some Python files did not compile; Odoo compiles them when it imports them", "err", err)
		return
	}
	log.Info("compiled Python", "took", time.Since(start).Round(time.Millisecond))
}

// MissingPackagesError is a debian-mode build stopped because the host
// lacks Debian packages the source needs and the build installs none
// (ReleaseConfig.InstallPackages nil). Its message names them and says
// how to install them.
type MissingPackagesError struct {
	Packages []string // the packages to install, one of each group of alternatives
}

func (e *MissingPackagesError) Error() string {
	list := strings.Join(e.Packages, " ")
	return fmt.Sprintf("this release needs Debian packages the host lacks: %s; odoobot does not install packages while it serves: "+
		"run `odoobot setup` as root (it installs what ODOO_REPO, ODOO_BRANCH and ODOO_COMMIT need), or apt-get install %s, then try again", list, list)
}

// debianDeps installs the Debian packages the source needs that the host
// lacks, and checks they are installed afterwards; without
// InstallPackages it fails with a *MissingPackagesError instead.
func (r *Releases) debianDeps(ctx context.Context, rel provision.Release, src string, log *slog.Logger, progress func(string, ...any)) error {
	plan, err := debianPlan(ctx, rel.Interpreter, src, nil)
	if errors.Is(err, errNoPackaging) { // markers need it: install it first, as any package the source needs
		if r.cfg.InstallPackages == nil {
			return &MissingPackagesError{Packages: []string{packagingDeb}}
		}
		progress("installing 1 Debian package", "packages", packagingDeb)
		if err := r.cfg.InstallPackages(ctx, []string{packagingDeb}); err != nil {
			return fmt.Errorf("install Debian packages %s: %w", packagingDeb, err)
		}
		plan, err = debianPlan(ctx, rel.Interpreter, src, nil)
	}
	if err != nil {
		return fmt.Errorf("python dependencies: %w", err)
	}
	for _, s := range plan.Skipped {
		log.Info("python dependency skipped", "from", plan.From, "requirement", s)
	}
	missing, err := missingDebs(ctx, plan.Needs)
	if err != nil || len(missing) == 0 {
		return err
	}
	install := r.cfg.InstallPackages
	if install == nil {
		return &MissingPackagesError{Packages: missing}
	}
	phase := fmt.Sprintf("installing %d Debian packages", len(missing))
	if len(missing) == 1 {
		phase = "installing 1 Debian package"
	}
	progress(phase, "packages", strings.Join(missing, " "))
	if err := install(ctx, missing); err != nil {
		return fmt.Errorf("install Debian packages %s: %w", strings.Join(missing, " "), err)
	}
	still, err := missingDebs(ctx, plan.Needs)
	if err != nil {
		return err
	}
	if len(still) > 0 {
		return fmt.Errorf("installed, yet dpkg says these are still not installed: %s", strings.Join(still, " "))
	}
	return nil
}

func (r *Releases) entBranch() string {
	if r.cfg.EnterpriseBranch != "" {
		return r.cfg.EnterpriseBranch
	}
	return r.cfg.Branch
}

// key is the release's stable name in the cache.
func (r *Releases) key(commit, entCommit, python string) string {
	h := sha256.New()
	// The URLs without their credentials: a token that changes is the
	// same release.
	repo, _, _, _ := splitCredentials(r.cfg.Repo)
	for _, s := range []string{repo, r.cfg.Branch, commit, depsMode(r.cfg.Deps), python} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	if r.cfg.EnterpriseRepo != "" {
		ent, _, _, _ := splitCredentials(r.cfg.EnterpriseRepo)
		for _, s := range []string{ent, r.entBranch(), entCommit} {
			h.Write([]byte(s))
			h.Write([]byte{0})
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// release describes the release key at its place in the cache.
func (r *Releases) release(key, commit string) provision.Release {
	dir := filepath.Join(r.cfg.CacheDir, key)
	paths := []string{filepath.Join(dir, "odoo", "addons"), filepath.Join(dir, "odoo", "odoo", "addons")}
	edition := "community"
	if r.cfg.EnterpriseRepo != "" {
		paths = append(paths, filepath.Join(dir, "enterprise"))
		edition = "enterprise"
	}
	return provision.Release{
		Key:         key,
		Dir:         dir,
		Repo:        provision.RedactURLs(r.cfg.Repo),
		Deps:        depsMode(r.cfg.Deps),
		Commit:      commit,
		Python:      filepath.Join(dir, "venv", "bin", "python"),
		AddonsPaths: paths, // candidates; finished keeps those holding modules
		Edition:     edition,
	}
}

func complete(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, completeMarker))
	return err == nil
}

// touchMarker sets the release's completion marker's modification time
// to now: the release was just used. A failure only makes GC's idea of
// the newest release older.
func touchMarker(dir string) {
	now := time.Now()
	_ = os.Chtimes(filepath.Join(dir, completeMarker), now, now)
}

func writeMarker(dir string) error {
	f, err := os.OpenFile(filepath.Join(dir, completeMarker), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o444)
	if err != nil {
		return fmt.Errorf("write %s: %w", completeMarker, err)
	}
	if _, err := f.WriteString(time.Now().UTC().Format(time.RFC3339) + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", completeMarker, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", completeMarker, err)
	}
	return f.Close()
}

var shaRE = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)

// lsRemote returns the commit that branch points to in repo, asking as
// the build user as with git's environment env.
func lsRemote(ctx context.Context, as *BuildUser, env []string, repo, branch string) (string, error) {
	url, env := withCredentials(env, repo)
	out, err := runAs(ctx, as, "", env, "git", "ls-remote", "--", url, "refs/heads/"+branch)
	if err != nil {
		return "", fmt.Errorf("find %s in %s: %w", branch, provision.RedactURLs(repo), err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[1] == "refs/heads/"+branch && shaRE.MatchString(f[0]) {
			return f[0], nil
		}
	}
	return "", fmt.Errorf("branch %s not found in %s", branch, provision.RedactURLs(repo))
}

// resolveCommit is the commit the release builds: pin as is when it is
// a full commit hash, its tag's commit when it is a tag, else (pin "")
// the branch's head.
func (r *Releases) resolveCommit(ctx context.Context, env []string, pin string) (string, error) {
	switch {
	case pin == "":
		return lsRemote(ctx, r.cfg.BuildUser, env, r.cfg.Repo, r.cfg.Branch)
	case shaRE.MatchString(strings.ToLower(pin)):
		return strings.ToLower(pin), nil
	}
	return lsRemoteTag(ctx, r.cfg.BuildUser, env, r.cfg.Repo, pin)
}

// lsRemoteTag returns the commit tag points to in repo (the commit an
// annotated tag points to, not the tag object).
func lsRemoteTag(ctx context.Context, as *BuildUser, env []string, repo, tag string) (string, error) {
	ref := "refs/tags/" + tag
	url, env := withCredentials(env, repo)
	out, err := runAs(ctx, as, "", env, "git", "ls-remote", "--", url, ref, ref+"^{}")
	if err != nil {
		return "", fmt.Errorf("commit %q: look for the tag in %s: %w", tag, provision.RedactURLs(repo), err)
	}
	var direct, peeled string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 || !shaRE.MatchString(f[0]) {
			continue
		}
		switch f[1] {
		case ref:
			direct = f[0]
		case ref + "^{}":
			peeled = f[0]
		}
	}
	if peeled != "" {
		return peeled, nil
	}
	if direct != "" {
		return direct, nil
	}
	return "", fmt.Errorf("commit %q not found: %s has no tag of that name; give a tag or a full 40-digit commit hash", tag, provision.RedactURLs(repo))
}

// cloneCommit fetches exactly commit from repo into a new repository at
// dst and checks it out, as the build user as with git's environment
// env: a shallow fetch of the commit itself, or, when the server refuses
// to serve a commit by its hash, the whole branch. A commit the
// repository does not hold is an error naming it.
func cloneCommit(ctx context.Context, as *BuildUser, env []string, repo, branch, dst, commit string) error {
	url, env := withCredentials(env, repo)
	if _, err := runAs(ctx, as, "", env, "git", "init", "--quiet", "--", dst); err != nil {
		return err
	}
	if _, err := runAs(ctx, as, dst, env, "git", "fetch", "--quiet", "--no-tags", "--depth", "1", "--", url, commit); err != nil {
		if _, ferr := runAs(ctx, as, dst, env, "git", "fetch", "--quiet", "--no-tags", "--", url, "refs/heads/"+branch); ferr != nil {
			return fmt.Errorf("fetch pinned commit %s: %w", shortSHA(commit), errors.Join(err, ferr))
		}
		if _, cerr := runAs(ctx, as, dst, env, "git", "cat-file", "-e", commit+"^{commit}"); cerr != nil {
			return fmt.Errorf("commit %s not found in %s, neither by its hash nor on branch %s; check the hash", commit, provision.RedactURLs(repo), branch)
		}
	}
	if _, err := runAs(ctx, as, dst, env, "git", "-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", commit); err != nil {
		return fmt.Errorf("check out pinned commit %s: %w", shortSHA(commit), err)
	}
	out, err := runAs(ctx, as, dst, gitEnv(), "git", "rev-parse", "HEAD")
	if err != nil {
		return err
	}
	if head := firstLine(string(out)); head != commit {
		return fmt.Errorf("pinned commit %s: checked out %s instead", commit, shortSHA(head))
	}
	return nil
}

// clone makes a shallow clone of branch at dst, as the build user as with
// git's environment env, and checks it is at commit. A local
// repository's objects are copied, never hard-linked: the release must
// share no file with its source.
func clone(ctx context.Context, as *BuildUser, env []string, repo, branch, dst, commit string) error {
	url, env := withCredentials(env, repo)
	if _, err := runAs(ctx, as, "", env, "git", "clone", "--quiet", "--no-hardlinks", "--depth", "1", "--single-branch",
		"--branch", branch, "--", url, dst); err != nil {
		return err
	}
	out, err := runAs(ctx, as, dst, gitEnv(), "git", "rev-parse", "HEAD")
	if err != nil {
		return err
	}
	if head := firstLine(string(out)); head != commit {
		return fmt.Errorf("branch %s moved during the build (expected %s, cloned %s); try again", branch, shortSHA(commit), shortSHA(head))
	}
	return nil
}

// sourceGitEnv is the environment git fetches the sources with: gitEnv,
// and, when a build user fetches a local repository (a path or a file://
// URL), a global git configuration naming that repository in
// safe.directory, as git refuses a repository its user does not own
// ("dubious ownership"). That configuration is CacheDir/gitconfig,
// root's, 0644, naming exactly the configured local repositories; the
// command line's -c cannot do it, as git does not pass it to the
// upload-pack of a local clone. When a repository's URL carries
// credentials (https://user:token@host/…), GIT_ASKPASS names the askpass
// helper (installAskpass) and each git command gets that repository's
// credentials in its environment only (withCredentials): the URL git
// sees, records in .git/config and shows in a message has none.
func (r *Releases) sourceGitEnv() ([]string, error) {
	env, err := installAskpass(r.cfg.CacheDir, gitEnv(), r.cfg.Repo, r.cfg.EnterpriseRepo)
	if err != nil {
		return nil, fmt.Errorf("git askpass for the build user: %w", err)
	}
	var local []string
	for _, repo := range []string{r.cfg.Repo, r.cfg.EnterpriseRepo} {
		if p, ok := localRepo(repo); ok {
			local = append(local, p, filepath.Join(p, ".git"))
		}
	}
	if r.cfg.BuildUser == nil || len(local) == 0 {
		return env, nil
	}
	var conf strings.Builder
	conf.WriteString("[safe]\n")
	for _, p := range local {
		fmt.Fprintf(&conf, "\tdirectory = %s\n", strconv.Quote(p))
	}
	if err := os.MkdirAll(r.cfg.CacheDir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(r.cfg.CacheDir, "gitconfig")
	if err := atomicfile.Write(path, []byte(conf.String()), 0o644); err != nil {
		return nil, fmt.Errorf("git configuration for the build user: %w", err)
	}
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "GIT_CONFIG_GLOBAL=") {
			out = append(out, kv)
		}
	}
	return append(out, "GIT_CONFIG_GLOBAL="+path), nil
}

// localRepo returns the directory of repo when git reaches it on this
// host's file system: an absolute path or a file:// URL.
func localRepo(repo string) (string, bool) {
	switch {
	case strings.HasPrefix(repo, "file://"):
		p := strings.TrimPrefix(repo, "file://")
		return filepath.Clean(p), filepath.IsAbs(p)
	case filepath.IsAbs(repo):
		return filepath.Clean(repo), true
	}
	return "", false
}

func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
