package odoo

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// pyDep is one Python distribution Odoo may require: its name in
// requirements.txt, the module it is imported as, and the Debian 12
// package that provides it. An empty Deb is a documented skip: Why says
// why Odoo runs without it here.
type pyDep struct {
	Req    string // requirements.txt name, normalised (lower case, "-" for "_" and ".")
	Module string // top-level import name
	Deb    string // Debian 12 package, or "" for a skip
	Why    string // why a skip is harmless
}

// pythonDeps is the one table from requirements.txt names to Debian
// packages, used in debian mode when the source has no debian/control. It
// covers every name in the requirements.txt of Odoo 17.0 and 19.0 and a
// few of older series. Every Deb exists in Debian 12 (a test asks
// apt-cache).
var pythonDeps = []pyDep{
	{Req: "asn1crypto", Module: "asn1crypto", Deb: "python3-asn1crypto"},
	{Req: "babel", Module: "babel", Deb: "python3-babel"},
	{Req: "cbor2", Module: "cbor2", Deb: "python3-cbor2"},
	{Req: "chardet", Module: "chardet", Deb: "python3-chardet"},
	{Req: "cryptography", Module: "cryptography", Deb: "python3-cryptography"},
	{Req: "decorator", Module: "decorator", Deb: "python3-decorator"},
	{Req: "docutils", Module: "docutils", Deb: "python3-docutils"},
	{Req: "feedparser", Module: "feedparser", Deb: "python3-feedparser"},
	{Req: "freezegun", Module: "freezegun", Deb: "python3-freezegun"},
	{Req: "geoip2", Module: "geoip2", Deb: "python3-geoip2"},
	{Req: "gevent", Module: "gevent", Deb: "python3-gevent"},
	{Req: "greenlet", Module: "greenlet", Deb: "python3-greenlet"},
	{Req: "html2text", Module: "html2text", Deb: "python3-html2text"},
	{Req: "idna", Module: "idna", Deb: "python3-idna"},
	{Req: "jinja2", Module: "jinja2", Deb: "python3-jinja2"},
	{Req: "libsass", Module: "sass", Deb: "python3-libsass"},
	{Req: "lxml", Module: "lxml", Deb: "python3-lxml"},
	{Req: "mako", Module: "mako", Deb: "python3-mako"},
	{Req: "markupsafe", Module: "markupsafe", Deb: "python3-markupsafe"},
	{Req: "mock", Module: "mock", Deb: "python3-mock"},
	{Req: "num2words", Module: "num2words", Deb: "python3-num2words"},
	{Req: "ofxparse", Module: "ofxparse", Deb: "python3-ofxparse"},
	{Req: "openpyxl", Module: "openpyxl", Deb: "python3-openpyxl"},
	{Req: "passlib", Module: "passlib", Deb: "python3-passlib"},
	{Req: "phonenumbers", Module: "phonenumbers", Deb: "python3-phonenumbers"},
	{Req: "pillow", Module: "PIL", Deb: "python3-pil"},
	{Req: "polib", Module: "polib", Deb: "python3-polib"},
	{Req: "psutil", Module: "psutil", Deb: "python3-psutil"},
	{Req: "psycopg2", Module: "psycopg2", Deb: "python3-psycopg2"},
	{Req: "psycopg2-binary", Module: "psycopg2", Deb: "python3-psycopg2"},
	{Req: "pydot", Module: "pydot", Deb: "python3-pydot"},
	{Req: "pyjwt", Module: "jwt", Deb: "python3-jwt"},
	{Req: "pyopenssl", Module: "OpenSSL", Deb: "python3-openssl"},
	{Req: "pyparsing", Module: "pyparsing", Deb: "python3-pyparsing"},
	{Req: "pypdf", Module: "pypdf", Deb: "python3-pypdf"},
	{Req: "pypdf2", Module: "PyPDF2", Deb: "python3-pypdf2"},
	{Req: "pyserial", Module: "serial", Deb: "python3-serial"},
	{Req: "python-dateutil", Module: "dateutil", Deb: "python3-dateutil"},
	{Req: "python-ldap", Module: "ldap", Deb: "python3-ldap"},
	{Req: "python-magic", Module: "magic", Deb: "python3-magic"},
	{Req: "python-stdnum", Module: "stdnum", Deb: "python3-stdnum"},
	{Req: "pytz", Module: "pytz", Deb: "python3-tz"},
	{Req: "pyusb", Module: "usb", Deb: "python3-usb"},
	{Req: "pyyaml", Module: "yaml", Deb: "python3-yaml"},
	{Req: "qrcode", Module: "qrcode", Deb: "python3-qrcode"},
	{Req: "reportlab", Module: "reportlab", Deb: "python3-reportlab"},
	{Req: "requests", Module: "requests", Deb: "python3-requests"},
	{Req: "rjsmin", Module: "rjsmin", Deb: "python3-rjsmin"},
	{Req: "urllib3", Module: "urllib3", Deb: "python3-urllib3"},
	{Req: "vobject", Module: "vobject", Deb: "python3-vobject"},
	{Req: "werkzeug", Module: "werkzeug", Deb: "python3-werkzeug"},
	{Req: "xlrd", Module: "xlrd", Deb: "python3-xlrd"},
	{Req: "xlsxwriter", Module: "xlsxwriter", Deb: "python3-xlsxwriter"},
	{Req: "xlwt", Module: "xlwt", Deb: "python3-xlwt"},
	{Req: "zeep", Module: "zeep", Deb: "python3-zeep"},

	// Skips: not in Debian 12, and Odoo runs without them here.
	{Req: "ebaysdk", Module: "ebaysdk",
		Why: "not in Debian 12; only the sale_ebay module (enterprise) uses it"},
	{Req: "lxml-html-clean", Module: "lxml_html_clean",
		Why: "not in Debian 12; Debian 12's lxml 4.9 still has lxml.html.clean"},
	{Req: "pypiwin32", Module: "win32api",
		Why: "Windows only"},
	{Req: "rl-renderpm", Module: "rlPyCairo",
		Why: "Windows only; Debian's python3-reportlab includes renderPM"},
}

// depByReq finds a requirements.txt name (any case, "-", "_" or ".") in
// pythonDeps.
func depByReq(name string) (pyDep, bool) {
	n := normReq(name)
	i := slices.IndexFunc(pythonDeps, func(d pyDep) bool { return d.Req == n })
	if i < 0 {
		return pyDep{}, false
	}
	return pythonDeps[i], true
}

// depByModule finds the entry of a top-level import name (any case).
func depByModule(module string) (pyDep, bool) {
	i := slices.IndexFunc(pythonDeps, func(d pyDep) bool { return strings.EqualFold(d.Module, module) })
	if i < 0 {
		return pyDep{}, false
	}
	return pythonDeps[i], true
}

// normReq normalises a distribution name as PEP 503 does.
func normReq(name string) string {
	return strings.ToLower(reqSepRE.ReplaceAllString(strings.TrimSpace(name), "-"))
}

var reqSepRE = regexp.MustCompile(`[-_.]+`)

// requirement is one line of a requirements.txt.
type requirement struct {
	Name   string // as written
	Marker string // the environment marker after ";", or ""
	Line   int
}

var reqNameRE = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9._-]*)`)

// parseRequirements reads the requirement lines of a requirements.txt:
// comments, blank lines and options (-r, -e, --index-url…) are left out,
// pins and extras are dropped, markers kept.
func parseRequirements(data []byte) ([]requirement, error) {
	var out []requirement
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "-") {
			continue
		}
		spec, marker, _ := strings.Cut(line, ";")
		m := reqNameRE.FindString(strings.TrimSpace(spec))
		if m == "" {
			return nil, fmt.Errorf("requirements.txt line %d: no distribution name in %q", n, line)
		}
		out = append(out, requirement{Name: m, Marker: strings.TrimSpace(marker), Line: n})
	}
	return out, sc.Err()
}

// debPlan is what debian mode installs for a source, and what it leaves out.
type debPlan struct {
	// Needs lists the Debian dependencies, each a list of alternatives:
	// satisfied when one is installed, else the first is installed.
	Needs [][]string
	// Skipped says, one entry a requirement, what was left out and why.
	Skipped []string
	// From is where the list came from: "debian/control" or "requirements.txt".
	From string
}

// debianPlan reads the Debian packages a source needs: from debian/control
// when the source has one, else from requirements.txt through pythonDeps,
// with markers evaluated by python (evalMarkers, env overriding its
// environment; nil for the interpreter's own).
func debianPlan(ctx context.Context, python, src string, env map[string]string) (debPlan, error) {
	if data, err := os.ReadFile(filepath.Join(src, "debian", "control")); err == nil {
		needs, err := controlDepends(data)
		if err != nil {
			return debPlan{}, fmt.Errorf("debian/control: %w", err)
		}
		return debPlan{Needs: needs, From: "debian/control"}, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return debPlan{}, err
	}
	plan := debPlan{From: "requirements.txt"}
	data, err := os.ReadFile(filepath.Join(src, "requirements.txt"))
	if errors.Is(err, os.ErrNotExist) {
		return plan, nil
	} else if err != nil {
		return debPlan{}, err
	}
	reqs, err := parseRequirements(data)
	if err != nil {
		return debPlan{}, err
	}
	var markers []string
	for _, r := range reqs {
		if r.Marker != "" {
			markers = append(markers, r.Marker)
		}
	}
	vals, errs, err := evalMarkers(ctx, python, markers, env)
	if err != nil {
		return debPlan{}, fmt.Errorf("requirements.txt: evaluate its environment markers: %w", err)
	}
	seen := map[string]bool{}
	for _, r := range reqs {
		if r.Marker != "" {
			ok, err := vals[0], errs[0]
			vals, errs = vals[1:], errs[1:]
			if err != nil {
				return debPlan{}, fmt.Errorf("requirements.txt line %d: %w", r.Line, err)
			}
			if !ok {
				continue
			}
		}
		d, ok := depByReq(r.Name)
		switch {
		case !ok:
			plan.Skipped = append(plan.Skipped, r.Name+": no known Debian package")
		case d.Deb == "":
			plan.Skipped = append(plan.Skipped, r.Name+": "+d.Why)
		case !seen[d.Deb]:
			seen[d.Deb] = true
			plan.Needs = append(plan.Needs, []string{d.Deb})
		}
	}
	return plan, nil
}

var (
	substRE   = regexp.MustCompile(`\$\{[^}]*\}`)
	debNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
)

// controlDepends returns the python3-* dependencies of the odoo binary
// package in a debian/control (the first binary package when none is
// named odoo): ${…} substitutions, version constraints, architecture and
// profile restrictions dropped; an alternative group keeps its python3-*
// members.
func controlDepends(data []byte) ([][]string, error) {
	var stanzas []map[string]string
	cur, last := map[string]string{}, ""
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case strings.TrimSpace(line) == "":
			if len(cur) > 0 {
				stanzas = append(stanzas, cur)
			}
			cur, last = map[string]string{}, ""
		case strings.HasPrefix(line, "#"):
		case line[0] == ' ' || line[0] == '\t':
			if last != "" {
				cur[last] += " " + strings.TrimSpace(line)
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				return nil, fmt.Errorf("unreadable line %q", line)
			}
			last = strings.ToLower(strings.TrimSpace(k))
			cur[last] = strings.TrimSpace(v)
		}
	}
	if len(cur) > 0 {
		stanzas = append(stanzas, cur)
	}
	var pkg map[string]string
	for _, s := range stanzas {
		if _, ok := s["package"]; !ok {
			continue
		}
		if pkg == nil || s["package"] == "odoo" {
			pkg = s
		}
		if s["package"] == "odoo" {
			break
		}
	}
	if pkg == nil {
		return nil, errors.New("no binary package")
	}
	var needs [][]string
	for _, group := range strings.Split(substRE.ReplaceAllString(pkg["depends"], ""), ",") {
		var alts []string
		for _, alt := range strings.Split(group, "|") {
			alt = strings.TrimSpace(alt)
			if i := strings.IndexAny(alt, " ([<"); i >= 0 {
				alt = alt[:i]
			}
			alt, _, _ = strings.Cut(alt, ":") // python3-foo:any
			if strings.HasPrefix(alt, "python3-") && debNameRE.MatchString(alt) {
				alts = append(alts, alt)
			}
		}
		if len(alts) > 0 {
			needs = append(needs, alts)
		}
	}
	return needs, nil
}

// evalMarkers evaluates PEP 508 environment markers in one run of
// python (the release's interpreter), with the packaging library (or
// pip's copy of it), as pip does: for python's own environment, its
// variables overridden by env. It returns each marker's value or the
// error saying what is wrong with it; err is a failure of the run, which
// wraps errNoPackaging when python has no packaging library. The
// interpreter runs with its site module (where Debian's packages are),
// isolated from the user's site and PYTHON* variables.
func evalMarkers(ctx context.Context, python string, markers []string, env map[string]string) (vals []bool, errs []error, err error) {
	if len(markers) == 0 {
		return nil, nil, nil
	}
	res, err := runPyHelper[pyMarker](ctx, python, true, pyRequest{Op: "markers", Markers: markers, Environment: env}, len(markers))
	if err != nil {
		return nil, nil, err
	}
	vals, errs = make([]bool, len(markers)), make([]error, len(markers))
	for i, r := range res {
		vals[i] = r.Value
		if r.Error != "" {
			errs[i] = fmt.Errorf("marker %q: %s", markers[i], r.Error)
		}
	}
	return vals, errs, nil
}

// missingDebs returns the dependency groups none of whose alternatives
// dpkg says is installed, as the packages to install (each group's first).
func missingDebs(ctx context.Context, needs [][]string) ([]string, error) {
	if len(needs) == 0 {
		return nil, nil
	}
	var all []string
	for _, g := range needs {
		all = append(all, g...)
	}
	args := append([]string{"-W", "-f=${Package} ${db:Status-Status}\\n", "--"}, all...)
	// dpkg-query exits 1 when it has never heard of one of the names; its
	// output still lists the others.
	out, err := run(ctx, "", nil, "dpkg-query", args...)
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		return nil, fmt.Errorf("ask dpkg which packages are installed: %w", err)
	}
	installed := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[1] == "installed" {
			installed[f[0]] = true
		}
	}
	var missing []string
	for _, g := range needs {
		if !slices.ContainsFunc(g, func(p string) bool { return installed[p] }) && !slices.Contains(missing, g[0]) {
			missing = append(missing, g[0])
		}
	}
	return missing, nil
}

// AptInstall installs Debian packages with `apt-get install -y
// --no-install-recommends`, non-interactively, with a minimal environment
// (none of odoobot's). It is `odoobot setup`'s ReleaseConfig.InstallPackages
// (serve's is nil: its unit cannot write /usr). It needs root, and waits
// up to two minutes for another apt or dpkg to release the package
// database.
func AptInstall(ctx context.Context, pkgs []string) error {
	if len(pkgs) == 0 {
		return nil
	}
	for _, p := range pkgs {
		if !debNameRE.MatchString(p) {
			return fmt.Errorf("odoo: apt-get install: %q is not a Debian package name", p)
		}
	}
	env := append(minimalEnv(), "DEBIAN_FRONTEND=noninteractive")
	args := append([]string{"install", "-y", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=120"}, pkgs...)
	if _, err := run(ctx, "", env, "apt-get", args...); err != nil {
		return fmt.Errorf("odoo: %w", err)
	}
	return nil
}

var noModuleRE = regexp.MustCompile(`(?:ModuleNotFoundError|ImportError): No module named '([^']+)'`)

// missingModule explains a failed import check: the Python module the
// output says is missing and, in debian mode, the Debian package that has
// it. It returns "" when the output names no missing module.
func missingModule(out string, debian bool) string {
	m := noModuleRE.FindAllStringSubmatch(out, -1)
	if m == nil {
		return ""
	}
	module := m[len(m)-1][1]
	top, _, _ := strings.Cut(module, ".")
	msg := fmt.Sprintf("the Python module %q is missing", module)
	if !debian {
		return msg
	}
	if d, ok := depByModule(top); ok {
		if d.Deb == "" {
			return msg + fmt.Sprintf(" (no Debian package: %s)", d.Why)
		}
		return msg + fmt.Sprintf("; Debian's package %s has it", d.Deb)
	}
	guess := "python3-" + strings.ToLower(strings.ReplaceAll(top, "_", "-"))
	return msg + fmt.Sprintf("; its Debian package is probably %s (a guess from the name)", guess)
}
