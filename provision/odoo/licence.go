package odoo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// CommunityLicence is the licence of every Odoo Community module, and the
// one Odoo assumes for a manifest that names none.
const CommunityLicence = "LGPL-3"

// ErrNotCommunity is wrapped by CheckCommunity's refusals.
var ErrNotCommunity = errors.New("not community")

// Manifest is what odoobot reads of a module's __manifest__.py, with
// Odoo's defaults applied: no licence is LGPL-3, no depends is ["base"]
// (none for base itself), installable unless it says otherwise.
type Manifest struct {
	Name        string   // the module's technical name (its directory)
	Path        string   // the __manifest__.py read
	Licence     string   // the license key
	Depends     []string // the depends key
	Installable bool
	// AutoInstall is nil when the module is not auto-installed; otherwise
	// the dependencies whose installation installs it (empty: always).
	AutoInstall []string
}

// ReadManifest reads the __manifest__.py at path for module name as Odoo
// does, with the system's python3: ast.literal_eval of the file (never
// executed), which must be a dict of literals; a file over 1 MiB, or not
// a regular file, is refused. An error names the module, the file and
// what is wrong.
func ReadManifest(name, path string) (Manifest, error) {
	ms, errs, err := readManifests(context.Background(), systemPython, []string{name}, []string{path})
	if err != nil {
		return Manifest{}, err
	}
	return ms[0], errs[0]
}

// readManifests reads the manifests paths[i] of modules names[i] in one
// run of python, as Odoo does: ast.literal_eval of the file (never
// executed), which must be a dict; a file over maxManifestBytes, or not
// a regular file, is refused. It returns each module's Manifest or the
// error that names it, its file and what is wrong; err is a failure of
// the run itself.
func readManifests(ctx context.Context, python string, names, paths []string) (ms []Manifest, errs []error, err error) {
	if len(paths) == 0 {
		return nil, nil, nil
	}
	res, err := runPyHelper[pyManifest](ctx, python, false, pyRequest{Op: "manifests", Paths: paths, Limit: maxManifestBytes}, len(paths))
	if err != nil {
		return nil, nil, fmt.Errorf("odoo: read manifests: %w", err)
	}
	ms, errs = make([]Manifest, len(paths)), make([]error, len(paths))
	for i, r := range res {
		ms[i], errs[i] = manifestOf(names[i], paths[i], r)
	}
	return ms, errs, nil
}

// manifestOf makes the Manifest of module name from the helper's reading
// of its manifest at path, with Odoo's defaults.
func manifestOf(name, path string, r pyManifest) (Manifest, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("odoo: manifest of %s (%s): %s", name, path, fmt.Sprintf(format, args...))
	}
	if r.Error != "" {
		return Manifest{}, bad("%s", r.Error)
	}
	m := Manifest{Name: name, Path: path, Licence: CommunityLicence, Installable: true}
	var licence string
	if json.Unmarshal(r.Keys["license"], &licence) == nil && licence != "" {
		m.Licence = licence
	}
	if raw, ok := r.Keys["depends"]; ok && string(raw) != "null" {
		if m.Depends, ok = pyNames(raw); !ok {
			return Manifest{}, bad("depends is not a list of names")
		}
	}
	if len(m.Depends) == 0 && name != "base" {
		m.Depends = []string{"base"}
	}
	var installable *bool // installable unless it is False
	if json.Unmarshal(r.Keys["installable"], &installable) == nil && installable != nil {
		m.Installable = *installable
	}
	if raw, ok := r.Keys["auto_install"]; ok && string(raw) != "null" {
		var auto bool
		if json.Unmarshal(raw, &auto) == nil {
			if auto {
				m.AutoInstall = append([]string{}, m.Depends...)
			}
		} else if m.AutoInstall, ok = pyNames(raw); !ok {
			return Manifest{}, bad("auto_install is neither a boolean nor a list of names")
		} else if m.AutoInstall == nil {
			m.AutoInstall = []string{}
		}
	}
	return m, nil
}

// pyNames returns raw, a list in the helper's JSON, as a list of
// strings, if it is one.
func pyNames(raw json.RawMessage) ([]string, bool) {
	var l []json.RawMessage
	if json.Unmarshal(raw, &l) != nil {
		return nil, false
	}
	var out []string
	for _, e := range l {
		var s string
		if json.Unmarshal(e, &s) != nil {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// ModuleSet is what installing some modules installs: each with its
// manifest, the dependency closure and the modules that auto-install
// with them, as Odoo resolves them.
type ModuleSet map[string]Manifest

// ResolveModules is ResolveModulesWith the system's python3, for at
// most a minute.
func ResolveModules(paths []string, names []string) (ModuleSet, error) {
	return ResolveModulesWith(context.Background(), systemPython, paths, names)
}

// ResolveModulesWith returns the modules Odoo installs for -i names from
// the addons directories paths (the first one holding a module wins, as
// in Odoo): names, their dependencies, and the installable modules whose
// auto_install dependencies are all installed, with theirs. base is
// always installed. A module found nowhere, or not installable, is an
// error naming it and who needs it; so is a manifest Odoo could not read
// (readManifests). Every manifest of paths is read, in one run of python
// (a release's Interpreter, or the system's python3).
func ResolveModulesWith(ctx context.Context, python string, paths []string, names []string) (ModuleSet, error) {
	idx := map[string]string{} // module → manifest path, first path wins
	var mods, files []string
	for _, p := range paths {
		entries, err := os.ReadDir(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("odoo: addons path %s: %w", p, err)
		}
		for _, e := range entries {
			mf := filepath.Join(p, e.Name(), "__manifest__.py")
			if _, seen := idx[e.Name()]; seen || !e.IsDir() {
				continue
			}
			if _, err := os.Stat(mf); err == nil {
				idx[e.Name()] = mf
				mods, files = append(mods, e.Name()), append(files, mf)
			}
		}
	}
	ms, errs, err := readManifests(ctx, python, mods, files)
	if err != nil {
		return nil, err
	}
	type reading struct {
		m   Manifest
		err error
	}
	read := make(map[string]reading, len(mods))
	for i, n := range mods {
		read[n] = reading{ms[i], errs[i]}
	}
	manifest := func(name string) (Manifest, bool, error) {
		r, ok := read[name]
		return r.m, ok, r.err
	}
	set := ModuleSet{}
	var add func(name, neededBy string) error
	add = func(name, neededBy string) error {
		if _, ok := set[name]; ok {
			return nil
		}
		m, ok, err := manifest(name)
		switch {
		case err != nil:
			return err
		case !ok && neededBy == "":
			return fmt.Errorf("odoo: module %s not found in %s", name, strings.Join(paths, ", "))
		case !ok:
			return fmt.Errorf("odoo: module %s, a dependency of %s, not found in %s", name, neededBy, strings.Join(paths, ", "))
		case !m.Installable:
			return fmt.Errorf("odoo: module %s (%s) is not installable", name, m.Path)
		}
		set[name] = m
		for _, dep := range m.Depends {
			if err := add(dep, name); err != nil {
				return err
			}
		}
		return nil
	}
	for _, n := range append([]string{"base"}, normModules(names)...) {
		if err := add(n, ""); err != nil {
			return nil, err
		}
	}
	all := make([]string, 0, len(idx))
	for n := range idx {
		all = append(all, n)
	}
	slices.Sort(all)
	for grown := true; grown; {
		grown = false
		for _, n := range all {
			if _, ok := set[n]; ok {
				continue
			}
			m, _, err := manifest(n)
			if err != nil {
				return nil, err
			}
			if !m.Installable || m.AutoInstall == nil || !allIn(m.AutoInstall, set) {
				continue
			}
			if err := add(n, ""); err != nil {
				return nil, fmt.Errorf("odoo: auto-installed module %s: %w", n, err)
			}
			grown = true
		}
	}
	return set, nil
}

func allIn(names []string, set ModuleSet) bool {
	for _, n := range names {
		if _, ok := set[n]; !ok {
			return false
		}
	}
	return true
}

// CheckCommunity refuses, wrapping ErrNotCommunity, a module set holding
// a module whose licence is not CommunityLicence, naming each such module
// and its licence.
func (s ModuleSet) CheckCommunity() error {
	var bad []string
	for n, m := range s {
		if m.Licence != CommunityLicence {
			bad = append(bad, fmt.Sprintf("%s (%s, %s)", n, m.Licence, m.Path))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	slices.Sort(bad)
	return fmt.Errorf("odoo: %w: the community edition installs only %s modules; not: %s", ErrNotCommunity, CommunityLicence, strings.Join(bad, "; "))
}

// Names returns the modules of the set, sorted.
func (s ModuleSet) Names() []string {
	out := make([]string, 0, len(s))
	for n := range s {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
