// Package templates renders the files odoobot writes for an instance:
// odoo.conf, the systemd unit, the nginx site (one template per SSL mode)
// and info-instancia.txt.
//
// The templates are embedded with go:embed and parsed once by Load, so a
// broken template fails at start-up (and in the first test), never at the
// first customer. Each render function takes a typed struct of plain
// strings and integers, applies the documented defaults, refuses values
// that could break out of their line or directive (a newline above all),
// and returns the file's bytes. The package is a leaf: it imports nothing
// from this module, so provision and its drivers can both use it.
package templates

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"strings"
	"text/template"
)

//go:embed files/*.tmpl
var files embed.FS

// ErrInvalid is wrapped by every render error caused by a field value
// (missing, out of range, or holding a character the file cannot carry).
var ErrInvalid = errors.New("invalid value")

// Names of the embedded templates, one per rendered file.
const (
	tmplOdooConf        = "odoo.conf.tmpl"
	tmplUnit            = "unit.service.tmpl"
	tmplSiteCloudflare  = "site-cloudflare.tmpl"
	tmplSiteLetsEncrypt = "site-letsencrypt.tmpl"
	tmplSiteHTTP        = "site-http.tmpl"
	tmplInfo            = "info.txt.tmpl"
)

// rendered lists the templates that render a whole file; Load checks that
// each one exists after parsing.
var rendered = []string{tmplOdooConf, tmplUnit, tmplSiteCloudflare, tmplSiteLetsEncrypt, tmplSiteHTTP, tmplInfo}

// Set holds the parsed templates. It is safe for concurrent use; build it
// once with Load and share it.
type Set struct {
	t *template.Template
}

// Load parses every embedded template. A template that does not parse,
// or a missing one, is an error here rather than at render time.
func Load() (*Set, error) {
	t, err := template.New("templates").Option("missingkey=error").ParseFS(files, "files/*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("templates: parse: %w", err)
	}
	for _, name := range rendered {
		if t.Lookup(name) == nil {
			return nil, fmt.Errorf("templates: parse: template %s is missing", name)
		}
	}
	return &Set{t: t}, nil
}

// render executes one template into a buffer; what names the file in the
// error.
func (s *Set) render(what, name string, data any) ([]byte, error) {
	var buf bytes.Buffer
	if err := s.t.ExecuteTemplate(&buf, name, data); err != nil {
		return nil, fmt.Errorf("templates: render %s: %w", what, err)
	}
	return buf.Bytes(), nil
}

// fieldErrors collects the field problems of one render call, so a caller
// learns every bad field at once.
type fieldErrors struct {
	what string
	errs []error
}

func (f *fieldErrors) add(field, format string, args ...any) {
	f.errs = append(f.errs, fmt.Errorf("templates: %s: %s: %w: %s", f.what, field, ErrInvalid, fmt.Sprintf(format, args...)))
}

func (f *fieldErrors) err() error { return errors.Join(f.errs...) }

// line refuses characters that would end a line or the file: newline,
// carriage return, NUL.
func (f *fieldErrors) line(field, v string) bool {
	if strings.ContainsAny(v, "\n\r\x00") {
		f.add(field, "%q holds a line break or NUL", v)
		return false
	}
	return true
}

// required is line plus non-empty.
func (f *fieldErrors) required(field, v string) bool {
	if v == "" {
		f.add(field, "is required")
		return false
	}
	return f.line(field, v)
}

// pathUnsafe are characters a path may not hold in any rendered file:
// whitespace splits systemd and nginx arguments, quotes and backslashes
// change their parsing, ';' '{' '}' end nginx directives, '$' and '%'
// expand variables and specifiers, ',' separates addons_path entries,
// '#' starts a comment.
const pathUnsafe = " \t\n\r\x00\"'\\;{}$%,#"

// path checks an absolute path with none of pathUnsafe.
func (f *fieldErrors) path(field, v string) bool {
	if v == "" {
		f.add(field, "is required")
		return false
	}
	if !strings.HasPrefix(v, "/") {
		f.add(field, "%q is not an absolute path", v)
		return false
	}
	if strings.ContainsAny(v, pathUnsafe) {
		f.add(field, "%q holds whitespace or one of %s", v, `"'\;{}$%,#`)
		return false
	}
	return true
}

// port checks a TCP port number.
func (f *fieldErrors) port(field string, p int) bool {
	if p < 1 || p > 65535 {
		f.add(field, "%d is not a TCP port (1-65535)", p)
		return false
	}
	return true
}

// nonNegative checks a count or limit that may be zero (zero meaning the
// default).
func (f *fieldErrors) nonNegative(field string, n int64) bool {
	if n < 0 {
		f.add(field, "%d is negative", n)
		return false
	}
	return true
}

// name checks an internal name such as prod-acme: lower-case letters,
// digits and inner hyphens, as the name rules produce.
func (f *fieldErrors) name(field, v string) bool {
	if !isLabel(v) {
		f.add(field, "%q is not a lower-case name of letters, digits and inner hyphens", v)
		return false
	}
	return true
}

// domain checks a host name of lower-case labels.
func (f *fieldErrors) domain(field, v string) bool {
	labels := strings.Split(v, ".")
	ok := len(v) <= 253 && len(labels) >= 2
	for _, l := range labels {
		ok = ok && isLabel(l)
	}
	if !ok {
		f.add(field, "%q is not a lower-case domain name", v)
	}
	return ok
}

// isLabel reports whether s is 1-63 of [a-z0-9-], not starting or ending
// with a hyphen.
func isLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
