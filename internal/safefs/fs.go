package safefs

import (
	"errors"
	"io"
	"io/fs"
	"path"
	"time"
)

// FS returns a read-only fs.FS of the tree under d, valid while d is
// open. It follows no link: every name is resolved beneath d as by Dir
// and Open (a link anywhere in a name, or in its place, is refused with
// an error matching ErrRefused), ReadDir reports a link as a link
// without following it, and Open opens only directories and regular
// files, refusing a file with more than one link not owned by owner
// (ErrForeignLink; owner < 0 accepts any). An opened file's Stat
// describes the very file opened.
func (d *Dir) FS(owner int) fs.ReadDirFS { return dirFS{d: d, owner: owner} }

type dirFS struct {
	d     *Dir
	owner int
}

func (f dirFS) valid(op, name string) error {
	if !fs.ValidPath(name) {
		return &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	return nil
}

// sub opens the directory name beneath f.d (a new handle on f.d for
// ".").
func (f dirFS) sub(name string) (*Dir, error) { return f.d.Dir(name) }

func (f dirFS) Open(name string) (fs.File, error) {
	if err := f.valid("open", name); err != nil {
		return nil, err
	}
	if name != "." {
		st, err := f.d.Lstat(name)
		if err != nil {
			return nil, err
		}
		if !st.Mode.IsDir() {
			file, _, err := f.d.Open(name, f.owner)
			if err != nil {
				return nil, err
			}
			return file, nil
		}
	}
	sub, err := f.sub(name)
	if err != nil {
		return nil, err
	}
	return &dirFile{fs: f, d: sub, name: name}, nil
}

func (f dirFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if err := f.valid("readdir", name); err != nil {
		return nil, err
	}
	sub, err := f.sub(name)
	if err != nil {
		return nil, err
	}
	defer sub.Close()
	return sub.entries()
}

// entries lists d's entries, sorted, each as Lstat describes it; one
// gone since the listing is left out.
func (d *Dir) entries() ([]fs.DirEntry, error) {
	names, err := d.names()
	if err != nil {
		return nil, err
	}
	out := make([]fs.DirEntry, 0, len(names))
	for _, n := range names {
		st, err := d.Lstat(n)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, fs.FileInfoToDirEntry(info{name: n, st: st}))
	}
	return out, nil
}

// dirFile is a directory opened through dirFS.
type dirFile struct {
	fs   dirFS
	d    *Dir
	name string
	read []fs.DirEntry
	done bool
}

func (f *dirFile) Stat() (fs.FileInfo, error) {
	st, err := f.d.Self()
	if err != nil {
		return nil, err
	}
	return info{name: path.Base(f.name), st: st}, nil
}

func (f *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: f.name, Err: errors.New("is a directory")}
}

func (f *dirFile) Close() error { return f.d.Close() }

func (f *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if !f.done {
		all, err := f.d.entries()
		if err != nil {
			return nil, err
		}
		f.read, f.done = all, true
	}
	if n <= 0 {
		out := f.read
		f.read = nil
		return out, nil
	}
	if len(f.read) == 0 {
		return nil, io.EOF
	}
	k := min(n, len(f.read))
	out := f.read[:k]
	f.read = f.read[k:]
	return out, nil
}

// info is a Stat as an fs.FileInfo.
type info struct {
	name string
	st   Stat
}

func (i info) Name() string       { return i.name }
func (i info) Size() int64        { return i.st.Size }
func (i info) Mode() fs.FileMode  { return i.st.Mode }
func (i info) ModTime() time.Time { return i.st.ModTime }
func (i info) IsDir() bool        { return i.st.Mode.IsDir() }
func (i info) Sys() any           { return i.st }

var _ fs.ReadDirFile = (*dirFile)(nil)
