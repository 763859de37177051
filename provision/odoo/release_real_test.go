package odoo_test

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/internal/testenv"
	"odoobot/provision"
	"odoobot/provision/odoo"
)

// odooTree unpacks the real Odoo source of version (17.0 or 19.0) into a
// fresh directory of the test's own, which it may change, and returns it.
func odooTree(t *testing.T, version string) string {
	t.Helper()
	testenv.LookPath(t, "git")
	tgz := odooTarball(t, version)
	dir := filepath.Join(t.TempDir(), "odoo-"+version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("tar", "xzf", tgz, "-C", dir, "--strip-components=1").CombinedOutput(); err != nil {
		t.Fatalf("unpack %s: %v\n%s", tgz, err, out)
	}
	return dir
}

// sharedTreeRepo makes a bare git repository on branch version whose one
// commit holds the shared, read-only real Odoo tree of version less the
// paths in without. The tree itself is not touched.
func sharedTreeRepo(t *testing.T, version string, without ...string) string {
	t.Helper()
	testenv.LookPath(t, "git")
	tree := unpackOdoo(t, version)
	repo := filepath.Join(t.TempDir(), "odoo-"+version+".git")
	git(t, "", "init", "-q", "--bare", "-b", version, repo)
	wt := []string{"--git-dir=" + repo, "--work-tree=" + tree}
	git(t, "", append(wt, "add", "-A")...)
	if len(without) > 0 {
		git(t, "", append(append(wt, "rm", "-q", "--cached", "--"), without...)...)
	}
	git(t, "", append(wt, "commit", "-q", "--no-gpg-sign", "-m", "odoo "+version)...)
	return repo
}

// commitTree makes dir a git repository with one commit on branch.
func commitTree(t *testing.T, dir, branch string) string {
	t.Helper()
	git(t, dir, "init", "-q", "-b", branch)
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "--no-gpg-sign", "-m", "odoo "+branch)
	return dir
}

// realBuild is a debian-mode build of a real Odoo source, recording what
// it reports.
type realBuild struct {
	cfg      odoo.ReleaseConfig
	mu       sync.Mutex
	phases   []string
	installs [][]string
}

func newRealBuild(t *testing.T, repo, branch string) *realBuild {
	t.Helper()
	systemPython(t)
	b := &realBuild{}
	b.cfg = odoo.ReleaseConfig{
		CacheDir: filepath.Join(t.TempDir(), "releases"),
		Repo:     "file://" + repo,
		Branch:   branch,
		Deps:     odoo.DepsDebian,
		InstallPackages: func(_ context.Context, pkgs []string) error {
			b.mu.Lock()
			b.installs = append(b.installs, pkgs)
			b.mu.Unlock()
			return nil // the build's own check then says they are still missing
		},
	}
	return b
}

// ensure builds (or finds) the release. Debian packages this machine
// lacks stop the test through testenv.Missing: tests install nothing.
func (b *realBuild) ensure(t *testing.T, r *odoo.Releases) (provision.Release, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	rel, err := r.Ensure(ctx, func(p string) { b.mu.Lock(); b.phases = append(b.phases, p); b.mu.Unlock() })
	took := time.Since(start)
	if err != nil {
		if len(b.installs) > 0 {
			testenv.Missing(t, "Debian packages "+strings.Join(b.installs[0], " ")+" are not installed (scripts/deps.sh installs them)")
		}
		t.Fatalf("Ensure: %v", err)
	}
	return rel, took
}

// pyRun runs the release's python with args in dir and returns its output.
func pyRun(t *testing.T, rel provision.Release, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(rel.Python, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent", "LANG=C.UTF-8"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestReleaseRealOdoo builds releases of real Odoo 17.0 and 19.0
// (source-distribution layout) on Debian's Python packages.
func TestReleaseRealOdoo(t *testing.T) {
	for _, version := range []string{"17.0", "19.0"} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			repo := sharedTreeRepo(t, version)
			b := newRealBuild(t, repo, version)
			r := odoo.NewReleases(b.cfg)
			rel, took := b.ensure(t, r)
			t.Logf("cold debian-mode build of %s: %s", version, took.Round(time.Millisecond))

			src := filepath.Join(rel.Dir, "odoo")
			want := provision.Release{
				Key: rel.Key, Dir: rel.Dir, Repo: b.cfg.Repo, Commit: git(t, repo, "rev-parse", "HEAD"),
				Python:      filepath.Join(rel.Dir, "venv", "bin", "python"),
				Interpreter: rel.Interpreter, Deps: "debian",
				OdooBin:     filepath.Join(src, "odoo-bin"),
				AddonsPaths: []string{filepath.Join(src, "odoo", "addons")},
				Version:     version, Edition: "community",
			}
			if diff := cmp.Diff(rel, want); diff != "" {
				t.Errorf("release (-got +want):\n%s", diff)
			}
			if !filepath.IsAbs(rel.Interpreter) || !strings.HasPrefix(filepath.Base(rel.Interpreter), "python3") {
				t.Errorf("release interpreter %q, want the absolute path of the python3 its venv was made from", rel.Interpreter)
			}
			for _, p := range []string{"cloning odoo", "creating venv", "checking the release", "compiling Python"} {
				if !slices.Contains(b.phases, p) {
					t.Errorf("progress %q not reported; got %q", p, b.phases)
				}
			}

			out, err := pyRun(t, rel, t.TempDir(), rel.OdooBin, "--version")
			if err != nil || !strings.Contains(out, "Odoo Server "+version) {
				t.Errorf("odoo-bin --version: %v\n%s", err, out)
			}
			requireCompiled(t, rel)
			// The venv sees Debian's packages, and nothing was pip-installed.
			out, err = pyRun(t, rel, t.TempDir(), "-c", "import werkzeug, lxml, psycopg2, PIL, babel; print(werkzeug.__file__, psycopg2.__file__)")
			if err != nil || strings.Count(out, "/usr/lib/python3/dist-packages/") != 2 {
				t.Errorf("the venv does not see Debian's packages: %v\n%s", err, out)
			}
			sites, _ := filepath.Glob(filepath.Join(rel.Dir, "venv", "lib", "python*", "site-packages", "*"))
			for _, s := range sites {
				if filepath.Base(s) != "odoo-source.pth" {
					t.Errorf("the venv holds %s, want nothing installed in it", s)
				}
			}
			if out, err := pyRun(t, rel, t.TempDir(), "-m", "pip", "--version"); err == nil && !strings.Contains(out, "/usr/lib/python3/dist-packages") {
				t.Errorf("the venv has its own pip: %s", out)
			}

			// Warm: a cache hit.
			again, _ := b.ensure(t, r)
			if diff := cmp.Diff(again, rel); diff != "" {
				t.Errorf("warm Ensure (-got +want):\n%s", diff)
			}
			if n := odoo.BuildCount(r); n != 1 {
				t.Errorf("builds = %d after a warm Ensure, want 1", n)
			}
		})
	}
}

// requireCompiled checks that every Python file of the release's source
// but its tests has its bytecode, for the venv's interpreter, beside it:
// an instance's user, who cannot write there, never compiles Odoo again.
func requireCompiled(t *testing.T, rel provision.Release) {
	t.Helper()
	tag, err := pyRun(t, rel, t.TempDir(), "-c", "import sys; print(sys.implementation.cache_tag)")
	if err != nil {
		t.Fatalf("cache tag: %v\n%s", err, tag)
	}
	tag = strings.TrimSpace(tag)
	var files, missing []string
	err = filepath.WalkDir(filepath.Join(rel.Dir, "odoo"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "tests" || d.Name() == "test" || d.Name() == ".git") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".py") {
			return nil
		}
		files = append(files, path)
		pyc := filepath.Join(filepath.Dir(path), "__pycache__", strings.TrimSuffix(d.Name(), ".py")+"."+tag+".pyc")
		if _, err := os.Stat(pyc); err != nil {
			missing = append(missing, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 100 || len(missing) > 0 {
		t.Errorf("%d of %d Python files of the release have no bytecode for %s, e.g. %q", len(missing), len(files), tag, missing[:min(len(missing), 3)])
	}
}

// TestReleaseGithubLayout builds 17.0 laid out as a github checkout: the
// core modules in odoo/addons, the others in addons/ at the top.
func TestReleaseGithubLayout(t *testing.T) {
	t.Parallel()
	dir := odooTree(t, "17.0")
	entries, err := os.ReadDir(filepath.Join(dir, "odoo", "addons"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "addons"), 0o755); err != nil {
		t.Fatal(err)
	}
	moved := 0
	for _, e := range entries {
		if !e.IsDir() || e.Name() == "base" {
			continue
		}
		if err := os.Rename(filepath.Join(dir, "odoo", "addons", e.Name()), filepath.Join(dir, "addons", e.Name())); err != nil {
			t.Fatal(err)
		}
		moved++
	}
	if moved == 0 {
		t.Fatal("no module moved to addons/")
	}
	repo := commitTree(t, dir, "17.0")
	b := newRealBuild(t, repo, "17.0")
	rel, took := b.ensure(t, odoo.NewReleases(b.cfg))
	t.Logf("cold build: %s", took.Round(time.Millisecond))
	want := []string{filepath.Join(rel.Dir, "odoo", "addons"), filepath.Join(rel.Dir, "odoo", "odoo", "addons")}
	if diff := cmp.Diff(rel.AddonsPaths, want); diff != "" {
		t.Errorf("AddonsPaths (-got +want):\n%s", diff)
	}
	if rel.Version != "17.0" || rel.OdooBin != filepath.Join(rel.Dir, "odoo", "odoo-bin") {
		t.Errorf("Version %q, OdooBin %q", rel.Version, rel.OdooBin)
	}
}

// TestReleaseSdistWithoutOdooBin builds a 19.0 source distribution that
// has setup/odoo and no odoo-bin.
func TestReleaseSdistWithoutOdooBin(t *testing.T) {
	t.Parallel()
	repo := sharedTreeRepo(t, "19.0", "odoo-bin")
	b := newRealBuild(t, repo, "19.0")
	rel, _ := b.ensure(t, odoo.NewReleases(b.cfg))
	if want := filepath.Join(rel.Dir, "odoo", "setup", "odoo"); rel.OdooBin != want {
		t.Errorf("OdooBin = %s, want %s", rel.OdooBin, want)
	}
	// From any directory, as a systemd unit runs it.
	out, err := pyRun(t, rel, t.TempDir(), rel.OdooBin, "--version")
	if err != nil || !strings.Contains(out, "Odoo Server 19.0") {
		t.Errorf("setup/odoo --version: %v\n%s", err, out)
	}
}
