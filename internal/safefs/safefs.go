// Package safefs lets root work in a directory tree that another user
// (a tenant) can change, without ever following a path that user can
// change: every name is resolved from a directory handle by openat2 with
// RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS (a symbolic link anywhere in it, a
// "..", an absolute name or a mount crossing is refused), and every change
// (create, link, rename, remove, chown, chmod) is made on a handle or on a
// single name relative to one. A name the tenant swaps for a link after
// it was looked at is refused when it is opened, never followed.
//
// Hard links cannot be told from the file they link to: a file with more
// than one link that is not owned by the user the tree belongs to is
// refused by every operation that reads, copies, links or chowns it
// (ErrForeignLink), so that a link a tenant made to a file it does not
// own is never read or given away.
package safefs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// resolve is how every name under a Dir is resolved.
const resolve = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV

// ErrRefused matches every error for a name that is a symbolic link, has
// a link or ".." in its path, leaves the directory, is not of the kind
// expected, or already exists where a new one was asked for.
var ErrRefused = errors.New("refused")

// ErrForeignLink matches the error for a file with more than one link
// that the tree's owner does not own.
var ErrForeignLink = fmt.Errorf("%w: a hard link to a file the tree's owner does not own", ErrRefused)

// Dir is an open directory. Names given to its methods are relative to
// it, slash-separated, and resolved beneath it without following any
// link. A Dir must be closed.
type Dir struct {
	f    *os.File
	path string // for messages only
}

// OpenDir opens path, a directory named by odoobot's own configuration
// (PROD_ROOT, BACKUP_DIR, a staging directory under them): its parents
// are resolved as the system does, its last component must be a
// directory and not a link.
func OpenDir(path string) (*Dir, error) {
	fd, err := unix.Open(path, unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, pathErr("open", path, err)
	}
	return &Dir{f: os.NewFile(uintptr(fd), path), path: path}, nil
}

// Path is the path the directory was reached by, for messages: the
// directory may have moved since.
func (d *Dir) Path() string { return d.path }

// Close closes the handle.
func (d *Dir) Close() error { return d.f.Close() }

func (d *Dir) fd() int { return int(d.f.Fd()) }

func (d *Dir) join(rel string) string { return filepath.Join(d.path, filepath.FromSlash(rel)) }

// pathErr wraps err for path, matching ErrRefused when the kernel
// refused a link or an escape.
func pathErr(op, path string, err error) error {
	switch {
	case errors.Is(err, unix.ELOOP):
		return fmt.Errorf("%s %s: %w: a symbolic link is never followed", op, path, ErrRefused)
	case errors.Is(err, unix.EXDEV):
		return fmt.Errorf("%s %s: %w: the name leaves its directory or crosses a mount", op, path, ErrRefused)
	case errors.Is(err, unix.ENOTDIR):
		return fmt.Errorf("%s %s: %w: not a directory", op, path, ErrRefused)
	case errors.Is(err, unix.EEXIST), errors.Is(err, unix.ENOTEMPTY):
		return fmt.Errorf("%s %s: %w: %w", op, path, ErrRefused, fs.ErrExist)
	}
	return &fs.PathError{Op: op, Path: path, Err: err}
}

// local checks that rel is a relative name that stays where it is.
func local(rel string) error {
	if rel == "" || !filepath.IsLocal(filepath.FromSlash(rel)) || slices.Contains(strings.Split(rel, "/"), "..") {
		return fmt.Errorf("%q: %w: not a name inside the directory", rel, ErrRefused)
	}
	return nil
}

// single checks that name is one component.
func single(name string) error {
	if err := local(name); err != nil {
		return err
	}
	if strings.ContainsRune(name, '/') {
		return fmt.Errorf("%q: %w: one name expected", name, ErrRefused)
	}
	return nil
}

func (d *Dir) openat(rel string, flags uint64, mode uint32) (int, error) {
	if err := local(rel); err != nil {
		return -1, err
	}
	fd, err := unix.Openat2(d.fd(), rel, &unix.OpenHow{Flags: flags | unix.O_CLOEXEC | unix.O_NOFOLLOW, Mode: uint64(mode), Resolve: resolve})
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		// No openat2 (an older kernel, or a seccomp filter that does not
		// know it, as systemd 252's @system-service): the same walk by
		// hand, one component at a time, none followed.
		fd, err = d.openatByHand(rel, flags, mode)
	}
	if err != nil {
		return -1, pathErr("open", d.join(rel), err)
	}
	return fd, nil
}

// openatByHand resolves rel (local, no "..") beneath d one component at a
// time, each parent opened O_PATH|O_DIRECTORY|O_NOFOLLOW (a link there
// fails with ELOOP), the last with flags and O_NOFOLLOW.
func (d *Dir) openatByHand(rel string, flags uint64, mode uint32) (int, error) {
	parts := strings.Split(path.Clean(rel), "/")
	cur, owned := d.fd(), false
	closeCur := func() {
		if owned {
			unix.Close(cur)
		}
	}
	defer func() { closeCur() }()
	for _, c := range parts[:len(parts)-1] {
		next, err := unix.Openat(cur, c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOTDIR) {
			var st unix.Stat_t
			if unix.Fstatat(cur, c, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
				err = unix.ELOOP
			}
		}
		if err != nil {
			return -1, err
		}
		closeCur()
		cur, owned = next, true
	}
	return unix.Openat(cur, parts[len(parts)-1], int(flags|unix.O_NOFOLLOW|unix.O_CLOEXEC), mode)
}

// Dir opens the directory rel beneath d.
func (d *Dir) Dir(rel string) (*Dir, error) {
	fd, err := d.openat(rel, unix.O_DIRECTORY|unix.O_RDONLY, 0)
	if errors.Is(err, ErrRefused) {
		if st, serr := d.Lstat(rel); serr == nil && st.Mode&fs.ModeSymlink != 0 {
			return nil, pathErr("open", d.join(rel), unix.ELOOP)
		}
	}
	if err != nil {
		return nil, err
	}
	return &Dir{f: os.NewFile(uintptr(fd), d.join(rel)), path: d.join(rel)}, nil
}

// Mkdir makes the directory name (one component) in d with mode perm
// and opens it; a name that exists, whatever it is, is refused.
func (d *Dir) Mkdir(name string, perm os.FileMode) (*Dir, error) {
	if err := single(name); err != nil {
		return nil, err
	}
	if err := unix.Mkdirat(d.fd(), name, uint32(perm.Perm())); err != nil {
		return nil, pathErr("mkdir", d.join(name), err)
	}
	sub, err := d.Dir(name)
	if err != nil {
		return nil, err
	}
	if err := unix.Fchmod(sub.fd(), uint32(perm.Perm())); err != nil { // the umask aside
		sub.Close()
		return nil, pathErr("chmod", sub.path, err)
	}
	return sub, nil
}

// MkdirAll opens the directory rel beneath d, making each missing
// component with mode perm (owned by uid:gid when uid >= 0), and refusing
// one that is a link or not a directory.
func (d *Dir) MkdirAll(rel string, perm os.FileMode, uid, gid int) (*Dir, error) {
	if err := local(rel); err != nil {
		return nil, err
	}
	cur := d
	for _, c := range strings.Split(filepath.ToSlash(filepath.Clean(rel)), "/") {
		next, err := cur.Mkdir(c, perm)
		if err == nil && uid >= 0 {
			if err = unix.Fchown(next.fd(), uid, gid); err != nil {
				err = pathErr("chown", next.path, err)
				next.Close()
			}
		}
		if errors.Is(err, fs.ErrExist) {
			next, err = cur.Dir(c)
		}
		if cur != d {
			cur.Close()
		}
		if err != nil {
			return nil, err
		}
		cur = next
	}
	return cur, nil
}

// Stat is what Lstat reports of a name: its type and permission bits,
// owner, size and links.
type Stat struct {
	Mode     fs.FileMode
	UID, GID int
	Size     int64
	Nlink    uint64
	Dev, Ino uint64
	ModTime  time.Time
}

func statOf(st *unix.Stat_t) Stat {
	m := fs.FileMode(st.Mode & 0o777)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	case unix.S_IFREG:
	case unix.S_IFIFO:
		m |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		m |= fs.ModeSocket
	default:
		m |= fs.ModeDevice
	}
	if st.Mode&unix.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if st.Mode&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	return Stat{Mode: m, UID: int(st.Uid), GID: int(st.Gid), Size: st.Size, Nlink: uint64(st.Nlink), Dev: uint64(st.Dev), Ino: st.Ino,
		ModTime: time.Unix(st.Mtim.Unix())}
}

// Lstat describes rel beneath d without following it: a link is
// reported as a link. The error matches fs.ErrNotExist when there is
// nothing of that name.
func (d *Dir) Lstat(rel string) (Stat, error) {
	fd, err := d.openat(rel, unix.O_PATH, 0)
	if err != nil {
		return Stat{}, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return Stat{}, pathErr("stat", d.join(rel), err)
	}
	return statOf(&st), nil
}

// Exists says whether there is anything named rel beneath d (a link
// counts); a path through a link is an error.
func (d *Dir) Exists(rel string) (bool, error) {
	_, err := d.Lstat(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Self describes d itself.
func (d *Dir) Self() (Stat, error) {
	var st unix.Stat_t
	if err := unix.Fstat(d.fd(), &st); err != nil {
		return Stat{}, pathErr("stat", d.path, err)
	}
	return statOf(&st), nil
}

// Open opens the regular file rel beneath d for reading and describes
// it. Anything else (a link, a directory, a device, a pipe) is refused,
// and so is a file with more than one link not owned by owner (see the
// package doc; owner < 0 accepts any).
func (d *Dir) Open(rel string, owner int) (*os.File, Stat, error) {
	fd, err := d.openat(rel, unix.O_PATH, 0)
	if err != nil {
		return nil, Stat{}, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, Stat{}, pathErr("stat", d.join(rel), err)
	}
	s := statOf(&st)
	if err := checkFile(d.join(rel), s, owner); err != nil {
		return nil, s, err
	}
	// Reopened through the handle: the very file just described.
	rfd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fd), unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, s, pathErr("open", d.join(rel), err)
	}
	return os.NewFile(uintptr(rfd), d.join(rel)), s, nil
}

// checkFile refuses what is not a regular file, and a foreign hard link.
func checkFile(path string, s Stat, owner int) error {
	if !s.Mode.IsRegular() {
		return fmt.Errorf("%s: %w: not a regular file (%s)", path, ErrRefused, s.Mode.Type())
	}
	if s.Nlink > 1 && owner >= 0 && s.UID != owner {
		return fmt.Errorf("%s (%d links, owner uid %d): %w", path, s.Nlink, s.UID, ErrForeignLink)
	}
	return nil
}

// Create makes the regular file rel beneath d (mode perm), which must
// not exist, and opens it for writing.
func (d *Dir) Create(rel string, perm os.FileMode) (*os.File, error) {
	fd, err := d.openat(rel, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, uint32(perm.Perm()))
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), d.join(rel))
	if err := f.Chmod(perm.Perm()); err != nil { // the umask aside
		f.Close()
		return nil, err
	}
	return f, nil
}

// WriteFile replaces the regular file name (one component) of d with
// data, never following a link: the content goes to a new temporary file
// in d (created O_EXCL, so nothing planted is opened), given mode perm
// and, when uid >= 0, owner uid:gid on its handle, synced, then renamed
// over name (a link or file there is replaced, not followed; a
// directory there is an error). A reader sees the old file or the new,
// whole. When what name holds after the rename is not the file written
// (someone with write access to d swapped the temporary file), it is an
// error matching ErrRefused; root's data is then wherever they moved it,
// still with mode perm and owner uid:gid.
func (d *Dir) WriteFile(name string, data []byte, perm os.FileMode, uid, gid int) (err error) {
	if err := single(name); err != nil {
		return err
	}
	var tmp string
	var f *os.File
	for range 8 {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return fmt.Errorf("write %s: %w", d.join(name), err)
		}
		tmp = "." + name + ".tmp-" + hex.EncodeToString(b[:])
		if len(tmp) > 255 {
			tmp = ".tmp-" + hex.EncodeToString(b[:])
		}
		f, err = d.Create(tmp, 0o600)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return err
	}
	renamed := false
	defer func() {
		f.Close()
		if !renamed {
			unix.Unlinkat(d.fd(), tmp, 0)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", d.join(name), err)
	}
	if uid >= 0 {
		if err := f.Chown(uid, gid); err != nil {
			return fmt.Errorf("write %s: %w", d.join(name), err)
		}
	}
	if err := f.Chmod(perm.Perm()); err != nil { // after the chown, which clears set-id bits
		return fmt.Errorf("write %s: %w", d.join(name), err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", d.join(name), err)
	}
	var want unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &want); err != nil {
		return pathErr("stat", d.join(tmp), err)
	}
	if err := unix.Renameat(d.fd(), tmp, d.fd(), name); err != nil {
		return pathErr("rename", d.join(tmp)+" to "+d.join(name), err)
	}
	renamed = true
	got, err := d.Lstat(name)
	if err != nil {
		return err
	}
	if got.Dev != uint64(want.Dev) || got.Ino != want.Ino {
		return fmt.Errorf("write %s: %w: the file written was swapped before it took the name", d.join(name), ErrRefused)
	}
	return nil
}

// Remove removes name (one component) of d when it is anything but a
// directory (a link is removed, never followed); nothing of that name is
// not an error, a directory is.
func (d *Dir) Remove(name string) error {
	if err := single(name); err != nil {
		return err
	}
	if err := unix.Unlinkat(d.fd(), name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return pathErr("remove", d.join(name), err)
	}
	return nil
}

// Rename moves name (one component) of d to toName in to, replacing
// nothing: an existing toName is refused. Whatever name is (a link
// included) is moved as it is, never followed.
func (d *Dir) Rename(name string, to *Dir, toName string) error {
	if err := errors.Join(single(name), single(toName)); err != nil {
		return err
	}
	if err := unix.Renameat2(d.fd(), name, to.fd(), toName, unix.RENAME_NOREPLACE); err != nil {
		return pathErr("rename", d.join(name)+" to "+to.join(toName), err)
	}
	return nil
}

// Replace moves name (one component) of d to toName in to, in place of
// whatever is there: that is exchanged with it in one step (never
// followed) and then removed from d, where it landed. d must be a
// directory the owner of to cannot reach (a staging directory), since
// what the exchange brings back is theirs. A name planted again and
// again between the steps fails it after a few tries.
func (d *Dir) Replace(name string, to *Dir, toName string) error {
	if err := errors.Join(single(name), single(toName)); err != nil {
		return err
	}
	what := d.join(name) + " to " + to.join(toName)
	for range 8 {
		err := unix.Renameat2(d.fd(), name, to.fd(), toName, unix.RENAME_NOREPLACE)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EEXIST) {
			return pathErr("rename", what, err)
		}
		err = unix.Renameat2(d.fd(), name, to.fd(), toName, unix.RENAME_EXCHANGE)
		if err == nil {
			return d.RemoveAll(name)
		}
		if !errors.Is(err, unix.ENOENT) {
			return pathErr("rename", what, err)
		}
	}
	return fmt.Errorf("rename %s: %w: the name kept being taken", what, ErrRefused)
}

// Link makes toName in to a hard link to the regular file name of d,
// refusing anything else and a foreign hard link (see Open).
func (d *Dir) Link(name string, to *Dir, toName string, owner int) error {
	if err := errors.Join(single(name), single(toName)); err != nil {
		return err
	}
	fd, err := d.openat(name, unix.O_PATH, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return pathErr("stat", d.join(name), err)
	}
	if err := checkFile(d.join(name), statOf(&st), owner); err != nil {
		return err
	}
	// Linked from the handle: the file just described, whatever the name
	// holds now.
	if err := unix.Linkat(fd, "", to.fd(), toName, unix.AT_EMPTY_PATH); err != nil {
		return pathErr("link", d.join(name)+" to "+to.join(toName), err)
	}
	return nil
}

// Chown gives rel beneath d (a link: the link itself) to uid:gid,
// refusing a foreign hard link: anything but a directory with more than
// one link and owned by none of owners (no owners accepts any).
func (d *Dir) Chown(rel string, uid, gid int, owners ...int) error {
	fd, err := d.openat(rel, unix.O_PATH, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return chownFd(fd, d.join(rel), uid, gid, owners)
}

func chownFd(fd int, path string, uid, gid int, owners []int) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return pathErr("stat", path, err)
	}
	s := statOf(&st)
	if !s.Mode.IsDir() && s.Nlink > 1 && len(owners) > 0 && !slices.Contains(owners, s.UID) {
		return fmt.Errorf("%s (%d links, owner uid %d): %w", path, s.Nlink, s.UID, ErrForeignLink)
	}
	if err := unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return pathErr("chown", path, err)
	}
	return nil
}

// Chmod sets the permission bits of the regular file or directory rel
// beneath d; anything else, and a file with more than one link, is
// refused.
func (d *Dir) Chmod(rel string, mode os.FileMode) error {
	fd, err := d.openat(rel, unix.O_PATH, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return pathErr("stat", d.join(rel), err)
	}
	s := statOf(&st)
	if t := s.Mode.Type(); t != 0 && t != fs.ModeDir {
		return fmt.Errorf("chmod %s: %w: not a regular file or directory", d.join(rel), ErrRefused)
	}
	if !s.Mode.IsDir() && s.Nlink > 1 {
		return fmt.Errorf("chmod %s (%d links): %w", d.join(rel), s.Nlink, ErrForeignLink)
	}
	// Through the handle: the very inode just described.
	if err := unix.Fchmodat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), uint32(mode.Perm()), 0); err != nil {
		return pathErr("chmod", d.join(rel), err)
	}
	return nil
}

// names lists d's entries, sorted.
func (d *Dir) names() ([]string, error) {
	// A fresh handle: reading a directory moves its offset.
	fd, err := unix.Openat(d.fd(), ".", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, pathErr("open", d.path, err)
	}
	f := os.NewFile(uintptr(fd), d.path)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}

// RemoveAll removes name (one component) of d and, when it is a
// directory, everything in it, descending only through directories
// opened beneath it (a link is removed, never followed). Nothing of that
// name is not an error.
func (d *Dir) RemoveAll(name string) error {
	if err := single(name); err != nil {
		return err
	}
	err := unix.Unlinkat(d.fd(), name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
		return pathErr("remove", d.join(name), err)
	}
	sub, err := d.Dir(name)
	if err != nil {
		return err
	}
	names, err := sub.names()
	if err == nil {
		for _, n := range names {
			if err = sub.RemoveAll(n); err != nil {
				break
			}
		}
	}
	sub.Close()
	if err != nil {
		return err
	}
	if err := unix.Unlinkat(d.fd(), name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return pathErr("remove", d.join(name), err)
	}
	return nil
}

// SkipDir, returned by a WalkFunc for a directory, skips its contents.
var SkipDir = fs.SkipDir

// WalkFunc is called by Walk for each entry: rel is its name relative to
// the walked directory (slash-separated), parent the open directory
// holding it as name, st what it was when listed (a link is a link).
type WalkFunc func(rel string, parent *Dir, name string, st Stat) error

// Walk calls fn for every entry under d, in lexical order, a directory
// before its contents; it descends only into directories it opens
// beneath d without following a link (one swapped for a link since it
// was listed is skipped). The entry may change between the listing and
// fn: fn must open it through parent (which refuses links).
func (d *Dir) Walk(fn WalkFunc) error { return d.walk("", fn) }

func (d *Dir) walk(prefix string, fn WalkFunc) error {
	names, err := d.names()
	if err != nil {
		return err
	}
	for _, n := range names {
		st, err := d.Lstat(n)
		if errors.Is(err, fs.ErrNotExist) {
			continue // gone since the listing
		}
		if err != nil {
			return err
		}
		rel := prefix + n
		err = fn(rel, d, n, st)
		if errors.Is(err, SkipDir) && st.Mode.IsDir() {
			continue
		}
		if err != nil {
			return err
		}
		if !st.Mode.IsDir() {
			continue
		}
		sub, err := d.Dir(n)
		if errors.Is(err, ErrRefused) || errors.Is(err, fs.ErrNotExist) {
			continue // no longer a directory since the listing: not followed
		}
		if err != nil {
			return err
		}
		err = sub.walk(rel+"/", fn)
		sub.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// ChownTree gives rel beneath d and everything under it to uid:gid (a
// link: the link itself), refusing a foreign hard link (owners as in
// Chown). A missing rel is not an error.
func (d *Dir) ChownTree(rel string, uid, gid int, owners ...int) error {
	st, err := d.Lstat(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := d.Chown(rel, uid, gid, owners...); err != nil {
		return err
	}
	if !st.Mode.IsDir() {
		return nil
	}
	sub, err := d.Dir(rel)
	if err != nil {
		return err
	}
	defer sub.Close()
	return sub.Walk(func(_ string, parent *Dir, name string, _ Stat) error {
		return parent.Chown(name, uid, gid, owners...)
	})
}

// CopyTree copies every directory and regular file under src into dst,
// an empty directory: files as hard links when link is set, as copies
// otherwise (as many bytes as the file had when opened, its permission
// bits), directories with their permission bits. Links, pipes, sockets
// and devices are left out; a foreign hard link (owner as in Open) is
// refused. It stops with ctx's error when ctx ends.
func CopyTree(ctx context.Context, src, dst *Dir, owner int, link bool) error {
	return src.Walk(func(rel string, parent *Dir, name string, st Stat) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !st.Mode.IsDir() && !st.Mode.IsRegular() {
			return nil
		}
		to := dst
		if dir := path.Dir(rel); dir != "." {
			var err error
			if to, err = dst.Dir(dir); err != nil {
				return err
			}
			defer to.Close()
		}
		if st.Mode.IsDir() {
			sub, err := to.Mkdir(name, st.Mode.Perm())
			if err != nil {
				return err
			}
			return sub.Close()
		}
		if link {
			return parent.Link(name, to, name, owner)
		}
		return copyFile(parent, name, to, owner)
	})
}

// copyFile copies the regular file name of from into to, bounded by its
// size when opened.
func copyFile(from *Dir, name string, to *Dir, owner int) error {
	in, st, err := from.Open(name, owner)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := to.Create(name, st.Mode.Perm())
	if err != nil {
		return err
	}
	_, err = io.Copy(out, io.LimitReader(in, st.Size))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// RemoveEmptyDir removes the directory rel beneath d when it is empty
// (its parent opened without following a link); a link, a file or a
// directory with entries is left as it is, with an error.
func (d *Dir) RemoveEmptyDir(rel string) error {
	if err := local(rel); err != nil {
		return err
	}
	parent := d
	if dir := path.Dir(rel); dir != "." {
		var err error
		if parent, err = d.Dir(dir); err != nil {
			return err
		}
		defer parent.Close()
	}
	if err := unix.Unlinkat(parent.fd(), path.Base(rel), unix.AT_REMOVEDIR); err != nil {
		return pathErr("remove", d.join(rel), err)
	}
	return nil
}
