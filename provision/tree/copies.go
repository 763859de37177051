package tree

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"odoobot/internal/safefs"
	"odoobot/provision"
)

// filestoreDir is the directory of an instance's filestores:
// <data dir>/filestore; each database's is a directory in it named as
// the database.
func filestoreDir(p provision.Paths) string { return filepath.Join(p.DataDir, "filestore") }

// The names, in the staging directory, of the trees an upgrade builds:
// the filestore kept aside during the update, and the test copy's.
func asideName(inst provision.Instance) string { return "upgrade-" + inst.Internal + ".old" }
func copyName(inst provision.Instance) string  { return "upgrade-" + inst.Internal + ".copy" }

// cloneName is the name, in the staging directory, of a clone's copy.
func cloneName(inst provision.Instance) string { return "clone-" + inst.Internal }

// openFilestores opens the instance's <DataDir>/filestore beneath
// PROD_ROOT without following a link; with uid >= 0 the missing parts
// under the instance's directory (which must exist) are made, owned by
// uid:gid (0750).
func (f *Files) openFilestores(p provision.Paths, uid, gid int) (*safefs.Dir, error) {
	dirRel, err := f.beneath(p.Dir)
	if err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(p.Dir, filestoreDir(p))
	if err != nil || !filepath.IsLocal(rel) {
		return nil, fmt.Errorf("files: the data dir %s is not in %s", p.DataDir, p.Dir)
	}
	root, err := f.openProdRoot()
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
func (f *Files) stageTree(ctx context.Context, p provision.Paths, db string, staging *safefs.Dir, name string, uid, gid int, link bool) error {
	if err := staging.RemoveAll(name); err != nil {
		return err
	}
	dst, err := staging.Mkdir(name, 0o750)
	if err != nil {
		return err
	}
	defer dst.Close()
	if err := f.copyFilestore(ctx, p, db, dst, link); err != nil {
		return err
	}
	return staging.ChownTree(name, uid, gid, uid)
}

// copyFilestore copies the filestore db of the instance at p into dst
// (see safefs.CopyTree), refusing a link on the way to it; nothing when
// there is none.
func (f *Files) copyFilestore(ctx context.Context, p provision.Paths, db string, dst *safefs.Dir, link bool) error {
	stores, err := f.openFilestores(p, -1, -1)
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

// CopyFilestore copies from's filestore into to's tree, owned by user.
func (f *Files) CopyFilestore(ctx context.Context, from, to provision.Instance, user string) error {
	uid, gid, err := lookupUser(user)
	if err != nil {
		return err
	}
	staging, err := f.openStaging()
	if err != nil {
		return err
	}
	defer staging.Close()
	name := cloneName(to)
	defer staging.RemoveAll(name)
	if err := f.stageTree(ctx, f.paths(from), from.Internal, staging, name, uid, gid, false); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	// The new instance's directory is root's, as Give lays it out; its
	// data dir and filestore dir the new user's.
	p := f.paths(to)
	root, err := f.openProdRoot()
	if err != nil {
		return err
	}
	defer root.Close()
	rel, err := f.beneath(p.Dir)
	if err != nil {
		return err
	}
	dir, err := root.MkdirAll(rel, 0o750, -1, -1)
	if err != nil {
		return fmt.Errorf("files: %w", err)
	}
	dir.Close()
	stores, err := f.openFilestores(p, uid, gid)
	if err != nil {
		return err
	}
	defer stores.Close()
	if err := stores.RemoveAll(to.Internal); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	if err := staging.Replace(name, stores, to.Internal); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	return nil
}

// LinkCopy makes <filestore>/db of inst a tree of hard links to inst's
// filestore (Odoo writes a new file for new content and never changes
// one in place), built in the staging directory, owned by user, then
// renamed into its tree.
func (f *Files) LinkCopy(ctx context.Context, inst provision.Instance, user, db string) error {
	uid, gid, err := lookupUser(user)
	if err != nil {
		return err
	}
	staging, err := f.openStaging()
	if err != nil {
		return err
	}
	defer staging.Close()
	p := f.paths(inst)
	if err := f.stageTree(ctx, p, inst.Internal, staging, copyName(inst), uid, gid, true); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	stores, err := f.openFilestores(p, uid, gid)
	if err != nil {
		return err
	}
	defer stores.Close()
	if err := staging.Replace(copyName(inst), stores, db); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	return nil
}

// RemoveCopy removes <filestore>/db of inst, descending only through
// directories opened without following a link, and the test copy's tree
// a crash left in the staging directory.
func (f *Files) RemoveCopy(ctx context.Context, inst provision.Instance, db string) error {
	staging, err := f.openStaging()
	if err != nil {
		return err
	}
	err = staging.RemoveAll(copyName(inst))
	staging.Close()
	if err != nil {
		return fmt.Errorf("files: %w", err)
	}
	stores, err := f.openFilestores(f.paths(inst), -1, -1)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer stores.Close()
	if err := stores.RemoveAll(db); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	return nil
}

// SetAside keeps inst's filestore aside in the staging directory, as
// hard links owned by user (the instance is stopped).
func (f *Files) SetAside(ctx context.Context, inst provision.Instance, user string) error {
	uid, gid, err := lookupUser(user)
	if err != nil {
		return err
	}
	staging, err := f.openStaging()
	if err != nil {
		return err
	}
	defer staging.Close()
	if err := f.stageTree(ctx, f.paths(inst), inst.Internal, staging, asideName(inst), uid, gid, true); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	return nil
}

// PutBack puts the filestore kept aside in place of inst's; nothing when
// none was kept.
func (f *Files) PutBack(ctx context.Context, inst provision.Instance, user string) error {
	staging, err := f.openStaging()
	if err != nil {
		return err
	}
	defer staging.Close()
	if ok, err := staging.Exists(asideName(inst)); err != nil || !ok {
		return err
	}
	uid, gid, err := lookupUser(user)
	if err != nil {
		return err
	}
	stores, err := f.openFilestores(f.paths(inst), uid, gid)
	if err != nil {
		return err
	}
	defer stores.Close()
	if err := stores.RemoveAll(inst.Internal); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	if err := staging.Replace(asideName(inst), stores, inst.Internal); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	return nil
}

// DropAside removes what SetAside kept.
func (f *Files) DropAside(ctx context.Context, inst provision.Instance) error {
	staging, err := f.openStaging()
	if err != nil {
		return err
	}
	defer staging.Close()
	if err := staging.RemoveAll(asideName(inst)); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	return nil
}
