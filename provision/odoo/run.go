// Package odoo builds shared Odoo releases (a source tree and its virtual
// environment, cached per commit) and creates instance databases from
// per-release templates, as Odoo's own duplicate does.
package odoo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"time"

	"odoobot/internal/childenv"
	"odoobot/provision"
)

// tailBytes is how much of a failed command's output an error carries.
const tailBytes = 2048

// run runs name with args in dir and returns its combined output. The
// child gets env, or minimalEnv() when env is nil: never odoobot's own
// environment, which holds tokens. A failure's error names the command
// (its first two words) and carries the tail of the output.
func run(ctx context.Context, dir string, env []string, name string, args ...string) ([]byte, error) {
	return runAs(ctx, nil, dir, env, name, args...)
}

// runAs is run with the child running as the build user b (BuildUser.apply;
// nil runs it as odoobot's own user).
func runAs(ctx context.Context, b *BuildUser, dir string, env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env == nil {
		env = minimalEnv()
	}
	cmd.Env = env
	b.apply(cmd)
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.Stdin = nil
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("%s: %w%s", short(name, args), err, provision.RedactURLs(tailOf(out.Bytes())))
	}
	return out.Bytes(), nil
}

// short names a command by its program and first argument.
func short(name string, args []string) string {
	s := name
	if len(args) > 0 {
		s += " " + args[0]
	}
	return s
}

// tailOf formats the end of a command's output for an error message.
func tailOf(out []byte) string {
	out = bytes.TrimSpace(out)
	if len(out) == 0 {
		return ""
	}
	if len(out) > tailBytes {
		out = out[len(out)-tailBytes:]
		if i := bytes.IndexByte(out, '\n'); i >= 0 {
			out = out[i+1:]
		}
		return "\noutput (tail):\n…" + string(out)
	}
	return "\noutput:\n" + string(out)
}

// childPath and childHome are the child's PATH and HOME (childenv).
const (
	childPath = childenv.Path
	childHome = childenv.Home
)

// minimalEnv is the environment of every child process (childenv.Env).
func minimalEnv() []string { return childenv.Env() }

// gitEnv is the environment git runs with: minimalEnv, no system or
// global configuration, and never a prompt for credentials.
func gitEnv() []string {
	return append(minimalEnv(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=true")
}

// orDiscard returns l, or a logger that writes nothing when l is nil.
func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return l
}

// firstLine returns the first line of s, trimmed.
func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
