package provisiontest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"maps"
	"regexp"
	"slices"
	"strings"

	"odoobot/provision"
)

// Tree is one instance's directory in the model: its odoo.conf files,
// its filestores, its small files and its owner.
type Tree struct {
	Owner    string // the user Give gave it to; "" until then
	Own      bool   // given as an instance with a user of its own
	Modules  bool   // custom_addons holds a module
	Confs    map[provision.ConfFile]ConfFile
	Stores   map[string]string // filestore database name → its content's owner
	Info     string
	HasInfo  bool
	LogLines []string
}

// ConfFile is one odoo.conf of the model.
type ConfFile struct {
	Raw   string
	Mode  fs.FileMode
	Owner provision.FileOwner
}

// Files is a provision.InstanceFiles over the model's instance trees,
// staging directory and tracking export.
type Files struct{ h *Host }

var _ provision.InstanceFiles = (*Files)(nil)

// Files are the host's instance trees.
func (h *Host) Files() *Files { return &Files{h: h} }

func (f *Files) tree(inst provision.Instance) (*Tree, bool) {
	t, ok := f.h.trees[inst.Internal]
	return t, ok
}

// Leftover returns the first thing of inst found on the host.
func (f *Files) Leftover(_ context.Context, inst provision.Instance) (string, error) {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	p := f.h.Layout.Paths(inst)
	if _, ok := f.tree(inst); ok {
		return p.Dir, nil
	}
	if _, ok := f.h.units[p.Unit]; ok {
		return p.Unit, nil
	}
	if _, ok := f.h.sites[inst.Internal]; ok {
		return p.SiteAvail, nil
	}
	return "", nil
}

// Prepare makes inst's directory.
func (f *Files) Prepare(_ context.Context, inst provision.Instance) (bool, error) {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	t, ok := f.tree(inst)
	if !ok {
		t = &Tree{Confs: map[provision.ConfFile]ConfFile{}, Stores: map[string]string{}}
		f.h.trees[inst.Internal] = t
	}
	return t.Modules, nil
}

// Give lays inst's files out for user.
func (f *Files) Give(_ context.Context, inst provision.Instance, user string, own bool) error {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	if _, ok := f.h.users[user]; !ok && user != f.h.ServiceUser {
		return fmt.Errorf("provisiontest: give %s to %s: %w", inst.Internal, user, provision.ErrNoSystemUser)
	}
	t, ok := f.tree(inst)
	if !ok {
		return fmt.Errorf("provisiontest: give %s: %w", inst.Internal, fs.ErrNotExist)
	}
	t.Owner, t.Own = user, own
	for db := range t.Stores {
		t.Stores[db] = user
	}
	// odoo.conf: root's with the user's group for an instance of its
	// own, the user's otherwise.
	for f, c := range t.Confs {
		c.Owner = provision.FileOwner{User: user, UserOwns: !own}
		t.Confs[f] = c
	}
	return nil
}

// RemoveData removes inst's filestore, and the directory when empty.
func (f *Files) RemoveData(_ context.Context, inst provision.Instance) error {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	t, ok := f.tree(inst)
	if !ok {
		return nil
	}
	delete(t.Stores, inst.Internal)
	if len(t.Stores) == 0 && len(t.Confs) == 0 && !t.HasInfo && len(t.LogLines) == 0 {
		delete(f.h.trees, inst.Internal)
	}
	return nil
}

// Remove removes inst's directory.
func (f *Files) Remove(_ context.Context, inst provision.Instance) error {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	delete(f.h.trees, inst.Internal)
	return nil
}

// RemoveCertDir removes inst's certificate directory.
func (f *Files) RemoveCertDir(_ context.Context, inst provision.Instance) error {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	delete(f.h.certs, f.h.Layout.Paths(inst).CertDir)
	return nil
}

// UserHome returns a user's home.
func (f *Files) UserHome(_ context.Context, name string) (string, error) {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	home, ok := f.h.users[name]
	if !ok {
		return "", fmt.Errorf("provisiontest: user %s: %w", name, provision.ErrNoSystemUser)
	}
	return home, nil
}

var optionLine = regexp.MustCompile(`^\s*([A-Za-z0-9_]+)\s*=\s*(.*?)\s*$`)

// ReadConf reads one odoo.conf of inst.
func (f *Files) ReadConf(_ context.Context, inst provision.Instance, file provision.ConfFile) (provision.OdooConf, error) {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	t, ok := f.tree(inst)
	if !ok {
		return provision.OdooConf{}, fmt.Errorf("provisiontest: read conf of %s: %w", inst.Internal, fs.ErrNotExist)
	}
	c, ok := t.Confs[file]
	if !ok {
		return provision.OdooConf{}, fmt.Errorf("provisiontest: read conf of %s: %w", inst.Internal, fs.ErrNotExist)
	}
	opts := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(c.Raw))
	for sc.Scan() {
		if m := optionLine.FindStringSubmatch(sc.Text()); m != nil {
			opts[m[1]] = m[2]
		}
	}
	return provision.OdooConf{Raw: []byte(c.Raw), Mode: c.Mode, Options: opts}, nil
}

// EditConf sets keys of conf's [options] and renames a directory in its
// values, every other line kept.
func (f *Files) EditConf(conf provision.OdooConf, edit provision.ConfEdit) ([]byte, error) {
	raw := string(conf.Raw)
	if edit.FromDir != "" {
		if !strings.Contains(raw, edit.FromDir+"/") {
			return nil, fmt.Errorf("provisiontest: odoo.conf does not mention %s", edit.FromDir)
		}
		raw = strings.ReplaceAll(raw, edit.FromDir+"/", edit.ToDir+"/")
	}
	if len(edit.Set) == 0 {
		return []byte(raw), nil
	}
	lines := strings.SplitAfter(raw, "\n")
	header := slices.IndexFunc(lines, func(l string) bool { return strings.TrimSpace(l) == "[options]" })
	if header < 0 {
		return nil, fmt.Errorf("provisiontest: odoo.conf has no [options] section")
	}
	seen := map[string]bool{}
	var out bytes.Buffer
	for i, l := range lines {
		if m := optionLine.FindStringSubmatch(l); m != nil {
			if v, ok := edit.Set[m[1]]; ok {
				if !seen[m[1]] {
					fmt.Fprintf(&out, "%s = %s\n", m[1], v)
				}
				seen[m[1]] = true
				continue
			}
		}
		out.WriteString(l)
		if i == header {
			for _, k := range slices.Sorted(maps.Keys(edit.Set)) {
				if !strings.Contains(raw, "\n"+k) && !strings.Contains(raw, "\n"+k+" ") {
					fmt.Fprintf(&out, "%s = %s\n", k, edit.Set[k])
					seen[k] = true
				}
			}
		}
	}
	return out.Bytes(), nil
}

// WriteConf replaces one odoo.conf of inst.
func (f *Files) WriteConf(_ context.Context, inst provision.Instance, file provision.ConfFile, b []byte, mode fs.FileMode, owner provision.FileOwner) error {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	t, ok := f.tree(inst)
	if !ok {
		return fmt.Errorf("provisiontest: write conf of %s: %w", inst.Internal, fs.ErrNotExist)
	}
	t.Confs[file] = ConfFile{Raw: string(b), Mode: mode, Owner: owner}
	return nil
}

// RemoveConf removes one odoo.conf of inst.
func (f *Files) RemoveConf(_ context.Context, inst provision.Instance, file provision.ConfFile) error {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	if t, ok := f.tree(inst); ok {
		delete(t.Confs, file)
	}
	return nil
}

// CopyFilestore copies from's filestore into to's tree.
func (f *Files) CopyFilestore(_ context.Context, from, to provision.Instance, user string) error {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	dst, ok := f.tree(to)
	if !ok {
		dst = &Tree{Confs: map[provision.ConfFile]ConfFile{}, Stores: map[string]string{}}
		f.h.trees[to.Internal] = dst
	}
	dst.Stores[to.Internal] = user
	return nil
}

// LinkCopy makes a linked copy of inst's filestore named db.
func (f *Files) LinkCopy(_ context.Context, inst provision.Instance, user, db string) error {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	t, ok := f.tree(inst)
	if !ok {
		return fmt.Errorf("provisiontest: link copy of %s: %w", inst.Internal, fs.ErrNotExist)
	}
	t.Stores[db] = user
	return nil
}

// RemoveCopy removes the copy named db.
func (f *Files) RemoveCopy(_ context.Context, inst provision.Instance, db string) error {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	if t, ok := f.tree(inst); ok {
		delete(t.Stores, db)
	}
	return nil
}

// SetAside keeps inst's filestore aside.
func (f *Files) SetAside(_ context.Context, inst provision.Instance, user string) error {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	t, ok := f.tree(inst)
	if !ok {
		return fmt.Errorf("provisiontest: set aside %s: %w", inst.Internal, fs.ErrNotExist)
	}
	owner, had := t.Stores[inst.Internal]
	if !had {
		owner = "(none)"
	}
	f.h.aside[inst.Internal] = owner
	return nil
}

// PutBack puts the kept filestore back.
func (f *Files) PutBack(_ context.Context, inst provision.Instance, user string) error {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	owner, ok := f.h.aside[inst.Internal]
	t, has := f.tree(inst)
	if !ok || !has {
		return nil
	}
	if owner == "(none)" {
		delete(t.Stores, inst.Internal)
	} else {
		t.Stores[inst.Internal] = user
	}
	delete(f.h.aside, inst.Internal) // moved into place
	return nil
}

// DropAside removes what SetAside kept.
func (f *Files) DropAside(_ context.Context, inst provision.Instance) error {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	delete(f.h.aside, inst.Internal)
	return nil
}

func keptKey(inst provision.Instance, set provision.KeptSet, name string) string {
	return string(set) + "/" + inst.Internal + "/" + name
}

// Keep keeps a file of inst's set.
func (f *Files) Keep(_ context.Context, inst provision.Instance, set provision.KeptSet, name string, b []byte) error {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	f.h.kept[keptKey(inst, set, name)] = string(b)
	return nil
}

// Kept reads a kept file; nil when none.
func (f *Files) Kept(_ context.Context, inst provision.Instance, set provision.KeptSet, name string) ([]byte, error) {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	b, ok := f.h.kept[keptKey(inst, set, name)]
	if !ok {
		return nil, nil
	}
	return []byte(b), nil
}

// ForgetKept removes inst's set.
func (f *Files) ForgetKept(_ context.Context, inst provision.Instance, set provision.KeptSet) error {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	prefix := keptKey(inst, set, "")
	for k := range f.h.kept {
		if strings.HasPrefix(k, prefix) {
			delete(f.h.kept, k)
		}
	}
	return nil
}

// ScratchDir gives a scratch directory name; nothing is kept of it.
func (f *Files) ScratchDir(_ context.Context, parent, prefix string) (string, func(), error) {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	f.h.scratch++
	dir := fmt.Sprintf("%s/%s%d", parent, prefix, f.h.scratch)
	f.h.scratches[dir] = true
	return dir, func() {
		f.h.mu.Lock()
		defer f.h.mu.Unlock()
		delete(f.h.scratches, dir)
	}, nil
}

// WriteInfo replaces inst's info file.
func (f *Files) WriteInfo(_ context.Context, inst provision.Instance, b []byte) error {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	t, ok := f.tree(inst)
	if !ok {
		return fmt.Errorf("provisiontest: write info of %s: %w", inst.Internal, fs.ErrNotExist)
	}
	t.Info, t.HasInfo = string(b), true
	return nil
}

// RemoveInfo removes inst's info file.
func (f *Files) RemoveInfo(_ context.Context, inst provision.Instance) error {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	if t, ok := f.tree(inst); ok {
		t.Info, t.HasInfo = "", false
	}
	return nil
}

// ReadInfo reads inst's info file.
func (f *Files) ReadInfo(_ context.Context, inst provision.Instance) ([]byte, error) {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	t, ok := f.tree(inst)
	if !ok || !t.HasInfo {
		return nil, fmt.Errorf("provisiontest: read info of %s: %w", inst.Internal, fs.ErrNotExist)
	}
	return []byte(t.Info), nil
}

// ExportTracking records the ready instances' names.
func (f *Files) ExportTracking(_ context.Context, dir string, ready []provision.Instance) error {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	var names []string
	for _, i := range ready {
		names = append(names, fmt.Sprintf("%s:%d/%d", i.Internal, i.Ports.HTTP, i.Ports.Gevent))
	}
	f.h.tracking = strings.Join(names, " ")
	return nil
}

// TailLog returns the last n lines of inst's log.
func (f *Files) TailLog(_ context.Context, inst provision.Instance, n int) []string {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	t, ok := f.tree(inst)
	if !ok {
		return nil
	}
	return slices.Clone(t.LogLines[max(0, len(t.LogLines)-n):])
}

// ReadUnit reads inst's unit file.
func (f *Files) ReadUnit(_ context.Context, inst provision.Instance) ([]byte, error) {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	u, ok := f.h.units[f.h.Layout.Paths(inst).Unit]
	if !ok {
		return nil, fmt.Errorf("provisiontest: unit of %s: %w", inst.Internal, fs.ErrNotExist)
	}
	return []byte(u.Content), nil
}

var userLine = regexp.MustCompile(`(?m)^User=(.*)$`)

// UnitUser returns the User= of inst's unit file.
func (f *Files) UnitUser(ctx context.Context, inst provision.Instance) (string, error) {
	b, err := f.ReadUnit(ctx, inst)
	if err != nil {
		return "", err
	}
	m := userLine.FindAllStringSubmatch(string(b), -1)
	if len(m) == 0 {
		return "", nil
	}
	return strings.TrimSpace(m[len(m)-1][1]), nil
}

// Tree returns a copy of an instance's tree in the model.
func (h *Host) Tree(internal string) (Tree, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.trees[internal]
	if !ok {
		return Tree{}, false
	}
	c := *t
	c.Confs, c.Stores = maps.Clone(t.Confs), maps.Clone(t.Stores)
	return c, true
}

// secretLine matches the odoo.conf lines that hold a secret made at
// random: a snapshot shows that the line is there, not its value.
var secretLine = regexp.MustCompile(`(?m)^(\s*(?:admin_passwd|db_password)\s*=).*$`)

// treeLines describes the trees, kept files and tracking export for a
// snapshot. h.mu is held.
func (h *Host) treeLines(add func(string, ...any)) {
	for n, t := range h.trees {
		add("tree %s owner=%q own=%v modules=%v info=%v log=%d", n, t.Owner, t.Own, t.Modules, t.HasInfo, len(t.LogLines))
		for c, f := range t.Confs {
			add("conf %s/%d mode=%v owner=%+v\n%s", n, c, f.Mode, f.Owner, secretLine.ReplaceAllString(f.Raw, "$1 (secret)"))
		}
		for db, owner := range t.Stores {
			add("filestore %s/%s owner=%q", n, db, owner)
		}
	}
	for n, owner := range h.aside {
		add("aside %s owner=%q", n, owner)
	}
	for n, owner := range h.staged {
		add("restore staged %s owner=%q", n, owner)
	}
	for n, owner := range h.replaced {
		add("restore replaced %s owner=%q", n, owner)
	}
	for k, v := range h.kept {
		add("kept %s\n%s", k, v)
	}
	for d := range h.scratches {
		add("scratch %s", d)
	}
	if h.tracking != "" {
		add("tracking %s", h.tracking)
	}
}
