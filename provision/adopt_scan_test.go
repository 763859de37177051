package provision_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	. "odoobot/provision"
	"odoobot/provision/tree"
)

// apidevTree lays out a host the way API-DEV leaves it, under a temp
// directory, and returns its layout and tracking directory.
type apidevTree struct {
	t        *testing.T
	layout   Layout
	tracking string
}

func newAPIDEVTree(t *testing.T) *apidevTree {
	t.Helper()
	root := t.TempDir()
	tr := &apidevTree{t: t, tracking: filepath.Join(root, "api-dev", "data"), layout: Layout{
		Zone: "example.com", UnitPrefix: "odoo19e",
		ProdRoot:       filepath.Join(root, "apps", "production", "odoo"),
		NginxAvailable: filepath.Join(root, "nginx", "sites-available"),
		NginxEnabled:   filepath.Join(root, "nginx", "sites-enabled"),
		UnitDir:        filepath.Join(root, "systemd"),
		LogDir:         filepath.Join(root, "log"), CertDir: filepath.Join(root, "certs"),
	}}
	return tr
}

func (tr *apidevTree) write(path, content string) {
	tr.t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tr.t.Fatal(err)
	}
}

// instance writes prod-NAME's directory, odoo.conf (the given lines), its
// unit and, when site is not empty, its nginx site.
func (tr *apidevTree) instance(name, conf, site string) Paths {
	tr.t.Helper()
	p := tr.layout.Paths(tr.layout.NewInstance(name, SSLHTTP))
	for _, d := range []string{"odoo-server", "custom_addons", "venv"} {
		if err := os.MkdirAll(filepath.Join(p.Dir, d), 0o755); err != nil {
			tr.t.Fatal(err)
		}
	}
	tr.write(p.Conf, "[options]\nadmin_passwd = secret\ndb_name = prod-"+name+"\n"+conf)
	tr.write(p.Unit, "[Service]\nExecStart=/bin/true\n")
	if site != "" {
		tr.write(p.SiteAvail, site)
	}
	return p
}

const (
	siteLetsEncrypt = `server {
    listen 80;
    server_name acme.example.com;
    return 301 https://$host$request_uri;
}
server {
    listen 443 ssl http2;
    server_name acme.example.com;
    ssl_certificate /etc/letsencrypt/live/acme.example.com/fullchain.pem;
    ssl_certificate_key /etc/letsencrypt/live/acme.example.com/privkey.pem;
}
`
	siteCloudflare = `server {
    listen 443 ssl;
    ssl_certificate /etc/ssl/cloudflare/origin.pem;
    ssl_certificate_key /etc/ssl/cloudflare/origin.key;
}
`
	siteHTTP = "server {\n    listen 80;\n    location / { proxy_pass http://127.0.0.1:2102; }\n}\n"
)

func TestScanAPIDEV(t *testing.T) {
	tr := newAPIDEVTree(t)
	tr.instance("acme", "http_port = 2100\ngevent_port = 8072\n", siteLetsEncrypt)
	acmeInfo := tr.layout.Paths(tr.layout.NewInstance("acme", SSLHTTP)).Info
	tr.write(acmeInfo, "Instancia: prod-acme\nPuerto: 2100\nFecha de creación: 2025-03-14 09:26:53\n")
	// beta is an older Odoo: longpolling_port, and it collides with acme.
	tr.instance("beta", "xmlrpc_port = 2101\nlongpolling_port = 8072\n", siteCloudflare)
	// old is not tracked, served over plain HTTP, and has no info file.
	old := tr.instance("old", "http_port = 2102\ngevent_port = 8074\n", siteHTTP)
	oldTime := time.Date(2024, 6, 1, 12, 0, 0, 0, time.Local)
	if err := os.Chtimes(old.Dir, oldTime, oldTime); err != nil {
		t.Fatal(err)
	}
	// www passes nothing: a reserved name.
	tr.instance("www", "http_port = 2103\ngevent_port = 8075\n", siteCloudflare)
	// nosite has no site and no gevent port.
	tr.instance("nosite", "http_port = 2104\n", "")

	tr.write(filepath.Join(tr.tracking, TrackingInstancesFile), strings.Join([]string{
		"# production instances",
		"prod-acme|acme.example.com|2100|8072|letsencrypt|2025-03-14",
		"beta, beta.example.com",
		"ghost",
		"prod-www   www.example.com",
		"prod-nosite",
		"",
	}, "\n"))
	tr.write(filepath.Join(tr.tracking, TrackingPortsFile), "2100 prod-acme http\n8073 prod-acme gevent\n2101\n8072\n2103,8075\n2104\n")

	got, err := ScanAPIDEV(context.Background(), tree.New(tr.layout), tr.layout, tr.tracking, "", NameRules{Zone: "example.com"})
	if err != nil {
		t.Fatal(err)
	}
	type summary struct {
		Name     string
		Domain   string
		Unit     string
		Ports    Ports
		Mode     SSLMode
		Created  string
		Problems []string
		Notes    []string
	}
	var sums []summary
	for _, c := range got {
		i := c.Instance
		if i.State != StateReady || i.CreatedBy != ImportedBy || i.Internal != "prod-"+i.Name {
			t.Errorf("%s: state %s, by %q, internal %s", i.Name, i.State, i.CreatedBy, i.Internal)
		}
		created := ""
		if !i.CreatedAt.IsZero() {
			created = i.CreatedAt.Format("2006-01-02 15:04:05")
		}
		sums = append(sums, summary{i.Name, i.Domain, i.Unit, i.Ports, i.SSLMode, created, c.Problems, c.Notes})
	}
	ghostDir := filepath.Join(tr.layout.ProdRoot, "prod-ghost")
	want := []summary{
		{
			Name: "acme", Domain: "acme.example.com", Unit: "odoo19e-prod-acme.service", Ports: Ports{2100, 8072}, Mode: SSLLetsEncrypt,
			Created:  "2025-03-14 09:26:53",
			Problems: []string{"port 8072 is also used by prod-beta"},
			Notes:    []string{"puertos_ocupados_odoo.txt lists ports [2100 8073] for prod-acme; odoo.conf says [2100 8072]"},
		},
		{
			Name: "beta", Domain: "beta.example.com", Unit: "odoo19e-prod-beta.service", Ports: Ports{2101, 8072}, Mode: SSLCloudflare,
			Created:  time.Now().Format("2006-01-02") + "*",
			Problems: []string{"port 8072 is also used by prod-acme"},
			Notes: []string{
				"odoo.conf names its HTTP port xmlrpc_port (2101), as older Odoo does",
				"odoo.conf has longpolling_port 8072 and no gevent_port (older Odoo): taken as its gevent port",
			},
		},
		{
			Name: "ghost", Domain: "ghost.example.com", Unit: "odoo19e-prod-ghost.service", Mode: SSLHTTP,
			Problems: []string{"directory " + ghostDir + " is missing (no such file or directory)"},
		},
		{
			Name: "nosite", Domain: "nosite.example.com", Unit: "odoo19e-prod-nosite.service", Ports: Ports{HTTP: 2104}, Mode: SSLHTTP,
			Created:  time.Now().Format("2006-01-02") + "*",
			Problems: []string{"odoo.conf has neither gevent_port nor longpolling_port: Odoo would use 8072, which another instance may share; set it"},
			Notes:    []string{"no nginx site at " + filepath.Join(tr.layout.NginxAvailable, "prod-nosite") + " (no such file or directory): recorded as http"},
		},
		{
			Name: "old", Domain: "old.example.com", Unit: "odoo19e-prod-old.service", Ports: Ports{2102, 8074}, Mode: SSLHTTP,
			Created: "2024-06-01 12:00:00",
			Notes:   []string{"not listed in prod-instances.txt", "port 2102 is not in puertos_ocupados_odoo.txt", "port 8074 is not in puertos_ocupados_odoo.txt"},
		},
		{
			Name: "www", Domain: "www.example.com", Unit: "odoo19e-prod-www.service", Ports: Ports{2103, 8075}, Mode: SSLCloudflare,
			Created:  time.Now().Format("2006-01-02") + "*",
			Problems: []string{`the name does not pass odoobot's rules: name "www" refused (rule reserved): "www" is reserved; choose another name`},
		},
	}
	// Instances without info-instancia.txt take their directory's time,
	// which is today here: compare the day only.
	for i := range sums {
		if i < len(want) && strings.HasSuffix(want[i].Created, "*") && strings.HasPrefix(sums[i].Created, strings.TrimSuffix(want[i].Created, "*")) {
			sums[i].Created = want[i].Created
		}
	}
	if diff := cmp.Diff(sums, want); diff != "" {
		t.Errorf("ScanAPIDEV (-got +want)\n%s", diff)
	}
	for _, c := range got {
		if c.OK() != (c.Instance.Name == "old") {
			t.Errorf("%s: OK() = %v; only old may be imported", c.Instance.Name, c.OK())
		}
	}
}

// TestScanAPIDEVNoTracking: without tracking files the directories are
// still found, and nothing is noted about the missing files but the
// absence from prod-instances.txt.
func TestScanAPIDEVNoTracking(t *testing.T) {
	tr := newAPIDEVTree(t)
	tr.instance("acme", "http_port = 2100\ngevent_port = 8072\n", siteCloudflare)
	got, err := ScanAPIDEV(context.Background(), tree.New(tr.layout), tr.layout, tr.tracking, "other.test", NameRules{Zone: "other.test"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0].OK() || got[0].Instance.Domain != "acme.other.test" || got[0].Instance.SSLMode != SSLCloudflare {
		t.Fatalf("got %+v", got)
	}
	if diff := cmp.Diff(got[0].Notes, []string{"not listed in prod-instances.txt"}); diff != "" {
		t.Errorf("notes (-got +want)\n%s", diff)
	}
}
