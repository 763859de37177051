package odoo

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"os/user"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"odoobot/internal/tailbuf"
	"odoobot/provision"
)

// Runs runs a release's odoo-bin on an instance's database
// (provision.OdooRuns). The zero value is ready; its timeouts default to
// the contract's.
type Runs struct {
	// NeutralizeTimeout and UpdateTimeout bound one run; zero is 10 and
	// 30 minutes.
	NeutralizeTimeout, UpdateTimeout time.Duration
}

var _ provision.OdooRuns = (*Runs)(nil)

// The contract's timeouts: neutralize is a few UPDATEs, seconds on a
// large database; `-u all` is minutes on a large database with many
// modules.
const (
	neutralizeTimeout = 10 * time.Minute
	updateTimeout     = 30 * time.Minute
)

// prlimitBin sets a resource limit and executes a program under it.
const prlimitBin = "/usr/bin/prlimit"

// outputMax is how much of Odoo's output a run keeps: its last 4 MiB,
// which hold why it failed (a module update logs a line or two per
// module).
const outputMax = 4 << 20

// Neutralize runs `odoo-bin neutralize` on run.DB (provision.OdooRuns).
// --stop-after-init makes an odoo-bin that does not know neutralize stop
// rather than serve; the caller's check of database.is_neutralized then
// says it did not neutralize.
func (r *Runs) Neutralize(ctx context.Context, rel provision.Release, run provision.OdooRun) error {
	ctx, cancel := context.WithTimeout(ctx, orDefault(r.NeutralizeTimeout, neutralizeTimeout))
	defer cancel()
	out, err := runOdoo(ctx, rel, run, "neutralize", "-c", run.Conf, "-d", run.DB, "--logfile", "", "--stop-after-init")
	if err != nil {
		return fmt.Errorf("odoo-bin neutralize: %w%s", err, provision.RedactURLs(tailText(out, 1500)))
	}
	return nil
}

// Update runs `odoo-bin -u <modules> --stop-after-init --no-http` on
// run.DB (provision.OdooRuns); no modules is "all".
func (r *Runs) Update(ctx context.Context, rel provision.Release, run provision.OdooRun, modules ...string) error {
	for _, m := range modules {
		if m == "" || strings.ContainsAny(m, ", \t\n") || strings.HasPrefix(m, "-") {
			return fmt.Errorf("odoo: update: %q is not a module name", m)
		}
	}
	which := "all"
	if len(modules) > 0 {
		which = strings.Join(modules, ",")
	}
	ctx, cancel := context.WithTimeout(ctx, orDefault(r.UpdateTimeout, updateTimeout))
	defer cancel()
	out, err := runOdoo(ctx, rel, run, "-c", run.Conf, "-d", run.DB, "-u", which,
		"--stop-after-init", "--no-http", "--logfile", "")
	if err != nil {
		return fmt.Errorf("odoo-bin -u %s: %w%s", which, err, provision.RedactURLs(whyOdooFailed(out)))
	}
	return nil
}

// runOdoo runs rel's odoo-bin with args as system user run.User (its
// primary group, no supplementary groups), in a process group of its own
// killed whole when ctx ends, in run.Dir, with the minimal
// environment of every child (never odoobot's, which holds secrets), and
// returns the last outputMax bytes of its combined output. A user that
// does not exist is an error before anything runs.
func runOdoo(ctx context.Context, rel provision.Release, run provision.OdooRun, args ...string) (string, error) {
	if rel.Python == "" || rel.OdooBin == "" {
		return "", errors.New("odoo: the release has no python or odoo-bin")
	}
	uid, gid, err := lookupSystemUser(run.User)
	if err != nil {
		return "", err
	}
	out := &tailbuf.Buffer{Max: outputMax}
	argv := append([]string{rel.Python, rel.OdooBin}, args...)
	if run.MemoryMax > 0 {
		// util-linux's prlimit (Debian's essential set), run as the user,
		// lowers its own limit and executes Python under it: lowering
		// needs no privilege, where setting another process's would.
		argv = append([]string{prlimitBin, "--as=" + strconv.FormatInt(run.MemoryMax, 10), "--"}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = minimalEnv()
	cmd.Dir = run.Dir
	cmd.Stdout, cmd.Stderr = out, out
	// A process group of its own: a run given up on is killed with
	// whatever it started, which would otherwise hold the output open.
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}},
		Setpgid:    true,
	}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("%w (gave up: %w)", err, ctx.Err())
	}
	return out.String(), err
}

// lookupSystemUser returns the uid and gid of system user name, or an
// error saying how to make it.
func lookupSystemUser(name string) (uid, gid uint32, err error) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, fmt.Errorf("odoo: system user %q does not exist: create it (useradd --system %s), or set SERVICE_USER for shared instances", name, name)
	}
	uid64, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("odoo: system user %q: uid %q: %w", name, u.Uid, err)
	}
	gid64, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("odoo: system user %q: gid %q: %w", name, u.Gid, err)
	}
	return uint32(uid64), uint32(gid64), nil
}

// orDefault is d, or def when d is zero.
func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// odooProblem matches a line of Odoo's log at level ERROR or CRITICAL;
// pythonFailure the last line of a Python traceback.
var (
	odooProblem   = regexp.MustCompile(`^\S+ \S+ \d+ (ERROR|CRITICAL) `)
	pythonFailure = regexp.MustCompile(`^[A-Za-z_][\w.]*(Error|Exception|Warning)\b:?`)
)

// whyOdooFailed picks from Odoo's output the lines that say why it
// failed: its ERROR and CRITICAL lines, and each exception's last line
// with the lines of its message after it (blank lines skipped, up to the
// next log line, traceback or "View error context", at most 8); each
// line once, at most 24, cut at 300 bytes, after a newline. The
// output's tail (1,500 bytes) when none is found.
func whyOdooFailed(out string) string {
	var picked []string
	seen := map[string]bool{}
	pick := func(l string) {
		if len(l) > 300 {
			l = l[:300] + "…"
		}
		if !seen[l] {
			seen[l] = true
			picked = append(picked, l)
		}
	}
	lines := strings.Split(out, "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimRight(lines[i], "\r ")
		switch {
		case odooProblem.MatchString(l):
			pick(l)
		case pythonFailure.MatchString(l):
			pick(l)
			for j, n := i+1, 0; j < len(lines) && n < 8; j++ {
				next := strings.TrimRight(lines[j], "\r ")
				if odooProblem.MatchString(next) || strings.HasPrefix(next, "Traceback") || strings.HasPrefix(next, "View error context") {
					break
				}
				i = j
				if strings.TrimSpace(next) != "" {
					pick(next)
					n++
				}
			}
		}
	}
	if len(picked) == 0 {
		return tailText(out, 1500)
	}
	if len(picked) > 24 {
		picked = picked[len(picked)-24:]
	}
	return "\n" + strings.Join(picked, "\n")
}

// tailText is the end of s, at most n bytes, after a newline; "" when s
// is blank.
func tailText(s string, n int) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return "\n" + s
}

// Open runs `odoo-bin --stop-after-init --no-http` on run.DB, no module
// named (provision.OdooRuns): Odoo loads the database's registry and
// stops. Odoo exits 0 for a database it did not load (one that is not
// an Odoo database: it logs "Database … not initialized" and loads
// nothing), so a run that logged an ERROR or CRITICAL line has not
// opened it either. It gives up after NeutralizeTimeout (10 minutes).
func (r *Runs) Open(ctx context.Context, rel provision.Release, run provision.OdooRun) error {
	ctx, cancel := context.WithTimeout(ctx, orDefault(r.NeutralizeTimeout, neutralizeTimeout))
	defer cancel()
	out, err := runOdoo(ctx, rel, run, "-c", run.Conf, "-d", run.DB, "--stop-after-init", "--no-http", "--logfile", "")
	if err != nil {
		return fmt.Errorf("odoo-bin --stop-after-init: %w%s", err, provision.RedactURLs(whyOdooFailed(out)))
	}
	for _, l := range strings.Split(out, "\n") {
		if odooProblem.MatchString(strings.TrimRight(l, "\r ")) {
			return fmt.Errorf("odoo-bin --stop-after-init exited 0 but logged errors loading %s:%s", run.DB, provision.RedactURLs(whyOdooFailed(out)))
		}
	}
	return nil
}
