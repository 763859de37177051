// Package logrotate keeps the logrotate configuration of the instances'
// odoo.log files: one stanza each, acting as the owner of the instance's
// directory, never as root where a tenant can change it.
package logrotate

import (
	"bytes"
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

	"odoobot/internal/atomicfile"
	"odoobot/provision"
)

// Entry is the rotation of one instance's odoo.log: logrotate
// acts as User and Group (its su directive) on Log and its rotated
// copies, in Log's directory.
type Entry struct {
	Log         string // <PROD_ROOT>/prod-NAME/odoo.log
	User, Group string // the owner of the log's directory: root root, or SERVICE_USER and its group
}

// Rotation says how the instances' logs are rotated: where the
// configuration goes, where the instances live and who runs the imported
// ones.
type Rotation struct {
	File        string // LOGROTATE_FILE: /etc/logrotate.d/odoobot-instances
	ProdRoot    string // PROD_ROOT
	ServiceUser string // SERVICE_USER: the owner of an imported instance's directory
}

// Entries derives the rotation of each instance's odoo.log from its name
// (the directory is PROD_ROOT/prod-NAME, whatever the store says) and
// from who can change that directory, read with lstat: logrotate acts as
// that directory's owner, so it never acts as root where a tenant could
// swap a file for a link between its steps. An instance's directory
// owned by root, writable by no group but root's and by no one else
// (odoobot's own instances: root:odoo-NAME 0750) gives su root root; an
// imported instance's (no user of its own) owned by SERVICE_USER, not
// writable by others or another group, su SERVICE_USER and its primary
// group. Any other directory (a link, one a tenant or a group can change
// while root would act in it, an own instance's that a user owns) is
// left out, its log not rotated, with a line in left saying why and what
// to do. An instance whose directory does not exist yet (being created)
// or any more is left out silently; a name that is not a label is left
// out, saying so.
func (r Rotation) Entries(instances []provision.Instance) (entries []Entry, left []string, err error) {
	root := filepath.Clean(r.ProdRoot)
	if !filepath.IsAbs(root) || strings.ContainsAny(root, "\"\n\\*?[{") {
		return nil, nil, fmt.Errorf("logrotate: PROD_ROOT %q must be an absolute path without quotes, backslashes, newlines or glob characters", r.ProdRoot)
	}
	svcUID, svcGID, svcGroup := -1, -1, ""
	if u, err := user.Lookup(r.ServiceUser); err == nil {
		svcUID, _ = strconv.Atoi(u.Uid)
		svcGID, _ = strconv.Atoi(u.Gid)
		if g, err := user.LookupGroupId(u.Gid); err == nil {
			svcGroup = g.Name
		}
	}
	for _, inst := range instances {
		if !provision.IsLabel(inst.Name) {
			left = append(left, fmt.Sprintf("instance %q: not a valid name; its log is not rotated", inst.Name))
			continue
		}
		dir := filepath.Join(root, provision.InternalName(inst.Name))
		st, err := os.Lstat(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			left = append(left, fmt.Sprintf("%s: %v; its log is not rotated", inst.Name, err))
			continue
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		if !st.IsDir() || !ok {
			left = append(left, fmt.Sprintf("%s: %s is not a directory (a link?); its log is not rotated: make it a directory only root can change", inst.Name, dir))
			continue
		}
		uid, gid, mode := int(sys.Uid), int(sys.Gid), st.Mode().Perm()
		if mode&0o002 != 0 {
			left = append(left, fmt.Sprintf("%s: anyone can write to %s; its log is not rotated: chmod o-w %s", inst.Name, dir, dir))
			continue
		}
		e := Entry{Log: filepath.Join(dir, "odoo.log")}
		switch {
		case uid == 0:
			if mode&0o020 != 0 && gid != 0 {
				left = append(left, fmt.Sprintf("%s: group %s can write to %s, where logrotate would act as root; its log is not rotated: chmod g-w %s", inst.Name, groupName(gid), dir, dir))
				continue
			}
			e.User, e.Group = "root", "root"
		case inst.User == "" && uid == svcUID && svcGroup != "":
			if mode&0o020 != 0 && gid != svcGID {
				left = append(left, fmt.Sprintf("%s: group %s can write to %s; its log is not rotated: chmod g-w %s", inst.Name, groupName(gid), dir, dir))
				continue
			}
			e.User, e.Group = r.ServiceUser, svcGroup
		case inst.User == "":
			left = append(left, fmt.Sprintf("%s: %s belongs to %s, neither root nor SERVICE_USER (%s); its log is not rotated: chown root %s, or isolate the instance", inst.Name, dir, userName(uid), r.ServiceUser, dir))
			continue
		default:
			left = append(left, fmt.Sprintf("%s: %s belongs to %s, not root, though the instance has its own user; its log is not rotated: chown root %s", inst.Name, dir, userName(uid), dir))
			continue
		}
		entries = append(entries, e)
	}
	slices.SortFunc(entries, func(a, b Entry) int { return strings.Compare(a.Log, b.Log) })
	return entries, left, nil
}

func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return "uid " + strconv.Itoa(uid)
}

func groupName(gid int) string {
	if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil {
		return g.Name
	}
	return "gid " + strconv.Itoa(gid)
}

// Config is the logrotate configuration of entries, one stanza
// each, in their order: rotated daily, or as soon as it passes 200 MiB
// when logrotate runs, 14 kept, compressed; copytruncate, since Odoo
// keeps its log file open; su the entry's user and group. A path or name
// that would not survive logrotate's parser (quotes, glob characters,
// white space, a newline) is refused.
func Config(entries []Entry) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# Installed by odoobot; rewritten at its start and whenever an instance is\n" +
		"# created, cloned, deleted, imported or isolated. One stanza per instance:\n" +
		"# logrotate acts as the owner of the instance's directory, never as root\n" +
		"# in a directory a tenant can change.\n")
	for _, e := range entries {
		if !filepath.IsAbs(e.Log) || strings.ContainsAny(e.Log, "\"\n\\*?[{ \t") {
			return nil, fmt.Errorf("logrotate: log path %q must be absolute, without quotes, backslashes, white space or glob characters", e.Log)
		}
		for _, n := range []string{e.User, e.Group} {
			if n == "" || strings.ContainsAny(n, "\"\n\\ \t{}#") {
				return nil, fmt.Errorf("logrotate: %s: user or group %q is empty or holds characters logrotate cannot read", e.Log, n)
			}
		}
		fmt.Fprintf(&b, `
"%s" {
	daily
	maxsize 200M
	rotate 14
	missingok
	notifempty
	compress
	delaycompress
	copytruncate
	su %s %s
}
`, e.Log, e.User, e.Group)
	}
	return b.Bytes(), nil
}

// Install writes the configuration of instances (Entries, then
// Config) to r.File (mode 0644, through a rename: logrotate
// never reads half a file), unless it already holds exactly that. It
// reports whether it wrote, and the instances left out and why (see
// Entries), which the caller logs or alerts. With no instance the file
// holds only its header.
func (r Rotation) Install(instances []provision.Instance) (wrote bool, left []string, err error) {
	entries, left, err := r.Entries(instances)
	if err != nil {
		return false, nil, err
	}
	want, err := Config(entries)
	if err != nil {
		return false, left, err
	}
	if have, err := os.ReadFile(r.File); err == nil && bytes.Equal(have, want) {
		return false, left, nil
	}
	if err := writeFile(r.File, want); err != nil {
		return false, left, fmt.Errorf("logrotate: install %s: %w", r.File, err)
	}
	return true, left, nil
}

// writeFile creates path's directory (0755) when it is missing and
// writes b there, mode 0644, with atomicfile.Write: never half a file.
func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o644)
}
