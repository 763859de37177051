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
	"os/user"
	"strings"
	"sync"

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
	failed  bool // a thread finished in failure (its root starts with ❌)
}

var (
	_ commands.Responder        = (*Responder)(nil)
	_ commands.PrivateResponder = (*Responder)(nil)
	_ commands.Thread           = (*thread)(nil)
)

// NewResponder writes to out, for the terminal adapter.
func NewResponder(out io.Writer) *Responder { return &Responder{out: out} }

// NewCLIResponder writes to out for one CLI command: a confirmation is
// asked for by --yes, not by typing /odoo confirm.
func NewCLIResponder(out io.Writer) *Responder { return &Responder{out: out, cli: true} }

func (r *Responder) println(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
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

// Long writes a title (when there is one) and the text in full.
func (r *Responder) Long(_ context.Context, title, text string) error {
	if title == "" {
		r.println(text)
		return nil
	}
	r.println("── " + title + "\n" + text)
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

// Failed reports whether a job's thread finished in failure: the CLI then
// exits non-zero.
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

type thread struct{ r *Responder }

func (t *thread) Post(_ context.Context, text string) error {
	t.r.println("    │ " + text)
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
