package cloudflare_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"odoobot/provision/cloudflare"
	"odoobot/provision/cloudflare/cftest"
)

// The list comes through cloudflare-go from GET /ips, without a token,
// in Cloudflare's shape.
func TestFetchIPRanges(t *testing.T) {
	cf := cftest.NewServer(t, "example.test", "token")
	r, err := cloudflare.FetchIPRanges(context.Background(), cf.URL(), nil)
	if err != nil {
		t.Fatalf("FetchIPRanges: %v", err)
	}
	if !slices.Equal(r.IPv4, cftest.CloudflareIPv4) || !slices.Equal(r.IPv6, cftest.CloudflareIPv6) || r.Etag == "" || r.FetchedAt.IsZero() {
		t.Errorf("fetched %+v, want Cloudflare's list with its etag", r)
	}
	reqs := cf.Requests()
	if len(reqs) != 1 || reqs[0].Method != "GET" || reqs[0].Path != "/ips" || reqs[0].Authorization != "" || reqs[0].Status != 200 {
		t.Errorf("requests %+v, want one GET /ips without a token, answered 200", reqs)
	}

	// Lists that cannot be Cloudflare's are refused.
	for _, bad := range []struct{ v4, v6 []string }{
		{nil, []string{"2400:cb00::/32"}},
		{[]string{"173.245.48.1"}, nil},
		{[]string{"2400:cb00::/32"}, nil},
		{[]string{"173.245.48.0/20"}, []string{"10.0.0.0/8"}},
		{[]string{"173.245.48.5/20"}, nil},
	} {
		cf.SetIPRanges(bad.v4, bad.v6)
		if r, err := cloudflare.FetchIPRanges(context.Background(), cf.URL(), nil); err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("list %v %v: %+v, %v; want a refusal", bad.v4, bad.v6, r, err)
		}
	}
	cf.FailNext(500, 3, "0")
	cf.SetIPRanges([]string{"192.0.2.0/24"}, nil)
	if _, err := cloudflare.FetchIPRanges(context.Background(), cf.URL(), nil); err == nil {
		t.Errorf("a fetch answered 500 three times succeeded")
	}
}

func TestIPRangesCache(t *testing.T) {
	ctx := context.Background()
	cf := cftest.NewServer(t, "example.test", "token")
	fallback := []string{"198.51.100.0/24"}
	cache := &cloudflare.IPRangesCache{
		Path: filepath.Join(t.TempDir(), "state", "cloudflare-ips.json"),
		Fetch: func(ctx context.Context) (cloudflare.IPRanges, error) {
			return cloudflare.FetchIPRanges(ctx, cf.URL(), nil)
		},
		Fallback: fallback,
	}
	// Nothing ever fetched: the built-in copy.
	if got, src := cache.Current(); !slices.Equal(got, fallback) || src != cloudflare.SourceFallback || cache.Cached() {
		t.Errorf("before any fetch: %v from %q; want the fallback", got, src)
	}
	// A failed first fetch keeps the fallback.
	cf.FailNext(500, 4, "0")
	if changed, err := cache.Refresh(ctx); err == nil || changed {
		t.Errorf("Refresh with Cloudflare failing: changed %v, %v; want an error", changed, err)
	}
	if got, _ := cache.Current(); !slices.Equal(got, fallback) {
		t.Errorf("after a failed fetch: %v, want the fallback", got)
	}

	cf.SetIPRanges([]string{"192.0.2.0/24"}, []string{"2001:db8::/32"})
	if changed, err := cache.Refresh(ctx); err != nil || !changed {
		t.Fatalf("first Refresh: changed %v, %v", changed, err)
	}
	want := []string{"192.0.2.0/24", "2001:db8::/32"}
	if got, src := cache.Current(); !slices.Equal(got, want) || src != cloudflare.SourceFetched {
		t.Errorf("after a fetch: %v from %q, want %v fetched", got, src, want)
	}
	if changed, err := cache.Refresh(ctx); err != nil || changed {
		t.Errorf("Refresh of the same list: changed %v, %v; want unchanged", changed, err)
	}
	// A failure later keeps the list last fetched, not the fallback.
	cf.FailNext(503, 4, "0")
	if _, err := cache.Refresh(ctx); err == nil {
		t.Errorf("Refresh with Cloudflare failing succeeded")
	}
	if got, _ := cache.Current(); !slices.Equal(got, want) {
		t.Errorf("after a later failure: %v, want the cached %v", got, want)
	}
	// A new list from Cloudflare.
	cf.SetIPRanges([]string{"203.0.113.0/24"}, nil)
	if changed, err := cache.Refresh(ctx); err != nil || !changed {
		t.Errorf("Refresh of a new list: changed %v, %v", changed, err)
	}
	if got, _ := cache.Current(); !slices.Equal(got, []string{"203.0.113.0/24"}) {
		t.Errorf("after a new list: %v", got)
	}
	// The cache survives the process: a new cache reads the file.
	again := &cloudflare.IPRangesCache{Path: cache.Path, Fallback: fallback,
		Fetch: func(context.Context) (cloudflare.IPRanges, error) {
			return cloudflare.IPRanges{}, errors.New("offline")
		}}
	if got, src := again.Current(); !slices.Equal(got, []string{"203.0.113.0/24"}) || src != cloudflare.SourceFetched {
		t.Errorf("a new process reads %v from %q", got, src)
	}
	// A damaged file is ignored: the fallback, not a broken list.
	if err := os.WriteFile(cache.Path, []byte(`{"ipv4_cidrs": ["not a range"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, src := again.Current(); !slices.Equal(got, fallback) || src != cloudflare.SourceFallback {
		t.Errorf("damaged cache: %v from %q, want the fallback", got, src)
	}
}
