package odoo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// CommunityLicence is the licence of every Odoo Community module, and the
// one Odoo assumes for a manifest that names none.
const CommunityLicence = "LGPL-3"

// ErrNotCommunity is wrapped by CheckCommunity's refusals.
var ErrNotCommunity = errors.New("not community")

// Manifest is what odoobot reads of a module's __manifest__.py, with
// Odoo's defaults applied: no licence is LGPL-3, no depends is ["base"]
// (none for base itself), installable unless it says otherwise.
type Manifest struct {
	Name        string   // the module's technical name (its directory)
	Path        string   // the __manifest__.py read
	Licence     string   // the license key
	Depends     []string // the depends key
	Installable bool
	// AutoInstall is nil when the module is not auto-installed; otherwise
	// the dependencies whose installation installs it (empty: always).
	AutoInstall []string
}

// ReadManifest parses the __manifest__.py at path for module name. A
// manifest is a Python dict literal, which Odoo reads with
// ast.literal_eval: anything else is an error here too.
func ReadManifest(name, path string) (Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Manifest{}, fmt.Errorf("odoo: manifest of %s: %w", name, err)
	}
	v, err := parsePyLiteral(string(b))
	if err != nil {
		return Manifest{}, fmt.Errorf("odoo: manifest of %s (%s): %w", name, path, err)
	}
	d, ok := v.(pyDict)
	if !ok {
		return Manifest{}, fmt.Errorf("odoo: manifest of %s (%s): not a dict", name, path)
	}
	m := Manifest{Name: name, Path: path, Licence: CommunityLicence, Installable: true}
	if s, ok := d.get("license").(string); ok && s != "" {
		m.Licence = s
	}
	if deps := d.get("depends"); deps != nil {
		if m.Depends, ok = pyStrings(deps); !ok {
			return Manifest{}, fmt.Errorf("odoo: manifest of %s (%s): depends is not a list of names", name, path)
		}
	}
	if len(m.Depends) == 0 && name != "base" {
		m.Depends = []string{"base"}
	}
	if b, ok := d.get("installable").(bool); ok {
		m.Installable = b
	}
	switch a := d.get("auto_install").(type) {
	case bool:
		if a {
			m.AutoInstall = append([]string{}, m.Depends...)
		}
	case nil:
	default:
		if m.AutoInstall, ok = pyStrings(a); !ok {
			return Manifest{}, fmt.Errorf("odoo: manifest of %s (%s): auto_install is neither a boolean nor a list of names", name, path)
		}
		if m.AutoInstall == nil {
			m.AutoInstall = []string{}
		}
	}
	return m, nil
}

// ModuleSet is what installing some modules installs: each with its
// manifest, the dependency closure and the modules that auto-install
// with them, as Odoo resolves them.
type ModuleSet map[string]Manifest

// ResolveModules returns the modules Odoo installs for -i names from the
// addons directories paths (the first one holding a module wins, as in
// Odoo): names, their dependencies, and the installable modules whose
// auto_install dependencies are all installed, with theirs. base is
// always installed. A module found nowhere, or not installable, is an
// error naming it and who needs it.
func ResolveModules(paths []string, names []string) (ModuleSet, error) {
	idx := map[string]string{} // module → manifest path, first path wins
	for _, p := range paths {
		entries, err := os.ReadDir(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("odoo: addons path %s: %w", p, err)
		}
		for _, e := range entries {
			mf := filepath.Join(p, e.Name(), "__manifest__.py")
			if _, seen := idx[e.Name()]; seen || !e.IsDir() {
				continue
			}
			if _, err := os.Stat(mf); err == nil {
				idx[e.Name()] = mf
			}
		}
	}
	read := map[string]Manifest{}
	manifest := func(name string) (Manifest, bool, error) {
		if m, ok := read[name]; ok {
			return m, true, nil
		}
		mf, ok := idx[name]
		if !ok {
			return Manifest{}, false, nil
		}
		m, err := ReadManifest(name, mf)
		if err != nil {
			return Manifest{}, false, err
		}
		read[name] = m
		return m, true, nil
	}
	set := ModuleSet{}
	var add func(name, neededBy string) error
	add = func(name, neededBy string) error {
		if _, ok := set[name]; ok {
			return nil
		}
		m, ok, err := manifest(name)
		switch {
		case err != nil:
			return err
		case !ok && neededBy == "":
			return fmt.Errorf("odoo: module %s not found in %s", name, strings.Join(paths, ", "))
		case !ok:
			return fmt.Errorf("odoo: module %s, a dependency of %s, not found in %s", name, neededBy, strings.Join(paths, ", "))
		case !m.Installable:
			return fmt.Errorf("odoo: module %s (%s) is not installable", name, m.Path)
		}
		set[name] = m
		for _, dep := range m.Depends {
			if err := add(dep, name); err != nil {
				return err
			}
		}
		return nil
	}
	for _, n := range append([]string{"base"}, normModules(names)...) {
		if err := add(n, ""); err != nil {
			return nil, err
		}
	}
	all := make([]string, 0, len(idx))
	for n := range idx {
		all = append(all, n)
	}
	slices.Sort(all)
	for grown := true; grown; {
		grown = false
		for _, n := range all {
			if _, ok := set[n]; ok {
				continue
			}
			m, _, err := manifest(n)
			if err != nil {
				return nil, err
			}
			if !m.Installable || m.AutoInstall == nil || !allIn(m.AutoInstall, set) {
				continue
			}
			if err := add(n, ""); err != nil {
				return nil, fmt.Errorf("odoo: auto-installed module %s: %w", n, err)
			}
			grown = true
		}
	}
	return set, nil
}

func allIn(names []string, set ModuleSet) bool {
	for _, n := range names {
		if _, ok := set[n]; !ok {
			return false
		}
	}
	return true
}

// CheckCommunity refuses, wrapping ErrNotCommunity, a module set holding
// a module whose licence is not CommunityLicence, naming each such module
// and its licence.
func (s ModuleSet) CheckCommunity() error {
	var bad []string
	for n, m := range s {
		if m.Licence != CommunityLicence {
			bad = append(bad, fmt.Sprintf("%s (%s, %s)", n, m.Licence, m.Path))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	slices.Sort(bad)
	return fmt.Errorf("odoo: %w: the community edition installs only %s modules; not: %s", ErrNotCommunity, CommunityLicence, strings.Join(bad, "; "))
}

// Names returns the modules of the set, sorted.
func (s ModuleSet) Names() []string {
	out := make([]string, 0, len(s))
	for n := range s {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// pyDict is a parsed Python dict literal, its keys in order.
type pyDict struct {
	keys []any
	vals []any
}

func (d pyDict) get(key string) any {
	for i, k := range d.keys {
		if k == key {
			return d.vals[i]
		}
	}
	return nil
}

// pyList is a parsed list, tuple or set.
type pyList []any

// pyStrings returns v as a list of strings, if it is one.
func pyStrings(v any) ([]string, bool) {
	l, ok := v.(pyList)
	if !ok {
		return nil, false
	}
	var out []string
	for _, e := range l {
		s, ok := e.(string)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// parsePyLiteral parses one Python literal (what ast.literal_eval takes:
// strings, bytes, numbers, True, False, None, and lists, tuples, sets and
// dicts of them), with comments and line continuations. Strings become
// string, numbers float64 (or the text of a complex one), True/False
// bool, None nil.
func parsePyLiteral(src string) (any, error) {
	p := &pyParser{src: src}
	p.skip()
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.skip()
	if p.pos < len(p.src) {
		return nil, p.errorf("unexpected %q after the literal", p.peekRune())
	}
	return v, nil
}

type pyParser struct {
	src string
	pos int
}

func (p *pyParser) errorf(format string, args ...any) error {
	line := 1 + strings.Count(p.src[:p.pos], "\n")
	return fmt.Errorf("line %d: %s", line, fmt.Sprintf(format, args...))
}

func (p *pyParser) peekRune() rune {
	r, _ := utf8.DecodeRuneInString(p.src[p.pos:])
	return r
}

// skip passes whitespace, comments and backslash line continuations.
func (p *pyParser) skip() {
	for p.pos < len(p.src) {
		switch c := p.src[p.pos]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			p.pos++
		case c == '\\' && p.pos+1 < len(p.src) && (p.src[p.pos+1] == '\n' || p.src[p.pos+1] == '\r'):
			p.pos += 2
		case c == '#':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
}

func (p *pyParser) value() (any, error) {
	if p.pos >= len(p.src) {
		return nil, p.errorf("unexpected end of file")
	}
	c := p.src[p.pos]
	switch {
	case c == '{':
		return p.dictOrSet()
	case c == '[':
		p.pos++
		return p.seq(']')
	case c == '(':
		p.pos++
		return p.paren()
	case c == '\'' || c == '"' || (isIdentStart(c) && p.stringPrefix() >= 0):
		return p.strings()
	case c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9'):
		return p.number()
	case isIdentStart(c):
		start := p.pos
		for p.pos < len(p.src) && isIdentPart(p.src[p.pos]) {
			p.pos++
		}
		switch w := p.src[start:p.pos]; w {
		case "True":
			return true, nil
		case "False":
			return false, nil
		case "None":
			return nil, nil
		default:
			p.pos = start
			return nil, p.errorf("%s is not a literal", w)
		}
	}
	return nil, p.errorf("unexpected %q", p.peekRune())
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80
}

func isIdentPart(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

// stringPrefix returns the length of a string prefix (r, u, b, rb, br…)
// followed by a quote at the current position, or -1.
func (p *pyParser) stringPrefix() int {
	for n := 1; n <= 2 && p.pos+n < len(p.src); n++ {
		pre := strings.ToLower(p.src[p.pos : p.pos+n])
		if strings.Trim(pre, "rub") != "" {
			return -1
		}
		if q := p.src[p.pos+n]; q == '\'' || q == '"' {
			return n
		}
	}
	return -1
}

// strings reads one string literal or several adjacent ones, which
// Python concatenates.
func (p *pyParser) strings() (any, error) {
	var b strings.Builder
	for {
		n := 0
		if p.pos < len(p.src) && isIdentStart(p.src[p.pos]) {
			if n = p.stringPrefix(); n < 0 {
				break
			}
		} else if p.pos >= len(p.src) || (p.src[p.pos] != '\'' && p.src[p.pos] != '"') {
			break
		}
		raw := strings.ContainsAny(p.src[p.pos:p.pos+n], "rR")
		p.pos += n
		s, err := p.str(raw)
		if err != nil {
			return nil, err
		}
		b.WriteString(s)
		p.skip()
	}
	return b.String(), nil
}

// str reads one quoted string at p.pos, single or triple quoted.
func (p *pyParser) str(raw bool) (string, error) {
	q := p.src[p.pos : p.pos+1]
	if strings.HasPrefix(p.src[p.pos:], q+q+q) {
		q = q + q + q
	}
	p.pos += len(q)
	var b strings.Builder
	for {
		if p.pos >= len(p.src) {
			return "", p.errorf("unterminated string")
		}
		if strings.HasPrefix(p.src[p.pos:], q) {
			p.pos += len(q)
			return b.String(), nil
		}
		c := p.src[p.pos]
		if c == '\n' && len(q) == 1 {
			return "", p.errorf("line break in a string")
		}
		if c != '\\' || p.pos+1 >= len(p.src) {
			b.WriteByte(c)
			p.pos++
			continue
		}
		e := p.src[p.pos+1]
		if raw {
			b.WriteString(p.src[p.pos : p.pos+2])
			p.pos += 2
			continue
		}
		p.pos += 2
		switch e {
		case '\n':
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case '\\', '\'', '"':
			b.WriteByte(e)
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			if p.pos+n > len(p.src) {
				return "", p.errorf("bad \\%c escape", e)
			}
			r, err := strconv.ParseUint(p.src[p.pos:p.pos+n], 16, 32)
			if err != nil {
				return "", p.errorf("bad \\%c escape", e)
			}
			b.WriteRune(rune(r))
			p.pos += n
		default:
			b.WriteByte('\\')
			b.WriteByte(e)
		}
	}
}

func (p *pyParser) number() (any, error) {
	start := p.pos
	if c := p.src[p.pos]; c == '-' || c == '+' {
		p.pos++
		p.skip()
	}
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if isIdentPart(c) || c == '.' || ((c == '-' || c == '+') && (p.src[p.pos-1] == 'e' || p.src[p.pos-1] == 'E')) {
			p.pos++
			continue
		}
		break
	}
	text := strings.ReplaceAll(strings.Join(strings.Fields(p.src[start:p.pos]), ""), "_", "")
	if f, err := strconv.ParseFloat(text, 64); err == nil {
		return f, nil
	}
	if i, err := strconv.ParseInt(text, 0, 64); err == nil {
		return float64(i), nil
	}
	if strings.HasSuffix(strings.ToLower(text), "j") {
		return text, nil // a complex number: never in a manifest key odoobot reads
	}
	p.pos = start
	return nil, p.errorf("bad number %q", text)
}

// seq reads the elements of a list (or set) up to end, the opening
// bracket already read.
func (p *pyParser) seq(end byte) (any, error) {
	var out pyList
	for {
		p.skip()
		if p.pos < len(p.src) && p.src[p.pos] == end {
			p.pos++
			return out, nil
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		p.skip()
		if p.pos < len(p.src) && p.src[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.pos < len(p.src) && p.src[p.pos] == end {
			p.pos++
			return out, nil
		}
		return nil, p.errorf("expected , or %c", end)
	}
}

// paren reads a parenthesised value or a tuple, "(" already read.
func (p *pyParser) paren() (any, error) {
	p.skip()
	if p.pos < len(p.src) && p.src[p.pos] == ')' {
		p.pos++
		return pyList{}, nil
	}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.skip()
	if p.pos < len(p.src) && p.src[p.pos] == ')' {
		p.pos++
		return v, nil
	}
	if p.pos >= len(p.src) || p.src[p.pos] != ',' {
		return nil, p.errorf("expected , or )")
	}
	p.pos++
	rest, err := p.seq(')')
	if err != nil {
		return nil, err
	}
	return append(pyList{v}, rest.(pyList)...), nil
}

// dictOrSet reads a dict or a set literal.
func (p *pyParser) dictOrSet() (any, error) {
	p.pos++ // {
	p.skip()
	if p.pos < len(p.src) && p.src[p.pos] == '}' {
		p.pos++
		return pyDict{}, nil
	}
	first, err := p.value()
	if err != nil {
		return nil, err
	}
	p.skip()
	if p.pos < len(p.src) && p.src[p.pos] != ':' {
		if p.src[p.pos] == '}' {
			p.pos++
			return pyList{first}, nil
		}
		if p.src[p.pos] != ',' {
			return nil, p.errorf("expected :, , or }")
		}
		p.pos++
		rest, err := p.seq('}')
		if err != nil {
			return nil, err
		}
		return append(pyList{first}, rest.(pyList)...), nil
	}
	var d pyDict
	key := first
	for {
		p.skip()
		if p.pos >= len(p.src) || p.src[p.pos] != ':' {
			return nil, p.errorf("expected : after a dict key")
		}
		p.pos++
		p.skip()
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		d.keys, d.vals = append(d.keys, key), append(d.vals, v)
		p.skip()
		if p.pos < len(p.src) && p.src[p.pos] == '}' {
			p.pos++
			return d, nil
		}
		if p.pos >= len(p.src) || p.src[p.pos] != ',' {
			return nil, p.errorf("expected , or } in a dict")
		}
		p.pos++
		p.skip()
		if p.pos < len(p.src) && p.src[p.pos] == '}' {
			p.pos++
			return d, nil
		}
		if key, err = p.value(); err != nil {
			return nil, err
		}
	}
}
