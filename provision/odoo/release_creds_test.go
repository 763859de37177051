package odoo_test

import (
	"bytes"
	"context"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"odoobot/internal/standin"
	"odoobot/internal/testenv"
	"odoobot/provision/odoo"
)

// gitServer serves the repositories under root over git's smart HTTP
// (git-http-backend), to requests carrying user and password only; the
// others get 401, as a private repository's host answers. It counts the
// requests it let through.
func gitServer(t *testing.T, root, user, password string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	backend := "/usr/lib/git-core/git-http-backend"
	if _, err := os.Stat(backend); err != nil {
		testenv.Missing(t, "git-http-backend is not installed (apt-get install git)")
	}
	var served atomic.Int64
	h := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(user)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="odoo"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		served.Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &served
}

// TestEnsureKeepsRepositoryCredentialsSecret builds a release, with
// enterprise addons, from repositories whose URLs carry a user and a
// token: the build succeeds (the credentials reached the server), and
// the token is in no file of the release (.git/config, reflogs,
// FETCH_HEAD…), on no command line while git ran, and in no log line.
// Both as odoobot's own user and as the build user, which runs git (and
// so the askpass helper) on a real host.
func TestEnsureKeepsRepositoryCredentialsSecret(t *testing.T) {
	t.Run("as root", func(t *testing.T) { ensureWithCredentials(t, false) })
	t.Run("as the build user", func(t *testing.T) { ensureWithCredentials(t, true) })
}

func ensureWithCredentials(t *testing.T, asBuildUser bool) {
	const user, token = "odoobot", "ghp_s3cr3tT0kenThatMustNotLeak"
	repo := standin.Repo(t)
	srv, served := gitServer(t, filepath.Dir(repo), user, token)
	url := strings.Replace(srv.URL, "http://", "http://"+user+":"+token+"@", 1) + "/" + filepath.Base(repo) + "/.git"

	cfg := releaseConfig(t, repo)
	cfg.Repo, cfg.EnterpriseRepo = url, url
	if asBuildUser {
		cfg.BuildUser = buildUser(t)
		cfg.CacheDir = filepath.Join(sharedDir(t), "releases")
	}
	var logs bytes.Buffer
	var mu sync.Mutex
	cfg.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := odoo.NewReleases(cfg)

	// Watch every process's command line while the release is built.
	stop := make(chan struct{})
	var seen []string
	var watcher sync.WaitGroup
	watcher.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			entries, _ := os.ReadDir("/proc")
			for _, e := range entries {
				b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
				if err == nil && bytes.Contains(b, []byte(token)) {
					seen = append(seen, strings.ReplaceAll(string(b), "\x00", " "))
				}
			}
			time.Sleep(time.Millisecond)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rel, err := r.Ensure(ctx, nil)
	close(stop)
	watcher.Wait()
	if err != nil {
		t.Fatalf("Ensure from a repository behind a token: %v", err)
	}
	if served.Load() == 0 {
		t.Fatal("the git server let no request through: the credentials never reached it")
	}
	if strings.Contains(err2s(err), token) {
		t.Errorf("the error holds the token")
	}
	for _, c := range seen {
		t.Errorf("a command line carried the token: %s", c)
	}
	mu.Lock()
	if strings.Contains(logs.String(), token) {
		t.Errorf("the log holds the token:\n%s", logs.String())
	}
	mu.Unlock()
	if strings.Contains(rel.Repo, token) {
		t.Errorf("the release records the repository as %s", rel.Repo)
	}
	for _, dir := range []string{rel.Dir, cfg.CacheDir} {
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !d.Type().IsRegular() {
				return nil
			}
			if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(token)) {
				t.Errorf("%s holds the token", p)
			}
			return nil
		})
	}
	for _, cfgFile := range []string{filepath.Join(rel.Dir, "odoo", ".git", "config"), filepath.Join(rel.Dir, "enterprise", ".git", "config")} {
		b, err := os.ReadFile(cfgFile)
		if err != nil {
			t.Errorf("%s: %v", cfgFile, err)
			continue
		}
		if !strings.Contains(string(b), srv.URL) {
			t.Errorf("%s does not name the repository without credentials:\n%s", cfgFile, b)
		}
	}
}

func err2s(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
