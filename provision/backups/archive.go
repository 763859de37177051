package backups

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"odoobot/internal/safefs"
)

// SyncDir flushes every entry directly in dir, then dir itself, to disk,
// so that a directory written file by file and then renamed into place
// is whole after a crash.
func SyncDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range append(entries, nil) {
		p := dir
		if e != nil {
			p = filepath.Join(dir, e.Name())
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// WriteTarGz archives the directory rel beneath base into dst, a new
// file (mode 0600; an existing dst is an error) synced to disk. base is a
// directory odoobot trusts (PROD_ROOT); rel, and everything under it, is
// the tenant's: it is resolved and walked without following any link
// (safefs), so a link anywhere in rel is an error and a link inside is
// left out, as are devices, pipes and sockets, and a file swapped for one
// of those between the listing and its opening. Only directories and
// regular files are archived, paths relative to rel, owner names not
// recorded; each file is opened through its directory's handle, read up
// to the size it had when opened; a hard link to a file the owner of rel
// does not own stops the archive with an error (safefs.ErrForeignLink). A missing
// rel gives an empty archive. It stops with ctx's error when ctx ends.
func WriteTarGz(ctx context.Context, base, rel, dst string) error {
	return writeTarGz(ctx, base, rel, dst, nil)
}

// writeTarGz is WriteTarGz, calling beforeOpen (when set) with each
// file's path between the walk's listing and its opening: tests swap the
// file there.
func writeTarGz(ctx context.Context, base, rel, dst string, beforeOpen func(rel string)) (err error) {
	root, err := safefs.OpenDir(base)
	if err != nil {
		return err
	}
	defer root.Close()
	var src *safefs.Dir
	if ok, err := root.Exists(rel); err != nil {
		return err
	} else if ok {
		if src, err = root.Dir(rel); err != nil {
			return err
		}
		defer src.Close()
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	gz := gzip.NewWriter(out)
	tw := tar.NewWriter(gz)
	if src != nil {
		self, err := src.Self()
		if err != nil {
			return err
		}
		err = src.Walk(func(rel string, parent *safefs.Dir, name string, st safefs.Stat) error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			switch {
			case st.Mode.IsDir():
				return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: rel + "/", Mode: int64(st.Mode.Perm())})
			case st.Mode.IsRegular():
				if beforeOpen != nil {
					beforeOpen(rel)
				}
				f, fst, err := parent.Open(name, self.UID)
				if errors.Is(err, safefs.ErrRefused) && !errors.Is(err, safefs.ErrForeignLink) || errors.Is(err, fs.ErrNotExist) {
					return nil // no longer a file since the listing: left out, as a link is
				}
				if err != nil {
					return err
				}
				defer f.Close()
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: rel, Mode: int64(fst.Mode.Perm()), Size: fst.Size}); err != nil {
					return err
				}
				_, err = io.CopyN(tw, f, fst.Size)
				return err
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	return out.Sync()
}

// ExtractTarGz unpacks the archive src (as WriteTarGz writes it) into
// dst, a new directory (mode 0750) in a directory only root can write
// (its parents are trusted as they are); dst existing, as anything, even
// a link, is an error. The archive's content is the tenant's: an entry
// with an absolute name, a "..", a link, a device or any type other than
// a directory or a regular file is refused with an error naming it, and
// so is a second entry of a name. Directories are made 0750, files with
// their archived permission bits (never set-id); dst and every entry are
// owned by uid:gid, set on the handle each was made through; nothing is
// followed. What was unpacked before an error stays. It stops with ctx's
// error when ctx ends.
func ExtractTarGz(ctx context.Context, src, dst string, uid, gid int) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	gz, err := gzip.NewReader(in)
	if err != nil {
		return err
	}
	parent, err := safefs.OpenDir(filepath.Dir(dst))
	if err != nil {
		return err
	}
	defer parent.Close()
	top, err := parent.Mkdir(filepath.Base(dst), 0o750)
	if err != nil {
		return err
	}
	defer top.Close()
	if err := parent.Chown(filepath.Base(dst), uid, gid); err != nil {
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
			if err := extractFile(top, name, hdr, tr, uid, gid); err != nil {
				return fmt.Errorf("archive entry %q: %w", hdr.Name, err)
			}
		default:
			return fmt.Errorf("archive entry %q: type %c is not a file or a directory", hdr.Name, hdr.Typeflag)
		}
	}
}

// extractFile writes the regular file name beneath top from r.
func extractFile(top *safefs.Dir, name string, hdr *tar.Header, r io.Reader, uid, gid int) error {
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
