package nginx

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestInstallVerify(t *testing.T) {
	h := startNginx(t, false)
	ctx := context.Background()
	dir := t.TempDir()
	s := site{name: "prod-acme", host: "acme.example.test", b: startBackend(t, "acme"), tls: selfSigned(t, dir, "acme.example.test")}
	text := s.text(h)

	if err := h.sites.Install(ctx, s.name, text); err != nil {
		t.Fatalf("Install: %v", err)
	}
	avail := filepath.Join(h.avail, s.name)
	got, err := os.ReadFile(avail)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(got), string(text)); diff != "" {
		t.Errorf("sites-available content (-got +want):\n%s", diff)
	}
	fi, err := os.Stat(avail)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode of %s = %v, want 0644", avail, fi.Mode().Perm())
	}
	target, err := os.Readlink(filepath.Join(h.enabled, s.name))
	if err != nil {
		t.Fatalf("sites-enabled link: %v", err)
	}
	if target != avail {
		t.Errorf("link target = %q, want %q", target, avail)
	}
	if diff := cmp.Diff(dirNames(t, h.avail), []string{s.name}); diff != "" {
		t.Errorf("sites-available entries (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(dirNames(t, h.enabled), []string{s.name}); diff != "" {
		t.Errorf("sites-enabled entries (-got +want):\n%s", diff)
	}

	if err := h.sites.Verify(ctx, s.host, false, nil); err != nil {
		t.Errorf("Verify over HTTP: %v", err)
	}
	if err := h.sites.Verify(ctx, s.host, true, s.tls.pool); err != nil {
		t.Errorf("Verify over TLS: %v", err)
	}
	// A certificate nobody trusts is refused.
	err = h.sites.Verify(ctx, s.host, true, selfSigned(t, t.TempDir(), s.host).pool)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Verify over TLS with the wrong root: got %v, want a certificate error", err)
	}
	// A host nginx has no site for does not pass.
	err = h.sites.Verify(ctx, "other.example.test", false, nil)
	if err == nil || !strings.Contains(err.Error(), "421") {
		t.Errorf("Verify of an unknown host: got %v, want an error naming 421", err)
	}

	// The same text again is accepted, changes nothing, and still reloads.
	reloads := h.reloads.Load()
	if err := h.sites.Install(ctx, s.name, text); err != nil {
		t.Fatalf("Install again: %v", err)
	}
	if h.reloads.Load() != reloads+1 {
		t.Errorf("reloads after a repeated Install = %d, want %d", h.reloads.Load(), reloads+1)
	}
	if err := h.sites.Verify(ctx, s.host, false, nil); err != nil {
		t.Errorf("Verify after a repeated Install: %v", err)
	}
}

func TestTwoSitesAnswerByHost(t *testing.T) {
	h := startNginx(t, false)
	ctx := context.Background()
	a := site{name: "prod-a", host: "a.example.test", b: startBackend(t, "site-a")}
	b := site{name: "prod-b", host: "b.example.test", b: startBackend(t, "site-b")}
	for _, s := range []site{a, b} {
		if err := h.sites.Install(ctx, s.name, s.text(h)); err != nil {
			t.Fatalf("Install %s: %v", s.name, err)
		}
	}
	for _, tc := range []struct {
		site site
		want string
	}{{a, `"site": "site-a"`}, {b, `"site": "site-b"`}} {
		if err := h.sites.Verify(ctx, tc.site.host, false, nil); err != nil {
			t.Errorf("Verify %s: %v", tc.site.host, err)
		}
		code, body := h.get(t, tc.site.host, "/web/health")
		if code != 200 || !strings.Contains(body, tc.want) || !strings.Contains(body, tc.site.host) {
			t.Errorf("GET /web/health Host %s = %d %q, want 200 from %s seeing its Host", tc.site.host, code, body, tc.want)
		}
	}
}

// A broken site is refused whether Install tests a candidate
// configuration (the main conf names the enabled directory) or tests in
// place (it includes it by a relative path).
func TestBrokenSiteRefused(t *testing.T) {
	for _, mode := range []struct {
		name     string
		relative bool
	}{{"candidate", false}, {"in-place", true}} {
		t.Run(mode.name, func(t *testing.T) {
			h := startNginx(t, mode.relative)
			ctx := context.Background()
			good := site{name: "prod-good", host: "good.example.test", b: startBackend(t, "good")}
			if err := h.sites.Install(ctx, good.name, good.text(h)); err != nil {
				t.Fatalf("Install good: %v", err)
			}
			reloads := h.reloads.Load()

			bad := site{name: "prod-bad", host: "bad.example.test", b: startBackend(t, "bad"), extra: "    bogus_directive on;\n"}
			err := h.sites.Install(ctx, bad.name, bad.text(h))
			if err == nil {
				t.Fatal("Install of a broken site succeeded")
			}
			t.Logf("refusal: %v", err)
			var te *TestError
			if !errors.As(err, &te) {
				t.Fatalf("error %v is not a *TestError", err)
			}
			wantLine := `[emerg] unknown directive "bogus_directive" in ` + filepath.Join(h.enabled, bad.name) + ":6"
			if !strings.Contains(err.Error(), wantLine) {
				t.Errorf("error = %q, want it to contain %q", err, wantLine)
			}
			if strings.Contains(err.Error(), "odoobot-nginx-candidate") || strings.Contains(err.Error(), "test failed") {
				t.Errorf("error = %q, want real paths and no closing line", err)
			}
			if h.reloads.Load() != reloads {
				t.Errorf("nginx was reloaded after a failed install")
			}
			if diff := cmp.Diff(dirNames(t, h.avail), []string{good.name}); diff != "" {
				t.Errorf("sites-available entries (-got +want):\n%s", diff)
			}
			if diff := cmp.Diff(dirNames(t, h.enabled), []string{good.name}); diff != "" {
				t.Errorf("sites-enabled entries (-got +want):\n%s", diff)
			}
			if err := h.sites.Test(ctx); err != nil {
				t.Errorf("Test after the refusal: %v", err)
			}
			if err := h.sites.Verify(ctx, good.host, false, nil); err != nil {
				t.Errorf("the other site after the refusal: %v", err)
			}
			// A later install still works: nothing broken was left behind.
			fixed := bad
			fixed.extra = ""
			if err := h.sites.Install(ctx, fixed.name, fixed.text(h)); err != nil {
				t.Fatalf("Install of the fixed site: %v", err)
			}
			if err := h.sites.Verify(ctx, fixed.host, false, nil); err != nil {
				t.Errorf("Verify of the fixed site: %v", err)
			}
		})
	}
}

func TestBreakingUpdateRestoresOldSite(t *testing.T) {
	for _, mode := range []struct {
		name     string
		relative bool
	}{{"candidate", false}, {"in-place", true}} {
		t.Run(mode.name, func(t *testing.T) {
			h := startNginx(t, mode.relative)
			ctx := context.Background()
			s := site{name: "prod-acme", host: "acme.example.test", b: startBackend(t, "acme")}
			v1 := s.text(h)
			if err := h.sites.Install(ctx, s.name, v1); err != nil {
				t.Fatalf("Install v1: %v", err)
			}
			broken := s
			broken.extra = "    proxy_pass_header;\n" // wrong number of arguments
			err := h.sites.Install(ctx, s.name, broken.text(h))
			if err == nil {
				t.Fatal("a breaking update was accepted")
			}
			if !strings.Contains(err.Error(), `invalid number of arguments in "proxy_pass_header" directive`) {
				t.Errorf("error = %q, want nginx's message", err)
			}
			got, err := os.ReadFile(filepath.Join(h.avail, s.name))
			if err != nil {
				t.Fatalf("the site file is gone: %v", err)
			}
			if diff := cmp.Diff(string(got), string(v1)); diff != "" {
				t.Errorf("site after a refused update (-got +want):\n%s", diff)
			}
			if _, err := os.Readlink(filepath.Join(h.enabled, s.name)); err != nil {
				t.Errorf("the site's link is gone: %v", err)
			}
			if diff := cmp.Diff(dirNames(t, h.avail), []string{s.name}); diff != "" {
				t.Errorf("sites-available entries (-got +want):\n%s", diff)
			}
			if err := h.sites.Test(ctx); err != nil {
				t.Errorf("Test: %v", err)
			}
			if err := h.sites.Verify(ctx, s.host, false, nil); err != nil {
				t.Errorf("Verify of the old site: %v", err)
			}
		})
	}
}

// The candidate test judges a site without touching the real
// directories, so a process killed while it runs leaves nothing behind.
func TestCandidateTouchesNothing(t *testing.T) {
	h := startNginx(t, false)
	ctx := context.Background()
	good := site{name: "prod-good", host: "good.example.test", b: startBackend(t, "good")}
	if err := h.sites.Install(ctx, good.name, good.text(h)); err != nil {
		t.Fatalf("Install: %v", err)
	}
	before := [][]string{dirNames(t, h.prefix), dirNames(t, h.avail), dirNames(t, h.enabled)}

	other := site{name: "prod-other", host: "other.example.test", b: startBackend(t, "other")}
	tested, err := h.sites.testCandidate(ctx, other.name, other.text(h))
	if !tested || err != nil {
		t.Errorf("candidate of a good site: tested %v, err %v; want true, nil", tested, err)
	}
	// The candidate holds the other enabled sites: a site that clashes
	// with one of them is caught; and it replaces the enabled site of its
	// own name, so an update does not clash with its old version.
	tested, err = h.sites.testCandidate(ctx, "prod-dup", good.text(h))
	if !tested || err == nil || !strings.Contains(err.Error(), `duplicate upstream "prod-good-http"`) {
		t.Errorf("candidate clashing with an enabled site: tested %v, err %v; want nginx's duplicate upstream message", tested, err)
	}
	tested, err = h.sites.testCandidate(ctx, good.name, good.text(h))
	if !tested || err != nil {
		t.Errorf("candidate replacing the same site: tested %v, err %v; want true, nil", tested, err)
	}
	broken := other
	broken.extra = "    bogus_directive on;\n"
	tested, err = h.sites.testCandidate(ctx, broken.name, broken.text(h))
	if !tested || err == nil || !strings.Contains(err.Error(), filepath.Join(h.enabled, broken.name)+":6") {
		t.Errorf("candidate of a broken site: tested %v, err %v; want nginx's message with the real path", tested, err)
	}

	after := [][]string{dirNames(t, h.prefix), dirNames(t, h.avail), dirNames(t, h.enabled)}
	if diff := cmp.Diff(after, before); diff != "" {
		t.Errorf("directories changed by candidate tests (-got +want):\n%s", diff)
	}
}

func TestRemove(t *testing.T) {
	h := startNginx(t, false)
	ctx := context.Background()
	a := site{name: "prod-a", host: "a.example.test", b: startBackend(t, "a")}
	b := site{name: "prod-b", host: "b.example.test", b: startBackend(t, "b")}
	for _, s := range []site{a, b} {
		if err := h.sites.Install(ctx, s.name, s.text(h)); err != nil {
			t.Fatalf("Install %s: %v", s.name, err)
		}
	}
	if err := h.sites.Remove(ctx, a.name); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if diff := cmp.Diff(dirNames(t, h.avail), []string{b.name}); diff != "" {
		t.Errorf("sites-available entries (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(dirNames(t, h.enabled), []string{b.name}); diff != "" {
		t.Errorf("sites-enabled entries (-got +want):\n%s", diff)
	}
	if code, body := h.get(t, a.host, "/web/health"); code != 421 {
		t.Errorf("removed site still answers: %d %q", code, body)
	}
	if err := h.sites.Verify(ctx, b.host, false, nil); err != nil {
		t.Errorf("Verify of the remaining site: %v", err)
	}
	reloads := h.reloads.Load()
	if err := h.sites.Remove(ctx, a.name); err != nil {
		t.Errorf("Remove of a missing site: %v", err)
	}
	if h.reloads.Load() != reloads {
		t.Errorf("Remove of a missing site reloaded nginx")
	}
}

func TestVerifyFailures(t *testing.T) {
	h := startNginx(t, false)
	ctx := context.Background()
	down := site{name: "prod-down", host: "down.example.test", b: deadBackend(t)}
	wsWrong := site{name: "prod-ws", host: "ws.example.test", b: startBackend(t, "ws"), wsToHTTP: true}
	for _, s := range []site{down, wsWrong} {
		if err := h.sites.Install(ctx, s.name, s.text(h)); err != nil {
			t.Fatalf("Install %s: %v", s.name, err)
		}
	}
	for _, tc := range []struct {
		host string
		want []string
	}{
		{down.host, []string{"health check", "/web/health", "want 200, got 502 Bad Gateway", "nginx"}},
		{wsWrong.host, []string{"websocket upgrade", "/websocket", "want 101, got 400 Bad Request", "websocket needs the gevent port"}},
	} {
		err := h.sites.Verify(ctx, tc.host, false, nil)
		if err == nil {
			t.Errorf("Verify %s passed", tc.host)
			continue
		}
		t.Logf("Verify %s: %v", tc.host, err)
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Verify %s: error %q does not contain %q", tc.host, err, w)
			}
		}
	}
}

func TestRefusesBadNames(t *testing.T) {
	dir := t.TempDir()
	avail, enabled := filepath.Join(dir, "available"), filepath.Join(dir, "enabled")
	for _, d := range []string{avail, enabled} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := New(Config{Available: avail, Enabled: enabled, Binary: "/nonexistent/nginx"})
	for _, name := range []string{"", ".", "..", "../x", "a/b", "/etc/passwd", "Acme", "-x", "a.b", "a b", strings.Repeat("a", 129)} {
		if err := s.Install(context.Background(), name, []byte("server {}\n")); !errors.Is(err, ErrBadName) {
			t.Errorf("Install(%q) = %v, want ErrBadName", name, err)
		}
		if err := s.Remove(context.Background(), name); !errors.Is(err, ErrBadName) {
			t.Errorf("Remove(%q) = %v, want ErrBadName", name, err)
		}
	}
	if n := dirNames(t, dir); len(n) != 2 {
		t.Errorf("entries in %s = %v, want only the two directories", dir, n)
	}
	for _, d := range []string{avail, enabled} {
		if n := dirNames(t, d); len(n) != 0 {
			t.Errorf("entries in %s = %v, want none", d, n)
		}
	}
}

func TestRefusesToReplaceRegularFileInEnabled(t *testing.T) {
	h := startNginx(t, false)
	ctx := context.Background()
	hand := filepath.Join(h.enabled, "prod-hand")
	if err := os.WriteFile(hand, []byte("# written by hand\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := site{name: "prod-hand", host: "hand.example.test", b: startBackend(t, "hand")}
	err := h.sites.Install(ctx, s.name, s.text(h))
	if err == nil || !strings.Contains(err.Error(), "not a symbolic link") {
		t.Fatalf("Install over a regular file = %v, want a refusal", err)
	}
	got, _ := os.ReadFile(hand)
	if string(got) != "# written by hand\n" {
		t.Errorf("the hand-written file changed: %q", got)
	}
	if n := dirNames(t, h.avail); len(n) != 0 {
		t.Errorf("sites-available entries = %v, want none", n)
	}
}

func TestTrimTestOutput(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{
			in: "2026/01/02 15:04:05 [emerg] 7296#7296: unknown directive \"bogus\" in /etc/nginx/sites-enabled/prod-a:3\n" +
				"nginx: configuration file /etc/nginx/nginx.conf test failed\n",
			want: `[emerg] unknown directive "bogus" in /etc/nginx/sites-enabled/prod-a:3`,
		},
		{
			in: "nginx: [emerg] unknown directive \"bogus\" in /etc/nginx/sites-enabled/prod-a:3\n" +
				"nginx: configuration file /etc/nginx/nginx.conf test failed\n",
			want: `[emerg] unknown directive "bogus" in /etc/nginx/sites-enabled/prod-a:3`,
		},
		{
			in: "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\n" +
				"nginx: configuration file /etc/nginx/nginx.conf test is successful\n",
			want: "",
		},
		{
			in: "nginx: [warn] conflicting server name \"a\" on 0.0.0.0:80, ignored\n" +
				"nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\n",
			want: `[warn] conflicting server name "a" on 0.0.0.0:80, ignored`,
		},
	} {
		if diff := cmp.Diff(trimTestOutput(tc.in), tc.want); diff != "" {
			t.Errorf("trimTestOutput(%q) (-got +want):\n%s", tc.in, diff)
		}
	}
}
