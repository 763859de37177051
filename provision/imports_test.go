package provision

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDomainReachesDatabasesThroughDrivers: the domain package's own
// files (not its drivers, not its tests) import no PostgreSQL client and
// not the backup machinery; they reach databases and backups only
// through the interfaces they declare (DatabaseAdmin, DatabaseDumps,
// BackupStore), served by provision/postgres and provision/backups.
func TestDomainReachesDatabasesThroughDrivers(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	forbidden := []string{"github.com/jackc/", "odoobot/internal/backup"}
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range af.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbidden {
				if strings.HasPrefix(path, bad) {
					t.Errorf("%s imports %s: the domain reaches PostgreSQL and backups only through its interfaces", f, path)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no source file checked: the test would prove nothing")
	}
}
