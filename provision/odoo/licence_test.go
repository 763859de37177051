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
	"testing"

	"github.com/google/go-cmp/cmp"

	"odoobot/internal/testenv"
	"odoobot/provision/odoo"
)

// odooTarball returns the trimmed real Odoo source of version ("17.0",
// "19.0"), from ODOO_TEST_TARBALLS (default: ../shared/odoo beside the
// checkout, as scripts/odoo-sources.sh has it), or stops the test through
// testenv.Missing.
func odooTarball(t *testing.T, version string) string {
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
func unpackOdoo(t *testing.T, version string) string {
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
			for name, w := range all {
				m, err := odoo.ReadManifest(name, filepath.Join(addons, name, "__manifest__.py"))
				if err != nil {
					t.Errorf("%s: %v", name, err)
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
	for name, bad := range map[string]string{
		"expression":   `{'depends': ['base'] + extra}`,
		"call":         `dict(depends=['base'])`,
		"unterminated": `{'license': 'LGPL-3}`,
		"not a dict":   `['base']`,
		"depends str":  `{'depends': 'base'}`,
	} {
		if err := os.WriteFile(p, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := odoo.ReadManifest("bad", p); err == nil {
			t.Errorf("%s: %s read without error", name, bad)
		}
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

// TestResolveModulesRealOdoo: the default modules resolve, in the real
// trees, to what Odoo installs (the counts the trimmed trees were measured
// with), all of them LGPL-3.
func TestResolveModulesRealOdoo(t *testing.T) {
	for v, n := range map[string]int{"17.0": 47, "19.0": 54} {
		t.Run(v, func(t *testing.T) {
			src := unpackOdoo(t, v)
			set, err := odoo.ResolveModules([]string{filepath.Join(src, "odoo", "addons")}, []string{"base", "web", "contacts", "l10n_ar"})
			if err != nil {
				t.Fatal(err)
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
