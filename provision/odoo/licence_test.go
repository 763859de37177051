package odoo_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/internal/testenv"
	"odoobot/provision/odoo"
)

// odooTarball returns the trimmed real Odoo source of version ("17.0",
// "19.0"), from ODOO_TEST_TARBALLS (default: ../shared/odoo beside the
// checkout, as scripts/odoo-sources.sh has it), or stops the test through
// testenv.Missing.
func odooTarball(t testing.TB, version string) string {
	t.Helper()
	dir := os.Getenv("ODOO_TEST_TARBALLS")
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "odoo")
	}
	m, _ := filepath.Glob(filepath.Join(dir, "odoo-"+version+"-*.tar.gz"))
	if len(m) == 0 {
		testenv.Missing(t, "no real Odoo "+version+" source (odoo-"+version+"-*.tar.gz in ODOO_TEST_TARBALLS)")
	}
	return m[0]
}

// unpacked are the real Odoo trees unpacked by this test binary, shared
// read-only by its tests and removed by TestMain.
var unpacked struct {
	sync.Mutex
	root string
	dirs map[string]string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if unpacked.root != "" {
		os.RemoveAll(unpacked.root)
	}
	os.Exit(code)
}

// unpackOdoo returns the real Odoo source tree of version (odoo-bin at its
// top), unpacked once per test binary. Tests must not change it.
func unpackOdoo(t testing.TB, version string) string {
	t.Helper()
	tgz := odooTarball(t, version)
	unpacked.Lock()
	defer unpacked.Unlock()
	if d, ok := unpacked.dirs[version]; ok {
		return d
	}
	if unpacked.root == "" {
		root, err := os.MkdirTemp("", "odoobot-odoo-src-")
		if err != nil {
			t.Fatal(err)
		}
		unpacked.root, unpacked.dirs = root, map[string]string{}
	}
	dir := filepath.Join(unpacked.root, version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("tar", "xzf", tgz, "-C", dir, "--strip-components=1").CombinedOutput(); err != nil {
		t.Fatalf("unpack %s: %v\n%s", tgz, err, out)
	}
	unpacked.dirs[version] = dir
	return dir
}

// TestReadManifestMatchesPython reads every manifest of the real Odoo
// trees and compares license, depends and auto_install with what Python's
// ast.literal_eval (Odoo's own reader) makes of them.
func TestReadManifestMatchesPython(t *testing.T) {
	py := debianPython(t)
	for _, v := range []string{"17.0", "19.0"} {
		t.Run(v, func(t *testing.T) {
			src := unpackOdoo(t, v)
			addons := filepath.Join(src, "odoo", "addons")
			script := `
import ast, glob, json, os, sys
out = {}
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*", "__manifest__.py"))):
    m = ast.literal_eval(open(f).read())
    name = os.path.basename(os.path.dirname(f))
    deps = list(m.get("depends") or ([] if name == "base" else ["base"]))
    a = m.get("auto_install", False)
    auto = None if a is False else (deps if a is True else list(a))
    out[name] = {"licence": m.get("license") or "LGPL-3", "depends": deps, "auto": auto, "installable": m.get("installable", True)}
json.dump(out, sys.stdout)
`
			out, err := exec.Command(py, "-c", script, addons).Output()
			if err != nil {
				t.Fatalf("python: %v", err)
			}
			type want struct {
				Licence     string   `json:"licence"`
				Depends     []string `json:"depends"`
				Auto        []string `json:"auto"`
				Installable bool     `json:"installable"`
			}
			var all map[string]want
			if err := json.Unmarshal(out, &all); err != nil {
				t.Fatal(err)
			}
			if len(all) < 40 {
				t.Fatalf("only %d manifests in %s", len(all), addons)
			}
			var names, paths []string
			for name := range all {
				names, paths = append(names, name), append(paths, filepath.Join(addons, name, "__manifest__.py"))
			}
			ms, errs, err := odoo.ReadManifests(t.Context(), names, paths)
			if err != nil {
				t.Fatal(err)
			}
			for i, name := range names {
				w, m := all[name], ms[i]
				if errs[i] != nil {
					t.Errorf("%s: %v", name, errs[i])
					continue
				}
				got := want{m.Licence, m.Depends, m.AutoInstall, m.Installable}
				if got.Depends == nil {
					got.Depends = []string{}
				}
				if w.Depends == nil {
					w.Depends = []string{}
				}
				if diff := cmp.Diff(got, w); diff != "" {
					t.Errorf("%s (-got +want):\n%s", name, diff)
				}
			}
		})
	}
}

func TestReadManifestLiterals(t *testing.T) {
	dir := t.TempDir()
	src := `# -*- coding: utf-8 -*-
# Part of Odoo. See LICENSE file for full copyright and licensing details.
{
    "name" : 'Tricky \'one\'',
    'version': '1.0',   # a comment, with 'quotes' and a } brace
    'summary': """Three
lines, "quoted" """ 'and' r'\d' u"\u00e9",
    'sequence': -1.5e3,
    'data': (
        'views/a.xml',
        'views/b.xml',
    ),
    'assets': {'web.assets_backend': [('include', 'x'), 'y/**/*']},
    'external_dependencies': {'python': ['lxml']},
    'depends': ['base',
                'web'],  # trailing
    'auto_install': ['web'],
    'application': False, 'installable': True,
    'license': 'OPL-1',
    'price': 0x10,
    'tags': {'a', 'b'},
    'nothing': None,
}
`
	p := filepath.Join(dir, "__manifest__.py")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := odoo.ReadManifest("tricky", p)
	if err != nil {
		t.Fatal(err)
	}
	want := odoo.Manifest{Name: "tricky", Path: p, Licence: "OPL-1", Depends: []string{"base", "web"}, Installable: true, AutoInstall: []string{"web"}}
	if diff := cmp.Diff(m, want); diff != "" {
		t.Errorf("(-got +want):\n%s", diff)
	}
	// What Odoo reads, which a hand-written reader may not: the last of
	// two equal keys wins, and escapes spell the same string.
	for src, want := range map[string]string{
		`{'license': 'LGPL-3', 'depends': [], 'license': 'OEEL-1'}`: "OEEL-1",
		`{'license': 'OEEL\x2d1'}`:                                  "OEEL-1",
		`{'license': 'LGP\114-3'}`:                                  "LGPL-3",
		`{'license': 'OEEL-\N{DIGIT ONE}'}`:                         "OEEL-1",
	} {
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		if m, err := odoo.ReadManifest("odd", p); err != nil || m.Licence != want {
			t.Errorf("%s: licence %q, %v; Odoo reads %q", src, m.Licence, err, want)
		}
	}
	for _, c := range []struct{ name, src, want string }{
		{"expression", `{'depends': ['base'] + extra}`, "line 1: extra is not a literal"},
		{"call", `dict(depends=['base'])`, "line 1: dict(depends=['base']) is not a literal"},
		{"unterminated", `{'license': 'LGPL-3}`, "line 1: unterminated string literal"},
		{"not a dict", `['base']`, "not a dict but a list"},
		{"depends str", `{'depends': 'base'}`, "depends is not a list of names"},
		{"auto_install str", `{'auto_install': 'yes'}`, "auto_install is neither a boolean nor a list of names"},
		{"depends numbers", `{'depends': [1, 2]}`, "depends is not a list of names"},
		{"statements", "import os\n{'depends': []}", "line 1: invalid syntax"},
		{"not UTF-8", "{'name': '\xff'}", "not UTF-8 text"},
		{"null byte", "{'name': 'a\x00'}", "null bytes"},
		{"deep", strings.Repeat("[", 10000) + strings.Repeat("]", 10000), "nested"},
		{"empty", ``, "empty"},
	} {
		if err := os.WriteFile(p, []byte(c.src), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := odoo.ReadManifest("bad", p)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "manifest of bad ("+p+")") {
			t.Errorf("%s: %.80q read with error %v, want one naming the module, its file and %q", c.name, c.src, err, c.want)
		}
	}
}

// TestReadManifestRunsNoCode: a manifest holding code is refused, saying
// where, and the code never runs (Odoo reads manifests with
// ast.literal_eval; so does odoobot).
func TestReadManifestRunsNoCode(t *testing.T) {
	dir := t.TempDir()
	mark := filepath.Join(dir, "ran")
	for name, src := range map[string]string{
		"system":  `__import__('os').system('touch ` + mark + `')`,
		"in dict": "{\n 'name': 'x',\n 'license': __import__('os').system('touch " + mark + "') or 'LGPL-3',\n}",
		"lambda":  `{'depends': [(lambda: open('` + mark + `', 'w'))()]}`,
		"exec":    `{'depends': exec("open('` + mark + `', 'w')")}`,
		"walrus":  `{'depends': (x := open('` + mark + `', 'w'))}`,
		"fstring": `{'license': f"{open('` + mark + `', 'w')}"}`,
	} {
		p := filepath.Join(dir, name+".py")
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := odoo.ReadManifest("evil", p)
		if err == nil || !strings.Contains(err.Error(), "manifest of evil ("+p+")") || !strings.Contains(err.Error(), "is not a literal") {
			t.Errorf("%s: %q read with error %v, want a refusal naming the module and its file", name, src, err)
		}
		if _, err := os.Stat(mark); err == nil {
			t.Fatalf("%s: the manifest's code ran", name)
		}
	}
}

// TestReadManifestBounds: a manifest larger than the limit, or one that
// is not a regular file (a FIFO would block a reader forever), is
// refused at once.
func TestReadManifestBounds(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.py")
	src := "{'depends': ['base'], 'description': '" + strings.Repeat("x", odoo.MaxManifestBytes) + "'}"
	if err := os.WriteFile(big, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := odoo.ReadManifest("big", big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a manifest of %d bytes: %v, want a refusal", len(src), err)
	}
	fifo := filepath.Join(dir, "fifo.py")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := odoo.ReadManifest("fifo", fifo); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a FIFO as manifest: %v, want a refusal", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("refusing a FIFO took %s", d)
	}
}

// writeModule writes an addons module with a manifest.
func writeModule(t *testing.T, dir, name, manifest string) {
	t.Helper()
	d := filepath.Join(dir, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, c := range map[string]string{"__init__.py": "", "__manifest__.py": manifest} {
		if err := os.WriteFile(filepath.Join(d, f), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestResolveModulesAndCommunity(t *testing.T) {
	core, ent := t.TempDir(), t.TempDir()
	writeModule(t, core, "base", `{'name': 'Base', 'depends': [], 'auto_install': True, 'license': 'LGPL-3'}`)
	writeModule(t, core, "web", `{'depends': ['base'], 'auto_install': True, 'license': 'LGPL-3'}`)
	writeModule(t, core, "contacts", `{'depends': ['base', 'mail'], 'license': 'LGPL-3'}`)
	writeModule(t, core, "mail", `{'depends': ['base', 'web']}`) // no licence: LGPL-3, as in Odoo
	writeModule(t, core, "mail_bot", `{'depends': ['mail'], 'auto_install': True, 'license': 'LGPL-3'}`)
	writeModule(t, core, "sms", `{'depends': ['mail', 'phone'], 'auto_install': ['mail'], 'license': 'LGPL-3'}`)
	writeModule(t, core, "phone", `{'depends': ['base'], 'license': 'LGPL-3'}`)
	writeModule(t, core, "old", `{'depends': ['base'], 'installable': False, 'auto_install': True}`)
	writeModule(t, core, "broken", `{'depends': ['nowhere'], 'license': 'LGPL-3'}`)
	writeModule(t, ent, "web_enterprise", `{'depends': ['web'], 'license': 'OEEL-1'}`)
	writeModule(t, ent, "contacts_ent", `{'depends': ['contacts'], 'auto_install': True, 'license': 'OEEL-1'}`)

	set, err := odoo.ResolveModules([]string{core}, []string{"contacts"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(set.Names(), []string{"base", "contacts", "mail", "mail_bot", "phone", "sms", "web"}); diff != "" {
		t.Errorf("modules (-got +want):\n%s", diff)
	}
	if err := set.CheckCommunity(); err != nil {
		t.Errorf("CheckCommunity of LGPL-3 modules: %v", err)
	}

	// With the enterprise addons, an auto-installed module brings OEEL-1.
	set, err = odoo.ResolveModules([]string{core, ent}, []string{"contacts"})
	if err != nil {
		t.Fatal(err)
	}
	err = set.CheckCommunity()
	if !errors.Is(err, odoo.ErrNotCommunity) || !strings.Contains(err.Error(), "contacts_ent (OEEL-1") {
		t.Errorf("CheckCommunity with an auto-installed enterprise module: %v", err)
	}
	set, _ = odoo.ResolveModules([]string{core, ent}, []string{"web_enterprise"})
	if err := set.CheckCommunity(); err == nil || !strings.Contains(err.Error(), "web_enterprise (OEEL-1") {
		t.Errorf("CheckCommunity of web_enterprise: %v", err)
	}

	for _, tt := range []struct{ mods, want string }{
		{"nope", "module nope not found"},
		{"broken", "module nowhere, a dependency of broken, not found"},
		{"old", "module old"},
	} {
		if _, err := odoo.ResolveModules([]string{core}, []string{tt.mods}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ResolveModules(%s): %v, want %q", tt.mods, err, tt.want)
		}
	}
}

// countingPython returns a python3 that records each of its runs, a line
// in the file runs (countRuns), and then runs the system's python3.
func countingPython(t *testing.T) (python, runs string) {
	t.Helper()
	py := debianPython(t)
	dir := t.TempDir()
	python, runs = filepath.Join(dir, "python3"), filepath.Join(dir, "runs")
	script := "#!/bin/sh\necho run >> '" + runs + "'\nexec '" + py + "' \"$@\"\n"
	if err := os.WriteFile(python, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return python, runs
}

// TestResolveModulesOneRun: a resolution reads every manifest of the
// addons paths in one run of python, and a resolution whose python
// cannot run fails, naming it.
func TestResolveModulesOneRun(t *testing.T) {
	core := t.TempDir()
	writeModule(t, core, "base", `{'name': 'Base', 'depends': []}`)
	for _, n := range []string{"web", "mail", "contacts", "phone", "sms"} {
		writeModule(t, core, n, `{'depends': ['base'], 'auto_install': True}`)
	}
	python, runs := countingPython(t)
	set, err := odoo.ResolveModulesWith(t.Context(), python, []string{core}, []string{"contacts"})
	if err != nil {
		t.Fatal(err)
	}
	if len(set) != 6 {
		t.Errorf("modules %v, want all 6", set.Names())
	}
	if n := countRuns(t, runs); n != 1 {
		t.Errorf("python ran %d times for one resolution, want once", n)
	}
	_, err = odoo.ResolveModulesWith(t.Context(), filepath.Join(t.TempDir(), "python3"), []string{core}, []string{"contacts"})
	if err == nil || !strings.Contains(err.Error(), "read manifests") {
		t.Errorf("a resolution with no python: %v, want an error saying what could not be read", err)
	}
}

// TestResolveModulesRealOdoo: the default modules resolve, in the real
// trees, to what Odoo installs (the counts the trimmed trees were measured
// with), all of them LGPL-3.
func TestResolveModulesRealOdoo(t *testing.T) {
	for v, n := range map[string]int{"17.0": 47, "19.0": 54} {
		t.Run(v, func(t *testing.T) {
			src := unpackOdoo(t, v)
			python, runs := countingPython(t)
			set, err := odoo.ResolveModulesWith(t.Context(), python, []string{filepath.Join(src, "odoo", "addons")}, []string{"base", "web", "contacts", "l10n_ar"})
			if err != nil {
				t.Fatal(err)
			}
			if n := countRuns(t, runs); n != 1 {
				t.Errorf("python ran %d times for one resolution, want once", n)
			}
			if len(set) != n {
				t.Errorf("%d modules, want %d: %v", len(set), n, set.Names())
			}
			if !slices.Contains(set.Names(), "l10n_ar") {
				t.Errorf("l10n_ar missing")
			}
			if err := set.CheckCommunity(); err != nil {
				t.Errorf("CheckCommunity: %v", err)
			}
		})
	}
}

// BenchmarkResolveModulesRealOdoo resolves the default modules in the
// real Odoo 19.0 tree: what a community release's first template pays.
func BenchmarkResolveModulesRealOdoo(b *testing.B) {
	addons := []string{filepath.Join(unpackOdoo(b, "19.0"), "odoo", "addons")}
	for b.Loop() {
		if _, err := odoo.ResolveModules(addons, []string{"base", "web", "contacts", "l10n_ar"}); err != nil {
			b.Fatal(err)
		}
	}
}
