package commands

import (
	"context"
	"errors"

	"odoobot/provision"
)

// Grapher draws the graphs that status and capacity attach, from the
// samples serve takes every METRICS_EVERY (the app's, over the state
// database and internal/graph).
type Grapher interface {
	// StatusGraph is the instance's last 24 hours as a PNG, or an error
	// matching provision.ErrNoSamples when none were taken.
	StatusGraph(ctx context.Context, name string) ([]byte, error)
	// CapacityGraph is the host's last 7 days as a PNG, or an error
	// matching provision.ErrNoSamples when none were taken.
	CapacityGraph(ctx context.Context) ([]byte, error)
}

// graph is one graph to attach: its file name, its text alternative and
// how to draw it.
type graph struct {
	name, alt string
	draw      func(ctx context.Context) ([]byte, error)
}

func statusGraph(g Grapher, name string) *graph {
	if g == nil {
		return nil
	}
	return &graph{name: name + "-24h.png", alt: name + ": memory, CPU and response time over the last 24 hours",
		draw: func(ctx context.Context) ([]byte, error) { return g.StatusGraph(ctx, name) }}
}

func capacityGraph(g Grapher) *graph {
	if g == nil {
		return nil
	}
	return &graph{name: "capacity-7d.png", alt: "host memory (instances stacked) and disk over the last 7 days",
		draw: g.CapacityGraph}
}

// withGraph answers text with send, then attaches g's picture. Without
// samples the text says so instead of an empty picture; a picture that
// cannot be drawn or attached never fails the verb: the text answer
// stands, and the failure is said (and logged). A nil g answers text
// alone.
func (d *Dispatcher) withGraph(ctx context.Context, r Responder, g *graph, text string, send func(context.Context, string) error) error {
	if g == nil {
		return send(ctx, text)
	}
	png, err := g.draw(ctx)
	switch {
	case errors.Is(err, provision.ErrNoSamples):
		text += "\ngraph: no samples yet (serve samples every METRICS_EVERY)"
	case err != nil:
		d.logger().Warn("graph: not drawn", "graph", g.name, "err", err)
		text += "\ngraph: could not be drawn (" + cut(err.Error(), 200) + ")"
	}
	if err := send(ctx, text); err != nil || png == nil {
		return err
	}
	if err := r.Attach(ctx, g.name, png, g.alt); err != nil {
		d.logger().Warn("graph: not attached", "graph", g.name, "err", err)
		return r.Private(ctx, "the graph could not be attached: "+cut(err.Error(), 300))
	}
	return nil
}
