package pgdb_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// existsQuery is the statement that asks whether a database exists.
var existsQuery = regexp.MustCompile(`(?i)EXISTS\s*\(\s*SELECT\s+1\s+FROM\s+(pg_catalog\.)?pg_database\b`)

// TestOneExistenceCheck: only this package asks PostgreSQL whether a
// database exists; the wiring and the drivers call Exists or Ensure
// rather than writing the query again. Test files are left out: a test
// may look at the catalog its own way.
func TestOneExistenceCheck(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	self, _ := filepath.Abs(".")
	var scanned int
	var copies []string
	err = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			if n := e.Name(); p != root && (strings.HasPrefix(n, ".") || n == "bin" || n == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		scanned++
		if existsQuery.Match(raw) && filepath.Dir(p) != self {
			rel, _ := filepath.Rel(root, p)
			copies = append(copies, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if scanned < 50 {
		t.Fatalf("scanned %d Go files under %s: not the module, the check would prove nothing", scanned, root)
	}
	for _, c := range copies {
		t.Errorf("%s asks whether a database exists itself: call pgdb.Exists (or pgdb.Ensure)", c)
	}
}
