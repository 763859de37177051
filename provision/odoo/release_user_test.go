package odoo_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"odoobot/internal/standin"
	"odoobot/internal/testenv"
	"odoobot/provision"
	"odoobot/provision/odoo"
)

// testBuildUser is the unprivileged user the build-user tests build as:
// nobody, which every Debian host has (the tests make no system user on
// the host they run on).
const testBuildUser = "nobody"

// secretEnv is odoobot's secrets as its process environment could hold
// them; setSecrets puts them there.
var secretEnv = map[string]string{
	"SLACK_BOT_TOKEN":   "xoxb-odoobot-test-must-not-leak",
	"SLACK_APP_TOKEN":   "xapp-odoobot-test-must-not-leak",
	"DISCORD_BOT_TOKEN": "discord-odoobot-test-must-not-leak",
	"CF_API_TOKEN":      "cf-odoobot-test-must-not-leak",
	"DB_PASSWORD":       "db-odoobot-test-must-not-leak",
	"CF_ORIGIN_KEY":     "origin-key-odoobot-test-must-not-leak",
}

func setSecrets(t *testing.T) {
	for k, v := range secretEnv {
		t.Setenv(k, v)
	}
}

// sharedDir is a fresh temporary directory that the build user can
// reach (a test's temporary directories are 0700 root's).
func sharedDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	for _, p := range []string{d, filepath.Dir(d)} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// buildUser returns nobody as the build user, with a home of its own.
// Running a program as another user needs root.
func buildUser(t *testing.T) *odoo.BuildUser {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "running a build as another user needs root")
	}
	if _, err := user.Lookup(testBuildUser); err != nil {
		testenv.Missing(t, "the host has no user "+testBuildUser)
	}
	bu, err := odoo.LookupBuildUser(testBuildUser, filepath.Join(sharedDir(t), "build-home"))
	if err != nil {
		t.Fatal(err)
	}
	return bu
}

// probeDir is a directory the build user may write its records into.
func probeDir(t *testing.T, bu *odoo.BuildUser) string {
	t.Helper()
	d := filepath.Join(sharedDir(t), "probe")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(d, int(bu.UID), int(bu.GID)); err != nil {
		t.Fatal(err)
	}
	return d
}

// probePython is Python that writes, into a new file of dir, the uid,
// gid, supplementary groups and environment it runs with.
func probePython(dir, what string) string {
	return fmt.Sprintf(`import json, os
with open(os.path.join(%q, "%s-%%d.json" %% os.getpid()), "w") as fh:
    json.dump({"uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(),
               "groups": os.getgroups(), "env": dict(os.environ)}, fh)
`, dir, what)
}

type probeRecord struct {
	UID, EUID, GID int
	Groups         []int
	Env            map[string]string
}

// readProbes returns the records written into dir; none fails the test.
func readProbes(t *testing.T, dir string) []probeRecord {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) == 0 {
		t.Fatalf("nothing recorded in %s: the probe did not run", dir)
	}
	var out []probeRecord
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var r probeRecord
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, r)
	}
	return out
}

// checkProbe asserts that a record was made by the build user, with no
// supplementary group, its home as HOME, and none of odoobot's secrets
// in its environment (by name or by value).
func checkProbe(t *testing.T, r probeRecord, bu *odoo.BuildUser) {
	t.Helper()
	if r.UID != int(bu.UID) || r.EUID != int(bu.UID) || r.GID != int(bu.GID) {
		t.Errorf("ran as uid %d (euid %d) gid %d, want the build user's %d:%d", r.UID, r.EUID, r.GID, bu.UID, bu.GID)
	}
	if len(r.Groups) != 0 {
		t.Errorf("ran with supplementary groups %v, want none", r.Groups)
	}
	if r.Env["HOME"] != bu.Home {
		t.Errorf("HOME=%q, want the build user's home %q", r.Env["HOME"], bu.Home)
	}
	for k, v := range r.Env {
		if _, ok := secretEnv[k]; ok {
			t.Errorf("the environment holds %s", k)
		}
		for name, secret := range secretEnv {
			if strings.Contains(v, secret) {
				t.Errorf("the environment's %s holds the value of %s", k, name)
			}
		}
	}
}

// checkRootOwned asserts that everything under dir is root's and that
// nobody else may write into it: directories 0755, files 0644 or 0755
// (the .complete marker 0444).
func checkRootOwned(t *testing.T, dir string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != 0 || st.Gid != 0 {
			t.Errorf("%s belongs to %d:%d, want root's", p, st.Uid, st.Gid)
		}
		m := fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
		case fi.IsDir() && m != 0o755:
			t.Errorf("directory %s has mode %v, want 0755", p, m)
		case !fi.IsDir() && (m&^fs.ModePerm != 0 || m&0o022 != 0):
			t.Errorf("%s has mode %v, want no write for others and no special bit (0644, 0755)", p, m)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 2 {
		t.Errorf("%s holds nothing", dir)
	}
}

// TestTemplateInitRunsAsBuildUser: with odoobot's secrets in its own
// environment, a release is built and a template initialised with a
// build user; a module installed by the initialisation records who it
// runs as and its environment: the build user, no supplementary group,
// its home, none of the secrets. The release and the template's
// filestore are root's afterwards, and no work dir is left.
func TestTemplateInitRunsAsBuildUser(t *testing.T) {
	setSecrets(t)
	bu := buildUser(t)
	e := newDBEnv(t)
	probe := probeDir(t, bu)

	// A copy of the stand-in whose init imports each installed module's
	// code, as Odoo does, and a module that records its environment.
	repo := filepath.Join(sharedDir(t), "odoo")
	if err := standin.MakeRepo(repo); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(repo, standin.Bin)
	src, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	anchor := "    _loading_logger.info(\"Modules loaded.\")\n"
	if !bytes.Contains(src, []byte(anchor)) {
		t.Fatalf("the stand-in's odoo-bin has no line %q to hook module imports before", anchor)
	}
	hook := `    import importlib.util
    for name in install:
        for p in paths:
            init = os.path.join(p, name, "__init__.py")
            if os.path.isfile(init):
                spec = importlib.util.spec_from_file_location("odoo.addons." + name, init)
                spec.loader.exec_module(importlib.util.module_from_spec(spec))
                break
`
	if err := os.WriteFile(bin, bytes.Replace(src, []byte(anchor), []byte(hook+anchor), 1), 0o755); err != nil {
		t.Fatal(err)
	}
	mod := filepath.Join(repo, standin.AddonsDir, "envprobe")
	if err := os.MkdirAll(mod, 0o755); err != nil {
		t.Fatal(err)
	}
	manifest := `{"name": "envprobe", "version": "19.0.1.0", "depends": ["base"], "license": "LGPL-3"}` + "\n"
	for name, body := range map[string]string{"__manifest__.py": manifest, "__init__.py": probePython(probe, "module")} {
		if err := os.WriteFile(filepath.Join(mod, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(t, repo, "add", "-A")
	git(t, repo, "commit", "-q", "--no-gpg-sign", "-m", "a module that records its environment")

	cfg := releaseConfig(t, repo)
	cfg.CacheDir = filepath.Join(sharedDir(t), "releases")
	cfg.BuildUser = bu
	rel := ensure(t, odoo.NewReleases(cfg))
	checkRootOwned(t, rel.Dir)

	e.cfg.FilestoreDir = filepath.Join(sharedDir(t), "templates")
	e.cfg.BuildUser = bu
	e.d = odoo.NewDatabases(e.cfg)
	spec := provision.DatabaseSpec{
		Name: e.name("probe"), Release: rel, Modules: []string{"web", "envprobe"},
		BaseURL: "https://probe.example.com", ReportURL: "http://127.0.0.1:2100", DataDir: t.TempDir(),
	}
	tpl := e.d.TemplateName(spec)
	e.dropAtEnd(t, spec.Name, tpl, tpl+"_init")
	if err := e.create(t, spec); err != nil {
		t.Fatalf("Create: %v", err)
	}
	var mods []string
	e.query(t, spec.Name, "SELECT array_agg(name ORDER BY name) FROM ir_module_module WHERE state = 'installed'", &mods)
	if !slices.Contains(mods, "envprobe") {
		t.Fatalf("envprobe not installed: %v", mods)
	}

	for _, r := range readProbes(t, probe) {
		checkProbe(t, r, bu)
		keys := make([]string, 0, len(r.Env))
		for k := range r.Env {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if diff := cmp.Diff(keys, []string{"HOME", "LANG", "PATH"}); diff != "" {
			t.Errorf("the module's environment, names (-got +want):\n%s", diff)
		}
	}
	checkRootOwned(t, filepath.Join(e.cfg.FilestoreDir, tpl))
	left, _ := filepath.Glob(filepath.Join(e.cfg.FilestoreDir, ".init-*"))
	if len(left) > 0 {
		t.Errorf("work dirs left: %v", left)
	}
}

// TestPipBuildRunsAsBuildUser: a pip-mode build, offline (--no-index
// --find-links on a local directory), of a source whose requirements
// name a package with a setup.py that records who runs it and its
// environment: the build user, no supplementary group, its home, none of
// odoobot's secrets. The release is root's afterwards.
func TestPipBuildRunsAsBuildUser(t *testing.T) {
	setSecrets(t)
	bu := buildUser(t)
	probe := probeDir(t, bu)

	links := filepath.Join(sharedDir(t), "wheels")
	if err := os.Mkdir(links, 0o755); err != nil {
		t.Fatal(err)
	}
	setup := probePython(probe, "setup") + `
from setuptools import setup
setup(name="odoobot-envprobe", version="1.0", py_modules=[])
`
	pkgInfo := "Metadata-Version: 1.0\nName: odoobot-envprobe\nVersion: 1.0\n"
	writeSdist(t, filepath.Join(links, "odoobot-envprobe-1.0.tar.gz"), "odoobot-envprobe-1.0",
		map[string]string{"setup.py": setup, "PKG-INFO": pkgInfo})

	repo := filepath.Join(sharedDir(t), "odoo")
	if err := standin.MakeRepo(repo); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "requirements.txt"), []byte("odoobot-envprobe==1.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, repo, "commit", "-q", "-a", "--no-gpg-sign", "-m", "a requirement with a setup.py")

	cfg := releaseConfig(t, repo)
	cfg.CacheDir = filepath.Join(sharedDir(t), "releases")
	cfg.BuildUser = bu
	cfg.Deps = odoo.DepsPip
	// The venv's own setuptools builds it: no index to fetch one from.
	cfg.PipArgs = []string{"--no-index", "--find-links", links, "--no-build-isolation"}
	rel := ensure(t, odoo.NewReleases(cfg))

	for _, r := range readProbes(t, probe) {
		checkProbe(t, r, bu)
	}
	checkRootOwned(t, rel.Dir)
	if out, err := odoo.Run(t.Context(), "", nil, rel.Python, "-m", "pip", "show", "--disable-pip-version-check", "odoobot-envprobe"); err != nil || !strings.Contains(string(out), "Version: 1.0") {
		t.Errorf("odoobot-envprobe not installed in the release's venv: %v\n%s", err, out)
	}
}

// writeSdist writes a source distribution: files under top/ in a tar.gz.
func writeSdist(t *testing.T, path, top string, files map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: top + "/" + name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLookupBuildUser: the home is made, the user's, 0700; root is
// refused as a build user.
func TestLookupBuildUser(t *testing.T) {
	bu := buildUser(t)
	fi, err := os.Stat(bu.Home)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != bu.UID || st.Gid != bu.GID || fi.Mode().Perm() != 0o700 {
		t.Errorf("home %s: %d:%d %v, want %d:%d 0700", bu.Home, st.Uid, st.Gid, fi.Mode().Perm(), bu.UID, bu.GID)
	}
	u, _ := user.Lookup(testBuildUser)
	if strconv.Itoa(int(bu.UID)) != u.Uid {
		t.Errorf("UID %d, want %s", bu.UID, u.Uid)
	}
	if _, err := odoo.LookupBuildUser("root", filepath.Join(sharedDir(t), "h")); err == nil || !strings.Contains(err.Error(), "unprivileged") {
		t.Errorf("LookupBuildUser(root) = %v, want a refusal", err)
	}
}
