package odoo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"odoobot/provision"
)

// ModuleSums returns the checksums of what Odoo loads from rel
// (provision.ReleaseModules): its core and each module of its addons
// paths. A module's checksum covers the relative path and content of
// every file in its directory but those Odoo never loads for an update:
// tests/, static/ (web assets, which Odoo reads from the manifest as it
// serves, and the module's description), doc/ and docs/, README files,
// translation templates (.pot) and compiled Python. A link is summed as
// its target's text, never followed. The core's covers odoo-bin and the
// odoo package outside odoo/addons, on the same rules.
//
// A built release is root's and never changes: the sums are computed
// once per release and kept in memory. Reading is bounded by the
// release's own size, which odoobot built.
func (r *Releases) ModuleSums(ctx context.Context, rel provision.Release) (provision.ModuleSums, error) {
	if sums, ok := r.sums.Load(rel.Key); ok {
		return sums.(provision.ModuleSums), nil
	}
	sums, err := releaseSums(ctx, rel)
	if err != nil {
		return provision.ModuleSums{}, fmt.Errorf("odoo: module checksums of release %s: %w", rel.Key, err)
	}
	r.sums.Store(rel.Key, sums)
	return sums, nil
}

var _ provision.ReleaseModules = (*Releases)(nil)

func releaseSums(ctx context.Context, rel provision.Release) (provision.ModuleSums, error) {
	src := filepath.Join(rel.Dir, "odoo")
	if rel.OdooBin != "" {
		src = filepath.Dir(rel.OdooBin)
	}
	sums := provision.ModuleSums{Modules: map[string]provision.ModuleSum{}}
	core := sha256.New()
	if err := sumFile(core, src, "odoo-bin"); err != nil {
		return sums, err
	}
	pkg := filepath.Join(src, "odoo")
	if err := sumTree(ctx, core, pkg, func(rel string) bool { return rel == "addons" }); err != nil {
		return sums, err
	}
	sums.Core = hex.EncodeToString(core.Sum(nil))
	for _, dir := range rel.AddonsPaths {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return sums, err
		}
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			mod := filepath.Join(dir, e.Name())
			manifest, err := os.ReadFile(filepath.Join(mod, "__manifest__.py"))
			if err != nil {
				continue // not a module
			}
			if _, dup := sums.Modules[e.Name()]; dup {
				continue // an earlier addons path's module wins, as in Odoo
			}
			h := sha256.New()
			if err := sumTree(ctx, h, mod, nil); err != nil {
				return sums, err
			}
			sums.Modules[e.Name()] = provision.ModuleSum{
				Sum:         hex.EncodeToString(h.Sum(nil)),
				AutoInstall: autoInstall(manifest),
			}
		}
	}
	return sums, nil
}

// skipped says whether Odoo never loads the file or directory at rel (a
// path relative to a module or the core package) for an update.
func skipped(rel string, dir bool) bool {
	base := filepath.Base(rel)
	if dir {
		switch base {
		case "tests", "__pycache__", "doc", "docs", ".git":
			return true
		}
		// static/ and readme/ at a module's top only.
		return !strings.Contains(rel, "/") && (base == "static" || base == "readme")
	}
	switch ext := filepath.Ext(base); ext {
	case ".pyc", ".pyo", ".pot":
		return true
	}
	return !strings.Contains(rel, "/") && strings.HasPrefix(strings.ToUpper(base), "README")
}

// sumTree writes into h every file of root that skipped keeps, in lexical
// order, each as its relative path and its content (a link as its
// target); a directory prune(rel) names is left out too.
func sumTree(ctx context.Context, h hash.Hash, root string, prune func(rel string) bool) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil || rel == "." {
			return err
		}
		if d.IsDir() {
			if skipped(rel, true) || (prune != nil && prune(rel)) {
				return filepath.SkipDir
			}
			return nil
		}
		if skipped(rel, false) {
			return nil
		}
		return sumFile(h, root, rel)
	})
}

// sumFile writes rel's path and content (or link target) into h.
func sumFile(h hash.Hash, root, rel string) error {
	path := filepath.Join(root, rel)
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(h, "%s\x00%o\x00", rel, fi.Mode().Type())
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(path)
		if err != nil {
			return err
		}
		io.WriteString(h, target)
	case fi.Mode().IsRegular():
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintf(h, "%d\x00", fi.Size())
		if _, err := io.Copy(h, io.LimitReader(f, fi.Size())); err != nil {
			return err
		}
	}
	h.Write([]byte{0})
	return nil
}

// autoInstallRE finds a manifest's auto_install key and the start of its
// value.
var autoInstallRE = regexp.MustCompile(`['"]auto_install['"]\s*:\s*(\S)`)

// autoInstall reads a manifest's auto_install as Odoo does (anything but
// False is true: True, or a list or set of the dependencies that
// trigger it, even empty). The manifest is Python; only this key's
// value is read.
func autoInstall(manifest []byte) bool {
	m := autoInstallRE.FindSubmatchIndex(manifest)
	if m == nil {
		return false
	}
	return !strings.HasPrefix(string(manifest[m[2]:]), "F")
}
