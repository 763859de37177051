package offsite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"odoobot/internal/childenv"
	"odoobot/internal/tailbuf"
)

// The bounds of a restic run's output.
const (
	// stderrMax is how much of restic's standard error is kept: its
	// last 64 KiB, where its fatal message is.
	stderrMax = 64 << 10
	// jsonMax is the most JSON odoobot reads from restic (a snapshot
	// listing): past it the run is stopped and fails. 64 MiB holds
	// about 100,000 snapshots.
	jsonMax = 64 << 20
)

// errTooMuch is what a bounded writer answers once its bound is passed.
var errTooMuch = errors.New("more output than allowed")

// run is one restic run.
type run struct {
	args   []string  // the subcommand and its arguments, without the global flags
	dir    string    // the working directory; "" for the process's own
	stdout io.Writer // where standard output goes; nil discards it
}

// runResult is what a run left: its standard error's tail (the
// repository and password file named by setting, never by value) and
// its exit code (-1 when it did not exit by itself).
type runResult struct {
	stderr string
	exit   int
}

// runRestic runs restic with ctx bounding it, in a process group of its own
// killed whole when ctx ends, with the minimal environment of every
// child (never odoobot's own) plus the repository's settings and the
// backend's variables. The repository and the password file reach
// restic only through its environment, never its command line. A
// failure is returned as it came (an *exec.ExitError, a start error or
// a writer's error), for classify.
func (r *Restic) runRestic(ctx context.Context, rn run) (runResult, error) {
	bin := r.Binary
	if bin == "" {
		bin = "restic"
	}
	path, err := lookPath(bin)
	if err != nil {
		return runResult{exit: -1}, err
	}
	// The global flags first: a subcommand's arguments may end in
	// "--" and names.
	args := []string{"--no-cache"}
	if r.CacheDir != "" {
		args = []string{"--cache-dir", r.CacheDir}
	}
	args = append(args, rn.args...)
	cmd := exec.CommandContext(ctx, path, args...)
	// The backend's variables first: where one repeats a key set
	// below, exec keeps the last, so the repository and password file
	// are always these.
	env := append([]string{}, r.Env...)
	env = append(env,
		"RESTIC_REPOSITORY="+r.Repository,
		"RESTIC_PASSWORD_FILE="+r.PasswordFile,
		"TZ=UTC",
	)
	cmd.Env = childenv.Env(env...)
	cmd.Dir = rn.dir
	// No standard input: restic would read a password from it.
	cmd.Stdin = nil
	cmd.Stdout = rn.stdout
	if cmd.Stdout == nil {
		cmd.Stdout = io.Discard
	}
	stderr := &tailbuf.Buffer{Max: stderrMax}
	cmd.Stderr = stderr
	// A process group of its own: a run given up on is killed with
	// whatever it started, which would otherwise hold the output open.
	// Pdeathsig: a restic whose odoobot died (killed, crashed) dies
	// with it rather than pushing on, holding its lock, unwatched.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	res := runResult{stderr: r.redact(stderr.String()), exit: -1}
	if cmd.ProcessState != nil {
		res.exit = cmd.ProcessState.ExitCode()
	}
	return res, err
}

// lookPath finds bin: a name is looked for in the children's PATH
// (childenv.Path), never odoobot's own; a path is used as it is.
func lookPath(bin string) (string, error) {
	if strings.ContainsRune(bin, '/') {
		return bin, nil
	}
	for _, dir := range strings.Split(childenv.Path, ":") {
		p := dir + "/" + bin
		if _, err := exec.LookPath(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%q not found in %s: %w", bin, childenv.Path, exec.ErrNotFound)
}

// capBuffer keeps what is written to it up to max bytes, and fails the
// write that would pass it (and every one after), calling onOver once.
type capBuffer struct {
	bytes.Buffer
	max    int
	over   bool
	onOver func()
}

func (b *capBuffer) Write(p []byte) (int, error) {
	if b.over || b.Len()+len(p) > b.max {
		if !b.over && b.onOver != nil {
			b.onOver()
		}
		b.over = true
		return 0, errTooMuch
	}
	return b.Buffer.Write(p)
}

// capWriter writes to w up to max bytes in all, and fails the write
// that would pass it (and every one after), calling onOver once.
type capWriter struct {
	w      io.Writer
	max    int64
	n      int64
	over   bool
	onOver func()
}

func (c *capWriter) Write(p []byte) (int, error) {
	if c.over || c.n+int64(len(p)) > c.max {
		if !c.over && c.onOver != nil {
			c.onOver()
		}
		c.over = true
		return 0, errTooMuch
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
