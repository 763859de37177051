package tree

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"strings"
	"testing/fstest"

	"odoobot/internal/safefs"
	"odoobot/provision"
)

// The names, in the staging directory, of the filestores a restore keeps:
// the backup's unpacked, and the live one it replaced.
func stagedName(inst provision.Instance) string   { return "restore-" + inst.Internal }
func replacedName(inst provision.Instance) string { return "restore-" + inst.Internal + ".old" }

// restoreName is the name in the staging directory of tree.
func restoreName(inst provision.Instance, tree provision.RestoreTree) string {
	if tree == provision.RestoreReplaced {
		return replacedName(inst)
	}
	return stagedName(inst)
}

// ReadFilestore calls read with safefs's read-only view of inst's
// filestore, opened beneath PROD_ROOT without following a link; foreign
// hard links are refused as the filestore directory's owner's.
func (f *Files) ReadFilestore(ctx context.Context, inst provision.Instance, read func(fs.FS) error) error {
	stores, err := f.openFilestores(f.paths(inst), -1, -1)
	if errors.Is(err, fs.ErrNotExist) {
		return read(fstest.MapFS{})
	}
	if err != nil {
		return err
	}
	defer stores.Close()
	if ok, err := stores.Exists(inst.Internal); err != nil {
		return fmt.Errorf("files: filestore: %w", err)
	} else if !ok {
		return read(fstest.MapFS{})
	}
	src, err := stores.Dir(inst.Internal)
	if err != nil {
		return fmt.Errorf("files: filestore: %w", err)
	}
	defer src.Close()
	self, err := src.Self()
	if err != nil {
		return fmt.Errorf("files: filestore: %w", err)
	}
	return read(src.FS(self.UID))
}

// StageRestore unpacks archive into the staging directory (root's, 0700)
// as a new directory owned by user, after removing what was staged
// there before.
func (f *Files) StageRestore(ctx context.Context, inst provision.Instance, user string, archive io.Reader) error {
	uid, gid, err := lookupUser(user)
	if err != nil {
		return err
	}
	staging, err := f.openStaging()
	if err != nil {
		return err
	}
	defer staging.Close()
	name := stagedName(inst)
	if err := staging.RemoveAll(name); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	if err := unpack(ctx, archive, staging, name, uid, gid); err != nil {
		return fmt.Errorf("files: unpack the filestore: %w", err)
	}
	return nil
}

// SwapRestore moves inst's filestore to the staging directory and the
// staged one in its place, on handles no link leads astray.
func (f *Files) SwapRestore(ctx context.Context, inst provision.Instance, user string) (provision.RestoreSwap, error) {
	var done provision.RestoreSwap
	uid, gid, err := lookupUser(user)
	if err != nil {
		return done, err
	}
	staging, err := f.openStaging()
	if err != nil {
		return done, err
	}
	defer staging.Close()
	stores, err := f.openFilestores(f.paths(inst), uid, gid)
	if err != nil {
		return done, err
	}
	defer stores.Close()
	if err := staging.RemoveAll(replacedName(inst)); err != nil {
		return done, fmt.Errorf("files: %w", err)
	}
	if ok, err := stores.Exists(inst.Internal); err != nil {
		return done, fmt.Errorf("files: swap filestores: %w", err)
	} else if ok {
		if err := stores.Rename(inst.Internal, staging, replacedName(inst)); err != nil {
			return done, fmt.Errorf("files: swap filestores: %w", err)
		}
		done.HadLive = true
	}
	done.Swapped = true
	if err := staging.Replace(stagedName(inst), stores, inst.Internal); err != nil {
		return done, fmt.Errorf("files: swap filestores: %w", err)
	}
	return done, nil
}

// UnswapRestore removes the restored filestore from inst's tree
// (descending only through directories opened without following a link)
// and, when hadLive, renames the replaced one back.
func (f *Files) UnswapRestore(ctx context.Context, inst provision.Instance, hadLive bool) error {
	staging, err := f.openStaging()
	if err != nil {
		return err
	}
	defer staging.Close()
	stores, err := f.openFilestores(f.paths(inst), -1, -1)
	if err != nil {
		return err
	}
	defer stores.Close()
	if err := stores.RemoveAll(inst.Internal); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	if !hadLive {
		return nil
	}
	if err := staging.Replace(replacedName(inst), stores, inst.Internal); err != nil {
		return fmt.Errorf("files: put the filestore back: %w", err)
	}
	return nil
}

// RestoreLeftover looks, without following a link, at the staging
// directory and at inst's filestore directory (a link on the way to the
// latter counts as no live filestore).
func (f *Files) RestoreLeftover(ctx context.Context, inst provision.Instance) (provision.RestoreLeft, error) {
	var left provision.RestoreLeft
	staging, err := f.openStaging()
	if err != nil {
		return left, err
	}
	defer staging.Close()
	if left.Staged, err = staging.Exists(stagedName(inst)); err != nil {
		return left, fmt.Errorf("files: %w", err)
	}
	if left.Replaced, err = staging.Exists(replacedName(inst)); err != nil {
		return left, fmt.Errorf("files: %w", err)
	}
	if stores, err := f.openFilestores(f.paths(inst), -1, -1); err == nil {
		left.Live, err = stores.Exists(inst.Internal)
		left.Live = left.Live && err == nil
		stores.Close()
	}
	return left, nil
}

// DropRestore removes tree from the staging directory, descending only
// through directories opened without following a link.
func (f *Files) DropRestore(ctx context.Context, inst provision.Instance, tree provision.RestoreTree) error {
	staging, err := f.openStaging()
	if err != nil {
		return err
	}
	defer staging.Close()
	if err := staging.RemoveAll(restoreName(inst, tree)); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	return nil
}

// unpack unpacks the tar.gz archive into name, a new directory (mode
// 0750) of parent (a directory only root can write); name existing, as
// anything, even a link, is an error. The archive's content is the
// tenant's: an entry with an absolute name, a "..", a link, a device or
// any type other than a directory or a regular file is refused with an
// error naming it, and so is a second entry of a name. Directories are
// made 0750, files with their archived permission bits (never set-id);
// the directory and every entry are owned by uid:gid, set on the handle
// each was made through; nothing is followed. What was unpacked before
// an error stays. A nil archive makes an empty directory. It stops with
// ctx's error when ctx ends.
func unpack(ctx context.Context, archive io.Reader, parent *safefs.Dir, name string, uid, gid int) error {
	top, err := parent.Mkdir(name, 0o750)
	if err != nil {
		return err
	}
	defer top.Close()
	if err := parent.Chown(name, uid, gid); err != nil {
		return err
	}
	if archive == nil {
		return nil
	}
	gz, err := gzip.NewReader(archive)
	if err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := strings.TrimSuffix(hdr.Name, "/")
		if strings.HasPrefix(name, "/") || !filepath.IsLocal(filepath.FromSlash(name)) {
			return fmt.Errorf("archive entry %q escapes the filestore", hdr.Name)
		}
		name = path.Clean(name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			d, err := top.MkdirAll(name, 0o750, uid, gid)
			if err != nil {
				return fmt.Errorf("archive entry %q: %w", hdr.Name, err)
			}
			d.Close()
		case tar.TypeReg:
			if err := unpackFile(top, name, hdr, tr, uid, gid); err != nil {
				return fmt.Errorf("archive entry %q: %w", hdr.Name, err)
			}
		default:
			return fmt.Errorf("archive entry %q: type %c is not a file or a directory", hdr.Name, hdr.Typeflag)
		}
	}
}

// unpackFile writes the regular file name beneath top from r.
func unpackFile(top *safefs.Dir, name string, hdr *tar.Header, r io.Reader, uid, gid int) error {
	dir := top
	if d := path.Dir(name); d != "." {
		var err error
		if dir, err = top.MkdirAll(d, 0o750, uid, gid); err != nil {
			return err
		}
		defer dir.Close()
	}
	f, err := dir.Create(path.Base(name), fs.FileMode(hdr.Mode).Perm())
	if err != nil {
		return err
	}
	_, err = io.CopyN(f, r, hdr.Size)
	if err == nil {
		err = f.Chown(uid, gid)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadStaged calls read with safefs's read-only view of the filestore
// StageRestore staged for inst, in the staging directory, no link
// followed; nothing staged is an error matching fs.ErrNotExist.
func (f *Files) ReadStaged(ctx context.Context, inst provision.Instance, read func(fs.FS) error) error {
	staging, err := f.openStaging()
	if err != nil {
		return err
	}
	defer staging.Close()
	if ok, err := staging.Exists(stagedName(inst)); err != nil {
		return fmt.Errorf("files: staged filestore: %w", err)
	} else if !ok {
		return fmt.Errorf("files: staged filestore of %s: %w", inst.Internal, fs.ErrNotExist)
	}
	src, err := staging.Dir(stagedName(inst))
	if err != nil {
		return fmt.Errorf("files: staged filestore: %w", err)
	}
	defer src.Close()
	self, err := src.Self()
	if err != nil {
		return fmt.Errorf("files: staged filestore: %w", err)
	}
	return read(src.FS(self.UID))
}
