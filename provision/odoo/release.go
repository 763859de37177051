package odoo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"odoobot/provision"
)

// completeMarker is the file whose presence makes a release directory valid.
// It is written last; a directory without it is a half-built release.
const completeMarker = ".complete"

// ReleaseConfig configures Releases.
type ReleaseConfig struct {
	// CacheDir holds one directory per release, e.g. <STATE_DIR>/releases.
	// Created if missing.
	CacheDir string
	// Repo and Branch locate the Odoo source (any URL or path git accepts).
	Repo, Branch string
	// EnterpriseRepo and EnterpriseBranch locate the enterprise addons;
	// optional (both empty means community only). An empty
	// EnterpriseBranch means Branch.
	EnterpriseRepo, EnterpriseBranch string
	// Python is the interpreter the venv is made with (PYTHON_VERSION):
	// a version such as "3.12" means python3.12 on PATH; a name such as
	// "python3" is looked up on PATH; an absolute path is used as is.
	Python string
	// PipArgs are extra arguments to `pip install` (e.g. --no-index).
	PipArgs []string
	// Logger receives build progress; nil logs nothing.
	Logger *slog.Logger
}

// Releases builds Odoo releases into a cache and hands out the built ones.
// A release is built once per (repo, branch, commit, enterprise commit,
// python): concurrent callers in this process, and in other processes
// sharing the cache, wait for one build instead of building twice. A built
// release is shared read-only by every instance on it: its source files
// are made read-only, and nothing may write into its directory.
//
// Safe for concurrent use.
type Releases struct {
	cfg    ReleaseConfig
	log    *slog.Logger
	keys   keyedMutex
	builds atomic.Int64 // builds run by this value, for tests
}

// NewReleases returns a release builder for cfg.
func NewReleases(cfg ReleaseConfig) *Releases {
	return &Releases{cfg: cfg, log: orDiscard(cfg.Logger)}
}

// Ensure returns the release of the branch's current commit, building it
// first when the cache does not hold it. The warm path costs one
// `git ls-remote` per repository and a stat. A half-built release left by a
// crash is removed and rebuilt. Errors of a failed build carry the tail of
// the failing command's output.
func (r *Releases) Ensure(ctx context.Context) (provision.Release, error) {
	if r.cfg.CacheDir == "" || r.cfg.Repo == "" || r.cfg.Branch == "" {
		return provision.Release{}, errors.New("odoo: release: CacheDir, Repo and Branch must be set")
	}
	python, err := findPython(r.cfg.Python)
	if err != nil {
		return provision.Release{}, fmt.Errorf("odoo: release: %w", err)
	}
	commit, err := lsRemote(ctx, r.cfg.Repo, r.cfg.Branch)
	if err != nil {
		return provision.Release{}, fmt.Errorf("odoo: release: %w", err)
	}
	var entCommit string
	if r.cfg.EnterpriseRepo != "" {
		entCommit, err = lsRemote(ctx, r.cfg.EnterpriseRepo, r.entBranch())
		if err != nil {
			return provision.Release{}, fmt.Errorf("odoo: release: enterprise: %w", err)
		}
	}
	key := r.key(commit, entCommit)
	rel := r.release(key, commit)
	if complete(rel.Dir) {
		return finished(rel), nil
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
		return finished(rel), nil
	}
	if err := r.build(ctx, rel, python, entCommit); err != nil {
		if rmErr := os.RemoveAll(rel.Dir); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("remove half-built release: %w", rmErr))
		}
		return provision.Release{}, fmt.Errorf("odoo: release %s (%s@%s): %w", key, r.cfg.Branch, shortSHA(commit), err)
	}
	return finished(rel), nil
}

// finished keeps the addons paths that exist in the built release.
func finished(rel provision.Release) provision.Release {
	rel.AddonsPaths = existingDirs(rel.AddonsPaths)
	return rel
}

// build makes the release at its final path (venvs embed absolute paths,
// so they cannot be moved after creation). The caller holds the locks.
func (r *Releases) build(ctx context.Context, rel provision.Release, python, entCommit string) error {
	r.builds.Add(1)
	start := time.Now()
	log := r.log.With("release", rel.Key, "branch", r.cfg.Branch, "commit", shortSHA(rel.Commit))
	if _, err := os.Stat(rel.Dir); err == nil {
		log.Warn("removing a half-built release", "dir", rel.Dir)
		if err := os.RemoveAll(rel.Dir); err != nil {
			return fmt.Errorf("remove half-built release: %w", err)
		}
	}
	if err := os.MkdirAll(rel.Dir, 0o755); err != nil {
		return fmt.Errorf("create release dir: %w", err)
	}

	log.Info("cloning odoo", "repo", provision.RedactURLs(r.cfg.Repo))
	src := filepath.Join(rel.Dir, "odoo")
	if err := clone(ctx, r.cfg.Repo, r.cfg.Branch, src, rel.Commit); err != nil {
		return fmt.Errorf("clone odoo: %w", err)
	}
	if r.cfg.EnterpriseRepo != "" {
		log.Info("cloning enterprise", "repo", provision.RedactURLs(r.cfg.EnterpriseRepo))
		if err := clone(ctx, r.cfg.EnterpriseRepo, r.entBranch(), filepath.Join(rel.Dir, "enterprise"), entCommit); err != nil {
			return fmt.Errorf("clone enterprise: %w", err)
		}
	}

	log.Info("creating venv", "python", python)
	venv := filepath.Join(rel.Dir, "venv")
	if _, err := run(ctx, rel.Dir, nil, python, "-m", "venv", venv); err != nil {
		return fmt.Errorf("create venv: %w", err)
	}
	req := filepath.Join(src, "requirements.txt")
	if _, err := os.Stat(req); err == nil {
		log.Info("installing requirements")
		args := append([]string{"-m", "pip", "install", "--disable-pip-version-check", "-r", req}, r.cfg.PipArgs...)
		if _, err := run(ctx, rel.Dir, nil, rel.Python, args...); err != nil {
			return fmt.Errorf("install requirements: %w", err)
		}
	}
	if _, err := os.Stat(rel.OdooBin); err != nil {
		return fmt.Errorf("no odoo-bin in the source: %w", err)
	}

	for _, d := range []string{src, filepath.Join(rel.Dir, "enterprise")} {
		if err := readOnlyFiles(d); err != nil {
			return fmt.Errorf("mark source read-only: %w", err)
		}
	}
	if err := writeMarker(rel.Dir); err != nil {
		return err
	}
	log.Info("release built", "dir", rel.Dir, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

func (r *Releases) entBranch() string {
	if r.cfg.EnterpriseBranch != "" {
		return r.cfg.EnterpriseBranch
	}
	return r.cfg.Branch
}

// key is the release's stable name in the cache.
func (r *Releases) key(commit, entCommit string) string {
	h := sha256.New()
	for _, s := range []string{r.cfg.Repo, r.cfg.Branch, commit, r.cfg.Python} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	if r.cfg.EnterpriseRepo != "" {
		for _, s := range []string{r.cfg.EnterpriseRepo, r.entBranch(), entCommit} {
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
	if r.cfg.EnterpriseRepo != "" {
		paths = append(paths, filepath.Join(dir, "enterprise"))
	}
	return provision.Release{
		Key:         key,
		Dir:         dir,
		Commit:      commit,
		Python:      filepath.Join(dir, "venv", "bin", "python"),
		OdooBin:     filepath.Join(dir, "odoo", "odoo-bin"),
		AddonsPaths: paths, // candidates; finished keeps the existing ones
	}
}

func complete(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, completeMarker))
	return err == nil
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

func existingDirs(paths []string) []string {
	var out []string
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			out = append(out, p)
		}
	}
	return out
}

var versionRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*$`)

// findPython resolves PYTHON_VERSION to an executable.
func findPython(spec string) (string, error) {
	if spec == "" {
		return "", errors.New("no python configured (PYTHON_VERSION is empty)")
	}
	if filepath.IsAbs(spec) {
		fi, err := os.Stat(spec)
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return "", fmt.Errorf("python %s (PYTHON_VERSION) is not an executable file", spec)
		}
		return spec, nil
	}
	name := spec
	if versionRE.MatchString(spec) {
		name = "python" + spec
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("python %s (PYTHON_VERSION=%s) not found on PATH; install it or set PYTHON_VERSION to an installed version or an absolute path", name, spec)
	}
	return p, nil
}

var shaRE = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)

// lsRemote returns the commit that branch points to in repo.
func lsRemote(ctx context.Context, repo, branch string) (string, error) {
	out, err := run(ctx, "", gitEnv(), "git", "ls-remote", "--", repo, "refs/heads/"+branch)
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

// clone makes a shallow clone of branch at dst and checks it is at commit.
func clone(ctx context.Context, repo, branch, dst, commit string) error {
	if _, err := run(ctx, "", gitEnv(), "git", "clone", "--quiet", "--depth", "1", "--single-branch",
		"--branch", branch, "--", repo, dst); err != nil {
		return err
	}
	out, err := run(ctx, dst, gitEnv(), "git", "rev-parse", "HEAD")
	if err != nil {
		return err
	}
	if head := firstLine(string(out)); head != commit {
		return fmt.Errorf("branch %s moved during the build (expected %s, cloned %s); try again", branch, shortSHA(commit), shortSHA(head))
	}
	return nil
}

// readOnlyFiles removes write permission from every regular file under dir
// (a missing dir is fine). Directories stay writable by the owner so that
// the release can still be removed from the cache.
func readOnlyFiles(dir string) error {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == ".git" && d.IsDir() {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		return os.Chmod(p, fi.Mode().Perm()&^0o222)
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
