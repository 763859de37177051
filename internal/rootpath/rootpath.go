// Package rootpath checks that a directory odoobot writes into as root
// cannot be moved under it by anyone else. A user who can write to a
// directory, or to any directory above it, can rename it away and put a
// link or a directory of their own in its place between two of root's
// steps: root then writes, chowns or removes wherever that user chose.
// Instances imported from API-DEV run as SERVICE_USER, whose home
// holds PROD_ROOT and BACKUP_DIR by default: that user would be root.
package rootpath

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Problem is one directory on the way to a checked path that someone
// other than root can change.
type Problem struct {
	// Setting is the configuration's name for the checked path
	// (PROD_ROOT); Path is that path.
	Setting, Path string
	// Dir is the directory at fault: Path itself or one of its parents.
	Dir string
	// Who says who can change it ("user mtg", "group mtg", "every user").
	Who string
	// Fix is the command that makes it safe.
	Fix string
}

func (p Problem) String() string {
	where := p.Dir
	if p.Dir != p.Path {
		where = p.Dir + " (above " + p.Path + ")"
	}
	return fmt.Sprintf("%s: %s can write to %s, so it could move what odoobot writes there as root; fix: %s, or move %s to a directory only root can change",
		p.Setting, p.Who, where, p.Fix, p.Setting)
}

// Error lists every problem found, one a line.
type Error struct{ Problems []Problem }

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Check returns an *Error naming every directory, from each path up to
// /, that a user other than root can write to: one owned by another
// user, writable by a group other than root's, or writable by every user
// (a sticky directory such as /tmp is accepted above the path, since
// there nobody may rename another's entries, but never as the path
// itself). paths maps a setting's name to its directory. A path that
// does not exist yet is judged by its nearest existing parent; a path
// through a symbolic link is judged along the link's own directories and
// along its target's. Access control lists are not read. nil means every
// path is safe.
func Check(paths map[string]string) error {
	var problems []Problem
	names := make([]string, 0, len(paths))
	for name := range paths {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		path := paths[name]
		if path == "" {
			continue
		}
		if !filepath.IsAbs(path) {
			return fmt.Errorf("rootpath: %s=%q is not an absolute path", name, path)
		}
		seen := map[string]bool{}
		chains := [][]string{ancestors(filepath.Clean(path))}
		if real, err := filepath.EvalSymlinks(nearestExisting(path)); err == nil {
			chains = append(chains, ancestors(real))
		}
		for _, chain := range chains {
			for i, dir := range chain {
				if seen[dir] {
					continue
				}
				seen[dir] = true
				p, err := judge(dir, i == 0)
				if err != nil {
					return fmt.Errorf("rootpath: %s: %w", name, err)
				}
				if p != nil {
					p.Setting, p.Path = name, path
					problems = append(problems, *p)
				}
			}
		}
	}
	if len(problems) > 0 {
		return &Error{Problems: problems}
	}
	return nil
}

// judge returns the problem with dir, nil when only root can change it
// or when it does not exist (its parent is judged in its place).
func judge(dir string, leaf bool) (*Problem, error) {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil, nil // who can replace a link is its directory's matter; its target is judged apart.
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, fmt.Errorf("%s: no owner information", dir)
	}
	mode := fi.Mode()
	switch {
	case st.Uid != 0:
		who := userName(st.Uid)
		return &Problem{Dir: dir, Who: "user " + who, Fix: "chown root " + dir}, nil
	case mode&0o020 != 0 && st.Gid != 0:
		return &Problem{Dir: dir, Who: "group " + groupName(st.Gid), Fix: "chmod g-w " + dir}, nil
	case mode&0o002 != 0 && (leaf || mode&fs.ModeSticky == 0):
		return &Problem{Dir: dir, Who: "every user", Fix: "chmod o-w " + dir}, nil
	}
	return nil, nil
}

// ancestors returns path and each of its parents, up to /.
func ancestors(path string) []string {
	var out []string
	for {
		out = append(out, path)
		parent := filepath.Dir(path)
		if parent == path {
			return out
		}
		path = parent
	}
}

// nearestExisting returns path or its nearest parent that exists.
func nearestExisting(path string) string {
	for _, dir := range ancestors(filepath.Clean(path)) {
		if _, err := os.Lstat(dir); err == nil {
			return dir
		}
	}
	return "/"
}

func userName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return u.Username
	}
	return "uid " + id
}

func groupName(gid uint32) string {
	id := strconv.FormatUint(uint64(gid), 10)
	if g, err := user.LookupGroupId(id); err == nil {
		return g.Name
	}
	return "gid " + id
}
