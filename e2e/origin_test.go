package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"odoobot/provision/nginx"
)

// TestNginxStartsWithoutOdoobotsState: odoobot's own part of nginx's
// configuration (its default server and that server's certificate)
// lives beside nginx's configuration, not in odoobot's STATE_DIR: with
// the state directory lost, nginx's configuration still passes `nginx
// -t`, so a reload or a reboot does not take every instance down.
func TestNginxStartsWithoutOdoobotsState(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	state := filepath.Join(env.root, "state")
	env.set(t, "STATE_DIR", state)
	cfg := env.config(t)
	keepDefaultSite(t, cfg.NginxAvailable, cfg.NginxEnabled)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	serve := env.command(ctx, odoobotBin(t), "serve")
	serve.Stdin = strings.NewReader("")
	if out, err := serve.CombinedOutput(); err != nil {
		t.Fatalf("odoobot serve: %v\n%s", err, out)
	}
	site, err := os.ReadFile(filepath.Join(cfg.NginxAvailable, nginx.DefaultSiteName))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(site), state) {
		t.Errorf("odoobot's default site names files in STATE_DIR %s:\n%s", state, site)
	}
	if err := os.RemoveAll(state); err != nil {
		t.Fatal(err)
	}
	requireNginxTestPasses(t)
}

// TestServeComesUpWhenNginxRefusesItsDefaultServer: when odoobot's
// default server cannot be put in nginx at start (here NGINX_CONF names
// a file that is not there), serve still answers chat and says what is
// wrong, rather than stopping.
func TestServeComesUpWhenNginxRefusesItsDefaultServer(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	env.set(t, "NGINX_CONF", filepath.Join(env.root, "no-nginx", "nginx.conf"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	answered := func(out string) bool { return strings.Contains(out, "no instances yet") }
	out := serveBriefly(t, ctx, env, nil, "list\n", 20*time.Second, answered)
	if !answered(out) {
		t.Fatalf("serve did not come up and answer list:\n%s", out)
	}
	for _, want := range []string{"could not be put in nginx at start", "no-nginx/nginx.conf"} {
		if !strings.Contains(out, want) {
			t.Errorf("serve does not say %q", want)
		}
	}
}
