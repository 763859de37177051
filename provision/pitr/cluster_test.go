package pitr

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// The pgBackRest tests turn archiving on and restart the cluster they
// archive: they run on a cluster of their own, never on the one of
// ODOOBOT_TEST_DATABASE_URL, which the other packages' tests use at the
// same time.
var private struct {
	once sync.Once
	url  string
	dir  string
	base string // newDriver's directory of config, repository and scratch
	err  error
}

// TestMain stops and removes the package's own cluster after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if private.dir != "" {
		pgCtl(private.dir, "-m", "immediate", "-w", "stop")
		os.RemoveAll(private.dir)
	}
	if private.base != "" {
		os.RemoveAll(private.base)
	}
	os.Exit(code)
}

func pgBin() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	if len(dirs) == 0 {
		return ""
	}
	return dirs[len(dirs)-1]
}

func pgCtl(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(pgBin(), "pg_ctl"), "-D", dir}, args...)...)
	cmd.Dir = "/"
	return cmd.CombinedOutput()
}

// privateCluster starts, once, a throwaway cluster as scripts/testdb.sh
// makes one (trust on 127.0.0.1 and its socket, fsync off) on a free
// port, and returns its superuser's URL.
func privateCluster(t *testing.T) string {
	t.Helper()
	private.once.Do(func() {
		if pgBin() == "" {
			private.err = fmt.Errorf("PostgreSQL's programs are not in /usr/lib/postgresql/*/bin")
			return
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			private.err = err
			return
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		dir, err := os.MkdirTemp("/var/tmp", "pitr-cluster-")
		if err != nil {
			private.err = err
			return
		}
		private.dir = dir
		cmd := exec.Command("chown", "postgres:", dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			private.err = fmt.Errorf("chown: %v %s", err, out)
			return
		}
		initdb := exec.Command("runuser", "-u", "postgres", "--", filepath.Join(pgBin(), "initdb"), "-D", dir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8")
		initdb.Dir = "/"
		if out, err := initdb.CombinedOutput(); err != nil {
			private.err = fmt.Errorf("initdb: %v %s", err, out)
			return
		}
		if out, err := pgCtl(dir, "-l", filepath.Join(dir, "server.log"), "-w", "-t", "60", "-o",
			"-p "+strconv.Itoa(port)+" -k "+dir+" -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_connections=50", "start"); err != nil {
			private.err = fmt.Errorf("start: %v %s", err, out)
			return
		}
		private.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	})
	if private.err != nil {
		t.Fatalf("the tests' own cluster: %v", private.err)
	}
	return private.url
}
