package provision

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// hostImports are the packages with which the domain would reach the
// host itself; it reaches it through its drivers' interfaces instead
// (PortProbe, Users, HealthChecker, HostFactsReader, BindFilter,
// JobEndKeeper).
var hostImports = []string{"os/user", "net", "net/http", "odoobot/internal/listeners"}

// TestNoHostImports: no non-test file of provision imports a package of
// hostImports. The files are parsed, so a build tag cannot hide one; the
// test proves it read imports at all.
func TestNoHostImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	read := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range parsed.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			read++
			for _, bad := range hostImports {
				if path == bad {
					t.Errorf("%s imports %s: reach the host through a driver's interface", f, path)
				}
			}
		}
	}
	if read < 10 {
		t.Fatalf("read %d imports in %d files: the check would prove nothing", read, len(files))
	}
}
