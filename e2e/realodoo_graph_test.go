package e2e

import (
	"context"
	"os"
	"testing"
	"time"

	"odoobot/internal/app"
	"odoobot/provision"
)

// TestRealOdooGraph draws the README's graph (docs/status-graph.png)
// from a real Odoo 19.0 instance: `odoobot serve` samples it every 5 s
// while a browser-like client loads its login page, an operator
// restarts it and backs it up from the Slack double, and `status NAME`
// uploads the graph, written to $ODOOBOT_GRAPH_OUT (a path the sandbox
// sees). It runs only when ODOOBOT_GRAPH_OUT is set.
func TestRealOdooGraph(t *testing.T) {
	out := os.Getenv("ODOOBOT_GRAPH_OUT")
	if out == "" {
		t.Skip("ODOOBOT_GRAPH_OUT is not set: this test only draws the README's graph")
	}
	needSandbox(t)
	env := realOdooEnv(t, "19.0")
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	name := uniqueName(t, "graph")
	inst, _ := createRealOdoo(t, ctx, a, name)

	f := newSlackFake(t)
	bot := startServe(t, append(slackServeEnv(env, f, writeSlackAllowlist(t, env)), "METRICS_EVERY=5s", "WATCH_INTERVAL=0"))
	f.waitConnected(t, bot)

	// A user's traffic: the login page, now and then, through nginx.
	load, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	go func() {
		for load.Err() == nil {
			_, _, _ = get(load, inst.Domain, "/web/login")
			select {
			case <-load.Done():
			case <-time.After(700 * time.Millisecond):
			}
		}
	}()
	wait := func(d time.Duration) {
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(d):
		}
	}
	markers := func(kind provision.MarkerKind) int {
		ms, _ := a.Store.Markers(ctx, name, time.Now().Add(-time.Hour))
		n := 0
		for _, m := range ms {
			if m.Kind == kind {
				n++
			}
		}
		return n
	}
	wait(90 * time.Second)
	f.waitAck(t, f.slash(t, slackAdmin, "ana", "restart "+name))
	waitSlack(t, f, bot, 3*time.Minute, "the restart recorded", func() bool { return markers(provision.MarkRestart) == 1 })
	wait(90 * time.Second)
	f.waitAck(t, f.slash(t, slackAdmin, "ana", "backup "+name))
	waitSlack(t, f, bot, 5*time.Minute, "the backup recorded", func() bool { return markers(provision.MarkBackup) == 1 })
	wait(90 * time.Second)
	stopLoad()

	mark := len(f.channelUploads())
	f.waitAck(t, f.slash(t, slackAdmin, "ana", "status "+name))
	waitSlack(t, f, bot, time.Minute, "the status graph's upload", func() bool { return len(f.channelUploads()) > mark })
	png := []byte(f.File(f.channelUploads()[mark]))
	requireGraph(t, "status "+name, png)
	samples, err := a.Store.Samples(ctx, name, time.Now().Add(-time.Hour), 10000)
	if err != nil {
		t.Fatal(err)
	}
	requireReadings(t, samples)
	if len(png) > 150<<10 {
		t.Errorf("the graph is %d bytes, want under 150 KiB", len(png))
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("the graph of %s is in %s (%d bytes)", name, out, len(png))
	bot.stop(t)
}
