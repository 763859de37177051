package tree

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"odoobot/internal/safefs"
	"odoobot/provision"
)

// Leftover returns the first of inst's directory, unit file and nginx
// site files found on the host (a link counts); "" when none is.
func (f *Files) Leftover(ctx context.Context, inst provision.Instance) (string, error) {
	p := f.paths(inst)
	for _, path := range []string{p.Dir, p.Unit, p.SiteAvail, p.SiteEnabled} {
		_, err := os.Lstat(path)
		if err == nil {
			return path, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("files: %w", err)
		}
	}
	return "", nil
}

// Prepare makes PROD_ROOT (0755) when missing, inst's directory,
// custom_addons and data dir (0750) and an empty odoo.log (0640) when
// nothing has its name, on handles, and reports whether custom_addons
// holds an Odoo module.
func (f *Files) Prepare(ctx context.Context, inst provision.Instance) (bool, error) {
	p := f.paths(inst)
	// The root must be traversable by the service user whatever made it.
	if err := os.MkdirAll(f.l.ProdRoot, 0o755); err != nil {
		return false, fmt.Errorf("files: %w", err)
	}
	// Run again on an existing directory (an imported instance's is its
	// user's), every name is made or opened on handles: a link there is
	// refused, never followed.
	root, err := f.openProdRoot()
	if err != nil {
		return false, err
	}
	defer root.Close()
	for _, d := range []string{p.CustomAddons, p.DataDir} {
		rel, err := f.beneath(d)
		if err != nil {
			return false, err
		}
		sub, err := root.MkdirAll(rel, 0o750, -1, -1)
		if err != nil {
			return false, fmt.Errorf("files: %w", err)
		}
		sub.Close()
	}
	if err := f.touch(p.Log, 0o640); err != nil {
		return false, err
	}
	rel, _ := f.beneath(p.CustomAddons)
	addons, err := root.Dir(rel)
	if err != nil {
		return false, fmt.Errorf("files: %w", err)
	}
	defer addons.Close()
	return holdsModules(addons), nil
}

// holdsModules reports whether dir holds an Odoo module: a directory
// (not a link) with __init__.py and __manifest__.py.
func holdsModules(dir *safefs.Dir) bool {
	found := false
	_ = dir.Walk(func(rel string, parent *safefs.Dir, name string, st safefs.Stat) error {
		if !st.Mode.IsDir() {
			return nil
		}
		if !found {
			init, err1 := dir.Exists(rel + "/__init__.py")
			manifest, err2 := dir.Exists(rel + "/__manifest__.py")
			found = err1 == nil && err2 == nil && init && manifest
		}
		return safefs.SkipDir
	})
	return found
}

// Give lays inst's files out for user (see provision.InstanceTree).
func (f *Files) Give(ctx context.Context, inst provision.Instance, user string, own bool) error {
	uid, gid, err := lookupUser(user)
	if err != nil {
		return err
	}
	p := f.paths(inst)
	if !own {
		// The whole tree belongs to the user, the filestore copied by
		// the database step included.
		return f.chownTree(p.Dir, uid, gid)
	}
	if err := f.layTenantFiles(p, uid, gid); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	return nil
}

// touch makes the empty file at path (mode) in an instance's tree when
// there is nothing of that name, on a handle; whatever is there (a link
// included) is left as it is, never opened.
func (f *Files) touch(path string, mode os.FileMode) error {
	d, name, err := f.openParent(path)
	if err != nil {
		return err
	}
	defer d.Close()
	file, err := d.Create(name, mode)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("files: %w", err)
	}
	return file.Close()
}

// layTenantFiles gives an instance's files to its own user uid:gid the
// way they must be: the directory, custom_addons and odoo.conf root's
// with its group (0750, 0750, 0640), so it reads them and changes none;
// the data dir and everything in it, and odoo.log, its own (0750, 0640);
// nothing for anyone else. Every change is made on a handle opened
// beneath PROD_ROOT without following a link (a link where one of these
// is expected is an error; a link inside the data dir is given as a link,
// never followed), and a hard link to a file the instance's user does
// not own is refused (safefs.ErrForeignLink).
func (f *Files) layTenantFiles(p provision.Paths, uid, gid int) error {
	root, err := f.openProdRoot()
	if err != nil {
		return err
	}
	defer root.Close()
	rel := func(path string) string { r, _ := f.beneath(path); return r }
	if _, err := f.beneath(p.Dir); err != nil {
		return err
	}
	if file, err := root.Create(rel(p.Log), 0o640); err == nil {
		file.Close()
	} else if !errors.Is(err, fs.ErrExist) {
		return err
	}
	for _, d := range []string{p.CustomAddons, p.DataDir} {
		sub, err := root.MkdirAll(rel(d), 0o750, -1, -1)
		if err != nil {
			return err
		}
		sub.Close()
	}
	for _, x := range []struct {
		path     string
		uid, gid int
		mode     os.FileMode
	}{
		{p.Dir, 0, gid, 0o750},
		{p.CustomAddons, 0, gid, 0o750},
		{p.Conf, 0, gid, 0o640},
		{p.Log, uid, gid, 0o640},
	} {
		if err := root.Chown(rel(x.path), x.uid, x.gid, uid); err != nil {
			return err
		}
		if err := root.Chmod(rel(x.path), x.mode); err != nil {
			return err
		}
	}
	if err := f.chownTree(p.DataDir, uid, gid); err != nil {
		return err
	}
	return root.Chmod(rel(p.DataDir), 0o750)
}

// chownTree gives dir (under PROD_ROOT) and everything under it to
// uid:gid on handles (safefs.Dir.ChownTree): no link is followed, and a
// hard link to a file that neither uid nor the owner of dir owns is
// refused.
func (f *Files) chownTree(dir string, uid, gid int) error {
	rel, err := f.beneath(dir)
	if err != nil {
		return err
	}
	root, err := f.openProdRoot()
	if err != nil {
		return err
	}
	defer root.Close()
	st, err := root.Lstat(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	// Files the previous owner of dir (not root) hard-linked among its
	// own are its to give.
	owners := []int{uid}
	if st.UID != 0 {
		owners = append(owners, st.UID)
	}
	return root.ChownTree(rel, uid, gid, owners...)
}

// RemoveData removes inst's filestore, then the filestore directory, the
// data dir and inst's directory when each is empty.
func (f *Files) RemoveData(ctx context.Context, inst provision.Instance) error {
	p := f.paths(inst)
	// The instance's tree may be its user's to change: removed on
	// handles, never through a link (a filestore dir that is a link is
	// left to Remove, which removes the link).
	stores, err := f.openFilestores(p, -1, -1)
	if err == nil {
		err = stores.RemoveAll(inst.Internal)
		stores.Close()
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, safefs.ErrRefused) {
		return fmt.Errorf("files: remove filestore: %w", err)
	}
	root, err := f.openProdRoot()
	if err != nil {
		return err
	}
	defer root.Close()
	for _, d := range []string{filestoreDir(p), p.DataDir, p.Dir} {
		if rel, err := f.beneath(d); err == nil {
			root.RemoveEmptyDir(rel) // only when empty
		}
	}
	return nil
}

// Remove removes inst's directory beneath PROD_ROOT on handles: a link
// in it (or in its place) is removed, never followed.
func (f *Files) Remove(ctx context.Context, inst provision.Instance) error {
	rel, err := f.beneath(f.paths(inst).Dir)
	if err != nil {
		return err
	}
	root, err := f.openProdRoot()
	if err != nil {
		return err
	}
	defer root.Close()
	if err := root.RemoveAll(rel); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	return nil
}

// RemoveCertDir removes inst's certificate directory (root's, outside
// every tenant's reach).
func (f *Files) RemoveCertDir(ctx context.Context, inst provision.Instance) error {
	if err := os.RemoveAll(f.paths(inst).CertDir); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	return nil
}
