package childenv

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// moduleRoot is odoobot's source, from this package's directory.
const moduleRoot = "../.."

// testDoubles are the packages that run programs for tests only (the
// stand-in Odoo's repository, pebble): not programs odoobot runs. A
// package whose directory ends in "test" (acmetest, cftest) is one too.
var testDoubles = []string{"internal/standin"}

// TestEveryChildGetsTheMinimalEnvironment reads odoobot's source: every
// program it runs (exec.Command, exec.CommandContext, an exec.Cmd) must
// be given an environment of its own (cmd.Env = childenv.Env(...), or a
// function built on it), never odoobot's, which holds its tokens and
// passwords: a command whose Env is left nil inherits them all.
func TestEveryChildGetsTheMinimalEnvironment(t *testing.T) {
	checked := 0
	err := filepath.WalkDir(moduleRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(moduleRoot, path)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && rel != "." || strings.HasSuffix(d.Name(), "test") || isTestDouble(rel) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		problems, n := inheritedEnvs(fset, f)
		checked += n
		for _, p := range problems {
			t.Errorf("%s: %s", rel, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("no exec.Command found in the source: the check would prove nothing")
	}
}

func isTestDouble(rel string) bool {
	for _, d := range testDoubles {
		if rel == filepath.FromSlash(d) {
			return true
		}
	}
	return false
}

// TestInheritedEnvsFindsTheLeaks checks the checker on the shapes it must
// refuse and on those it must let through, so that
// TestEveryChildGetsTheMinimalEnvironment cannot pass by matching
// nothing.
func TestInheritedEnvsFindsTheLeaks(t *testing.T) {
	tests := []struct {
		name, body string
		bad        int
	}{
		{"cp run at once", `exec.CommandContext(ctx, "cp", "-al", src, dst).CombinedOutput()`, 1},
		{"a command whose Env is never set", `cmd := exec.Command("git", "status"); cmd.Dir = "/"; cmd.Run()`, 1},
		{"odoobot's environment handed on", `cmd := exec.Command("git"); cmd.Env = append(os.Environ(), "X=1"); cmd.Run()`, 1},
		{"an exec.Cmd without Env", `c := &exec.Cmd{Path: "/bin/cp"}; c.Run()`, 1},
		{"the minimal environment", `cmd := exec.Command("cp", a, b); cmd.Env = childenv.Env(); cmd.Run()`, 0},
		{"a helper built on it", `cmd := exec.CommandContext(ctx, "git"); cmd.Env = gitEnv(); cmd.Run()`, 0},
		{"an exec.Cmd with Env", `c := &exec.Cmd{Path: "/bin/cp", Env: childenv.Env()}; c.Run()`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "package p\nimport (\n\"os\"\n\"os/exec\"\n)\nvar _ = os.Args\nfunc f() {\n" + strings.ReplaceAll(tt.body, "; ", "\n") + "\n}\n"
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, "p.go", src, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			problems, n := inheritedEnvs(fset, f)
			if n != 1 {
				t.Errorf("%d commands found, want 1", n)
			}
			if len(problems) != tt.bad {
				t.Errorf("problems %q, want %d", problems, tt.bad)
			}
		})
	}
}

// inheritedEnvs returns, for each program f runs that would inherit
// odoobot's environment, where and why, and how many programs it runs.
// A command made by exec.Command or exec.CommandContext must be assigned
// to a variable whose Env the same function sets from an expression that
// does not read os.Environ; an exec.Cmd literal must set Env so.
func inheritedEnvs(fset *token.FileSet, f *ast.File) (problems []string, commands int) {
	execName, osName := importName(f, "os/exec", "exec"), importName(f, "os", "os")
	if execName == "" {
		return nil, 0
	}
	readsEnviron := func(e ast.Expr) bool {
		found := false
		ast.Inspect(e, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && isIdent(sel.X, osName) && (sel.Sel.Name == "Environ" || sel.Sel.Name == "Getenv") {
				found = true
			}
			return !found
		})
		return found
	}
	for _, decl := range f.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Body == nil {
			continue
		}
		// The Env given to each variable in this function.
		envs := map[string][]ast.Expr{}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			as, ok := n.(*ast.AssignStmt)
			if !ok || len(as.Lhs) != len(as.Rhs) {
				return true
			}
			for i, l := range as.Lhs {
				if sel, ok := l.(*ast.SelectorExpr); ok && sel.Sel.Name == "Env" {
					if id, ok := sel.X.(*ast.Ident); ok {
						envs[id.Name] = append(envs[id.Name], as.Rhs[i])
					}
				}
			}
			return true
		})
		// Each command, with the variable it is assigned to.
		var stack []ast.Node
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			if n == nil {
				stack = stack[:len(stack)-1]
				return false
			}
			parent := ast.Node(nil)
			if len(stack) > 0 {
				parent = stack[len(stack)-1]
			}
			stack = append(stack, n)
			where := fset.Position(n.Pos()).String()
			switch n := n.(type) {
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok || !isIdent(sel.X, execName) || (sel.Sel.Name != "Command" && sel.Sel.Name != "CommandContext") {
					return true
				}
				commands++
				name := assignedTo(parent, n)
				if name == "" {
					problems = append(problems, where+": exec."+sel.Sel.Name+" runs with odoobot's environment: assign it and set its Env from childenv.Env")
					return true
				}
				set := envs[name]
				if len(set) == 0 {
					problems = append(problems, where+": "+name+".Env is never set: the program inherits odoobot's environment; set it from childenv.Env")
				}
				for _, e := range set {
					if readsEnviron(e) {
						problems = append(problems, where+": "+name+".Env is built from odoobot's environment (os.Environ): use childenv.Env")
					}
				}
			case *ast.CompositeLit:
				sel, ok := n.Type.(*ast.SelectorExpr)
				if !ok || !isIdent(sel.X, execName) || sel.Sel.Name != "Cmd" {
					return true
				}
				commands++
				var env ast.Expr
				for _, el := range n.Elts {
					if kv, ok := el.(*ast.KeyValueExpr); ok && isIdent(kv.Key, "Env") {
						env = kv.Value
					}
				}
				switch {
				case env == nil:
					problems = append(problems, where+": an exec.Cmd without Env inherits odoobot's environment; set it from childenv.Env")
				case readsEnviron(env):
					problems = append(problems, where+": an exec.Cmd's Env is built from odoobot's environment (os.Environ): use childenv.Env")
				}
			}
			return true
		})
	}
	return problems, commands
}

// assignedTo is the variable call is assigned to by parent ("" when it
// is not assigned, e.g. run at once).
func assignedTo(parent ast.Node, call *ast.CallExpr) string {
	as, ok := parent.(*ast.AssignStmt)
	if !ok || len(as.Lhs) != len(as.Rhs) {
		return ""
	}
	for i, r := range as.Rhs {
		if r == call {
			if id, ok := as.Lhs[i].(*ast.Ident); ok && id.Name != "_" {
				return id.Name
			}
		}
	}
	return ""
}

// importName is the name f uses for the package at path ("" when f does
// not import it).
func importName(f *ast.File, path, def string) string {
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == path {
			if imp.Name != nil {
				return imp.Name.Name
			}
			return def
		}
	}
	return ""
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}
