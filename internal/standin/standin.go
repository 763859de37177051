// Package standin provides the stand-in Odoo, a test double for odoobot's
// tests: a small stdlib-only Python odoo-bin (see files/odoo-bin and
// files/README.md) that reads a real odoo.conf, initialises a real
// database through psql, serves /web/health on http_port and /websocket on
// gevent_port, and stops on SIGTERM. It is not Odoo.
//
// The files are embedded, so the package works from any working directory
// and from a compiled test binary run inside the sandbox host. MakeRepo and
// Repo commit them into a local git repository on branch Branch, so that
// the real release builder can `git clone --depth 1 --branch 19.0
// file://DIR`. scripts/standin-repo.sh builds the same repository, with the
// same commit ID, from a shell.
package standin

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"odoobot/internal/testenv"
)

// Branch is the branch of the stand-in repository, the Odoo series it
// imitates.
const Branch = "19.0"

// Bin is the path of the stand-in's executable, relative to the repository
// root (as in Odoo's source tree).
const Bin = "odoo-bin"

// AddonsDir is the addons directory relative to the repository root, to be
// listed in odoo.conf's addons_path. The base module lives in odoo/addons,
// which odoo-bin always adds by itself, as Odoo does.
const AddonsDir = "addons"

// Modules returns the modules the stand-in knows (each has a
// __manifest__.py); any other name given to -i is ignored with a warning,
// as Odoo does. Installing one installs its dependencies too.
func Modules() []string { return []string{"base", "web", "contacts", "l10n_ar"} }

// The commit is made with a fixed author, committer and date so that the
// same files always give the same commit ID.
const (
	authorName  = "odoobot tests"
	authorEmail = "tests@odoobot.invalid"
	commitDate  = "2026-01-01T00:00:00Z"
	message     = "stand-in Odoo 19.0 (test double)"
)

//go:embed all:files
var embedded embed.FS

// WriteTree writes the stand-in's files into dir (created if missing):
// odoo-bin with mode 0755, everything else 0644.
func WriteTree(dir string) error {
	sub, err := fs.Sub(embedded, "files")
	if err != nil {
		return fmt.Errorf("standin: write tree: %w", err)
	}
	err = fs.WalkDir(sub, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == "__pycache__" {
			return fs.SkipDir
		}
		dst := filepath.Join(dir, filepath.FromSlash(path))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := fs.ReadFile(sub, path)
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if path == Bin {
			mode = 0o755
		}
		if err := os.WriteFile(dst, data, mode); err != nil {
			return err
		}
		return os.Chmod(dst, mode) // WriteFile's mode is masked by the umask
	})
	if err != nil {
		return fmt.Errorf("standin: write tree: %w", err)
	}
	return nil
}

// MakeRepo makes dir (created if missing, and which must hold no .git yet)
// a git repository with the stand-in's files in one commit on Branch. It
// needs the git program and ignores the user's and the system's git
// configuration.
func MakeRepo(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
		return fmt.Errorf("standin: make repo: %s is already a git repository", dir)
	}
	if err := WriteTree(dir); err != nil {
		return err
	}
	env := append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME="+authorName,
		"GIT_AUTHOR_EMAIL="+authorEmail,
		"GIT_AUTHOR_DATE="+commitDate,
		"GIT_COMMITTER_NAME="+authorName,
		"GIT_COMMITTER_EMAIL="+authorEmail,
		"GIT_COMMITTER_DATE="+commitDate,
	)
	for _, args := range [][]string{
		{"init", "-q", "-b", Branch},
		{"add", "-A"},
		{"commit", "-q", "--no-gpg-sign", "-m", message},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("standin: make repo: git %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
		}
	}
	return nil
}

// Repo makes a stand-in repository in a fresh temporary directory of the
// test and returns its path; clone it with "file://"+path. A machine
// without git stops the test through testenv.Missing.
func Repo(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		testenv.Missing(t, "git is not installed")
	}
	dir := filepath.Join(t.TempDir(), "odoo")
	if err := MakeRepo(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}
