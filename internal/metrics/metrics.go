// Package metrics samples, every METRICS_EVERY, each ready instance's
// memory and CPU (its unit's cgroup, as systemd counts them) and the
// response time of its site through nginx, and the host's memory and
// disk, and hands each round to a store that keeps a bounded week.
package metrics

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"odoobot/provision"
)

// ProbeTimeout bounds one response-time probe: a slower answer is
// recorded as missing.
const ProbeTimeout = 10 * time.Second

// Store keeps one round: its host figures (nil when they could not be
// read) and one sample per instance sampled (postgres.Store.AddSamples
// behind a closure that adds its limits).
type Store func(ctx context.Context, at time.Time, host *provision.HostSample, samples []provision.Sample) error

// Config configures a Sampler. Instances, Unit and Store are required.
type Config struct {
	Every time.Duration // between two rounds; Run needs it positive
	// Instances lists the instances; only ready ones not stopped on
	// purpose are sampled.
	Instances func(ctx context.Context) ([]provision.Instance, error)
	// Unit is the state of an instance's unit (provision/systemd's
	// Manager.Status): its MemoryBytes and CPUNanos, 0 when systemd
	// does not know them, are recorded as missing.
	Unit func(ctx context.Context, unit string) (provision.ServiceStatus, error)
	// Response is how long the instance's site took to answer 200
	// through nginx (ProbeResponse); an error records it as missing.
	// nil skips it.
	Response func(ctx context.Context, inst provision.Instance) (time.Duration, error)
	// Host reads the host's memory and disk (hostfacts); nil skips it.
	Host  func() (provision.HostFacts, error)
	Store Store
	Now   func() time.Time // time.Now when nil
	// Logger hears what could not be read; discarded when nil.
	Logger *slog.Logger
}

// Sampler runs the rounds.
type Sampler struct {
	cfg   Config
	round sync.Mutex
}

// New builds a Sampler.
func New(cfg Config) *Sampler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Sampler{cfg: cfg}
}

// Run samples every Every until ctx ends, the first round at once. It
// returns nil when ctx ends; a failed round is logged and the next
// one runs on time.
func (s *Sampler) Run(ctx context.Context) error {
	if s.cfg.Every <= 0 {
		return errors.New("metrics: the interval must be positive (METRICS_EVERY)")
	}
	tick := time.NewTicker(s.cfg.Every)
	defer tick.Stop()
	for {
		if err := s.Round(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("metrics: the round was not recorded", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Round samples once and stores the round. The instances are sampled
// at once (a frozen one takes the probe's whole timeout); one whose
// unit cannot be read is still recorded, with its figures missing.
func (s *Sampler) Round(ctx context.Context) error {
	s.round.Lock()
	defer s.round.Unlock()
	c := s.cfg
	at := c.Now().UTC().Truncate(time.Second)
	list, err := c.Instances(ctx)
	if err != nil {
		return fmt.Errorf("metrics: list the instances: %w", err)
	}
	var ready []provision.Instance
	for _, inst := range list {
		if inst.State == provision.StateReady && inst.StoppedBy == "" {
			ready = append(ready, inst)
		}
	}
	samples := make([]provision.Sample, len(ready))
	var wg sync.WaitGroup
	for i, inst := range ready {
		wg.Go(func() { samples[i] = s.sample(ctx, at, inst) })
	}
	var host *provision.HostSample
	if c.Host != nil {
		if f, err := c.Host(); err != nil {
			c.Logger.Warn("metrics: host figures", "err", err)
		} else {
			host = &provision.HostSample{At: at, MemTotal: f.MemTotal, MemUsed: f.MemTotal - min(f.MemAvailable, f.MemTotal),
				DiskTotal: f.DiskTotal, DiskFree: f.DiskFree}
		}
	}
	wg.Wait()
	if err := c.Store(ctx, at, host, samples); err != nil {
		return fmt.Errorf("metrics: store the round: %w", err)
	}
	return nil
}

// sample reads one instance's figures.
func (s *Sampler) sample(ctx context.Context, at time.Time, inst provision.Instance) provision.Sample {
	c := s.cfg
	smp := provision.Sample{Instance: inst.Name, At: at}
	st, err := c.Unit(ctx, inst.Unit)
	switch {
	case err != nil:
		c.Logger.Warn("metrics: unit", "instance", inst.Name, "err", err)
	case st.Running():
		if st.MemoryBytes > 0 {
			v := int64(st.MemoryBytes)
			smp.MemoryBytes = &v
		}
		if st.CPUNanos > 0 {
			v := int64(st.CPUNanos)
			smp.CPUNanos = &v
		}
	}
	if c.Response != nil {
		if d, err := c.Response(ctx, inst); err != nil {
			c.Logger.Debug("metrics: response", "instance", inst.Name, "err", err)
		} else {
			smp.Response = &d
		}
	}
	return smp
}

// Prober measures response times through nginx.
type Prober struct {
	// HTTP and HTTPS are nginx's local addresses (127.0.0.1:80 and
	// 127.0.0.1:443).
	HTTP, HTTPS string
	client      *http.Client
	once        sync.Once
}

// ProbeResponse times a GET of /web/health?db_server_status=1 (Odoo
// 19's health with the database) through nginx, as the instance's
// users reach it: with its domain as Host (and as TLS server name for
// the TLS modes, whose certificate is not checked: the probe measures
// the local path, not the trust chain), on nginx's local address. Only
// a 200 within ProbeTimeout counts; redirects are not followed, and at
// most 4 KiB of the body is read.
func (p *Prober) ProbeResponse(ctx context.Context, inst provision.Instance) (time.Duration, error) {
	p.once.Do(func() {
		dialer := &net.Dialer{Timeout: ProbeTimeout}
		p.client = &http.Client{
			Transport: &http.Transport{
				TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // timing the local path only
				DisableKeepAlives: true,
				Proxy:             nil,
				// Every request goes to nginx's local address, whatever
				// its URL's host (the instance's domain, for Host and SNI).
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					to := p.HTTP
					if _, port, _ := net.SplitHostPort(addr); port == "443" {
						to = p.HTTPS
					}
					return dialer.DialContext(ctx, network, to)
				},
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	})
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	url := "http://" + inst.Domain + ":80"
	if inst.SSLMode.TLS() {
		url = "https://" + inst.Domain + ":443"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/web/health?db_server_status=1", nil)
	if err != nil {
		return 0, fmt.Errorf("metrics: probe %s: %w", inst.Name, err)
	}
	req.Host = inst.Domain
	start := time.Now()
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("metrics: probe %s: %w", inst.Name, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	took := time.Since(start)
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("metrics: probe %s: %s", inst.Name, resp.Status)
	}
	return took, nil
}
