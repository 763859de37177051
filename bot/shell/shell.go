// Package shell is the terminal adapter, the default when no chat token
// is configured, like Hubot's shell adapter: type "/odoo create acme
// http" and watch the thread as indented lines, then the summary. The
// CLI verbs answer through the same Responder.
package shell

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"odoobot/commands"
	"odoobot/provision"
)

// Handler runs commands; *commands.Dispatcher is one.
type Handler interface {
	Handle(ctx context.Context, req commands.Request, r commands.Responder) (*provision.Task, error)
}

// Responder writes answers to a terminal. It is safe for concurrent use:
// jobs post their progress from other goroutines while the prompt waits.
type Responder struct {
	mu      sync.Mutex
	out     io.Writer
	refused bool
	code    string
	cli     bool // one command per process: confirmations come from --yes
	failed  bool // a thread finished in failure (its root starts with ❌), or a command failed

	// tty is whether out is a terminal, where a step's line is rewritten
	// in place by its progress; elsewhere (a log, a pipe) progress is
	// printed as lines, at most one per progressEvery.
	tty           bool
	progressEvery time.Duration
	last          *stepLine // the step whose line is the last line written, if any
}

// stepLine is a step of a job as the terminal shows it, guarded by its
// Responder's mu.
type stepLine struct {
	printed time.Time // when its progress was last printed (not a terminal)
	shown   bool      // progress was shown
}

// DefaultProgressEvery is the least time between two progress lines of a
// step when the output is not a terminal.
const DefaultProgressEvery = 5 * time.Second

var (
	_ commands.Responder = (*Responder)(nil)
	_ commands.Thread    = (*thread)(nil)
)

// NewResponder writes to out, for the terminal adapter.
func NewResponder(out io.Writer) *Responder {
	return &Responder{out: out, tty: isTerminal(out), progressEvery: DefaultProgressEvery}
}

// NewCLIResponder writes to out for one CLI command: a confirmation is
// asked for by --yes, not by typing /odoo confirm.
func NewCLIResponder(out io.Writer) *Responder {
	r := NewResponder(out)
	r.cli = true
	return r
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (r *Responder) println(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = nil
	fmt.Fprintln(r.out, s)
}

// Refused reports whether a private refusal was written: the CLI then
// exits non-zero.
func (r *Responder) Refused() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refused
}

// Reply writes the answer.
func (r *Responder) Reply(_ context.Context, text string) error {
	r.println(text)
	return nil
}

// Private writes a refusal, marked as such.
func (r *Responder) Private(_ context.Context, text string) error {
	r.mu.Lock()
	r.refused = true
	r.mu.Unlock()
	r.println("✗ " + text)
	return nil
}

// Failure writes a command's failure, marked as a refusal is; the CLI
// then exits non-zero saying the command failed.
func (r *Responder) Failure(_ context.Context, text string) error {
	r.mu.Lock()
	r.failed = true
	r.mu.Unlock()
	r.println("✗ " + text)
	return nil
}

// Long writes a title (when there is one) and the text in full.
func (r *Responder) Long(_ context.Context, title, text string) error {
	if title == "" {
		r.println(text)
		return nil
	}
	r.println("── " + title + "\n" + text)
	return nil
}

// PrivateFile writes the file's content to the terminal, the
// requester's alone, after a line naming it.
func (r *Responder) PrivateFile(ctx context.Context, name, content string) error {
	return r.Long(ctx, name, content)
}

// Attach writes png to a new file (mode 0600) in the temporary
// directory ($TMPDIR), its name ending in name, and prints alt and the
// file's path: a terminal shows no picture.
func (r *Responder) Attach(_ context.Context, name string, png []byte, alt string) error {
	f, err := os.CreateTemp("", "odoobot-*-"+filepath.Base(name))
	if err != nil {
		return fmt.Errorf("shell: attach %s: %w", name, err)
	}
	_, err = f.Write(png)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("shell: attach %s: %w", name, err)
	}
	r.println("── " + alt + ": " + f.Name())
	return nil
}

// PrivateLong is Long: the terminal is the requester's alone.
func (r *Responder) PrivateLong(ctx context.Context, title, text string) error {
	return r.Long(ctx, title, text)
}

// Secret writes text (a password) to the terminal, the requester's
// alone; it is not a refusal.
func (r *Responder) Secret(_ context.Context, text string) error {
	r.println(text)
	return nil
}

// Confirm shows the prompt and the command that confirms it. For the
// CLI it only keeps the code: the command line confirms with --yes, and
// its prompt's deadline means nothing there.
func (r *Responder) Confirm(_ context.Context, prompt, code string) error {
	r.mu.Lock()
	r.code = code
	r.mu.Unlock()
	if r.cli {
		return nil
	}
	r.println(prompt + "\n  to confirm, type: /odoo confirm " + code)
	return nil
}

// AskApproval shows the request for approval, which says what another
// admin types. The dispatcher never asks it of the terminal, which has
// one user: there a command needing approval is refused.
func (r *Responder) AskApproval(_ context.Context, prompt, _ string) (string, error) {
	r.println(prompt)
	return "", nil
}

// Failed reports whether a job's thread finished in failure, or a
// command failed (Failure): the CLI then exits non-zero.
func (r *Responder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

// PendingCode is the code of the last confirmation asked for, "" if none:
// the CLI confirms it itself when given --yes.
func (r *Responder) PendingCode() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.code
}

// Thread writes the root line; the thread's lines follow indented.
func (r *Responder) Thread(_ context.Context, root string) (commands.Thread, error) {
	r.println("▶ " + root)
	return &thread{r: r}, nil
}

type thread struct {
	r   *Responder
	cur *stepLine // the step that started last and has not ended; guarded by r.mu
}

func (t *thread) Post(_ context.Context, text string) error {
	t.r.println("    │ " + text)
	return nil
}

// eraseLine moves the cursor up to the line written last and clears it.
const eraseLine = "\x1b[1A\r\x1b[2K"

// StepLine writes a step's line. On a terminal, its progress rewrites
// the step's line while it is still the last line written (a new line
// otherwise), and its end rewrites the progress; elsewhere progress is
// written as a line at most once per DefaultProgressEvery, and the end
// as a line of its own.
func (t *thread) StepLine(_ context.Context, step string, kind provision.EventKind, line string) error {
	r := t.r
	r.mu.Lock()
	defer r.mu.Unlock()
	text := "    │ " + line
	switch kind {
	case provision.EventStart:
		t.cur = &stepLine{}
		fmt.Fprintln(r.out, text)
		r.last = t.cur
	case provision.EventProgress:
		sl := t.cur
		switch {
		case sl == nil:
		case r.tty && r.last == sl:
			fmt.Fprintln(r.out, eraseLine+text)
			sl.shown = true
		case r.tty:
			fmt.Fprintln(r.out, text)
			r.last, sl.shown = sl, true
		case time.Since(sl.printed) >= r.progressEvery:
			fmt.Fprintln(r.out, text)
			r.last, sl.printed, sl.shown = nil, time.Now(), true
		}
	default:
		sl := t.cur
		t.cur = nil
		if r.tty && sl != nil && sl.shown && r.last == sl {
			text = eraseLine + text
		}
		fmt.Fprintln(r.out, text)
		r.last = nil
	}
	return nil
}

func (t *thread) Finish(_ context.Context, root, summary string) error {
	if strings.HasPrefix(root, "❌") {
		t.r.mu.Lock()
		t.r.failed = true
		t.r.mu.Unlock()
	}
	var b strings.Builder
	b.WriteString("■ " + root)
	for _, l := range strings.Split(strings.TrimRight(summary, "\n"), "\n") {
		b.WriteString("\n    " + l)
	}
	t.r.println(b.String())
	return nil
}

func (t *thread) Ref() map[string]string { return map[string]string{"platform": "shell"} }

// Identity is the local user, as the allowlist's shell grants name them.
func Identity() commands.Identity {
	name := "root"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return commands.Identity{Platform: commands.PlatformShell, UserID: name, UserName: name}
}

// Run reads commands, one a line ("/odoo create acme http", or without
// the "/odoo"), until the input ends or ctx is done. Jobs run in the
// background; their progress appears between prompts. When the input
// ends, Run waits for the jobs it started.
func Run(ctx context.Context, in io.Reader, out io.Writer, h Handler, id commands.Identity) error {
	r := NewResponder(out)
	r.println("odoobot terminal: type /odoo help (Ctrl-D to quit)")
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	var tasks []*provision.Task
	for {
		select {
		case <-ctx.Done():
			return nil
		case line, ok := <-lines:
			if !ok {
				for _, t := range tasks {
					t.Wait(ctx)
				}
				return nil
			}
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			task, err := h.Handle(ctx, commands.Request{Identity: id, Channel: "terminal", Text: line}, r)
			if err != nil {
				r.println("✗ " + err.Error())
			}
			if task != nil {
				tasks = append(tasks, task)
			}
		}
	}
}
