package odoobot_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"odoobot/internal/testenv"
)

// capabilityAssertions returns, as "file:line: expr", each type assertion
// in file (of package pkgPath) to an interface that odoobot declares:
// ifaces holds, by import path, the names of the interfaces each
// odoobot package declares. Such an assertion finds a capability the
// static type does not show; errors.As, SDK and standard library types
// are not counted.
func capabilityAssertions(fset *token.FileSet, pkgPath string, file *ast.File, ifaces map[string]map[string]bool) []string {
	imports := map[string]string{} // local name → odoobot import path
	for _, spec := range file.Imports {
		path, _ := strconv.Unquote(spec.Path.Value)
		if _, ok := ifaces[path]; !ok {
			continue
		}
		name := path[strings.LastIndex(path, "/")+1:]
		if spec.Name != nil {
			name = spec.Name.Name
		}
		imports[name] = path
	}
	var found []string
	ast.Inspect(file, func(n ast.Node) bool {
		ta, ok := n.(*ast.TypeAssertExpr)
		if !ok || ta.Type == nil {
			return true
		}
		var hit bool
		switch t := ta.Type.(type) {
		case *ast.Ident:
			hit = ifaces[pkgPath][t.Name]
		case *ast.SelectorExpr:
			if x, ok := t.X.(*ast.Ident); ok {
				hit = ifaces[imports[x.Name]][t.Sel.Name]
			}
		}
		if hit {
			pos := fset.Position(ta.Pos())
			found = append(found, filepath.Base(pos.Filename)+":"+strconv.Itoa(pos.Line)+": "+asserted(ta))
		}
		return true
	})
	return found
}

// asserted renders a type assertion's asserted type, for a message.
func asserted(ta *ast.TypeAssertExpr) string {
	switch t := ta.Type.(type) {
	case *ast.Ident:
		return ".(" + t.Name + ")"
	case *ast.SelectorExpr:
		return ".(" + t.X.(*ast.Ident).Name + "." + t.Sel.Name + ")"
	}
	return ".(?)"
}

// declaredInterfaces returns the names of the interface types file
// declares.
func declaredInterfaces(file *ast.File) []string {
	var names []string
	for _, decl := range file.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.TYPE {
			continue
		}
		for _, spec := range gd.Specs {
			if ts := spec.(*ast.TypeSpec); ts.Type != nil {
				if _, ok := ts.Type.(*ast.InterfaceType); ok {
					names = append(names, ts.Name.Name)
				}
			}
		}
	}
	return names
}

// TestNoCapabilityIsFoundByTypeAssertion: what a value can do is what
// its static type says. No non-test code asserts a value to one of
// odoobot's own interfaces to find a capability (a Responder that can
// also show a secret, a Thread that can also edit a step's line); each
// is a method of the interface the caller is given.
func TestNoCapabilityIsFoundByTypeAssertion(t *testing.T) {
	goBin := testenv.LookPath(t, "go")
	out, err := exec.Command(goBin, "list", "-f", `{{.ImportPath}}|{{.Dir}}|{{join .GoFiles " "}}`, "odoobot/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	fset := token.NewFileSet()
	files := map[string][]*ast.File{}
	ifaces := map[string]map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.SplitN(line, "|", 3)
		if len(parts) != 3 {
			t.Fatalf("go list: unexpected line %q", line)
		}
		pkg, dir := parts[0], parts[1]
		ifaces[pkg] = map[string]bool{}
		for _, name := range strings.Fields(parts[2]) {
			f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			files[pkg] = append(files[pkg], f)
			for _, n := range declaredInterfaces(f) {
				ifaces[pkg][n] = true
			}
		}
	}
	if len(ifaces["odoobot/commands"]) == 0 {
		t.Fatal("no interface found in odoobot/commands: the scan reads nothing")
	}
	for pkg, fs := range files {
		for _, f := range fs {
			for _, hit := range capabilityAssertions(fset, pkg, f, ifaces) {
				t.Errorf("%s: %s finds a capability by type assertion: make it a method of the interface the caller is given", pkg, hit)
			}
		}
	}
}

// TestCapabilityAssertionsMatcher checks the matcher, so that
// TestNoCapabilityIsFoundByTypeAssertion cannot pass by matching
// nothing.
func TestCapabilityAssertionsMatcher(t *testing.T) {
	const src = `package commands

import (
	"os"
	prov "odoobot/provision"
)

func f(r Responder, th Thread, x any) {
	_, _ = r.(FailureResponder)
	_ = th.(ProgressThread)
	_ = x.(prov.Host)
	_ = x.(string)
	_ = x.(*os.File)
	_ = x.(Request)
	switch x.(type) {
	}
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "dispatch.go", src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	ifaces := map[string]map[string]bool{
		"odoobot/commands":  {"Responder": true, "Thread": true, "FailureResponder": true, "ProgressThread": true},
		"odoobot/provision": {"Host": true},
	}
	got := strings.Join(capabilityAssertions(fset, "odoobot/commands", f, ifaces), "\n")
	want := "dispatch.go:9: .(FailureResponder)\ndispatch.go:10: .(ProgressThread)\ndispatch.go:11: .(prov.Host)"
	if got != want {
		t.Errorf("found\n%s\nwant\n%s", got, want)
	}
}
