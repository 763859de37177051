package provision

import (
	"context"
	"testing"
	"time"
)

// waitingDNS is a DNS driver that waits before each call, as a driver
// honouring a rate limit does, and says so to its view's reporter.
type waitingDNS struct {
	waits  []time.Duration
	report func(time.Duration, string)
}

func (w *waitingDNS) ReportingWaits(report func(time.Duration, string)) DNS {
	return &waitingDNS{waits: w.waits, report: report}
}

func (w *waitingDNS) EnsureRecord(ctx context.Context, fqdn string) error {
	for _, d := range w.waits {
		if w.report != nil {
			w.report(d, "Cloudflare asked to wait "+d.String())
		}
	}
	return nil
}

func (w *waitingDNS) Check(context.Context) error { return nil }

func (w *waitingDNS) DeleteRecord(ctx context.Context, fqdn string) error { return nil }

func (w *waitingDNS) Holder(context.Context, string) (DNSTaken, error) { return DNSTaken{}, nil }

func (w *waitingDNS) TakeOver(context.Context, string, DNSTaken) error { return nil }

func (w *waitingDNS) GiveBack(context.Context, string, DNSTaken) error { return nil }

// The DNS step shows a driver's waits of ShowWaitsFrom or more as its
// progress, and lets shorter ones pass unseen.
func TestDNSStepShowsLongWaits(t *testing.T) {
	var shown []string
	dns := showingWaits(&waitingDNS{waits: []time.Duration{500 * time.Millisecond, 30 * time.Second}}, func(text string) { shown = append(shown, text) })
	if err := dns.EnsureRecord(t.Context(), "acme.example.com"); err != nil {
		t.Fatal(err)
	}
	if len(shown) != 1 || shown[0] != "Cloudflare asked to wait 30s" {
		t.Errorf("shown %q, want only the 30 s wait", shown)
	}
}
