package e2e

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"odoobot/internal/app"
)

// TestLogsOfAHugeLine: an instance writes one 300 MB line into its
// odoo.log; `odoobot logs` answers with that line cut, saying so, and
// its memory (the process's peak resident set) stays far below the
// line's size.
func TestLogsOfAHugeLine(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	inst := createReady(t, ctx, a, uniqueName(t, "hugelog"))
	log := a.Config.Layout().Paths(inst).Log
	f, err := os.OpenFile(log, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	// 300 MB without a newline (sparse: NUL bytes), then its end.
	const huge = 300 << 20
	if err := f.Truncate(st.Size() + huge); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("the end of the huge line\n"), st.Size()+huge); err != nil {
		t.Fatal(err)
	}
	f.Close()

	cmd := env.command(ctx, odoobotBin(t), "logs", inst.Name, "20")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("odoobot logs: %v\n%.2000s", err, out)
	}
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB
	t.Logf("odoobot logs of a 300 MB line: %d bytes of output, peak RSS %d MiB", len(out), rss>>10)
	if rss > 150<<10 {
		t.Errorf("odoobot logs peaked at %d MiB of memory for a 300 MB line; want it bounded (at most 150 MiB)", rss>>10)
	}
	if !strings.Contains(string(out), "line cut") || len(out) > 100<<10 {
		t.Errorf("the answer (%d bytes) does not cut the line with a note:\n%.2000q", len(out), out)
	}
	requireAnswers(t, ctx, inst)
}
