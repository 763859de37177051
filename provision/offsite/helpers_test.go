package offsite

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"odoobot/internal/childenv"
	"odoobot/internal/testenv"
	"odoobot/provision"
	"odoobot/provision/offsite/s3double"
)

// testPassword is the repositories' password in the tests.
const testPassword = "offsite-test-password-7f3a"

// template is one repository made by Init for the whole package, copied
// for each test that needs one: restic init costs seconds (its key's
// derivation is calibrated to be slow), a copy costs nothing.
var template struct {
	once     sync.Once
	dir      string
	password string // its password file
	err      error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if template.dir != "" {
		os.RemoveAll(filepath.Dir(template.dir))
	}
	os.Exit(code)
}

// needRestic stops the test when restic is not installed.
func needRestic(t *testing.T) {
	t.Helper()
	if _, err := lookPath("restic"); err != nil {
		testenv.Missing(t, "restic is not installed (scripts/deps.sh installs it)")
	}
}

// passwordFile writes a password file in a test directory.
func passwordFile(t *testing.T, password string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(p, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// templateRepo returns the package's template repository, made once.
func templateRepo(t *testing.T) (dir, password string) {
	t.Helper()
	needRestic(t)
	template.once.Do(func() {
		root, err := os.MkdirTemp("", "offsite-template-")
		if err != nil {
			template.err = err
			return
		}
		template.dir = filepath.Join(root, "repo")
		template.password = filepath.Join(root, "password")
		if err := os.WriteFile(template.password, []byte(testPassword+"\n"), 0o600); err != nil {
			template.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		r := &Restic{Repository: template.dir, PasswordFile: template.password}
		if _, err := r.Init(ctx); err != nil {
			template.err = fmt.Errorf("init the template repository: %w", err)
		}
	})
	if template.err != nil {
		t.Fatal(template.err)
	}
	return template.dir, template.password
}

// pathRepo is a new repository in a directory of the test, a copy of
// the template.
func pathRepo(t *testing.T) *Restic {
	t.Helper()
	src, _ := templateRepo(t)
	dst := filepath.Join(t.TempDir(), "repo")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return &Restic{Repository: dst, PasswordFile: passwordFile(t, testPassword), Host: "srv-test"}
}

// s3Repo is a new repository in an S3 double of the test, the
// template's objects copied in (restic's S3 layout is its local one).
func s3Repo(t *testing.T) (*Restic, *s3double.Server) {
	t.Helper()
	src, _ := templateRepo(t)
	srv, err := s3double.Start("127.0.0.1:0", "offsite-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		return srv.Put(filepath.ToSlash(rel), data)
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &Restic{Repository: srv.Repository(), PasswordFile: passwordFile(t, testPassword), Env: srv.Env(), Host: "srv-test"}
	return r, srv
}

// testBackup is a backup directory as provision/backups lays it out:
// manifest.json, database.dump, filestore.tar.gz, odoo.conf and the
// verification stamp that must not travel. dumpSize is the dump's size
// (random bytes).
func testBackup(t *testing.T, database, id string, dumpSize int) provision.BackupInfo {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "prod-"+database, id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	created, err := time.Parse(provision.IDLayout, strings.SplitN(id, "-", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		provision.DumpName:      randomBytes(t, dumpSize),
		provision.FilestoreName: randomBytes(t, 64<<10),
		provision.ConfName:      []byte("[options]\ndb_name = " + database + "\n"),
	}
	m := provision.Manifest{Format: 1, ID: id, Instance: database, Database: database, Reason: provision.ReasonManual, CreatedAt: created}
	for _, name := range []string{provision.DumpName, provision.FilestoreName, provision.ConfName} {
		sum := sha256.Sum256(files[name])
		m.Files = append(m.Files, provision.BackupFile{Name: name, Size: int64(len(files[name])), SHA256: hex.EncodeToString(sum[:])})
	}
	files[provision.ManifestName] = fmt.Appendf(nil, `{"id":%q,"database":%q}`, id, database)
	files["verification.json"] = []byte(`{"verified_at":"2026-01-01T00:00:00Z"}`)
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return provision.BackupInfo{Manifest: m, Dir: dir, Intact: true}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// sums are the SHA-256 of every file in dir, by name.
func sums(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		out[e.Name()] = hex.EncodeToString(sum[:])
	}
	return out
}

// ctxT is a context for one test's restic calls: a minute, where each
// takes a few seconds at most.
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// wantKind fails the test unless err is a provision.Error of kind k
// whose Explain contains each of want.
func wantKind(t *testing.T, err error, k provision.ErrorKind, want ...string) *provision.Error {
	t.Helper()
	e, ok := provision.AsError(err)
	if !ok {
		t.Fatalf("error %v (%T): want a provision.Error of kind %s", err, err, k)
	}
	if e.Kind != k {
		t.Fatalf("kind %s, want %s: %s (log: %v)", e.Kind, k, e.Explain(), err)
	}
	for _, w := range want {
		if !strings.Contains(e.Explain(), w) {
			t.Errorf("chat's text %q lacks %q", e.Explain(), w)
		}
	}
	return e
}

// restic runs restic itself on r's repository, as a test's witness.
func resticCmd(t *testing.T, r *Restic, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("restic", append([]string{"--no-cache"}, args...)...)
	cmd.Env = childenv.Env(append(r.Env, "RESTIC_REPOSITORY="+r.Repository, "RESTIC_PASSWORD_FILE="+r.PasswordFile)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}
