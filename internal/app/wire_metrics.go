package app

import (
	"context"
	"time"

	"odoobot/internal/graph"
	"odoobot/internal/metrics"
	"odoobot/provision"
	"odoobot/provision/hostfacts"
	"odoobot/provision/postgres"
)

// The samples kept: a week, and never more rows per instance (or for
// the host) than a week at one a minute, whatever METRICS_EVERY is.
const (
	metricsKeep    = 7 * 24 * time.Hour
	metricsMaxRows = 7 * 24 * 60
)

// NewSampler builds the sampler from the configuration (nil when
// METRICS_EVERY is 0 or there is no state database): every ready
// instance's memory and CPU from its unit, its response time through
// nginx (127.0.0.1:80, :443 for the TLS modes), and the host's memory
// and disk under PROD_ROOT, kept a week in the state database. It
// gives the dispatcher the graphs status and capacity attach.
func (a *App) NewSampler() *metrics.Sampler {
	cfg := a.Config
	if cfg.MetricsEvery <= 0 || a.Store == nil || a.Services == nil {
		return nil
	}
	store := a.Store
	lim := postgres.SampleLimits{Keep: metricsKeep, MaxPerHost: metricsMaxRows, MaxPerInst: metricsMaxRows}
	probe := &metrics.Prober{HTTP: "127.0.0.1:80", HTTPS: "127.0.0.1:443"}
	s := metrics.New(metrics.Config{
		Every:     cfg.MetricsEvery,
		Instances: store.Instances,
		Unit:      a.Services.Status,
		Response:  probe.ProbeResponse,
		Host:      func() (provision.HostFacts, error) { return hostfacts.Read(cfg.ProdRoot) },
		Store: func(ctx context.Context, at time.Time, host *provision.HostSample, samples []provision.Sample) error {
			return store.AddSamples(ctx, at, host, samples, lim)
		},
		Logger: a.Log,
	})
	a.Dispatcher.Graphs = grapher{store: store, every: cfg.MetricsEvery}
	return s
}

// StartMetrics samples every METRICS_EVERY until ctx ends, when it is
// not 0.
func (a *App) StartMetrics(ctx context.Context) {
	s := a.NewSampler()
	if s == nil {
		a.Log.Info("metrics: off (METRICS_EVERY=0)")
		return
	}
	go func() {
		if err := s.Run(ctx); err != nil {
			a.Log.Error("metrics: stopped", "err", err)
		}
	}()
}

// grapher draws the graphs from the state database's samples
// (commands.Grapher).
type grapher struct {
	store *postgres.Store
	every time.Duration
}

// StatusGraph draws name's last 24 hours with its markers.
func (g grapher) StatusGraph(ctx context.Context, name string) ([]byte, error) {
	to := time.Now().UTC()
	from := to.Add(-24 * time.Hour)
	samples, err := g.store.Samples(ctx, name, from, metricsMaxRows)
	if err != nil {
		return nil, err
	}
	if len(samples) == 0 {
		return nil, provision.ErrNoSamples
	}
	markers, err := g.store.Markers(ctx, name, from)
	if err != nil {
		return nil, err
	}
	// The axis starts at the first sample of the day: an instance
	// sampled for an hour is drawn over that hour, not a sliver.
	return graph.StatusPNG(graph.Status{Instance: name, From: later(from, samples[0].At.Add(-g.every)), To: to, Samples: samples, Markers: markers})
}

// CapacityGraph draws the host's last 7 days, the instances' memory in
// buckets of about a pixel pair (never shorter than METRICS_EVERY).
func (g grapher) CapacityGraph(ctx context.Context) ([]byte, error) {
	to := time.Now().UTC()
	from := to.Add(-metricsKeep)
	host, err := g.store.HostSamples(ctx, from, metricsMaxRows)
	if err != nil {
		return nil, err
	}
	if len(host) == 0 {
		return nil, provision.ErrNoSamples
	}
	bucket := max(g.every, to.Sub(host[0].At)/(graph.Width/2), time.Second)
	mem, err := g.store.MemoryByInstance(ctx, from, bucket, 100*graph.Width)
	if err != nil {
		return nil, err
	}
	return graph.CapacityPNG(graph.Capacity{From: later(from, host[0].At.Add(-g.every)), To: to, Host: host, Memory: mem})
}

// later is the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
