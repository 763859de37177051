package shell

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"odoobot/provision"
)

func stepEvents(t *testing.T, th *thread, n int) {
	t.Helper()
	ctx := context.Background()
	th.StepLine(ctx, "database", provision.EventStart, "12:00:00 … database started")
	for i := 1; i <= n; i++ {
		th.StepLine(ctx, "database", provision.EventProgress, fmt.Sprintf("12:00:01 … database: installing modules %d/%d", i, n))
	}
	th.StepLine(ctx, "database", provision.EventDone, "12:00:41 ✓ database (41.2s)")
}

// TestProgressOnATerminalRewritesTheStepLine: on a terminal, every
// progress report and the step's end rewrite the step's line.
func TestProgressOnATerminalRewritesTheStepLine(t *testing.T) {
	var out bytes.Buffer
	r := NewResponder(&out)
	r.tty = true
	th, _ := r.Thread(context.Background(), "creating prod-acme")
	stepEvents(t, th.(*thread), 50)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2+50+1 {
		t.Fatalf("%d writes, want 53:\n%q", len(lines), lines)
	}
	for _, l := range lines[2:] {
		if !strings.HasPrefix(l, eraseLine) {
			t.Errorf("%q does not rewrite the step's line", l)
		}
	}
	if last := lines[len(lines)-1]; last != eraseLine+"    │ 12:00:41 ✓ database (41.2s)" {
		t.Errorf("last write = %q, want the done line in place", last)
	}
}

// TestProgressOnATerminalAfterOtherOutputStartsANewLine: once something
// else was written, progress does not erase it.
func TestProgressOnATerminalAfterOtherOutputStartsANewLine(t *testing.T) {
	var out bytes.Buffer
	r := NewResponder(&out)
	r.tty = true
	th, _ := r.Thread(context.Background(), "creating prod-acme")
	ctx := context.Background()
	th.(*thread).StepLine(ctx, "release", provision.EventStart, "release started")
	r.Reply(ctx, "an answer to another command")
	th.(*thread).StepLine(ctx, "release", provision.EventProgress, "cloning odoo")
	th.(*thread).StepLine(ctx, "release", provision.EventProgress, "creating venv")
	want := "▶ creating prod-acme\n    │ release started\nan answer to another command\n    │ cloning odoo\n" + eraseLine + "    │ creating venv\n"
	if out.String() != want {
		t.Errorf("output = %q, want %q", out.String(), want)
	}
}

// TestProgressElsewhereIsThrottled: when the output is not a terminal,
// 50 quick reports print one progress line, then the done line.
func TestProgressElsewhereIsThrottled(t *testing.T) {
	var out bytes.Buffer
	r := NewResponder(&out)
	th, _ := r.Thread(context.Background(), "creating prod-acme")
	stepEvents(t, th.(*thread), 50)
	want := "▶ creating prod-acme\n    │ 12:00:00 … database started\n    │ 12:00:01 … database: installing modules 1/50\n    │ 12:00:41 ✓ database (41.2s)\n"
	if out.String() != want {
		t.Errorf("output = %q, want %q", out.String(), want)
	}
	if strings.Contains(out.String(), "\x1b") {
		t.Error("escape sequences written where the output is not a terminal")
	}
}
