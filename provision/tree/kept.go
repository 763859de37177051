package tree

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"odoobot/internal/safefs"
	"odoobot/provision"
)

// maxKept bounds what is read back of a kept file.
const maxKept = 1 << 20

// legacySaveDir is where earlier versions kept an upgrade's files: a
// directory in the instance's own.
const legacySaveDir = ".upgrade"

// keptName is the name, in the staging directory, of inst's set.
func keptName(inst provision.Instance, set provision.KeptSet) (string, error) {
	switch set {
	case provision.KeptIsolate:
		return "isolate-" + inst.Internal, nil
	case provision.KeptUpgrade:
		return "upgrade-" + inst.Internal + ".kept", nil
	}
	return "", fmt.Errorf("files: no kept set %q", set)
}

// Keep writes b as file name of inst's set, replacing an earlier one.
func (f *Files) Keep(ctx context.Context, inst provision.Instance, set provision.KeptSet, name string, b []byte) error {
	dirName, err := keptName(inst, set)
	if err != nil {
		return err
	}
	staging, err := f.openStaging()
	if err != nil {
		return err
	}
	defer staging.Close()
	dir, err := staging.Dir(dirName)
	if errors.Is(err, fs.ErrNotExist) {
		dir, err = staging.Mkdir(dirName, 0o700)
	}
	if err != nil {
		return fmt.Errorf("files: keep: %w", err)
	}
	defer dir.Close()
	if err := dir.RemoveAll(name); err != nil {
		return fmt.Errorf("files: keep: %w", err)
	}
	file, err := dir.Create(name, 0o600)
	if err != nil {
		return fmt.Errorf("files: keep: %w", err)
	}
	if _, err := file.Write(b); err != nil {
		file.Close()
		return fmt.Errorf("files: keep: %w", err)
	}
	if err := file.Sync(); err != nil {
		file.Close()
		return fmt.Errorf("files: keep: %w", err)
	}
	return file.Close()
}

// Kept reads file name of inst's set; nil when none was kept.
func (f *Files) Kept(ctx context.Context, inst provision.Instance, set provision.KeptSet, name string) ([]byte, error) {
	dirName, err := keptName(inst, set)
	if err != nil {
		return nil, err
	}
	staging, err := f.openStaging()
	if err != nil {
		return nil, err
	}
	defer staging.Close()
	dir, err := staging.Dir(dirName)
	if errors.Is(err, fs.ErrNotExist) && set == provision.KeptUpgrade {
		dir, err = f.openLegacyKept(inst)
		if dir == nil && err == nil {
			return nil, nil
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("files: kept: %w", err)
	}
	defer dir.Close()
	file, _, err := dir.Open(name, os.Geteuid())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("files: kept: %w", err)
	}
	defer file.Close()
	return io.ReadAll(io.LimitReader(file, maxKept))
}

// openLegacyKept opens the directory where earlier versions kept
// odoo.conf and the unit, when the instance's directory is root's; nil
// when there is none, or the directory is not root's. One not root's
// alone, or a link, is refused.
func (f *Files) openLegacyKept(inst provision.Instance) (*safefs.Dir, error) {
	dir, err := f.openInstanceDir(inst)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	st, err := dir.Self()
	if err != nil || st.UID != 0 {
		// Not root's (an imported instance's): nothing of odoobot's there.
		return nil, err
	}
	if ok, err := dir.Exists(legacySaveDir); err != nil || !ok {
		return nil, err
	}
	kept, err := dir.Dir(legacySaveDir)
	if err != nil {
		return nil, err
	}
	kst, err := kept.Self()
	if err == nil && (kst.UID != 0 || kst.Mode.Perm()&0o077 != 0) {
		err = fmt.Errorf("%s: %w: kept by an earlier version in a directory that is not root's alone; not read", kept.Path(), safefs.ErrRefused)
	}
	if err != nil {
		kept.Close()
		return nil, err
	}
	return kept, nil
}

// ForgetKept removes inst's set, and for KeptUpgrade what an earlier
// version kept in the instance's directory when that is root's (on a
// handle: a link there is removed, never followed).
func (f *Files) ForgetKept(ctx context.Context, inst provision.Instance, set provision.KeptSet) error {
	dirName, err := keptName(inst, set)
	if err != nil {
		return err
	}
	staging, err := f.openStaging()
	if err != nil {
		return err
	}
	defer staging.Close()
	if err := staging.RemoveAll(dirName); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	if set != provision.KeptUpgrade {
		return nil
	}
	dir, err := f.openInstanceDir(inst)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer dir.Close()
	if st, err := dir.Self(); err != nil || st.UID != 0 {
		return err
	}
	return dir.RemoveAll(legacySaveDir)
}

// ScratchDir makes a new directory, 0700, under parent (made, 0700, when
// missing), and returns it with a func that removes it.
func (f *Files) ScratchDir(ctx context.Context, parent, prefix string) (string, func(), error) {
	tmp, err := os.MkdirTemp(parent, prefix)
	if err != nil {
		if err := os.MkdirAll(parent, 0o700); err != nil {
			return "", nil, fmt.Errorf("files: %w", err)
		}
		if tmp, err = os.MkdirTemp(parent, prefix); err != nil {
			return "", nil, fmt.Errorf("files: %w", err)
		}
	}
	return tmp, func() { os.RemoveAll(tmp) }, nil
}
