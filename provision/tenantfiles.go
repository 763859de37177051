package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"odoobot/internal/safefs"
)

// StagingDirName is the directory under PROD_ROOT where root prepares a
// tenant's files before they go into its tree, and keeps aside what it
// takes out: root's, 0700, so no tenant reaches anything there; on the
// file system of the instances' trees, so that moving a tree in or out
// is a rename. (Not prod-*: import never takes it for an instance.)
const StagingDirName = ".odoobot-staging"

// Root never follows a path a tenant can change: every file operation
// odoobot makes in an instance's tree goes through safefs handles opened
// beneath PROD_ROOT (a link anywhere on the way is refused, never
// followed), and trees are built and chowned in the staging directory,
// then moved in by rename once the instance is stopped.

// openProdRoot opens PROD_ROOT, which odoobot's configuration names and
// trusts as it is.
func (l Layout) openProdRoot() (*safefs.Dir, error) {
	d, err := safefs.OpenDir(l.ProdRoot)
	if err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	return d, nil
}

// beneath is path relative to PROD_ROOT, slash-separated; an error when
// it is not under it.
func (l Layout) beneath(path string) (string, error) {
	rel, err := filepath.Rel(l.ProdRoot, path)
	if err != nil || !filepath.IsLocal(rel) {
		return "", fmt.Errorf("files: %s is not under PROD_ROOT %s", path, l.ProdRoot)
	}
	return filepath.ToSlash(rel), nil
}

// openStaging opens the staging directory (StagingDirName), made when
// missing. One not owned by root or open to others is refused: a tenant
// able to write PROD_ROOT could have made it.
func (l Layout) openStaging() (*safefs.Dir, error) {
	root, err := l.openProdRoot()
	if err != nil {
		return nil, err
	}
	defer root.Close()
	d, err := root.Mkdir(StagingDirName, 0o700)
	if err != nil {
		d, err = root.Dir(StagingDirName)
	}
	if err != nil {
		return nil, fmt.Errorf("files: staging: %w", err)
	}
	st, err := d.Self()
	if err == nil && (st.UID != os.Geteuid() || st.Mode.Perm()&0o077 != 0) {
		err = fmt.Errorf("%s is owned by uid %d with mode %s: it must be root's and 0700; remove it and run again", d.Path(), st.UID, st.Mode.Perm())
	}
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("files: staging: %w", err)
	}
	return d, nil
}

// openFilestores opens the instance's <DataDir>/filestore beneath
// PROD_ROOT without following a link; with uid >= 0 the missing parts
// under the instance's directory (which must exist) are made, owned by
// uid:gid (0750).
func (l Layout) openFilestores(p Paths, uid, gid int) (*safefs.Dir, error) {
	dirRel, err := l.beneath(p.Dir)
	if err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(p.Dir, filepath.Join(p.DataDir, "filestore"))
	if err != nil || !filepath.IsLocal(rel) {
		return nil, fmt.Errorf("files: the data dir %s is not in %s", p.DataDir, p.Dir)
	}
	root, err := l.openProdRoot()
	if err != nil {
		return nil, err
	}
	defer root.Close()
	dir, err := root.Dir(dirRel)
	if err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	defer dir.Close()
	var d *safefs.Dir
	if uid >= 0 {
		d, err = dir.MkdirAll(filepath.ToSlash(rel), 0o750, uid, gid)
	} else {
		d, err = dir.Dir(filepath.ToSlash(rel))
	}
	if err != nil {
		return nil, fmt.Errorf("files: filestore: %w", err)
	}
	return d, nil
}

// stageTree makes name in the staging directory a copy of the tenant's
// filestore db (files hard-linked when link is set, copied otherwise;
// links and special files left out; a hard link to a file the tenant
// does not own refused) owned by uid:gid, ready to be renamed into a
// tree. A missing source makes an empty directory. Whatever was staged
// under name before is removed first.
func (l Layout) stageTree(ctx context.Context, p Paths, db string, staging *safefs.Dir, name string, uid, gid int, link bool) error {
	if err := staging.RemoveAll(name); err != nil {
		return err
	}
	dst, err := staging.Mkdir(name, 0o750)
	if err != nil {
		return err
	}
	defer dst.Close()
	if err := l.copyFilestore(ctx, p, db, dst, link); err != nil {
		return err
	}
	return staging.ChownTree(name, uid, gid, uid)
}

// copyFilestore copies the filestore db of the instance at p into dst
// (see safefs.CopyTree), refusing a link on the way to it; nothing when
// there is none.
func (l Layout) copyFilestore(ctx context.Context, p Paths, db string, dst *safefs.Dir, link bool) error {
	stores, err := l.openFilestores(p, -1, -1)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer stores.Close()
	if ok, err := stores.Exists(db); err != nil || !ok {
		return err
	}
	src, err := stores.Dir(db)
	if err != nil {
		return err
	}
	defer src.Close()
	st, err := src.Self()
	if err != nil {
		return err
	}
	return safefs.CopyTree(ctx, src, dst, st.UID, link)
}

// maxConfSize bounds what is read of an odoo.conf: a few KiB in practice.
const maxConfSize = 1 << 20

// readConf reads the odoo.conf at path beneath PROD_ROOT without
// following a link; a file with other links, or larger than maxConfSize,
// is refused.
func (l Layout) readConf(path string) ([]byte, error) {
	b, _, err := l.readConfStat(path)
	return b, err
}

// readConfStat is readConf, and what the file was when it was opened.
func (l Layout) readConfStat(path string) ([]byte, safefs.Stat, error) {
	rel, err := l.beneath(path)
	if err != nil {
		return nil, safefs.Stat{}, err
	}
	root, err := l.openProdRoot()
	if err != nil {
		return nil, safefs.Stat{}, err
	}
	defer root.Close()
	f, st, err := root.Open(rel, -1)
	if err != nil {
		return nil, st, err
	}
	defer f.Close()
	if st.Nlink > 1 {
		return nil, st, fmt.Errorf("%s has %d links: %w", path, st.Nlink, safefs.ErrForeignLink)
	}
	if st.Size > maxConfSize {
		return nil, st, fmt.Errorf("%s is %d bytes, more than an odoo.conf holds (%d)", path, st.Size, maxConfSize)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxConfSize))
	return b, st, err
}

// openParent opens the directory holding path (a file of an instance's
// tree) beneath PROD_ROOT, a link anywhere on the way refused, and
// returns it with the file's name in it.
func (l Layout) openParent(path string) (*safefs.Dir, string, error) {
	rel, err := l.beneath(path)
	if err != nil {
		return nil, "", err
	}
	dirRel, name := filepath.Split(filepath.FromSlash(rel))
	root, err := l.openProdRoot()
	if err != nil {
		return nil, "", err
	}
	if dirRel == "" {
		return root, name, nil
	}
	defer root.Close()
	d, err := root.Dir(filepath.ToSlash(filepath.Clean(dirRel)))
	if err != nil {
		return nil, "", fmt.Errorf("files: %w", err)
	}
	return d, name, nil
}

// writeTenantFile replaces the file at path, in an instance's tree, with
// b, mode and owner uid:gid, on a handle opened beneath PROD_ROOT (see
// safefs.Dir.WriteFile): a link at path, or on the way to it, is
// replaced or refused, never followed, whoever owns the directory (an
// imported instance's is its user's).
func (l Layout) writeTenantFile(path string, b []byte, mode os.FileMode, uid, gid int) error {
	d, name, err := l.openParent(path)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.WriteFile(name, b, mode, uid, gid); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	return nil
}

// removeTenantFile removes the file at path, in an instance's tree, on a
// handle (a link is removed, never followed); nothing there, or no
// directory to hold it, is not an error.
func (l Layout) removeTenantFile(path string) error {
	d, name, err := l.openParent(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Remove(name); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	return nil
}

// makeDirs makes each directory of an instance's tree (paths beneath
// PROD_ROOT) and its missing parents, 0750, on handles: a link on the way
// is refused, never followed.
func (l Layout) makeDirs(paths ...string) error {
	root, err := l.openProdRoot()
	if err != nil {
		return err
	}
	defer root.Close()
	for _, p := range paths {
		rel, err := l.beneath(p)
		if err != nil {
			return err
		}
		d, err := root.MkdirAll(rel, 0o750, -1, -1)
		if err != nil {
			return fmt.Errorf("files: %w", err)
		}
		d.Close()
	}
	return nil
}

// touchTenantFile makes the empty file at path (mode) in an instance's
// tree when there is nothing of that name, on a handle; whatever is
// there (a link included) is left as it is, never opened.
func (l Layout) touchTenantFile(path string, mode os.FileMode) error {
	d, name, err := l.openParent(path)
	if err != nil {
		return err
	}
	defer d.Close()
	f, err := d.Create(name, mode)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("files: %w", err)
	}
	return f.Close()
}
