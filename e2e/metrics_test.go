package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"strings"
	"testing"
	"time"

	"odoobot/bot/discord/discordtest"
	"odoobot/internal/app"
	"odoobot/internal/graph"
	"odoobot/provision"
)

// requireGraph checks that b is what a person would open: a PNG of the
// documented size.
func requireGraph(t *testing.T, what string, b []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: the attachment (%d bytes) does not decode as PNG: %v", what, len(b), err)
	}
	if got := img.Bounds().Size(); got != (image.Point{X: graph.Width, Y: graph.Height}) {
		t.Errorf("%s: the graph is %v, want %dx%d", what, got, graph.Width, graph.Height)
	}
}

// channelUploads are the IDs of the files uploaded into the ops
// channel, in order.
func (f *slackFake) channelUploads() []string {
	var ids []string
	for _, c := range f.CallsOf("files.completeUploadExternal") {
		if c.Form.Get("channel_id") != slackChannel {
			continue
		}
		var files []struct{ ID, Title string }
		_ = json.Unmarshal([]byte(c.Form.Get("files")), &files)
		for _, file := range files {
			ids = append(ids, file.ID)
		}
	}
	return ids
}

// waitSamples waits until serve's sampler has recorded n samples of
// name, and returns them.
func waitSamples(t *testing.T, ctx context.Context, a *app.App, name string, n int) []provision.Sample {
	t.Helper()
	var got []provision.Sample
	if !waitFor(time.Minute, func() bool {
		var err error
		got, err = a.Store.Samples(ctx, name, time.Now().Add(-time.Hour), 1000)
		return err == nil && len(got) >= n
	}) {
		t.Fatalf("%d samples of %s after a minute with METRICS_EVERY=1s, want %d", len(got), name, n)
	}
	return got
}

// requireReadings checks that the samples hold what the sandbox host
// can tell: the unit's memory (its cgroup), its CPU time (systemd has
// none on the sandbox's cgroup v1 layout: read from the kernel) and the
// response time of the site through nginx, each in a sensible range,
// the CPU time in every sample (it may go down: a restart resets it).
func requireReadings(t *testing.T, samples []provision.Sample) {
	t.Helper()
	var mem, cpu, resp int
	for _, s := range samples {
		if s.MemoryBytes != nil && *s.MemoryBytes > 1<<20 && *s.MemoryBytes < 8<<30 {
			mem++
		}
		if s.CPUNanos != nil && *s.CPUNanos > 0 {
			cpu++
		}
		if s.Response != nil && *s.Response > 0 && *s.Response < 10*time.Second {
			resp++
		}
	}
	if mem == 0 || resp == 0 || cpu != len(samples) {
		t.Errorf("of %d samples, %d have a memory figure, %d a CPU time and %d a response time through nginx; want memory and response non-empty and a CPU time in every sample", len(samples), mem, cpu, resp)
	}
}

// TestMetricsStatusGraphOnSlack runs `odoobot serve` with METRICS_EVERY=1s
// against the fake Slack: the sampler records the instance's memory
// and its response time through nginx, and `status NAME` answers with
// its text and then uploads the graph into the channel, a PNG of the
// documented size; `capacity` uploads the host's.
func TestMetricsStatusGraphOnSlack(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	name := uniqueName(t, "graph")
	createReady(t, ctx, a, name)

	f := newSlackFake(t)
	bot := startServe(t, append(slackServeEnv(env, f, writeSlackAllowlist(t, env)), "METRICS_EVERY=1s"))
	f.waitConnected(t, bot)
	requireReadings(t, waitSamples(t, ctx, a, name, 3))

	uploads := f.channelUploads
	mark := f.callCount()
	f.waitAck(t, f.slash(t, slackAdmin, "ana", "status "+name))
	waitSlack(t, f, bot, time.Minute, "the status graph's upload", func() bool { return len(uploads()) == 1 })
	replies := f.since(mark, "chat.postMessage")
	if len(replies) == 0 || !strings.Contains(replies[0].Form.Get("text"), name) {
		t.Errorf("status %s: no text answer before the graph:\n%s", name, f.transcript())
	}
	requireGraph(t, "status "+name, []byte(f.File(uploads()[0])))

	f.waitAck(t, f.slash(t, slackAdmin, "ana", "capacity"))
	waitSlack(t, f, bot, time.Minute, "the capacity graph's upload", func() bool { return len(uploads()) == 2 })
	requireGraph(t, "capacity", []byte(f.File(uploads()[1])))
	bot.stop(t)
	f.checkTokens(t, bot.out.String())
}

// TestMetricsStatusGraphOnDiscord: the same through the fake Discord:
// `/odoo status name:NAME` answers with its text and a PNG attachment
// of the documented size, public like the answer.
func TestMetricsStatusGraphOnDiscord(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	name := uniqueName(t, "dgraph")
	createReady(t, ctx, a, name)

	s := discordtest.New(t, discordtest.Options{AppID: discordApp, Channel: discordChannel})
	bot := startServe(t, append(discordServeEnv(env, s, writeDiscordAllowlist(t, env)), "METRICS_EVERY=1s"))
	requireReadings(t, waitSamples(t, ctx, a, name, 3))

	where := discordtest.Where{Guild: discordGuild, Channel: discordChannel}
	const token = "e2e-token-graph"
	s.Gateway.DeliverInteraction(s.Slash(where, "713000000000009001", token, discordtest.Member{ID: discordAdmin, Name: "ana"}, "odoo", "status", "name", name))
	file := name + "-24h.png"
	var att discordtest.Call
	waitDiscord(t, s, bot, time.Minute, "the status graph attached", func() bool {
		var ok bool
		att, ok = callOf(s, func(c discordtest.Call) bool { return forToken(c, token) && c.Files[file] != "" })
		return ok
	})
	if att.Ephemeral() {
		t.Errorf("the graph was sent ephemeral, want it public like the status answer")
	}
	requireGraph(t, "status "+name, []byte(att.Files[file]))

	// capacity attaches the host's week the same way.
	const capToken = "e2e-token-capgraph"
	s.Gateway.DeliverInteraction(s.Slash(where, "713000000000009002", capToken, discordtest.Member{ID: discordAdmin, Name: "ana"}, "odoo", "capacity"))
	waitDiscord(t, s, bot, time.Minute, "the capacity graph attached", func() bool {
		var ok bool
		att, ok = callOf(s, func(c discordtest.Call) bool { return forToken(c, capToken) && c.Files["capacity-7d.png"] != "" })
		return ok
	})
	if att.Ephemeral() {
		t.Errorf("the capacity graph was sent ephemeral, want it public like the capacity answer")
	}
	requireGraph(t, "capacity", []byte(att.Files["capacity-7d.png"]))
	bot.stop(t)
}
