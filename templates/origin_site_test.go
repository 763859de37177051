package templates

import (
	"errors"
	"strings"
	"testing"
)

func acmeDefaultServer(lock bool) DefaultServer {
	return DefaultServer{
		CertFile:      "/var/lib/odoobot/nginx/default-server.crt",
		KeyFile:       "/var/lib/odoobot/nginx/default-server.key",
		CloudflareIPs: CloudflareIPRanges(),
		OriginLock:    lock,
		Source:        "odoobot's built-in copy",
	}
}

func TestOriginGolden(t *testing.T) {
	s := mustLoad(t)
	for _, tt := range []struct {
		file   string
		render func() ([]byte, error)
	}{
		{"site-default.conf", func() ([]byte, error) { return s.DefaultServer(acmeDefaultServer(true)) }},
		{"site-default-unlocked.conf", func() ([]byte, error) { return s.DefaultServer(acmeDefaultServer(false)) }},
		{"cloudflare-origin.conf", func() ([]byte, error) {
			return s.CloudflareOrigin(CloudflareOrigin{CloudflareIPs: CloudflareIPRanges(), OriginLock: true, Source: "odoobot's built-in copy"})
		}},
		{"cloudflare-origin-unlocked.conf", func() ([]byte, error) {
			return s.CloudflareOrigin(CloudflareOrigin{CloudflareIPs: CloudflareIPRanges(), Source: "odoobot's built-in copy"})
		}},
	} {
		t.Run(tt.file, func(t *testing.T) {
			got, err := tt.render()
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.file, got)
		})
	}
}

// The list given is the list written: every range trusted for
// CF-Connecting-IP in the snippet and allowed by the default server's
// geo; loopback allowed but never trusted for CF-Connecting-IP.
func TestOriginUsesTheGivenList(t *testing.T) {
	s := mustLoad(t)
	list := []string{"192.0.2.0/24", "2001:db8::/32"}
	def, err := s.DefaultServer(DefaultServer{CertFile: "/c", KeyFile: "/k", CloudflareIPs: list, OriginLock: true})
	if err != nil {
		t.Fatal(err)
	}
	snip, err := s.CloudflareOrigin(CloudflareOrigin{CloudflareIPs: list, OriginLock: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range list {
		if !strings.Contains(string(snip), "set_real_ip_from "+r+";") {
			t.Errorf("snippet does not trust %s:\n%s", r, snip)
		}
		if !strings.Contains(string(def), "    "+r+" 1;") {
			t.Errorf("default server's geo does not allow %s:\n%s", r, def)
		}
	}
	if n := strings.Count(string(snip), "set_real_ip_from"); n != len(list) {
		t.Errorf("snippet has %d set_real_ip_from, want %d:\n%s", n, len(list), snip)
	}
	if strings.Contains(string(snip), "127.0.0.1") {
		t.Errorf("snippet trusts loopback for CF-Connecting-IP:\n%s", snip)
	}
	for _, w := range []string{"geo $realip_remote_addr $" + OriginVar + " {", "default 0;", "127.0.0.1 1;", "::1 1;"} {
		if !strings.Contains(string(def), w) {
			t.Errorf("default server lacks %q:\n%s", w, def)
		}
	}
	if !strings.Contains(string(snip), "if ($"+OriginVar+" = 0) {\n    return 403;\n}") {
		t.Errorf("snippet does not refuse what the geo does not allow:\n%s", snip)
	}

	// Lock off: the geo allows every peer and the snippet refuses none.
	def, _ = s.DefaultServer(DefaultServer{CertFile: "/c", KeyFile: "/k", CloudflareIPs: list})
	snip, _ = s.CloudflareOrigin(CloudflareOrigin{CloudflareIPs: list})
	if strings.Contains(string(def), "default 0;") || !strings.Contains(string(def), "default 1;") || strings.Contains(string(snip), "return 403") {
		t.Errorf("lock off still refuses:\n%s\n%s", def, snip)
	}
	if !strings.Contains(string(snip), "set_real_ip_from 192.0.2.0/24;") {
		t.Errorf("lock off no longer trusts Cloudflare for CF-Connecting-IP:\n%s", snip)
	}
}

func TestCloudflareSiteIncludesSnippet(t *testing.T) {
	s := mustLoad(t)
	b, err := s.Site(acmeSite(ModeCloudflare))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "include "+DefaultCloudflareSnippet+";"); n != 2 {
		t.Errorf("cloudflare site includes the snippet %d times, want 2 (the redirect and the TLS server):\n%s", n, b)
	}
	if strings.Contains(string(b), "set_real_ip_from") {
		t.Errorf("cloudflare site lists ranges itself instead of the shared snippet:\n%s", b)
	}
	st := acmeSite(ModeCloudflare)
	st.CloudflareSnippet = "/srv/nginx/cf.conf"
	if b, err = s.Site(st); err != nil || !strings.Contains(string(b), "include /srv/nginx/cf.conf;") {
		t.Errorf("absolute snippet: %v\n%s", err, b)
	}
	for _, bad := range []string{"../cf.conf", "snippets/../../x", "a b", "x;y"} {
		st.CloudflareSnippet = bad
		if _, err := s.Site(st); !errors.Is(err, ErrInvalid) {
			t.Errorf("snippet %q: %v, want ErrInvalid", bad, err)
		}
	}
	for _, mode := range []string{ModeLetsEncrypt, ModeHTTP} {
		b, _ := s.Site(acmeSite(mode))
		if strings.Contains(string(b), "include") {
			t.Errorf("%s site includes the Cloudflare snippet:\n%s", mode, b)
		}
	}
}

func TestOriginRefusesBadLists(t *testing.T) {
	s := mustLoad(t)
	for _, list := range [][]string{nil, {}, {"192.0.2.1"}, {"x/24"}, {"192.0.2.0/24;"}} {
		if _, err := s.DefaultServer(DefaultServer{CertFile: "/c", KeyFile: "/k", CloudflareIPs: list, OriginLock: true}); !errors.Is(err, ErrInvalid) {
			t.Errorf("DefaultServer with %q: %v, want ErrInvalid", list, err)
		}
		if _, err := s.CloudflareOrigin(CloudflareOrigin{CloudflareIPs: list, OriginLock: true}); !errors.Is(err, ErrInvalid) {
			t.Errorf("CloudflareOrigin with %q: %v, want ErrInvalid", list, err)
		}
	}
	if _, err := s.DefaultServer(DefaultServer{CertFile: "relative.crt", KeyFile: "/k", CloudflareIPs: []string{"192.0.2.0/24"}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("relative certificate: %v, want ErrInvalid", err)
	}
}

func TestCloudflareIPRangesIsACopy(t *testing.T) {
	r := CloudflareIPRanges()
	r[0] = "changed"
	if CloudflareIPRanges()[0] == "changed" {
		t.Error("CloudflareIPRanges returns shared state")
	}
}
