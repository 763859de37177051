package nginx

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"odoobot/provision"
	"odoobot/templates"
)

// longZone is a zone so long that the longest names provision accepts
// under it are cut short by nginx's server names hash, not PostgreSQL.
var longZone = strings.Repeat("z", 63) + "." + strings.Repeat("y", 63) + "." + strings.Repeat("x", 60) + ".example"

// longestName is the longest name of c repeated that provision's rules
// accept under zone.
func longestName(t *testing.T, zone string, c string) string {
	t.Helper()
	r := provision.NameRules{Zone: zone, UnitPrefix: "odoo19e"}
	for n := 63; n > 0; n-- {
		if name := strings.Repeat(c, n); r.Check(name) == nil {
			return name
		}
	}
	t.Fatalf("no name of %q is accepted under %s", c, zone)
	return ""
}

// namedSite renders the site of instance name under zone as odoobot's
// creation does: every name from provision.Names.
func namedSite(t *testing.T, h *host, name, zone, mode string, b backend, cert *certPEM) (provision.Names, []byte) {
	t.Helper()
	n := provision.DeriveNames(name, zone, "odoo19e")
	st := templates.Site{
		Mode: mode, Name: n.SiteFile, Domain: n.Domain, HTTPPort: b.httpPort, GeventPort: b.geventPort,
		UpstreamHTTP: n.UpstreamHTTP, UpstreamGevent: n.UpstreamGevent, SSLCache: n.SSLCache,
		ListenHTTP: h.httpPort, ListenHTTPS: h.httpsPort,
		AccessLog: filepath.Join(h.prefix, n.Internal+".access.log"), ErrorLog: filepath.Join(h.prefix, n.Internal+".error.log"),
		ACMEWebroot: filepath.Join(h.prefix, "acme-webroot"),
	}
	if cert != nil {
		st.CertFile, st.KeyFile = cert.cert, cert.key
	}
	text, err := loadTemplates(t).Site(st)
	if err != nil {
		t.Fatal(err)
	}
	return n, text
}

// longInstance is one instance of TestLongestNamesLoad.
type longInstance struct {
	name, zone, mode string
}

func longInstances(t *testing.T) []longInstance {
	return []longInstance{
		{longestName(t, longZone, "a"), longZone, templates.ModeCloudflare},
		{longestName(t, longZone, "b"), longZone, templates.ModeLetsEncrypt},
		{longestName(t, longZone, "c"), longZone, templates.ModeHTTP},
		{longestName(t, "softrigx.com", "d"), "softrigx.com", templates.ModeLetsEncrypt},
	}
}

// installLong installs the sites of insts on h and checks that each
// answers through nginx, over TLS in the TLS modes.
func installLong(t *testing.T, h *host, insts []longInstance) {
	t.Helper()
	ctx := context.Background()
	certs := t.TempDir()
	for _, li := range insts {
		var cert *certPEM
		if li.mode != templates.ModeHTTP {
			cert = selfSigned(t, certs, li.name+"."+li.zone)
		}
		n, text := namedSite(t, h, li.name, li.zone, li.mode, startBackend(t, li.name), cert)
		if err := h.sites.Install(ctx, n.SiteFile, text); err != nil {
			t.Fatalf("%s site of the %d-character name %s (domain %d bytes): %v",
				li.mode, len(li.name), li.name, len(n.Domain), err)
		}
		if cert != nil {
			if err := h.sites.Verify(ctx, n.Domain, true, cert.pool); err != nil {
				t.Errorf("%s over TLS: %v", n.Domain, err)
			}
		} else if err := h.sites.Verify(ctx, n.Domain, false, nil); err != nil {
			t.Errorf("%s over HTTP: %v", n.Domain, err)
		}
	}
}

// TestLongestNamesLoad: with nginx's default hash sizes, the sites of the
// longest names provision accepts under a long zone fail `nginx -t` for
// their domains (the problem); once odoobot's default server is in place, the longest
// names under a long zone and under a short one load together in every
// mode and answer through nginx.
func TestLongestNamesLoad(t *testing.T) {
	insts := longInstances(t)
	ctx := context.Background()
	h := startNginxWith(t, false, false)

	// The problem, on nginx as it comes: the domains of two sites.
	var te *TestError
	for i, name := range []string{insts[0].name, insts[1].name} {
		n := provision.DeriveNames(name, longZone, "odoo19e")
		b := startBackend(t, name)
		text, err := loadTemplates(t).Site(templates.Site{
			Mode: templates.ModeHTTP, Name: n.SiteFile, Domain: n.Domain, HTTPPort: b.httpPort, GeventPort: b.geventPort,
			ListenHTTP: h.httpPort,
			AccessLog:  filepath.Join(h.prefix, "a.log"), ErrorLog: filepath.Join(h.prefix, "e.log"),
		})
		if err != nil {
			t.Fatal(err)
		}
		// The first stays installed; installLong replaces it below.
		err = h.sites.Install(ctx, n.SiteFile, text)
		if i == 0 && err != nil {
			t.Fatalf("one long domain alone: %v", err)
		}
		if i == 1 && (!errors.As(err, &te) || !strings.Contains(te.Output, "server_names_hash_bucket_size")) {
			t.Fatalf("without odoobot's settings, a second site of a %d-byte domain: %v; want nginx -t to refuse it for the server names hash (the setup shows the problem)", len(n.Domain), err)
		}
	}

	var logs bytes.Buffer
	o := newOrigin(t, h, fixedRanges(cfPeer+"/32"), &logs)
	if err := o.Ensure(ctx); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	def, err := os.ReadFile(filepath.Join(h.avail, DefaultSiteName))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"server_names_hash_bucket_size 256;", "variables_hash_bucket_size 128;"} {
		if !strings.Contains(string(def), want) {
			t.Errorf("odoobot's default site lacks %q", want)
		}
	}
	installLong(t, h, insts)
}

// TestHostSetsHashSize: a host whose own nginx.conf sets
// server_names_hash_bucket_size keeps its setting (nginx refuses a second
// one): odoobot's default site leaves it out, says so in the log, still
// sets the other, and the long names load.
func TestHostSetsHashSize(t *testing.T) {
	h := startNginxWith(t, false, false)
	conf, err := os.ReadFile(h.conf)
	if err != nil {
		t.Fatal(err)
	}
	own := strings.Replace(string(conf), "http {\n", "http {\n    server_names_hash_bucket_size 512;\n", 1)
	if own == string(conf) {
		t.Fatal("the test's nginx.conf has no http block to add the setting to")
	}
	if err := os.WriteFile(h.conf, []byte(own), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var logs bytes.Buffer
	o := newOrigin(t, h, fixedRanges(cfPeer+"/32"), &logs)
	if err := o.Ensure(ctx); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	def, err := os.ReadFile(filepath.Join(h.avail, DefaultSiteName))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(def), "server_names_hash_bucket_size") || !strings.Contains(string(def), "variables_hash_bucket_size 128;") {
		t.Errorf("odoobot's default site on a host that sets server_names_hash_bucket_size:\n%s", def)
	}
	if !strings.Contains(logs.String(), "sets server_names_hash_bucket_size") {
		t.Errorf("the log does not say the host's setting is kept:\n%s", logs.String())
	}
	installLong(t, h, longInstances(t))

	// Known now: a second Ensure changes, tests and reloads nothing.
	reloads := h.reloads.Load()
	if err := o.Ensure(ctx); err != nil {
		t.Fatalf("Ensure again: %v", err)
	}
	if h.reloads.Load() != reloads {
		t.Errorf("a second Ensure reloaded nginx")
	}
}
