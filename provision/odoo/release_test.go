package odoo_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/internal/standin"
	"odoobot/internal/testenv"
	"odoobot/provision"
	"odoobot/provision/odoo"
)

// releaseConfig is a config building the stand-in repo in debian mode
// with the system's python3. Installing a Debian package fails the test.
func releaseConfig(t *testing.T, repo string) odoo.ReleaseConfig {
	t.Helper()
	testenv.LookPath(t, "git")
	systemPython(t)
	return odoo.ReleaseConfig{
		CacheDir: filepath.Join(t.TempDir(), "releases"),
		Repo:     "file://" + repo,
		Branch:   standin.Branch,
		InstallPackages: func(_ context.Context, pkgs []string) error {
			t.Errorf("the stand-in needs no Debian package, asked to install %v", pkgs)
			return errors.New("no installs in this test")
		},
	}
}

// systemPython stops the test when the system's python3 (and its venv
// module) is missing.
func systemPython(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		testenv.Missing(t, "/usr/bin/python3 is not installed (apt-get install python3-venv)")
	}
}

func ensure(t *testing.T, r *odoo.Releases) provision.Release {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rel, err := r.Ensure(ctx, nil)
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	return rel
}

// git runs git in dir with a fixed identity and returns its trimmed output.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t.invalid", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t.invalid")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// TestEnsure walks one cache through its life: a cold build raced by four
// callers, the warm path, a crash-left half build, a new commit. (A venv
// costs seconds, so the steps share their builds.)
func TestEnsure(t *testing.T) {
	t.Parallel() // a venv takes seconds
	repo := standin.Repo(t)
	cfg := releaseConfig(t, repo)
	a, b := odoo.NewReleases(cfg), odoo.NewReleases(cfg) // b stands for another process: only the file lock is shared
	builds := func() int64 { return odoo.BuildCount(a) + odoo.BuildCount(b) }

	// Four concurrent Ensure on a cold cache: one build.
	var wg sync.WaitGroup
	rels := make([]provision.Release, 4)
	errs := make([]error, 4)
	for i, r := range []*odoo.Releases{a, a, b, b} {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			rels[i], errs[i] = r.Ensure(ctx, nil)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Ensure %d: %v", i, err)
		}
		if diff := cmp.Diff(rels[i], rels[0]); diff != "" {
			t.Errorf("Ensure %d (-got +want):\n%s", i, diff)
		}
	}
	if n := builds(); n != 1 {
		t.Errorf("four concurrent Ensure built %d times, want 1", n)
	}

	rel := rels[0]
	want := provision.Release{
		Key:     rel.Key,
		Dir:     filepath.Join(cfg.CacheDir, rel.Key),
		Repo:    "file://" + repo,
		Commit:  git(t, repo, "rev-parse", "HEAD"),
		Deps:    "debian",
		Python:  filepath.Join(cfg.CacheDir, rel.Key, "venv", "bin", "python"),
		OdooBin: filepath.Join(cfg.CacheDir, rel.Key, "odoo", "odoo-bin"),
		AddonsPaths: []string{
			filepath.Join(cfg.CacheDir, rel.Key, "odoo", "addons"),
			filepath.Join(cfg.CacheDir, rel.Key, "odoo", "odoo", "addons"),
		},
		Version: "19.0",
		Edition: "community",
	}
	if py, err := filepath.EvalSymlinks("/usr/bin/python3"); err == nil {
		want.Interpreter = py
	}
	if diff := cmp.Diff(rel, want); diff != "" {
		t.Errorf("release (-got +want):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(rel.Dir, ".complete")); err != nil {
		t.Errorf("no .complete marker: %v", err)
	}
	out, err := exec.Command(rel.Python, rel.OdooBin, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "19.0") {
		t.Errorf("venv python running odoo-bin --version: %v\n%s", err, out)
	}
	if fi, err := os.Stat(rel.OdooBin); err != nil || fi.Mode().Perm()&0o022 != 0 {
		t.Errorf("odoo-bin of a shared release should be writable by its owner alone: %v %v", fi.Mode(), err)
	}

	// Warm path: no clone, no venv.
	venvIno := inode(t, filepath.Join(rel.Dir, "venv"))
	for _, r := range []*odoo.Releases{a, b} {
		if diff := cmp.Diff(ensure(t, r), rel); diff != "" {
			t.Errorf("warm Ensure (-got +want):\n%s", diff)
		}
	}
	if n := builds(); n != 1 {
		t.Errorf("builds = %d after warm Ensure, want 1", n)
	}
	if got := inode(t, filepath.Join(rel.Dir, "venv")); got != venvIno {
		t.Errorf("venv was rebuilt (inode %d → %d)", venvIno, got)
	}

	// A crash during a build leaves a directory without the marker: rebuilt.
	if err := os.Remove(filepath.Join(rel.Dir, ".complete")); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(rel.Dir, "left-by-a-crash")
	if err := os.WriteFile(junk, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ensure(t, a), rel); diff != "" {
		t.Errorf("rebuilt release (-got +want):\n%s", diff)
	}
	if n := builds(); n != 2 {
		t.Errorf("builds = %d, want 2 (a rebuild of the half-built one)", n)
	}
	if _, err := os.Stat(junk); !os.IsNotExist(err) {
		t.Errorf("the half-built directory was not cleared: %v", err)
	}

	// A new commit on the branch: a new release, the old one untouched.
	git(t, repo, "commit", "-q", "--allow-empty", "--no-gpg-sign", "-m", "next")
	next := ensure(t, a)
	if next.Key == rel.Key || next.Dir == rel.Dir {
		t.Errorf("a new commit gave the same release %s", rel.Key)
	}
	if want := git(t, repo, "rev-parse", "HEAD"); next.Commit != want {
		t.Errorf("Commit = %s, want %s", next.Commit, want)
	}
	if n := builds(); n != 3 {
		t.Errorf("builds = %d, want 3", n)
	}
	if _, err := os.Stat(filepath.Join(rel.Dir, ".complete")); err != nil {
		t.Errorf("the older release was disturbed: %v", err)
	}
}

func TestEnsureMissingPython(t *testing.T) {
	for _, py := range []string{"3.99", "/nonexistent/python3"} {
		cfg := releaseConfig(t, standin.Repo(t))
		cfg.Python = py
		_, err := odoo.NewReleases(cfg).Ensure(context.Background(), nil)
		if err == nil || !strings.Contains(err.Error(), "PYTHON_VERSION") {
			t.Errorf("Python %q: error %v, want one naming PYTHON_VERSION", py, err)
		}
	}
}

func TestEnsureUnknownBranch(t *testing.T) {
	cfg := releaseConfig(t, standin.Repo(t))
	cfg.Branch = "no-such-branch"
	_, err := odoo.NewReleases(cfg).Ensure(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "no-such-branch") {
		t.Errorf("error %v, want one naming the branch", err)
	}
}

func TestEnsurePipFailureLeavesNothing(t *testing.T) {
	t.Parallel() // a venv takes seconds
	repo := standin.Repo(t)
	if err := os.WriteFile(filepath.Join(repo, "requirements.txt"), []byte("odoobot-no-such-package==1.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, repo, "commit", "-q", "-a", "--no-gpg-sign", "-m", "a requirement pip cannot find")
	cfg := releaseConfig(t, repo)
	cfg.Deps, cfg.PipArgs = odoo.DepsPip, []string{"--no-index"}
	_, err := odoo.NewReleases(cfg).Ensure(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "odoobot-no-such-package") {
		t.Fatalf("error %v, want pip's output naming the package", err)
	}
	entries, _ := os.ReadDir(cfg.CacheDir)
	for _, e := range entries {
		if e.IsDir() {
			t.Errorf("a failed build left %s in the cache", e.Name())
		}
	}
}

// TestEnsureMissingModule: a source whose odoo.http imports a module the
// interpreter lacks fails its check, naming the module and a guess at its
// Debian package, and leaves nothing in the cache.
func TestEnsureMissingModule(t *testing.T) {
	t.Parallel()
	repo := standin.Repo(t)
	if err := os.WriteFile(filepath.Join(repo, "odoo", "http.py"), []byte("import xyzzy_missing\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, repo, "commit", "-q", "-a", "--no-gpg-sign", "-m", "odoo.http needs a module nobody has")
	cfg := releaseConfig(t, repo)
	_, err := odoo.NewReleases(cfg).Ensure(context.Background(), nil)
	if err == nil {
		t.Fatal("a release whose odoo.http cannot be imported was built")
	}
	for _, want := range []string{`"xyzzy_missing" is missing`, "python3-xyzzy-missing (a guess"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\nwant it to say %q", err, want)
		}
	}
	entries, _ := os.ReadDir(cfg.CacheDir)
	for _, e := range entries {
		if e.IsDir() {
			t.Errorf("a failed build left %s in the cache", e.Name())
		}
	}
}

// TestEnsureDebianControl: the python3-* Depends of a source's
// debian/control are what debian mode installs, only the missing ones,
// and a package still missing afterwards fails the build.
func TestEnsureDebianControl(t *testing.T) {
	t.Parallel()
	repo := standin.Repo(t)
	control := `Source: odoo
Maintainer: Odoo S.A. <info@odoo.com>
Build-Depends: debhelper-compat (= 12), dh-python, python3, rsync

Package: odoo
Architecture: all
Depends:
 ${misc:Depends},
 ${python3:Depends},
 adduser,
 python3 (>= 3.10),
 python3-odoobot-test-missing (>= 1.0) | python3-odoobot-test-other,
 python3-venv,
 python3-odoobot-test-gone | python3-venv
Description: Open Source Apps To Grow Your Business
`
	if err := os.MkdirAll(filepath.Join(repo, "debian"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "debian", "control"), []byte(control), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, repo, "add", "debian")
	git(t, repo, "commit", "-q", "--no-gpg-sign", "-m", "a debian/control")
	if out, err := exec.Command("dpkg-query", "-W", "-f=${db:Status-Status}", "python3-venv").Output(); err != nil || string(out) != "installed" {
		testenv.Missing(t, "python3-venv is not installed")
	}
	cfg := releaseConfig(t, repo)
	var asked [][]string
	var phases []string
	cfg.InstallPackages = func(_ context.Context, pkgs []string) error { asked = append(asked, pkgs); return nil }
	_, err := odoo.NewReleases(cfg).Ensure(context.Background(), func(p string) { phases = append(phases, p) })
	if diff := cmp.Diff(asked, [][]string{{"python3-odoobot-test-missing"}}); diff != "" {
		t.Errorf("InstallPackages calls (-got +want):\n%s", diff)
	}
	if !slices.Contains(phases, "installing 1 Debian package") {
		t.Errorf("progress %q, want it to say it installs 1 Debian package", phases)
	}
	if err == nil || !strings.Contains(err.Error(), "still not installed") || !strings.Contains(err.Error(), "python3-odoobot-test-missing") {
		t.Errorf("error %v, want one saying python3-odoobot-test-missing is still not installed", err)
	}

	// Without an installer (serve's builds), the build installs nothing
	// and fails naming the package and odoobot setup; nothing is cached.
	cfg = releaseConfig(t, repo)
	cfg.InstallPackages = nil
	phases = nil
	_, err = odoo.NewReleases(cfg).Ensure(context.Background(), func(p string) { phases = append(phases, p) })
	var missing *odoo.MissingPackagesError
	if !errors.As(err, &missing) || !slices.Equal(missing.Packages, []string{"python3-odoobot-test-missing"}) {
		t.Fatalf("error %v, want a MissingPackagesError naming python3-odoobot-test-missing", err)
	}
	for _, want := range []string{"python3-odoobot-test-missing", "run `odoobot setup` as root", "apt-get install python3-odoobot-test-missing"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\nwant it to say %q", err, want)
		}
	}
	if slices.ContainsFunc(phases, func(p string) bool { return strings.HasPrefix(p, "installing") }) {
		t.Errorf("progress %q: a build without an installer said it installs", phases)
	}
	if entries, _ := os.ReadDir(cfg.CacheDir); slices.ContainsFunc(entries, func(e os.DirEntry) bool { return e.IsDir() }) {
		t.Errorf("a build refused for a missing package left a release in the cache: %v", entries)
	}
}

func TestCheckPython(t *testing.T) {
	systemPython(t)
	if got, err := odoo.CheckPython(""); err != nil || got != "/usr/bin/python3" {
		t.Errorf(`CheckPython("") = %q, %v; want /usr/bin/python3`, got, err)
	}
	for spec, want := range map[string][]string{
		"3.99":                 {"python3.99 (PYTHON_VERSION=3.99) not found", "the system's /usr/bin/python3 is python3.", "leave PYTHON_VERSION empty"},
		"/nonexistent/python3": {"/nonexistent/python3 (PYTHON_VERSION) is not an executable file"},
	} {
		_, err := odoo.CheckPython(spec)
		for _, w := range want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("CheckPython(%q) = %v, want an error saying %q", spec, err, w)
			}
		}
	}
	// A version names the system's interpreter when it is that version.
	target, err := filepath.EvalSymlinks("/usr/bin/python3")
	if err != nil {
		t.Fatal(err)
	}
	v := strings.TrimPrefix(filepath.Base(target), "python")
	py, err := odoo.CheckPython(v)
	if err != nil {
		t.Fatalf("CheckPython(%q): %v", v, err)
	}
	if err := odoo.CheckDeps("", py); err != nil {
		t.Errorf("CheckDeps(debian, %s): %v", py, err)
	}

	// Another interpreter (here a copy of the system's) is refused in
	// debian mode, taken in pip mode.
	other := filepath.Join(t.TempDir(), "python3")
	data, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := odoo.CheckDeps(odoo.DepsDebian, other); err == nil || !strings.Contains(err.Error(), "would not see Debian's python3-* packages") {
		t.Errorf("CheckDeps(debian, %s) = %v, want a refusal saying why", other, err)
	}
	if err := odoo.CheckDeps(odoo.DepsPip, other); err != nil {
		t.Errorf("CheckDeps(pip, %s) = %v", other, err)
	}
	if err := odoo.CheckDeps("conda", py); err == nil || !strings.Contains(err.Error(), "ODOO_PYTHON_DEPS") {
		t.Errorf("CheckDeps(conda) = %v, want an error naming ODOO_PYTHON_DEPS", err)
	}
}

// TestEnsureRefusesOtherPythonInDebianMode: the refusal reaches Ensure.
func TestEnsureRefusesOtherPythonInDebianMode(t *testing.T) {
	cfg := releaseConfig(t, standin.Repo(t))
	other := filepath.Join(t.TempDir(), "python3")
	if err := os.WriteFile(other, []byte("#!/bin/sh\nexec /usr/bin/python3 \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg.Python = other
	if _, err := odoo.NewReleases(cfg).Ensure(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "not the system's") {
		t.Errorf("Ensure with %s in debian mode: %v, want a refusal", other, err)
	}
}

// TestChildEnvironment: a child gets the minimal environment, none of
// odoobot's (which holds tokens).
func TestChildEnvironment(t *testing.T) {
	t.Setenv("SLACK_BOT_TOKEN", "xoxb-must-not-leak")
	out, err := odoo.Run(context.Background(), "", nil, "/usr/bin/env")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(string(out))
	slices.Sort(got)
	want := []string{"HOME=/nonexistent", "LANG=C.UTF-8", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("child environment (-got +want):\n%s", diff)
	}
}

func TestAptInstallRefusesOddNames(t *testing.T) {
	for _, p := range []string{"-o=APT::Foo=1", "python3-x; rm -rf /", "Python3-Babel", ""} {
		if err := odoo.AptInstall(context.Background(), []string{p}); err == nil || !strings.Contains(err.Error(), "not a Debian package name") {
			t.Errorf("AptInstall(%q) = %v, want a refusal", p, err)
		}
	}
}
