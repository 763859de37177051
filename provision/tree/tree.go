// Package tree is the driver of an instance's tree: its directory beneath
// PROD_ROOT (odoo.conf, the data dir and filestore, odoo.log,
// info-instancia.txt), the staging directory beside it where copies are
// built and files kept for a rollback, the tracking export, and the
// reads of an instance's unit file. It implements provision.InstanceFiles.
//
// Root never follows a path a tenant can change: every file operation in
// an instance's tree goes through safefs handles opened beneath PROD_ROOT
// (a link anywhere on the way is refused, never followed), and trees are
// built and chowned in the staging directory, then moved in by rename.
// Every path derives from the instance's name and the Layout.
package tree

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"

	"odoobot/internal/safefs"
	"odoobot/provision"
)

// StagingDirName is provision.StagingDirName: the staging directory
// under PROD_ROOT, root's, 0700.
const StagingDirName = provision.StagingDirName

// Files is the driver; its zero value is not usable: see New.
type Files struct {
	l provision.Layout
}

var _ provision.InstanceFiles = (*Files)(nil)

// New returns the driver of the trees laid out by l.
func New(l provision.Layout) *Files { return &Files{l: l} }

// paths are inst's paths.
func (f *Files) paths(inst provision.Instance) provision.Paths { return f.l.Paths(inst) }

// lookupUser returns the uid and gid of system user name.
func lookupUser(name string) (uid, gid int, err error) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, fmt.Errorf("files: %w %s: create it (useradd --system %s), or set SERVICE_USER for shared instances", provision.ErrNoSystemUser, name, name)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid, nil
}

// owner is the uid and gid of o: root's, or o.User's, group o.User's.
func owner(o provision.FileOwner) (uid, gid int, err error) {
	if o.User == "" {
		return 0, 0, nil
	}
	u, g, err := lookupUser(o.User)
	if err != nil {
		return 0, 0, err
	}
	if o.UserOwns {
		return u, g, nil
	}
	return 0, g, nil
}

// UserHome returns the home directory of system user name.
func (f *Files) UserHome(ctx context.Context, name string) (string, error) {
	u, err := user.Lookup(name)
	if err != nil {
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			return "", fmt.Errorf("files: system user %s: %w", name, provision.ErrNoSystemUser)
		}
		return "", fmt.Errorf("files: look up system user %s: %w", name, err)
	}
	return u.HomeDir, nil
}

// openProdRoot opens PROD_ROOT, which odoobot's configuration names and
// trusts as it is.
func (f *Files) openProdRoot() (*safefs.Dir, error) {
	d, err := safefs.OpenDir(f.l.ProdRoot)
	if err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	return d, nil
}

// beneath is path relative to PROD_ROOT, slash-separated; an error when
// it is not under it.
func (f *Files) beneath(path string) (string, error) {
	rel, err := filepath.Rel(f.l.ProdRoot, path)
	if err != nil || !filepath.IsLocal(rel) {
		return "", fmt.Errorf("files: %s is not under PROD_ROOT %s", path, f.l.ProdRoot)
	}
	return filepath.ToSlash(rel), nil
}

// openStaging opens the staging directory (StagingDirName), made when
// missing. One not owned by root or open to others is refused: a tenant
// able to write PROD_ROOT could have made it.
func (f *Files) openStaging() (*safefs.Dir, error) {
	root, err := f.openProdRoot()
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

// openParent opens the directory holding path (a file of an instance's
// tree) beneath PROD_ROOT, a link anywhere on the way refused, and
// returns it with the file's name in it.
func (f *Files) openParent(path string) (*safefs.Dir, string, error) {
	rel, err := f.beneath(path)
	if err != nil {
		return nil, "", err
	}
	dirRel, name := filepath.Split(filepath.FromSlash(rel))
	root, err := f.openProdRoot()
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

// writeFile replaces the file at path, in an instance's tree, with b,
// mode and owner uid:gid, on a handle opened beneath PROD_ROOT (see
// safefs.Dir.WriteFile): a link at path, or on the way to it, is
// replaced or refused, never followed, whoever owns the directory (an
// imported instance's is its user's).
func (f *Files) writeFile(path string, b []byte, mode os.FileMode, uid, gid int) error {
	d, name, err := f.openParent(path)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.WriteFile(name, b, mode, uid, gid); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	return nil
}

// removeFile removes the file at path, in an instance's tree, on a
// handle (a link is removed, never followed); nothing there, or no
// directory to hold it, is not an error.
func (f *Files) removeFile(path string) error {
	d, name, err := f.openParent(path)
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

// openInstanceDir opens inst's directory beneath PROD_ROOT, a link
// refused.
func (f *Files) openInstanceDir(inst provision.Instance) (*safefs.Dir, error) {
	rel, err := f.beneath(f.paths(inst).Dir)
	if err != nil {
		return nil, err
	}
	root, err := f.openProdRoot()
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.Dir(rel)
}
