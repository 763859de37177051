package backups

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

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

// WriteTarGz archives the tree src into dst, a new file (mode 0600; an
// existing dst is an error) synced to disk. src is the tenant's, handed
// over read-only by the driver of its tree (provision.FilestoreReader),
// which follows no link: a link inside is left out, as are devices,
// pipes and sockets, and a file swapped for one of those between the
// listing and its opening (src refuses it: an error matching
// safefs.ErrRefused, or fs.ErrNotExist). Only directories and regular
// files are archived, paths relative to src's root, owner names not
// recorded; each file is read up to the size it had when opened; a file
// src refuses as a foreign hard link (safefs.ErrForeignLink) stops the
// archive with that error. An empty src gives an empty archive. It stops
// with ctx's error when ctx ends.
func WriteTarGz(ctx context.Context, src fs.FS, dst string) error {
	return writeTarGz(ctx, src, dst, nil)
}

// skipped says whether err, from opening an entry src listed, means the
// entry is no longer what was listed (left out, as a link is).
func skipped(err error) bool {
	return errors.Is(err, safefs.ErrRefused) && !errors.Is(err, safefs.ErrForeignLink) || errors.Is(err, fs.ErrNotExist)
}

// writeTarGz is WriteTarGz, calling beforeOpen (when set) with each
// file's path between the walk's listing and its opening: tests swap the
// file there.
func writeTarGz(ctx context.Context, src fs.FS, dst string, beforeOpen func(rel string)) (err error) {
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
	err = fs.WalkDir(src, ".", func(rel string, e fs.DirEntry, err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			if rel != "." && skipped(err) {
				return fs.SkipDir // no longer a directory since the listing: not followed
			}
			return err
		}
		if rel == "." {
			return nil
		}
		switch {
		case e.IsDir():
			info, err := e.Info()
			if err != nil {
				return err
			}
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: rel + "/", Mode: int64(info.Mode().Perm())})
		case e.Type().IsRegular():
			if beforeOpen != nil {
				beforeOpen(rel)
			}
			f, err := src.Open(rel)
			if skipped(err) {
				return nil
			}
			if err != nil {
				return err
			}
			defer f.Close()
			fst, err := f.Stat()
			if err != nil {
				return err
			}
			if !fst.Mode().IsRegular() {
				return nil
			}
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: rel, Mode: int64(fst.Mode().Perm()), Size: fst.Size()}); err != nil {
				return err
			}
			_, err = io.CopyN(tw, f, fst.Size())
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	return out.Sync()
}
