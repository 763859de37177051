package cloudflare_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"odoobot/provision"
	"odoobot/provision/cloudflare"
	"odoobot/provision/cloudflare/cftest"
)

// With every request hanging, a call ends at its deadline, attempts and
// pauses included, saying how long Cloudflare was given; it does not
// take the HTTP client's timeout once per attempt.
func TestHungAPIEndsAtTheCallDeadline(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	srv.HangAll()
	c := newClient(t, srv, func(cfg *cloudflare.Config) {
		cfg.MaxRetries = 3
		cfg.RequestTimeout = 300 * time.Millisecond
		cfg.CallTimeout = 3 * time.Second
	})
	start := time.Now()
	err := c.EnsureRecord(t.Context(), "acme.example.com")
	elapsed := time.Since(start)
	noToken(t, err)
	if !errors.Is(err, cloudflare.ErrTimeout) {
		t.Fatalf("EnsureRecord against a hung API = %v, want ErrTimeout", err)
	}
	if elapsed > 3500*time.Millisecond {
		t.Errorf("EnsureRecord took %v, want at most the call's 3 s (and a little)", elapsed)
	}
	if !strings.Contains(err.Error(), "Cloudflare did not answer within 3s") {
		t.Errorf("error %q does not say how long Cloudflare was given", err)
	}
	if srv.Hung() < 2 {
		t.Errorf("%d attempts hung, want retries within the call's time", srv.Hung())
	}
	if len(srv.Records()) != 0 {
		t.Errorf("records %+v, want none", srv.Records())
	}
}

// The check asked before a creation opens its thread is bounded by one
// request's timeout, not a whole call's.
func TestCheckIsBoundedByTheRequestTimeout(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	srv.HangAll()
	c := newClient(t, srv, func(cfg *cloudflare.Config) {
		cfg.RequestTimeout = 400 * time.Millisecond
		cfg.CallTimeout = time.Minute
	})
	start := time.Now()
	err := c.Check(t.Context())
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("Check took %v, want at most the request timeout of 400ms", elapsed)
	}
	if !errors.Is(err, cloudflare.ErrTimeout) || !strings.Contains(err.Error(), "within 400ms") {
		t.Errorf("Check = %v, want ErrTimeout saying 400ms", err)
	}
}

// The defaults keep a Client under Cloudflare's documented limit in any
// window: its burst plus its steady rate over the window.
func TestDefaultPaceIsUnderCloudflaresLimit(t *testing.T) {
	if cloudflare.CloudflareRateLimit != 1200 || cloudflare.CloudflareRateWindow != 5*time.Minute {
		t.Fatalf("Cloudflare's limit is 1,200 requests per 5 minutes")
	}
	if cloudflare.DefaultRateLimit >= cloudflare.CloudflareRateLimit || cloudflare.DefaultRateWindow != cloudflare.CloudflareRateWindow {
		t.Errorf("default pace %d per %v, want under %d per %v", cloudflare.DefaultRateLimit, cloudflare.DefaultRateWindow,
			cloudflare.CloudflareRateLimit, cloudflare.CloudflareRateWindow)
	}
}

// A sweep of 1,000 orphans, with the production pace (the Config's
// defaults), goes at half of it: in 3 s it sends a few requests, not a
// thousand, and a creation meanwhile is not made to wait behind it.
func TestSweepOfAThousandOrphansIsPaced(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	l := buriedOrphans(t, srv, 1000)
	c := newClient(t, srv, withLedger(l))
	if _, err := c.ZoneID(t.Context()); err != nil {
		t.Fatal(err)
	}
	before := srv.RequestCount()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = c.Sweep(ctx) })

	time.Sleep(time.Second)
	start := time.Now()
	if err := c.EnsureRecord(t.Context(), "fresh.example.com"); err != nil {
		t.Fatalf("EnsureRecord during the sweep: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("a creation during the sweep took %v, want well under a second", d)
	}
	wg.Wait()
	sent := srv.RequestCount() - before
	// Half the default pace is about 1.6 requests a second after a burst
	// of 10; the creation's two requests come from the shared burst.
	if sent > 20 {
		t.Errorf("%d requests in 3 s of sweep, want at most 20: the sweep is not paced", sent)
	}
	if got := srv.MaxInWindow(cloudflare.CloudflareRateWindow, nil); got > cloudflare.DefaultRateLimit {
		t.Errorf("%d requests in one window, more than the pace of %d", got, cloudflare.DefaultRateLimit)
	}
	t.Logf("%d requests in 3 s of a 1,000-orphan sweep, with a creation", sent)
}

// buriedOrphans adds n records this server made, each at the name of an
// instance it has since deleted (tombstoned): n records for the sweep.
func buriedOrphans(t *testing.T, srv *cftest.Server, n int) *memLedger {
	t.Helper()
	l := &memLedger{}
	for i := range n {
		name := fmt.Sprintf("orphan%d.example.com", i)
		l.own(srv.AddRecord(ourRecord(name, ip)))
		if err := l.Bury(t.Context(), name); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// A scaled window shows the pace's shape: every window holds at most
// the configured limit, and a sweep at most about half of it.
func TestPaceHoldsInEveryWindow(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	l := buriedOrphans(t, srv, 300)
	const limit, window = 200, 2 * time.Second
	c := newClient(t, srv, withLedger(l), func(cfg *cloudflare.Config) { cfg.RateLimit, cfg.RateWindow = limit, window })
	start := time.Now()
	removed, err := c.Sweep(t.Context())
	if err != nil || len(removed) != 300 {
		t.Fatalf("Sweep = %d removed, %v; want 300", len(removed), err)
	}
	elapsed := time.Since(start)
	got := srv.MaxInWindow(window, nil)
	// Half of (200 - burst 10) per 2 s, plus the sweep's burst of 2.
	if got > limit/2+2 {
		t.Errorf("%d requests of the sweep in one %v window, want at most %d", got, window, limit/2+2)
	}
	if elapsed < 5*time.Second {
		t.Errorf("a sweep of 303 requests took %v, faster than its pace allows", elapsed)
	}
}

// A 429's Retry-After is honoured, announced with its length to the
// view's reporter, and holds the other calls of the Client as well.
func TestRetryAfterIsHonouredAnnouncedAndHeldForAll(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	c := newClient(t, srv)
	if _, err := c.ZoneID(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv.FailNext(http.StatusTooManyRequests, 1, "2")
	var mu sync.Mutex
	var whys []string
	view := c.ReportingWaits(func(d time.Duration, why string) {
		mu.Lock()
		defer mu.Unlock()
		whys = append(whys, fmt.Sprintf("%v %s", d, why))
	})
	start := time.Now()
	var wg sync.WaitGroup
	var otherDone time.Duration
	wg.Go(func() {
		time.Sleep(300 * time.Millisecond) // after the 429
		if err := c.EnsureRecord(t.Context(), "other.example.com"); err != nil {
			t.Errorf("the other call: %v", err)
		}
		otherDone = time.Since(start)
	})
	if err := view.EnsureRecord(t.Context(), "acme.example.com"); err != nil {
		t.Fatalf("EnsureRecord after one 429: %v", err)
	}
	wg.Wait()
	if d := time.Since(start); d < 2*time.Second {
		t.Errorf("EnsureRecord took %v, want the 2 s Retry-After waited", d)
	}
	if otherDone < 2*time.Second {
		t.Errorf("the other call ended after %v, before the 2 s Cloudflare asked everyone to wait", otherDone)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(whys) != 1 || !strings.Contains(whys[0], "Cloudflare asked to wait 2s") || !strings.Contains(whys[0], "429") {
		t.Errorf("the view heard %q, want one wait saying Cloudflare asked to wait 2s (HTTP 429)", whys)
	}
}

// The mark the name rules measure is the comment the driver writes.
func TestCommentIsTheMarkTheNameRulesMeasure(t *testing.T) {
	c := newClient(t, cftest.NewServer(t, zone, token))
	if got, want := c.Comment("acme.example.com"), provision.DNSMark(ip, "acme"); got != want {
		t.Errorf("Comment = %q, provision.DNSMark = %q: the name rules measure another comment", got, want)
	}
}
