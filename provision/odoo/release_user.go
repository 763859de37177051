package odoo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// BuildUser is the unprivileged system user (BUILD_USER) that builds
// releases and initialises templates: git, the venv's creation, pip, the
// release check and every odoo-bin run of a template initialisation run
// as it, with no supplementary group, the minimal environment and HOME
// set to Home. It owns the directories those programs write while they
// run (the release being built, a template's work dir); when they are
// done the result is handed to root (handOver), so that neither it nor
// any instance can change a release or a template filestore in use.
//
// A nil *BuildUser runs everything as odoobot's own user and changes no
// owner: for tests and for an odoobot that is not root.
type BuildUser struct {
	// Name is the system user's name, for messages.
	Name string
	// UID and GID are what its processes run as.
	UID, GID uint32
	// Home is its HOME: a directory it owns (pip's cache, git's and
	// Python's per-user files).
	Home string
}

// UserMaker makes a system user when it is missing (tenant.Manager).
type UserMaker interface {
	EnsureUser(ctx context.Context, name, home string) error
}

// EnsureBuildUser makes system user name with users when it is missing
// (a system user with its own group and no login shell) and returns it
// as a BuildUser whose HOME is home, made (with its missing parents,
// 0755) and given to it with mode 0700.
func EnsureBuildUser(ctx context.Context, users UserMaker, name, home string) (*BuildUser, error) {
	if err := users.EnsureUser(ctx, name, home); err != nil {
		return nil, fmt.Errorf("odoo: build user (BUILD_USER): %w", err)
	}
	return LookupBuildUser(name, home)
}

// LookupBuildUser returns the existing system user name as a BuildUser
// whose HOME is home, made (with its missing parents, 0755) and given to
// it with mode 0700. The user must not be root: a build as root would
// let a build script or an Odoo module do anything on the host.
func LookupBuildUser(name, home string) (*BuildUser, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("odoo: build user %s (BUILD_USER) does not exist: %w", name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("odoo: build user %s: ids %s:%s: %w", name, u.Uid, u.Gid, err)
	}
	if uid == 0 || gid == 0 {
		return nil, fmt.Errorf("odoo: build user %s (BUILD_USER) is root or in root's group (uid %d, gid %d): name an unprivileged system user", name, uid, gid)
	}
	if !filepath.IsAbs(home) {
		return nil, fmt.Errorf("odoo: build user %s: home %q is not an absolute path", name, home)
	}
	b := &BuildUser{Name: name, UID: uint32(uid), GID: uint32(gid), Home: home}
	if err := os.MkdirAll(filepath.Dir(home), 0o755); err != nil {
		return nil, fmt.Errorf("odoo: build user %s: home: %w", name, err)
	}
	if err := os.Mkdir(home, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("odoo: build user %s: home: %w", name, err)
	}
	fi, err := os.Lstat(home)
	if err != nil {
		return nil, fmt.Errorf("odoo: build user %s: home: %w", name, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("odoo: build user %s: home %s is not a directory: remove it", name, home)
	}
	if err := b.give(home); err != nil {
		return nil, err
	}
	if err := os.Chmod(home, 0o700); err != nil {
		return nil, fmt.Errorf("odoo: build user %s: home: %w", name, err)
	}
	return b, nil
}

// String names the user for logs.
func (b *BuildUser) String() string {
	if b == nil {
		return "odoobot's own user"
	}
	return fmt.Sprintf("%s (uid %d)", b.Name, b.UID)
}

// apply makes cmd run as the build user, with no supplementary group and
// HOME its home, in a process group of its own (so that a cancelled
// build kills what the command started too). A nil b changes nothing.
func (b *BuildUser) apply(cmd *exec.Cmd) {
	if b == nil {
		return
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: b.UID, Gid: b.GID, Groups: []uint32{}},
		Setpgid:    true,
	}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	env := make([]string, 0, len(cmd.Env))
	for _, kv := range cmd.Env {
		if !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "HOME="+b.Home)
}

// give makes path (not what it holds, and not a symbolic link's target)
// the build user's. A nil b does nothing.
func (b *BuildUser) give(path string) error {
	if b == nil {
		return nil
	}
	if err := os.Lchown(path, int(b.UID), int(b.GID)); err != nil {
		return fmt.Errorf("give %s to the build user %s: %w", path, b.Name, err)
	}
	return nil
}

// handOver makes everything under dir (dir included) root's, when b is
// not nil, with the modes of a shared read-only tree: directories 0755,
// files 0755 when anyone could execute them and 0644 otherwise (no
// setuid, setgid or sticky bit survives). Symbolic links are changed
// (owner only), never followed.
//
// The walk goes top down and takes each directory before reading it, so
// a process of the build user still running cannot swap an entry for a
// link once its directory is root's. A nil b changes no owner, only the
// modes.
func (b *BuildUser) handOver(dir string) error {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if b != nil {
			if err := os.Lchown(p, 0, 0); err != nil {
				return err
			}
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			return nil
		case d.IsDir():
			return os.Chmod(p, 0o755)
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		mode := fs.FileMode(0o644)
		if fi.Mode().Perm()&0o111 != 0 {
			mode = 0o755
		}
		return os.Chmod(p, mode)
	})
	if err != nil {
		return fmt.Errorf("hand %s over to root: %w", dir, err)
	}
	return nil
}
