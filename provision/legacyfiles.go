package provision

import (
	"fmt"
	"io"
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

// The helpers below serve only the backup and restore code (backup.go,
// backup_logrotate.go) and odoo-bin's runs, until they reach the host
// through InstanceFiles too; every other verb does (provision/tree is
// the driver, which holds the same code). Do not add callers.

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
