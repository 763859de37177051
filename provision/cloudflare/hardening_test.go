package cloudflare_test

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/provision"
	"odoobot/provision/cloudflare"
	"odoobot/provision/cloudflare/cftest"
)

// Records of other makers at the instance's name are never taken over:
// another odoobot server's, another instance's mark of this server, and
// the bare mark of earlier versions pointing elsewhere.
func TestOwnershipIsThisServerAndInstance(t *testing.T) {
	tests := map[string]cftest.Record{
		"another server's mark": {Type: "A", Name: "acme.example.com", Content: "198.51.100.2", Proxied: true,
			Comment: "managed-by: odoobot server=198.51.100.2 instance=acme"},
		"another server's mark, same IP": {Type: "A", Name: "acme.example.com", Content: ip, Proxied: true,
			Comment: "managed-by: odoobot server=backup-host instance=acme"},
		"this server's mark for another instance": {Type: "A", Name: "acme.example.com", Content: ip, Proxied: true,
			Comment: "managed-by: odoobot server=" + ip + " instance=other"},
		"bare mark to another IP": {Type: "A", Name: "acme.example.com", Content: "198.51.100.2", Proxied: true,
			Comment: cloudflare.Marker},
	}
	for name, theirs := range tests {
		t.Run(name, func(t *testing.T) {
			srv := cftest.NewServer(t, zone, token)
			srv.AddRecord(theirs)
			before := srv.Records()
			c := newClient(t, srv)

			err := c.EnsureRecord(t.Context(), "acme.example.com")
			if !errors.Is(err, provision.ErrNameTakenInDNS) || !errors.Is(err, cloudflare.ErrForeignRecord) {
				t.Fatalf("EnsureRecord = %v, want ErrNameTakenInDNS and ErrForeignRecord", err)
			}
			c2 := newClient(t, srv) // no refusal remembered: a plain delete.
			if err := c2.DeleteRecord(t.Context(), "acme.example.com"); !errors.Is(err, cloudflare.ErrForeignRecord) {
				t.Errorf("DeleteRecord = %v, want ErrForeignRecord", err)
			}
			if w := writes(srv.Requests()); len(w) != 0 {
				t.Errorf("writes %v, want none", w)
			}
			if diff := cmp.Diff(srv.Records(), before); diff != "" {
				t.Errorf("records changed (-got +want):\n%s", diff)
			}
		})
	}
}

func TestServerIDInTheMark(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	c := newClient(t, srv, func(cfg *cloudflare.Config) { cfg.ServerID = "paris-1" })
	if err := c.EnsureRecord(t.Context(), "acme.example.com"); err != nil {
		t.Fatalf("EnsureRecord: %v", err)
	}
	const want = "managed-by: odoobot server=paris-1 instance=acme"
	if got := srv.Records()[0].Comment; got != want {
		t.Errorf("comment %q, want %q", got, want)
	}
	if got := c.Comment("acme.example.com"); got != want {
		t.Errorf("Comment = %q, want %q", got, want)
	}
	// The same zone seen from a server with another ID: not its record.
	other := newClient(t, srv, func(cfg *cloudflare.Config) { cfg.ServerID = "paris-2" })
	if err := other.EnsureRecord(t.Context(), "acme.example.com"); !errors.Is(err, provision.ErrNameTakenInDNS) {
		t.Errorf("EnsureRecord from paris-2 = %v, want ErrNameTakenInDNS", err)
	}
	for _, bad := range []string{"has space", strings.Repeat("x", 41), "a/b"} {
		_, err := cloudflare.New(t.Context(), cloudflare.Config{APIToken: token, ZoneName: zone, PublicIP: ip, ServerID: bad})
		if err == nil {
			t.Errorf("New with server ID %q succeeded", bad)
		}
	}
}

// The bare mark of earlier versions on an A record to this server's IP,
// once adopted for an instance the server has, is ours: kept, and its
// comment brought to the full mark.
func TestLegacyMarkToThisServerIsUpgraded(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	old := srv.AddRecord(cftest.Record{Type: "A", Name: "acme.example.com", Content: ip, Proxied: true, Comment: cloudflare.Marker})
	c := newClient(t, srv)
	if id, err := c.Adopt(t.Context(), "acme.example.com"); err != nil || id != old.ID {
		t.Fatalf("Adopt = %q, %v; want %s", id, err, old.ID)
	}
	if err := c.EnsureRecord(t.Context(), "acme.example.com"); err != nil {
		t.Fatalf("EnsureRecord: %v", err)
	}
	want := []string{"PATCH /zones/" + srv.ZoneID() + "/dns_records/" + old.ID}
	if diff := cmp.Diff(writes(srv.Requests()), want); diff != "" {
		t.Errorf("writes (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(srv.Records(), []cftest.Record{ourRecord("acme.example.com", ip)}, ignoreRecordMeta); diff != "" {
		t.Errorf("records (-got +want):\n%s", diff)
	}
}

// Cloudflare has answered HTTP 200 with success false: that is a failure.
func TestSuccessFalseIsAFailure(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	srv.FailNextMatching(http.MethodPost, http.StatusOK, 81057, "Record already exists")
	c := newClient(t, srv)

	err := c.EnsureRecord(t.Context(), "acme.example.com")
	noToken(t, err)
	const want = "cloudflare: create record acme.example.com: 81057 Record already exists"
	if err == nil || err.Error() != want {
		t.Fatalf("EnsureRecord = %v, want %q", err, want)
	}
	var apiErr *cloudflare.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusOK {
		t.Errorf("error %v: want an APIError with status 200", err)
	}
}

// A create whose answer is lost, applied by Cloudflare a little later, is
// found by looking the name up again: one record, one POST, success.
func TestCreateAnswerLostIsFoundAgain(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	srv.HoldNext(http.MethodPost, 300*time.Millisecond)
	var waits []string
	c := newClient(t, srv, func(cfg *cloudflare.Config) {
		cfg.HTTPClient = &http.Client{Timeout: 100 * time.Millisecond}
		cfg.MaxWait = 5 * time.Second
		cfg.OnWait = func(d time.Duration, why string) { waits = append(waits, why) }
	})
	if err := c.EnsureRecord(t.Context(), "acme.example.com"); err != nil {
		t.Fatalf("EnsureRecord with its answer lost: %v", err)
	}
	if diff := cmp.Diff(srv.Records(), []cftest.Record{ourRecord("acme.example.com", ip)}, ignoreRecordMeta); diff != "" {
		t.Errorf("records (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(writes(srv.Requests()), []string{"POST /zones/" + srv.ZoneID() + "/dns_records"}); diff != "" {
		t.Errorf("writes (-got +want): a lost POST is never sent again\n%s", diff)
	}
	if len(waits) == 0 || !strings.Contains(waits[0], "looking it up again") {
		t.Errorf("OnWait calls %q, want the look-up announced", waits)
	}
}

// A DELETE answered 404 found the record already gone: what delete wanted.
func TestDeleteOf404IsDeleted(t *testing.T) {
	for name, rec := range map[string]cftest.Record{
		"this server's mark":         ourRecord("acme.example.com", ip),
		"bare mark to this IP (old)": {Type: "A", Name: "acme.example.com", Content: ip, Comment: cloudflare.Marker},
	} {
		t.Run(name, func(t *testing.T) {
			srv := cftest.NewServer(t, zone, token)
			l := &memLedger{}
			l.own(srv.AddRecord(rec))
			srv.FailNextMatching(http.MethodDelete, http.StatusNotFound, 81044, "Record does not exist.")
			c := newClient(t, srv, withLedger(l))
			if err := c.DeleteRecord(t.Context(), "acme.example.com"); err != nil {
				t.Fatalf("DeleteRecord answered 404 = %v, want nil", err)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	t.Run("good", func(t *testing.T) {
		srv := cftest.NewServer(t, zone, token)
		c := newClient(t, srv)
		if err := c.Check(t.Context()); err != nil {
			t.Fatalf("Check: %v", err)
		}
		if w := writes(srv.Requests()); len(w) != 0 {
			t.Errorf("writes %v, want none", w)
		}
		if got := srv.Requests()[0].Path; got != "/user/tokens/verify" {
			t.Errorf("first request %s, want the token verify endpoint", got)
		}
	})
	tests := map[string]struct {
		srv     func(t *testing.T) *cftest.Server
		mod     func(*cloudflare.Config)
		want    error
		mention string
	}{
		"bad token": {
			srv:  func(t *testing.T) *cftest.Server { return cftest.NewServer(t, zone, "another-token") },
			want: cloudflare.ErrAuth, mention: "CF_API_TOKEN",
		},
		"expired token": {
			srv: func(t *testing.T) *cftest.Server {
				s := cftest.NewServer(t, zone, token)
				s.SetTokenStatus("expired")
				return s
			},
			want: cloudflare.ErrAuth, mention: "expired",
		},
		"zone not visible": {
			srv:  func(t *testing.T) *cftest.Server { return cftest.NewServer(t, "other.org", token) },
			want: cloudflare.ErrZoneNotFound, mention: "CF_ZONE_NAME",
		},
		"zone ID of nothing": {
			srv:  func(t *testing.T) *cftest.Server { return cftest.NewServer(t, zone, token) },
			mod:  func(cfg *cloudflare.Config) { cfg.ZoneID = "0000" },
			want: cloudflare.ErrZoneNotFound, mention: "CF_ZONE_ID",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			srv := tt.srv(t)
			var mods []func(*cloudflare.Config)
			if tt.mod != nil {
				mods = append(mods, tt.mod)
			}
			c := newClient(t, srv, mods...)
			err := c.Check(t.Context())
			noToken(t, err)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.mention) || !strings.HasPrefix(err.Error(), "cloudflare: ") {
				t.Fatalf("Check = %v, want %v mentioning %s", err, tt.want, tt.mention)
			}
			if w := writes(srv.Requests()); len(w) != 0 {
				t.Errorf("writes %v, want none", w)
			}
		})
	}
}

// A creation stopped by someone else's record says the name is taken and
// by what; undoing it (DeleteRecord right after) is clean, since nothing
// was made.
func TestNameTakenIsTypedAndItsUndoIsClean(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	cname := srv.AddRecord(cftest.Record{Type: "CNAME", Name: "shop.example.com", Content: "shops.example.net", Proxied: true})
	c := newClient(t, srv)

	err := c.EnsureRecord(t.Context(), "shop.example.com")
	noToken(t, err)
	if !errors.Is(err, provision.ErrNameTakenInDNS) || !errors.Is(err, cloudflare.ErrNameTaken) || !errors.Is(err, provision.ErrForeignRecord) {
		t.Fatalf("EnsureRecord = %v, want ErrNameTakenInDNS", err)
	}
	var taken *cloudflare.NameTakenError
	if !errors.As(err, &taken) || taken.Name != "shop.example.com" || !cmp.Equal(taken.Types, []string{"CNAME"}) {
		t.Fatalf("EnsureRecord = %#v, want a NameTakenError for shop.example.com by a CNAME", err)
	}
	for _, want := range []string{"shop.example.com is taken in DNS by a CNAME record", "shops.example.net", "choose another name"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if err := c.DeleteRecord(t.Context(), "shop.example.com"); err != nil {
		t.Errorf("DeleteRecord undoing the refused creation = %v, want nil (nothing was made)", err)
	}
	// The refusal is remembered for one undo only: a later delete still
	// reports the record left in place.
	if err := c.DeleteRecord(t.Context(), "shop.example.com"); !errors.Is(err, cloudflare.ErrForeignRecord) {
		t.Errorf("a later DeleteRecord = %v, want ErrForeignRecord", err)
	}
	if w := writes(srv.Requests()); len(w) != 0 {
		t.Errorf("writes %v, want none", w)
	}
	if diff := cmp.Diff(srv.Records(), []cftest.Record{cname}); diff != "" {
		t.Errorf("records (-got +want):\n%s", diff)
	}
}

// Cloudflare's real block asks for minutes: past Config.MaxWait the call
// fails at once, saying so, instead of sitting silent.
func TestRetryAfterBeyondMaxWaitFailsAtOnce(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	srv.FailNext(http.StatusTooManyRequests, 1, "300")
	var waits []time.Duration
	c := newClient(t, srv, func(cfg *cloudflare.Config) {
		cfg.MaxWait = 2 * time.Second
		cfg.OnWait = func(d time.Duration, _ string) { waits = append(waits, d) }
	})
	start := time.Now()
	err := c.EnsureRecord(t.Context(), "acme.example.com")
	noToken(t, err)
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("gave up after %v, want at once", elapsed)
	}
	if !errors.Is(err, cloudflare.ErrRateLimited) {
		t.Fatalf("EnsureRecord = %v, want ErrRateLimited", err)
	}
	for _, want := range []string{"971", "5m0s", "2s", "try again later"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if len(waits) != 0 {
		t.Errorf("OnWait %v, want no wait announced", waits)
	}
}

// The waits of one call are bounded together, and each is announced.
func TestWaitsAreBoundedTogetherAndAnnounced(t *testing.T) {
	srv := cftest.NewServer(t, zone, token)
	srv.FailNext(http.StatusTooManyRequests, 3, "0.4")
	var mu sync.Mutex
	var whys []string
	var total time.Duration
	c := newClient(t, srv, func(cfg *cloudflare.Config) {
		cfg.MaxRetries = 5
		cfg.MaxWait = time.Second
		cfg.OnWait = func(d time.Duration, why string) {
			mu.Lock()
			defer mu.Unlock()
			whys = append(whys, why)
			total += d
		}
	})
	err := c.EnsureRecord(t.Context(), "acme.example.com")
	if !errors.Is(err, cloudflare.ErrRateLimited) {
		t.Fatalf("EnsureRecord = %v, want ErrRateLimited after 0.8 s of the 1 s allowed", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(whys) != 2 || total != 800*time.Millisecond {
		t.Errorf("OnWait %d times for %v (%q), want twice for 800ms", len(whys), total, whys)
	}
	for _, why := range whys {
		if !strings.Contains(why, "429") || !strings.Contains(why, "GET") {
			t.Errorf("why %q: want the status and the request", why)
		}
	}
}
