package provision

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// ModuleSums are the checksums of what Odoo loads from one release: its
// core, and each module of its addons paths. Two releases whose sums of
// a module are equal load the same files for that module.
type ModuleSums struct {
	// Core is the checksum of Odoo's core: the odoo package outside its
	// addons, and odoo-bin. Any change there may touch every module.
	Core string
	// Modules are the modules, by name.
	Modules map[string]ModuleSum
}

// ModuleSum is one module's checksum and what its manifest says about
// how Odoo installs it.
type ModuleSum struct {
	// Sum is the checksum of the files Odoo loads from the module: every
	// file but its tests, its documentation, its static web assets
	// (which Odoo reads from the manifest at run time, with no update),
	// and compiled Python.
	Sum string
	// AutoInstall is the manifest's auto_install.
	AutoInstall bool
}

// ReleaseModules reads the module checksums of a built release
// (provision/odoo's Releases). Nil makes every upgrade update every
// module (-u all).
type ReleaseModules interface {
	// ModuleSums returns rel's checksums. The release is read-only once
	// built: a result may be cached.
	ModuleSums(ctx context.Context, rel Release) (ModuleSums, error)
}

// UpdateSet is what an upgrade updates in the database: every installed
// module, the modules named, or nothing.
type UpdateSet struct {
	// All is -u all.
	All bool
	// Modules are the modules whose files changed, sorted; Odoo updates
	// them when installed, with every installed module that depends on
	// them, and installs the new dependencies they declare (and the
	// auto_install modules those bring), as its own -u all would.
	Modules []string
	// NewAutoInstall are modules the new release adds with auto_install:
	// Odoo installs one only when one of its dependencies is newly
	// installed, under -u all as under this set; the thread names them.
	NewAutoInstall []string
	// Why says, in a sentence for the thread, why this set.
	Why string
}

// Empty reports whether nothing is to be updated: the new release
// changes nothing Odoo loads, and production only restarts.
func (s UpdateSet) Empty() bool { return !s.All && len(s.Modules) == 0 }

// Arg is the -u argument: "all", or the modules joined by commas; "" when
// Empty.
func (s UpdateSet) Arg() string {
	if s.All {
		return "all"
	}
	return strings.Join(s.Modules, ",")
}

// maxListed bounds how many module names a sentence lists.
const maxListed = 12

// UpdateSetFor decides what an upgrade from the release summed old to
// the release summed new updates: every module when Odoo's core or its
// base module changed (an update of base is an update of everything);
// otherwise the modules whose files changed or that the new release no
// longer has the same of, which Odoo updates when installed (with their
// installed dependents). Modules only the new release has are not
// installed by an update, but for new dependencies of updated ones.
func UpdateSetFor(old, new ModuleSums) UpdateSet {
	if old.Core == "" || new.Core == "" {
		return UpdateSet{All: true, Why: "every module is updated (-u all): the checksums of the running release are unknown"}
	}
	if old.Core != new.Core {
		return UpdateSet{All: true, Why: "every module is updated (-u all): Odoo's core changed"}
	}
	if o, n := old.Modules["base"], new.Modules["base"]; o.Sum != n.Sum {
		return UpdateSet{All: true, Why: "every module is updated (-u all): the base module changed"}
	}
	var set UpdateSet
	for name, n := range new.Modules {
		o, had := old.Modules[name]
		switch {
		case !had:
			if n.AutoInstall {
				set.NewAutoInstall = append(set.NewAutoInstall, name)
			}
		case o.Sum != n.Sum:
			set.Modules = append(set.Modules, name)
		}
	}
	slices.Sort(set.Modules)
	slices.Sort(set.NewAutoInstall)
	switch {
	case len(set.Modules) == 0:
		set.Why = "no module changed: production only restarts on the new release"
	default:
		set.Why = fmt.Sprintf("%s changed: Odoo updates %s where installed, with what depends on %s",
			listNames(set.Modules), them(len(set.Modules)), them(len(set.Modules)))
	}
	if len(set.NewAutoInstall) > 0 {
		set.Why += fmt.Sprintf("; new auto-install modules, installed only with a new dependency (as -u all does): %s", listNames(set.NewAutoInstall))
	}
	return set
}

func them(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// listNames is names joined, the first maxListed of them, with how many
// more.
func listNames(names []string) string {
	if len(names) <= maxListed {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:maxListed], ", "), len(names)-maxListed)
}
