package odoo_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"odoobot/internal/testenv"
	"odoobot/provision/odoo"
)

// realRequirements returns the requirements.txt of the real Odoo version.
func realRequirements(t *testing.T, version string) (string, []byte) {
	t.Helper()
	dir := unpackOdoo(t, version)
	data, err := os.ReadFile(filepath.Join(dir, "requirements.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return dir, data
}

// TestRequirementsTable: every line of real Odoo's requirements.txt maps
// to a Debian package or is a documented skip, and the plan for Debian
// 12's python3.11 is what the README of the real trees lists.
func TestRequirementsTable(t *testing.T) {
	for _, version := range []string{"17.0", "19.0"} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			dir, data := realRequirements(t, version)
			names, err := odoo.RequirementNames(data)
			if err != nil {
				t.Fatal(err)
			}
			if len(names) < 40 {
				t.Fatalf("only %d requirements read: %q", len(names), names)
			}
			for _, n := range names {
				d, ok := odoo.LookupRequirement(n)
				if !ok {
					t.Errorf("requirement %s: not in the table", n)
				} else if d.Deb == "" && d.Why == "" {
					t.Errorf("requirement %s: a skip without a reason", n)
				}
			}

			py := markerPython(t)
			needs, skipped, err := odoo.DebianPlan(t.Context(), py, dir, "3.11")
			if err != nil {
				t.Fatal(err)
			}
			var pkgs []string
			for _, g := range needs {
				pkgs = append(pkgs, g...)
			}
			for _, p := range []string{"python3-babel", "python3-pil", "python3-pypdf2", "python3-dateutil", "python3-openssl",
				"python3-serial", "python3-usb", "python3-ldap", "python3-stdnum", "python3-tz", "python3-libsass",
				"python3-gevent", "python3-greenlet", "python3-werkzeug", "python3-psycopg2", "python3-lxml"} {
				if !slices.Contains(pkgs, p) {
					t.Errorf("plan for python 3.11 lacks %s: %q", p, pkgs)
				}
			}
			for _, p := range []string{"python3-pypdf"} { // 19.0 asks for pypdf only from python 3.13
				if slices.Contains(pkgs, p) {
					t.Errorf("plan for python 3.11 has %s, whose marker excludes it", p)
				}
			}
			if want := "ebaysdk: not in Debian 12"; version == "17.0" && !slices.ContainsFunc(skipped, func(s string) bool { return strings.HasPrefix(s, want) }) {
				t.Errorf("skipped %q, want %q", skipped, want)
			}
			for _, s := range skipped {
				if strings.Contains(s, "no known Debian package") {
					t.Errorf("skipped without a reason: %s", s)
				}
				if strings.HasPrefix(s, "pypiwin32") || strings.HasPrefix(strings.ToLower(s), "lxml") {
					t.Errorf("skipped %s, whose marker is false on Linux with python 3.11", s)
				}
			}
			// With python 3.12, lxml-html-clean is asked for, and skipped.
			_, skipped, err = odoo.DebianPlan(t.Context(), py, dir, "3.12")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(skipped, func(s string) bool { return strings.HasPrefix(s, "lxml-html-clean: not in Debian 12") }) {
				t.Errorf("python 3.12: skipped %q, want lxml-html-clean", skipped)
			}
		})
	}
}

// TestRequirementsTableDebian: every Debian package of the table exists
// in the machine's Debian (apt-cache).
func TestRequirementsTableDebian(t *testing.T) {
	testenv.LookPath(t, "apt-cache")
	var pkgs []string
	for _, d := range odoo.PythonDeps() {
		if d.Deb != "" && !slices.Contains(pkgs, d.Deb) {
			pkgs = append(pkgs, d.Deb)
		}
	}
	out, _ := exec.Command("apt-cache", append([]string{"show", "--no-all-versions"}, pkgs...)...).Output()
	known := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if p, ok := strings.CutPrefix(line, "Package: "); ok {
			known[strings.TrimSpace(p)] = true
		}
	}
	if len(known) == 0 {
		testenv.Missing(t, "apt-cache knows no package (run apt-get update)")
	}
	for _, p := range pkgs {
		if !known[p] {
			t.Errorf("%s is not a Debian package here", p)
		}
	}
}

// markerPython is the system's python3, which evaluates markers with
// Debian's python3-packaging (or the copy pip vendors); the test is
// skipped when it has neither.
func markerPython(t *testing.T) string {
	t.Helper()
	py := debianPython(t)
	if _, _, err := odoo.EvalMarkers(t.Context(), py, []string{"os_name == 'posix'"}); errors.Is(err, odoo.ErrNoPackaging) {
		testenv.Missing(t, py+" has no packaging library (apt-get install python3-packaging)")
	}
	return py
}

func TestEvalMarker(t *testing.T) {
	py := markerPython(t)
	cases := []struct {
		marker, py string
		want       bool
	}{
		{"python_version >= '3.12'", "3.11", false},
		{"python_version >= '3.12'", "3.12", true},
		{"python_version > '3.10' and python_version < '3.12'", "3.11", true},
		{"python_version > '3.9'", "3.10", true}, // numeric, not string, order
		{"python_version <= '3.10'", "3.11", false},
		{"python_version == '3.11'", "3.11", true},
		{"sys_platform == 'win32'", "3.11", false},
		{"sys_platform != 'win32' and python_version >= '3.12' and python_version < '3.13'", "3.12", true},
		{"sys_platform == 'win32' and python_version >= '3.12'", "3.12", false},
		{`(sys_platform == "darwin" or os_name == "posix") and python_version < "4"`, "3.11", true},
		{"'linux' in sys_platform", "3.11", true},
		{"platform_system not in 'Windows Darwin'", "3.11", true},
	}
	for _, v := range []string{"3.10", "3.11", "3.12"} { // one run a version
		var markers []string
		var want []bool
		for _, c := range cases {
			if c.py == v {
				markers, want = append(markers, c.marker), append(want, c.want)
			}
		}
		got, errs, err := odoo.EvalMarkersAs(t.Context(), py, markers, v)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range markers {
			if errs[i] != nil || got[i] != want[i] {
				t.Errorf("marker %q for python %s = %v, %v; want %v", m, v, got[i], errs[i], want[i])
			}
		}
	}
	bad := []string{"python_version >=", "flavour == 'x'", "(python_version > '3'", "python_version ! '3'"}
	_, errs, err := odoo.EvalMarkersAs(t.Context(), py, bad, "3.11")
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range bad {
		if errs[i] == nil || !strings.Contains(errs[i].Error(), m) {
			t.Errorf("marker %q: %v, want an error quoting it", m, errs[i])
		}
	}
}

// TestEvalMarkersOneRun: the markers of a requirements file are
// evaluated in one run of python, for its own environment (its full
// version, not "3.x.0").
func TestEvalMarkersOneRun(t *testing.T) {
	markerPython(t)
	python, runs := countingPython(t)
	full, err := exec.Command(debianPython(t), "-c", "import platform; print(platform.python_version())").Output()
	if err != nil {
		t.Fatal(err)
	}
	v := strings.TrimSpace(string(full))
	vals, errs, err := odoo.EvalMarkers(t.Context(), python, []string{
		"python_full_version == '" + v + "'", "sys_platform == 'win32'", "python_version >= '3'", "python_version >>> '3'"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(vals[:3], []bool{true, false, true}) || errs[0] != nil || errs[3] == nil {
		t.Errorf("values %v, errors %v", vals, errs)
	}
	if n := countRuns(t, runs); n != 1 {
		t.Errorf("python ran %d times for 4 markers, want once", n)
	}
}

// TestEvalMarkersWithoutPackaging: an interpreter that has no packaging
// library (nor pip) is refused with ErrNoPackaging, naming the Debian
// package to install.
func TestEvalMarkersWithoutPackaging(t *testing.T) {
	py := debianPython(t)
	bare := filepath.Join(t.TempDir(), "python3")
	// -S: no site module, so neither Debian's packages nor pip.
	if err := os.WriteFile(bare, []byte("#!/bin/sh\nexec '"+py+"' -S \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, _, err := odoo.EvalMarkers(t.Context(), bare, []string{"os_name == 'posix'"})
	if !errors.Is(err, odoo.ErrNoPackaging) || !strings.Contains(err.Error(), "python3-packaging") {
		t.Errorf("markers with a python without packaging: %v, want ErrNoPackaging naming python3-packaging", err)
	}
}

// TestPythonHelperBounds: an interpreter that answers without end, or
// not at all, is stopped and refused, saying why.
func TestPythonHelperBounds(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"chatty": "exec yes", "silent": "exec sleep 600"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	_, _, err := odoo.EvalMarkers(t.Context(), filepath.Join(dir, "chatty"), []string{"os_name == 'posix'"})
	if err == nil || !strings.Contains(err.Error(), "answered more than") {
		t.Errorf("a python that answers without end: %v, want a refusal", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	_, _, err = odoo.EvalMarkers(ctx, filepath.Join(dir, "silent"), []string{"os_name == 'posix'"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a python that never answers: %v, want it stopped at the deadline", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestMissingModule(t *testing.T) {
	for _, c := range []struct {
		out    string
		debian bool
		want   string
	}{
		{"Traceback…\nModuleNotFoundError: No module named 'PIL'\n", true, `the Python module "PIL" is missing; Debian's package python3-pil has it`},
		{"ModuleNotFoundError: No module named 'dateutil.tz'", true, `the Python module "dateutil.tz" is missing; Debian's package python3-dateutil has it`},
		{"ModuleNotFoundError: No module named 'lxml_html_clean'", true, `the Python module "lxml_html_clean" is missing (no Debian package: not in Debian 12; Debian 12's lxml 4.9 still has lxml.html.clean)`},
		{"ImportError: No module named 'foo_bar'", true, `the Python module "foo_bar" is missing; its Debian package is probably python3-foo-bar (a guess from the name)`},
		{"ModuleNotFoundError: No module named 'PIL'", false, `the Python module "PIL" is missing`},
		{"SyntaxError: invalid syntax", true, ""},
	} {
		if got := odoo.MissingModule(c.out, c.debian); got != c.want {
			t.Errorf("MissingModule(%q, %v) =\n %q\nwant\n %q", c.out, c.debian, got, c.want)
		}
	}
}

func TestControlDepends(t *testing.T) {
	control := `Source: odoo
Build-Depends: python3-notthis

Package: odoo-doc
Depends: python3-notthis-either

Package: odoo
Architecture: all
Depends:
 ${misc:Depends},
 ${python3:Depends},
 adduser,
 fonts-dejavu-core | fonts-freefont-ttf,
 python3-babel,
 python3-pypdf2 (>= 1.26) | python3-pypdf,
 python3-gevent [amd64],
 python3-tz:any,
 postgresql-client
Recommends: python3-notrecommended
`
	got, err := odoo.ControlDepends([]byte(control))
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"python3-babel"}, {"python3-pypdf2", "python3-pypdf"}, {"python3-gevent"}, {"python3-tz"}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("ControlDepends = %q, want %q", got, want)
	}
}

func TestReadSeries(t *testing.T) {
	for text, want := range map[string]string{
		"version_info = (19, 0, 0, FINAL, 0, '')\nseries = serie = major_version = '.'.join(str(s) for s in version_info[:2])\nversion += '+e-20251227'\n": "19.0",
		"version_info = (17, 0, 0, FINAL, 0, '')\n":                 "17.0",
		"version_info = ('saas~17', 1, 0, FINAL, 0, '')\n":          "saas~17.1",
		"serie = '16.0'\nversion_info = (99, 0, 0, FINAL, 0, '')\n": "16.0",
		"series = serie = '18.0'\n":                                 "18.0",
	} {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "odoo"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "odoo", "release.py"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if got, err := odoo.ReadSeries(dir); err != nil || got != want {
			t.Errorf("ReadSeries(%q) = %q, %v; want %q", text, got, err, want)
		}
	}
	if _, err := odoo.ReadSeries(t.TempDir()); err == nil {
		t.Error("ReadSeries of a source without odoo/release.py: no error")
	}
}

// BenchmarkDebianPlanRealOdoo reads the Debian plan of the real Odoo
// 19.0 requirements.txt: its markers evaluated by the system's python3,
// what a debian-mode release build pays once.
func BenchmarkDebianPlanRealOdoo(b *testing.B) {
	dir := unpackOdoo(b, "19.0")
	py := "/usr/bin/python3"
	for b.Loop() {
		if _, _, err := odoo.DebianPlan(b.Context(), py, dir, "3.11"); err != nil {
			b.Fatal(err)
		}
	}
}
