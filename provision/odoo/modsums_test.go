package odoo_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"odoobot/provision"
	"odoobot/provision/odoo"
)

// releaseCopy lays a copy of the real Odoo source of version out as a
// release directory named key, and returns its release. The copy's files
// are hard links to the unpacked tree's: appendTo breaks a link before
// it writes.
func releaseCopy(t *testing.T, version, key string) provision.Release {
	t.Helper()
	src := unpackOdoo(t, version)
	dir := filepath.Join(t.TempDir(), key)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-al", src, filepath.Join(dir, "odoo")).CombinedOutput(); err != nil {
		t.Fatalf("copy: %v\n%s", err, out)
	}
	// The trimmed trees keep every module under odoo/addons.
	return provision.Release{Key: key, Dir: dir, OdooBin: filepath.Join(dir, "odoo", "odoo-bin"),
		AddonsPaths: []string{filepath.Join(dir, "odoo", "odoo", "addons")}}
}

// appendTo adds a line to the file at rel in r's source, made when
// missing (the trimmed trees have no tests).
func appendTo(t *testing.T, r provision.Release, rel string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(filepath.Join(r.Dir, "odoo", rel)), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(r.Dir, "odoo", rel)
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	os.Remove(path) // a hard link to the shared tree
	if err := os.WriteFile(path, append(b, "\n# changed\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// changedModules are the modules whose sums differ between a and b.
func changedModules(a, b provision.ModuleSums) []string {
	var out []string
	for name, s := range b.Modules {
		if a.Modules[name].Sum != s.Sum {
			out = append(out, name)
		}
	}
	return out
}

func TestModuleSumsOfRealOdoo(t *testing.T) {
	ctx := context.Background()
	old := releaseCopy(t, "19.0", "old")
	start := time.Now()
	oldSums, err := odoo.NewReleases(odoo.ReleaseConfig{}).ModuleSums(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("summed %d modules and the core in %s", len(oldSums.Modules), time.Since(start).Round(time.Millisecond))
	for _, m := range []string{"base", "web", "mail"} {
		if oldSums.Modules[m].Sum == "" {
			t.Fatalf("module %s has no sum: %v", m, oldSums.Modules[m])
		}
	}
	cases := []struct {
		name  string
		edit  []string
		want  []string
		core  bool
		value string
	}{
		{name: "a module's python", edit: []string{"odoo/addons/mail/models/mail_message.py"}, want: []string{"mail"}},
		{name: "a module's view", edit: []string{"odoo/addons/web/views/webclient_templates.xml"}, want: []string{"web"}},
		{name: "tests, static assets, docs and readme", edit: []string{"odoo/addons/mail/tests/test_new.py", "odoo/addons/web/static/src/env.js", "odoo/addons/mail/README.md", "README.md"}},
		{name: "the core", edit: []string{"odoo/release.py"}, core: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			next := releaseCopy(t, "19.0", "next")
			for _, f := range c.edit {
				appendTo(t, next, f)
			}
			sums, err := odoo.NewReleases(odoo.ReleaseConfig{}).ModuleSums(ctx, next)
			if err != nil {
				t.Fatal(err)
			}
			if got := changedModules(oldSums, sums); !equalSets(got, c.want) {
				t.Errorf("changed modules = %v, want %v", got, c.want)
			}
			if (sums.Core != oldSums.Core) != c.core {
				t.Errorf("core changed = %v, want %v", sums.Core != oldSums.Core, c.core)
			}
			set := provision.UpdateSetFor(oldSums, sums)
			if set.All != c.core {
				t.Errorf("update set %+v: -u all = %v, want %v", set, set.All, c.core)
			}
		})
	}
}

func equalSets(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]bool{}
	for _, x := range a {
		seen[x] = true
	}
	for _, x := range b {
		if !seen[x] {
			return false
		}
	}
	return true
}

func TestModuleSumsReadAutoInstallAsOdooDoes(t *testing.T) {
	dir := t.TempDir()
	rel := provision.Release{Key: "k", Dir: dir, AddonsPaths: []string{filepath.Join(dir, "odoo", "addons")}}
	manifests := map[string]string{
		"plain":     `{'name': 'Plain', 'depends': ['base']}`,
		"auto":      `{'name': 'Auto', 'auto_install': True}`,
		"auto_list": `{"name": "Auto list", "auto_install": ["sale"]}`,
		"auto_none": `{'name': 'Auto none', 'auto_install': []}`,
		"not_auto":  `{'name': 'Not auto', 'auto_install': False}`,
	}
	if err := os.MkdirAll(filepath.Join(dir, "odoo", "odoo"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "odoo", "odoo-bin"), []byte("#!/usr/bin/env python3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, m := range manifests {
		if err := os.MkdirAll(filepath.Join(dir, "odoo", "addons", name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "odoo", "addons", name, "__manifest__.py"), []byte(m), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sums, err := odoo.NewReleases(odoo.ReleaseConfig{}).ModuleSums(context.Background(), rel)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"plain": false, "auto": true, "auto_list": true, "auto_none": true, "not_auto": false}
	for name, auto := range want {
		if sums.Modules[name].AutoInstall != auto {
			t.Errorf("%s: auto_install = %v, want %v", name, sums.Modules[name].AutoInstall, auto)
		}
	}
}
