package odoo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// systemPython is the system's interpreter, the one that sees Debian's
// python3-* packages.
const systemPython = "/usr/bin/python3"

var versionRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*$`)

// CheckPython resolves a PYTHON_VERSION to an interpreter's absolute path,
// as ReleaseConfig.Python documents: "" is the system's /usr/bin/python3; a
// version ("3.11") or a name ("python3") is looked up in the system's
// directories (/usr/local/sbin … /bin), never in odoobot's PATH; an
// absolute path is taken as is. It refuses an interpreter that does not
// exist, saying what the system has and how to fix it. The configuration
// calls it at start; Releases.Ensure calls it again.
func CheckPython(spec string) (string, error) {
	if spec == "" {
		if !executable(systemPython) {
			return "", fmt.Errorf("the system's python %s (PYTHON_VERSION empty) not found: apt-get install python3, or set PYTHON_VERSION", systemPython)
		}
		return systemPython, nil
	}
	if filepath.IsAbs(spec) {
		if !executable(spec) {
			return "", fmt.Errorf("python %s (PYTHON_VERSION) is not an executable file: %s — leave PYTHON_VERSION empty for the system's %s", spec, systemHas(), systemPython)
		}
		return spec, nil
	}
	name := spec
	if versionRE.MatchString(spec) {
		name = "python" + spec
	}
	if strings.ContainsRune(name, '/') {
		return "", fmt.Errorf("python %q (PYTHON_VERSION) is neither a version, a program name nor an absolute path", spec)
	}
	for _, dir := range filepath.SplitList(childPath) {
		if p := filepath.Join(dir, name); executable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s (PYTHON_VERSION=%s) not found: %s — leave PYTHON_VERSION empty for the system's %s, or install it", name, spec, systemHas(), systemPython)
}

// CheckDeps checks a ReleaseConfig.Deps value (ODOO_PYTHON_DEPS) with the
// interpreter CheckPython resolved: the mode must be "debian", "pip" or
// "" (debian), and in debian mode the interpreter must be the system's,
// the only one that sees Debian's packages.
func CheckDeps(deps, python string) error {
	switch depsMode(deps) {
	case DepsPip:
		return nil
	case DepsDebian:
	default:
		return fmt.Errorf("python dependencies %q (ODOO_PYTHON_DEPS): want %q or %q", deps, DepsDebian, DepsPip)
	}
	want, err := filepath.EvalSymlinks(systemPython)
	if err != nil {
		return fmt.Errorf("python dependencies from Debian need the system's python %s: %w", systemPython, err)
	}
	got, err := filepath.EvalSymlinks(python)
	if err != nil {
		return fmt.Errorf("python %s: %w", python, err)
	}
	if got != want {
		return fmt.Errorf("python %s (PYTHON_VERSION) is not the system's %s (%s): it would not see Debian's python3-* packages, which ODOO_PYTHON_DEPS=debian uses — leave PYTHON_VERSION empty, or set ODOO_PYTHON_DEPS=pip", python, systemPython, filepath.Base(want))
	}
	return nil
}

// depsMode is the mode a ReleaseConfig.Deps value means.
func depsMode(deps string) string {
	if deps == "" {
		return DepsDebian
	}
	return deps
}

func executable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// systemHas says which python3 the system has, for error messages.
func systemHas() string {
	target, err := filepath.EvalSymlinks(systemPython)
	if err != nil {
		return "the system has no " + systemPython + " (apt-get install python3)"
	}
	return "the system's " + systemPython + " is " + filepath.Base(target)
}

// odooBin returns the source's odoo-bin: odoo-bin at the top, or
// setup/odoo (a source distribution may have only that).
func odooBin(src string) (string, error) {
	for _, p := range []string{filepath.Join(src, "odoo-bin"), filepath.Join(src, "setup", "odoo")} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", errors.New("no odoo-bin (nor setup/odoo) in the source")
}

var (
	seriesRE      = regexp.MustCompile(`(?m)^\s*series\s*=\s*(?:serie\s*=\s*)?(?:major_version\s*=\s*)?['"]((?:saas~)?[0-9]+\.[0-9]+)`)
	serieRE       = regexp.MustCompile(`(?m)^\s*serie\s*=\s*(?:series\s*=\s*)?(?:major_version\s*=\s*)?['"]((?:saas~)?[0-9]+\.[0-9]+)`)
	versionInfoRE = regexp.MustCompile(`(?m)^\s*version_info\s*=\s*\(\s*['"]?((?:saas~)?[0-9]+)['"]?\s*,\s*([0-9]+)\s*,`)
)

// readSeries returns the Odoo series ("17.0") that the source's
// odoo/release.py declares, read with regular expressions (the file is
// not run): a literal series or serie wins, else the first two items of
// version_info ("saas~17.1" for a SaaS one). A nightly build's suffix
// ("19.0+e") is not part of it.
func readSeries(src string) (string, error) {
	p := filepath.Join(src, "odoo", "release.py")
	data, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("read the Odoo version: %w", err)
	}
	for _, re := range []*regexp.Regexp{seriesRE, serieRE} {
		if m := re.FindSubmatch(data); m != nil {
			return string(m[1]), nil
		}
	}
	if m := versionInfoRE.FindSubmatch(data); m != nil {
		return string(m[1]) + "." + string(m[2]), nil
	}
	return "", errors.New("read the Odoo version: odoo/release.py has no version_info, series nor serie")
}

// addonsDirs keeps the candidate addons paths that are directories
// holding at least one module (Odoo warns about an empty one).
func addonsDirs(paths []string) []string {
	var out []string
	for _, p := range paths {
		if hasModule(p) {
			out = append(out, p)
		}
	}
	return out
}

func hasModule(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, e.Name(), "__manifest__.py")); err == nil {
			return true
		}
	}
	return false
}

// sourcePth is the file in the venv's site-packages that puts the Odoo
// source on the interpreter's path, so that `import odoo` works from any
// script, setup/odoo included.
const sourcePth = "odoo-source.pth"

// addSourceToVenv writes sourcePth into the venv's site-packages.
func addSourceToVenv(venv, src string) error {
	sites, err := filepath.Glob(filepath.Join(venv, "lib", "python*", "site-packages"))
	if err != nil || len(sites) != 1 {
		return fmt.Errorf("find the venv's site-packages: %d found (%v)", len(sites), err)
	}
	if err := os.WriteFile(filepath.Join(sites[0], sourcePth), []byte(src+"\n"), 0o644); err != nil {
		return fmt.Errorf("put the source on the venv's path: %w", err)
	}
	return nil
}

// checkRelease proves that python, run as the build user as, runs this
// Odoo: `odoo-bin --version` prints the series, and odoo.http (which
// imports most of Odoo's dependencies) imports. A failure names the
// missing module and, in debian mode, its Debian package.
func checkRelease(ctx context.Context, as *BuildUser, python, bin, src, series string, debian bool) error {
	explain := func(what string, out []byte, err error) error {
		if hint := missingModule(string(out), debian); hint != "" {
			return fmt.Errorf("%s: %s: %w", what, hint, err)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	rel, _ := filepath.Rel(src, bin)
	out, err := runAs(ctx, as, src, nil, python, bin, "--version")
	if err != nil {
		return explain("check the release: "+rel+" --version", out, err)
	}
	if !strings.Contains(string(out), series) {
		return fmt.Errorf("check the release: %s --version says %q, not the series %s of odoo/release.py", rel, firstLine(string(out)), series)
	}
	out, err = runAs(ctx, as, src, nil, python, "-c", "import odoo.http")
	if err != nil {
		return explain("check the release: import odoo.http", out, err)
	}
	return nil
}
