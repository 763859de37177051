package tree

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"

	"odoobot/internal/safefs"
	"odoobot/provision"
)

// maxConfSize bounds what is read of an odoo.conf: a few KiB in practice.
const maxConfSize = 1 << 20

// confPath is where file of inst is.
func (f *Files) confPath(inst provision.Instance, file provision.ConfFile) (string, error) {
	p := f.paths(inst)
	switch file {
	case provision.ConfLive:
		return p.Conf, nil
	case provision.ConfUpgradeTest:
		return p.UpgradeConf, nil
	}
	return "", fmt.Errorf("files: no odoo.conf file %d", file)
}

// ReadConf reads file of inst beneath PROD_ROOT without following a
// link; a file with other links, or larger than maxConfSize, is refused.
func (f *Files) ReadConf(ctx context.Context, inst provision.Instance, file provision.ConfFile) (provision.OdooConf, error) {
	path, err := f.confPath(inst, file)
	if err != nil {
		return provision.OdooConf{}, err
	}
	b, st, err := f.readConf(path)
	if err != nil {
		return provision.OdooConf{}, err
	}
	return provision.OdooConf{Raw: b, Mode: st.Mode.Perm(), Options: ParseOptions(b)}, nil
}

func (f *Files) readConf(path string) ([]byte, safefs.Stat, error) {
	rel, err := f.beneath(path)
	if err != nil {
		return nil, safefs.Stat{}, err
	}
	root, err := f.openProdRoot()
	if err != nil {
		return nil, safefs.Stat{}, err
	}
	defer root.Close()
	file, st, err := root.Open(rel, -1)
	if err != nil {
		return nil, st, fmt.Errorf("files: %w", err)
	}
	defer file.Close()
	if st.Nlink > 1 {
		return nil, st, fmt.Errorf("files: %s has %d links: %w", path, st.Nlink, safefs.ErrForeignLink)
	}
	if st.Size > maxConfSize {
		return nil, st, fmt.Errorf("files: %s is %d bytes, more than an odoo.conf holds (%d)", path, st.Size, maxConfSize)
	}
	b, err := io.ReadAll(io.LimitReader(file, maxConfSize))
	if err != nil {
		return nil, st, fmt.Errorf("files: read %s: %w", path, err)
	}
	return b, st, nil
}

// confLine is one line of an odoo.conf: a section header, a setting
// (key and value trimmed), or anything else (kept as it is).
type confLine struct {
	raw     string
	section string // set on a header: its name
	key     string // set on a setting
	value   string
}

// parseConf splits b into lines; a setting is a "key = value" line in a
// section (comments, ';' or '#', are not settings).
func parseConf(b []byte) []confLine {
	text := strings.TrimSuffix(string(b), "\n")
	if text == "" {
		return nil
	}
	var out []confLine
	for _, raw := range strings.Split(text, "\n") {
		l := confLine{raw: raw}
		t := strings.TrimSpace(raw)
		switch {
		case strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]"):
			l.section = strings.TrimSpace(t[1 : len(t)-1])
		case t == "", strings.HasPrefix(t, "#"), strings.HasPrefix(t, ";"):
		default:
			if k, v, ok := strings.Cut(t, "="); ok {
				l.key, l.value = strings.TrimSpace(k), strings.TrimSpace(v)
			}
		}
		out = append(out, l)
	}
	return out
}

// ParseOptions returns the settings of the [options] section of the
// odoo.conf b (the last of a key wins, as in Odoo's ConfigParser).
func ParseOptions(b []byte) map[string]string {
	opts := map[string]string{}
	section := ""
	for _, l := range parseConf(b) {
		switch {
		case l.section != "":
			section = l.section
		case l.key != "" && section == "options":
			opts[l.key] = l.value
		}
	}
	return opts
}

// EditConf returns conf with edit made, every other line as it was.
func (f *Files) EditConf(conf provision.OdooConf, edit provision.ConfEdit) ([]byte, error) {
	return Edit(conf.Raw, edit)
}

// Edit is EditConf on the bytes of an odoo.conf.
func Edit(b []byte, edit provision.ConfEdit) ([]byte, error) {
	lines := parseConf(b)
	if edit.FromDir != "" {
		from, to := edit.FromDir+"/", edit.ToDir+"/"
		if !bytes.Contains(b, []byte(from)) {
			return nil, fmt.Errorf("files: odoo.conf does not mention %s", edit.FromDir)
		}
		for i, l := range lines {
			if l.key != "" && strings.Contains(l.value, from) {
				lines[i].raw = strings.ReplaceAll(l.raw, from, to)
			}
		}
	}
	if len(edit.Set) > 0 {
		var keys []string
		for k := range edit.Set {
			keys = append(keys, k)
		}
		// In a stable order: the edit is written the same way each time.
		slices.Sort(keys)
		var out []confLine
		done := map[string]bool{}
		section, header := "", false
		for _, l := range lines {
			if l.section != "" {
				section = l.section
				out = append(out, l)
				if section == "options" && !header {
					header = true
					for _, k := range keys {
						if !hasKey(lines, k) {
							out = append(out, confLine{raw: k + " = " + edit.Set[k]})
							done[k] = true
						}
					}
				}
				continue
			}
			if section == "options" && l.key != "" {
				if v, ok := edit.Set[l.key]; ok {
					if !done[l.key] {
						out = append(out, confLine{raw: l.key + " = " + v})
						done[l.key] = true
					}
					continue
				}
			}
			out = append(out, l)
		}
		if !header {
			return nil, errors.New("files: odoo.conf has no [options] section")
		}
		lines = out
	}
	var buf strings.Builder
	for _, l := range lines {
		buf.WriteString(l.raw)
		buf.WriteByte('\n')
	}
	return []byte(buf.String()), nil
}

// hasKey reports whether the [options] section of lines sets key.
func hasKey(lines []confLine, key string) bool {
	section := ""
	for _, l := range lines {
		if l.section != "" {
			section = l.section
		} else if section == "options" && l.key == key {
			return true
		}
	}
	return false
}

// WriteConf replaces file of inst with b, mode and owner on a handle.
func (f *Files) WriteConf(ctx context.Context, inst provision.Instance, file provision.ConfFile, b []byte, mode fs.FileMode, o provision.FileOwner) error {
	path, err := f.confPath(inst, file)
	if err != nil {
		return err
	}
	uid, gid, err := owner(o)
	if err != nil {
		return err
	}
	return f.writeFile(path, b, mode, uid, gid)
}

// RemoveConf removes file of inst; nothing there is fine.
func (f *Files) RemoveConf(ctx context.Context, inst provision.Instance, file provision.ConfFile) error {
	path, err := f.confPath(inst, file)
	if err != nil {
		return err
	}
	return f.removeFile(path)
}
