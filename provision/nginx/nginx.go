// Package nginx installs, tests, reloads and removes the nginx sites of
// odoobot's instances, and verifies that a site answers through nginx.
//
// A site is a file <Available>/<name> linked from <Enabled>/<name>, as on
// Debian. The text of a site is rendered elsewhere (templates); this
// package only writes it and guards nginx: a site that `nginx -t` refuses
// is never left enabled, and nginx is never reloaded with a configuration
// that failed its test.
//
// # Order of an install and the crash window
//
// Install first tests a candidate configuration without touching the real
// directories: it copies the main nginx.conf to a hidden temporary file
// beside it (so that its relative includes still resolve), with every
// mention of the Enabled directory pointed at a temporary directory that
// holds links to the currently enabled sites plus the new site text. Only
// when that candidate passes `nginx -t` does Install write <Available>/<name>
// (temp file + rename), link <Enabled>/<name> and reload: the real
// configuration is then the candidate's, so it is not tested a second
// time (each `nginx -t` parses every enabled site). A process killed at any point therefore leaves
// either nothing or a site that passed `nginx -t`, never a broken one; the
// caller's undo (Remove) deletes such a leftover.
//
// If the main configuration does not name the Enabled directory literally
// (for example `include sites-enabled/*;` with a relative path, or an
// include reached through another file), the candidate cannot be built and
// Install falls back to: write, link, test, and on failure restore. In that
// mode a process killed between the link and the end of the test may leave
// a broken site enabled (nginx itself keeps running on its old
// configuration, since nothing reloads it); the caller's undo (Remove), or
// a retried Install with good text, clears it.
//
// Every operation of one Sites is serialized by a mutex, so that two
// installs in the same process never see each other's half-done state.
package nginx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/google/renameio/v2"

	"odoobot/internal/atomicfile"
	"odoobot/internal/childenv"
)

// Config says where the sites live and how to test and reload nginx.
// Available and Enabled are required; every other field has a default.
type Config struct {
	// Available is the sites-available directory (/etc/nginx/sites-available).
	Available string
	// Enabled is the sites-enabled directory (/etc/nginx/sites-enabled).
	Enabled string
	// Binary is the nginx binary; default "nginx" (Debian: /usr/sbin/nginx).
	Binary string
	// Conf is the main configuration file, used to build the candidate
	// configuration of Install; default /etc/nginx/nginx.conf. A "-c FILE"
	// in TestArgs takes precedence over it.
	Conf string
	// TestArgs are extra arguments for `nginx -t`, e.g. ["-c", conf, "-p",
	// prefix] in tests; none in production.
	TestArgs []string
	// Reload reloads nginx after a successful test. Production wiring uses
	// systemd (reload of nginx.service). Nil runs `<Binary> <TestArgs> -s
	// reload`.
	Reload func(ctx context.Context) error
	// HTTPAddr is where nginx listens for plain HTTP, for Verify; default
	// 127.0.0.1:80.
	HTTPAddr string
	// HTTPSAddr is where nginx listens for HTTPS, for Verify; default
	// 127.0.0.1:443.
	HTTPSAddr string
	// DpkgStatus is dpkg's status file, where Origin.Ensure recognises
	// Debian's stock default site by the MD5 dpkg recorded for it; default
	// /var/lib/dpkg/status.
	DpkgStatus string
	// Logger receives what was done; nil discards.
	Logger *slog.Logger
}

// Sites manages the nginx sites of one host. It is safe for concurrent
// use; its operations run one at a time.
type Sites struct {
	cfg Config
	log *slog.Logger
	mu  sync.Mutex
}

// New returns Sites for cfg, filling the defaults of Config.
func New(cfg Config) *Sites {
	if cfg.Binary == "" {
		cfg.Binary = "nginx"
	}
	if cfg.Conf == "" {
		cfg.Conf = "/etc/nginx/nginx.conf"
	}
	if cfg.DpkgStatus == "" {
		cfg.DpkgStatus = "/var/lib/dpkg/status"
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = "127.0.0.1:80"
	}
	if cfg.HTTPSAddr == "" {
		cfg.HTTPSAddr = "127.0.0.1:443"
	}
	cfg.Available = filepath.Clean(cfg.Available)
	cfg.Enabled = filepath.Clean(cfg.Enabled)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sites{cfg: cfg, log: log}
}

// ErrBadName is returned for a site name that could leave the site
// directories or is not an instance's internal name: it must be 1 to 128
// characters of [a-z0-9-], starting with a letter or digit.
var ErrBadName = errors.New("invalid site name")

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,127}$`)

func checkName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("%w %q: use 1-128 characters of a-z, 0-9 and '-', starting with a letter or digit", ErrBadName, name)
	}
	return nil
}

// TestError is a failed `nginx -t`. Output is nginx's own message, trimmed
// to the lines that matter (e.g. `[emerg] unknown directive "x" in
// /etc/nginx/sites-enabled/prod-acme:3`); it holds no secret and may be
// shown to the user.
type TestError struct {
	Output string
	Err    error // the exit error of nginx
}

func (e *TestError) Error() string { return "nginx -t failed: " + e.Output }

func (e *TestError) Unwrap() error { return e.Err }

// Install writes site as <Available>/<name> (temp file + rename, mode
// 0644), links <Enabled>/<name> to it, tests the configuration and reloads
// nginx.
//
// If the test fails, the previous state is restored: the file's previous
// content if it had one (an update that breaks returns to the old good
// site) or no file, and the link as it was; nginx is not reloaded, and the
// error wraps a *TestError carrying nginx's message. Install never
// replaces a regular file at <Enabled>/<name>: that is refused.
//
// Installing the same content again changes no file but still tests and
// reloads, so that a retry after an interrupted install always ends with
// nginx serving the site.
func (s *Sites) Install(ctx context.Context, name string, site []byte) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("nginx: install: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.install(ctx, name, site)
}

// install is Install with s.mu held.
func (s *Sites) install(ctx context.Context, name string, site []byte) error {
	avail := filepath.Join(s.cfg.Available, name)
	link := filepath.Join(s.cfg.Enabled, name)

	old, err := os.ReadFile(avail)
	hadOld := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("nginx: install %s: read current site: %w", name, err)
	}
	oldTarget, hadLink, err := readLink(link)
	if err != nil {
		return fmt.Errorf("nginx: install %s: %w", name, err)
	}
	unchanged := hadOld && bytes.Equal(old, site) && hadLink && oldTarget == avail

	tested := false
	if !unchanged {
		// Test the candidate before anything real is touched.
		tested, err = s.testCandidate(ctx, name, site)
		if err != nil {
			s.log.Warn("nginx: site refused by nginx -t on a candidate configuration; nothing changed", "site", name, "err", err)
			return fmt.Errorf("nginx: install %s: %w", name, err)
		}
		if !tested {
			s.log.Info("nginx: main configuration does not name the enabled directory literally; testing in place",
				"conf", s.mainConf(), "enabled", s.cfg.Enabled)
		}
		if err := atomicfile.Write(avail, site, 0o644); err != nil {
			return fmt.Errorf("nginx: install %s: %w", name, err)
		}
		if !hadLink || oldTarget != avail {
			if err := renameio.Symlink(avail, link); err != nil {
				rerr := s.restore(name, old, hadOld, oldTarget, hadLink)
				return errors.Join(fmt.Errorf("nginx: install %s: %w", name, err), rerr)
			}
		}
	}

	if err := s.testInstalled(ctx, tested); err != nil {
		if unchanged {
			return fmt.Errorf("nginx: install %s (unchanged): %w", name, err)
		}
		rerr := s.restore(name, old, hadOld, oldTarget, hadLink)
		if rerr != nil {
			s.log.Error("nginx: restore after failed test", "site", name, "err", rerr)
		} else {
			s.log.Warn("nginx: site refused by nginx -t, previous state restored", "site", name, "restored_previous", hadOld)
		}
		return errors.Join(fmt.Errorf("nginx: install %s: %w", name, err), rerr)
	}
	if err := s.reload(ctx); err != nil {
		return fmt.Errorf("nginx: install %s: %w", name, err)
	}
	s.log.Info("nginx: site installed", "site", name, "file", avail, "changed", !unchanged)
	return nil
}

// restore puts <Available>/<name> and <Enabled>/<name> back as they were
// before an install.
func (s *Sites) restore(name string, old []byte, hadOld bool, oldTarget string, hadLink bool) error {
	avail := filepath.Join(s.cfg.Available, name)
	link := filepath.Join(s.cfg.Enabled, name)
	var errs []error
	if hadLink {
		if err := renameio.Symlink(oldTarget, link); err != nil {
			errs = append(errs, err)
		}
	} else if err := os.Remove(link); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, fmt.Errorf("remove link: %w", err))
	}
	if hadOld {
		if err := atomicfile.Write(avail, old, 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restore previous site: %w", err))
		}
	} else if err := os.Remove(avail); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, fmt.Errorf("remove site: %w", err))
	}
	if len(errs) > 0 {
		return fmt.Errorf("nginx: restore %s: %w", name, errors.Join(errs...))
	}
	return nil
}

// Remove deletes <Enabled>/<name> and <Available>/<name>, tests the
// configuration and reloads nginx. A site that is not there is not an
// error, and then nothing is tested or reloaded. A regular file (not a
// link) at <Enabled>/<name> is removed too: it would be served otherwise.
func (s *Sites) Remove(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("nginx: remove: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	removed := false
	for _, p := range []string{filepath.Join(s.cfg.Enabled, name), filepath.Join(s.cfg.Available, name)} {
		err := os.Remove(p)
		switch {
		case err == nil:
			removed = true
		case errors.Is(err, fs.ErrNotExist):
		default:
			return fmt.Errorf("nginx: remove %s: %w", name, err)
		}
	}
	if !removed {
		return nil
	}
	if err := s.test(ctx); err != nil {
		return fmt.Errorf("nginx: remove %s: %w", name, err)
	}
	if err := s.reload(ctx); err != nil {
		return fmt.Errorf("nginx: remove %s: %w", name, err)
	}
	s.log.Info("nginx: site removed", "site", name)
	return nil
}

// Test runs `nginx -t` on the real configuration. A refusal is returned as
// a *TestError; warnings of a passing test are logged.
func (s *Sites) Test(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.test(ctx); err != nil {
		return fmt.Errorf("nginx: %w", err)
	}
	return nil
}

// testInstalled tests the real configuration after an install wrote
// its site, unless candidateTested: the candidate that passed is that
// same configuration (the same main file and the same enabled entries,
// with s.mu held throughout), and each `nginx -t` parses every enabled
// site, so a second one only doubled the time an install grows by with
// the number of sites.
func (s *Sites) testInstalled(ctx context.Context, candidateTested bool) error {
	if candidateTested {
		return nil
	}
	return s.test(ctx)
}

func (s *Sites) test(ctx context.Context) error {
	return s.runTest(ctx, s.cfg.TestArgs, nil)
}

// runTest runs `nginx -t` with args; rewrite, when set, fixes the paths in
// nginx's output.
func (s *Sites) runTest(ctx context.Context, args []string, rewrite *strings.Replacer) error {
	cmd := exec.CommandContext(ctx, s.cfg.Binary, append(append([]string{}, args...), "-t")...)
	cmd.Env = childenv.Env()
	out, err := cmd.CombinedOutput()
	text := string(out)
	if rewrite != nil {
		text = rewrite.Replace(text)
	}
	msg := trimTestOutput(text)
	if err != nil {
		if msg == "" {
			msg = err.Error()
		}
		return &TestError{Output: msg, Err: err}
	}
	if msg != "" {
		s.log.Warn("nginx: test passed with warnings", "output", msg)
	}
	return nil
}

func (s *Sites) reload(ctx context.Context) error {
	if s.cfg.Reload != nil {
		if err := s.cfg.Reload(ctx); err != nil {
			return fmt.Errorf("reload: %w", err)
		}
		return nil
	}
	args := append(append([]string{}, s.cfg.TestArgs...), "-s", "reload")
	cmd := exec.CommandContext(ctx, s.cfg.Binary, args...)
	cmd.Env = childenv.Env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("reload: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// logPrefix matches the "2024/01/02 15:04:05 [emerg] 123#123: " of an
// error_log line and the "nginx: " of a line printed before logging starts.
var logPrefix = regexp.MustCompile(`^(?:\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (\[\w+\]) \d+#\d+: |nginx: )`)

// trimTestOutput keeps the lines of `nginx -t` that say something: the
// emerg/warn messages, without timestamps, pids and the closing
// "syntax is ok" / "test failed" lines.
func trimTestOutput(out string) string {
	var keep []string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		line = logPrefix.ReplaceAllString(line, "$1 ")
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "the configuration file ") && strings.HasSuffix(line, "syntax is ok") ||
			strings.HasPrefix(line, "configuration file ") && (strings.HasSuffix(line, "test is successful") || strings.HasSuffix(line, "test failed")) {
			continue
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "\n")
}

// readLink reports the target of the link at path. A missing path is
// ("", false, nil); anything there that is not a symlink is an error.
func readLink(path string) (target string, ok bool, err error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("inspect %s: %w", path, err)
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		return "", false, fmt.Errorf("%s exists and is not a symbolic link; refusing to replace it", path)
	}
	target, err = os.Readlink(path)
	if err != nil {
		return "", false, fmt.Errorf("read link %s: %w", path, err)
	}
	return target, true, nil
}
