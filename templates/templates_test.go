package templates

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/* from the rendered output")

// Fixture values, shaped like a real instance under API-DEV's default root.
const (
	fxDir      = "/home/mtg/apps/production/odoo/prod-acme"
	fxRelease  = "/var/lib/odoobot/releases/odoo-19.0-3f2a1b9/src"
	fxVenv     = "/var/lib/odoobot/releases/odoo-19.0-3f2a1b9/venv"
	fxMaster   = "Zq7-master-password-4f1c9e"
	fxDBSecret = "db-password-8a2e"
)

func mustLoad(t *testing.T) *Set {
	t.Helper()
	s, err := Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return s
}

// golden compares got with testdata/golden/name, or rewrites the file
// under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./templates -update to create it)", err)
	}
	if diff := cmp.Diff(string(got), string(want)); diff != "" {
		t.Errorf("%s differs from golden file (-got +want):\n%s", name, diff)
	}
}

func acmeConf() OdooConf {
	return OdooConf{
		HTTPPort:     2100,
		GeventPort:   8072,
		DBHost:       "127.0.0.1",
		DBPort:       5432,
		DBUser:       "odoo",
		DBPassword:   fxDBSecret,
		DBName:       "prod-acme",
		AdminPasswd:  fxMaster,
		OdooAddons:   []string{fxRelease + "/odoo/addons", fxRelease + "/addons"},
		CustomAddons: fxDir + "/custom_addons",
		DataDir:      fxDir + "/data",
		LogFile:      fxDir + "/odoo.log",
	}
}

func acmeUnit() Unit {
	return Unit{
		Service:    "odoo19e-prod-acme.service",
		Name:       "prod-acme",
		Domain:     "acme.example.com",
		User:       "odoo",
		Venv:       fxVenv,
		Release:    fxRelease,
		Conf:       fxDir + "/odoo.conf",
		Dir:        fxDir,
		HTTPPort:   acmeConf().HTTPPort,
		GeventPort: acmeConf().GeventPort,
		MemoryMax:  acmeConf().MemoryMax(),
	}
}

func acmeSite(mode string) Site {
	return Site{
		Mode:        mode,
		Name:        "prod-acme",
		Domain:      "acme.example.com",
		HTTPPort:    2100,
		GeventPort:  8072,
		CertFile:    "/etc/odoobot/certs/prod-acme/fullchain.pem",
		KeyFile:     "/etc/odoobot/certs/prod-acme/privkey.pem",
		ACMEWebroot: "/var/lib/odoobot/acme",
	}
}

func acmeInfo(mode string) Info {
	return Info{
		Name:        "acme",
		Internal:    "prod-acme",
		Domain:      "acme.example.com",
		Mode:        mode,
		Database:    "prod-acme",
		HTTPPort:    2100,
		GeventPort:  8072,
		Service:     "odoo19e-prod-acme.service",
		Dir:         fxDir,
		Conf:        fxDir + "/odoo.conf",
		Log:         fxDir + "/odoo.log",
		OdooVersion: "19.0 enterprise",
		Release:     "https://github.com/odoo/odoo.git@a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
		Python:      "/usr/bin/python3.11",
		Deps:        "debian",
		CreatedAt:   time.Date(2025, 3, 14, 9, 26, 53, 0, time.FixedZone("ART", -3*3600)),
		CreatedBy:   "ana (slack U024BE7LH)",
	}
}

func TestLoadParsesEveryTemplate(t *testing.T) {
	s := mustLoad(t)
	names, err := fs.Glob(files, "files/*.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < len(rendered) {
		t.Fatalf("embedded %d templates, want at least %d: %v", len(names), len(rendered), names)
	}
	for _, n := range names {
		if s.t.Lookup(path.Base(n)) == nil {
			t.Errorf("embedded %s was not parsed", n)
		}
	}
}

func TestGolden(t *testing.T) {
	s := mustLoad(t)
	ent := acmeConf()
	ent.EnterpriseAddons = "/var/lib/odoobot/enterprise/19.0"
	// Odoo 16, PostgreSQL over the local socket with peer authentication,
	// and a custom_addons with no module yet.
	local := acmeConf()
	local.Version = "16.0"
	local.DBHost, local.DBPort, local.DBPassword = "", 0, ""
	local.OmitCustomAddons = true
	local.Unaccent = true
	tests := []struct {
		file   string
		render func() ([]byte, error)
	}{
		{"odoo.conf", func() ([]byte, error) { return s.OdooConf(acmeConf()) }},
		{"odoo-enterprise.conf", func() ([]byte, error) { return s.OdooConf(ent) }},
		{"odoo-16-local.conf", func() ([]byte, error) { return s.OdooConf(local) }},
		{"odoo19e-prod-acme.service", func() ([]byte, error) { return s.Unit(acmeUnit()) }},
		{"site-cloudflare.conf", func() ([]byte, error) { return s.Site(acmeSite(ModeCloudflare)) }},
		{"site-letsencrypt.conf", func() ([]byte, error) { return s.Site(acmeSite(ModeLetsEncrypt)) }},
		{"site-http.conf", func() ([]byte, error) { return s.Site(acmeSite(ModeHTTP)) }},
		{"site-http-no-webroot.conf", func() ([]byte, error) {
			st := acmeSite(ModeHTTP)
			st.ACMEWebroot = ""
			return s.Site(st)
		}},
		{"info-tls.txt", func() ([]byte, error) { return s.Info(acmeInfo(ModeCloudflare)) }},
		{"info-http.txt", func() ([]byte, error) { // an imported instance: no release recorded
			i := acmeInfo(ModeHTTP)
			i.Release, i.Python, i.Deps = "", "", ""
			return s.Info(i)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := tt.render()
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.file, got)
		})
	}
}

// confValues parses odoo.conf the way Odoo's config parser sees it: keys
// of [options].
func confValues(t *testing.T, b []byte) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if l == "" || l[0] == ';' || l[0] == '#' || l[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("odoo.conf line %q is not key = value", l)
		}
		k = strings.TrimSpace(k)
		if _, dup := m[k]; dup {
			t.Fatalf("odoo.conf sets %s twice", k)
		}
		m[k] = strings.TrimSpace(v)
	}
	return m
}

func TestOdooConfValues(t *testing.T) {
	s := mustLoad(t)
	c := acmeConf()
	c.EnterpriseAddons = "/opt/enterprise"
	b, err := s.OdooConf(c)
	if err != nil {
		t.Fatal(err)
	}
	got := confValues(t, b)
	want := map[string]string{
		"http_port":      "2100",
		"gevent_port":    "8072",
		"http_interface": "127.0.0.1",
		"proxy_mode":     "True",
		"list_db":        "False",
		"dbfilter":       "^prod-acme$",
		"db_name":        "prod-acme",
		"workers":        "2",
		"admin_passwd":   fxMaster,
		"addons_path":    fxRelease + "/odoo/addons," + fxRelease + "/addons,/opt/enterprise," + fxDir + "/custom_addons",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["longpolling_port"]; ok || strings.Contains(string(b), "longpolling") {
		t.Errorf("odoo.conf mentions longpolling_port:\n%s", b)
	}
}

func TestOdooConfNeverLongpolling(t *testing.T) {
	s := mustLoad(t)
	for _, version := range []string{"", "17.0", "18.0", "19.0", "saas~18.3"} {
		for _, workers := range []int{0, 1, 4} {
			c := acmeConf()
			c.Version, c.Workers = version, workers
			b, err := s.OdooConf(c)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), "longpolling") || confValues(t, b)["gevent_port"] != "8072" {
				t.Errorf("version %q workers=%d: want gevent_port and no longpolling:\n%s", version, workers, b)
			}
		}
	}
}

// TestOdooConf16Longpolling: Odoo 16 reads the websocket port as
// longpolling_port, and only that.
func TestOdooConf16Longpolling(t *testing.T) {
	s := mustLoad(t)
	c := acmeConf()
	c.Version = "16.0"
	b, err := s.OdooConf(c)
	if err != nil {
		t.Fatal(err)
	}
	got := confValues(t, b)
	if _, ok := got["gevent_port"]; ok || got["longpolling_port"] != "8072" {
		t.Errorf("16.0: want longpolling_port = 8072 and no gevent_port:\n%s", b)
	}
}

// TestOdooConfNoFalse: an unset database host, port or password is left
// out, never written as False; an empty custom_addons stays out of
// addons_path but is named in a comment.
func TestOdooConfNoFalse(t *testing.T) {
	s := mustLoad(t)
	c := acmeConf()
	c.DBHost, c.DBPort, c.DBPassword = "", 0, ""
	c.OmitCustomAddons = true
	b, err := s.OdooConf(c)
	if err != nil {
		t.Fatal(err)
	}
	got := confValues(t, b)
	for _, k := range []string{"db_host", "db_port", "db_password"} {
		if v, ok := got[k]; ok {
			t.Errorf("%s = %q, want it left out", k, v)
		}
	}
	for k, v := range got {
		if v == "False" && k != "list_db" {
			t.Errorf("%s = False", k)
		}
	}
	if strings.Contains(got["addons_path"], "custom_addons") || !strings.Contains(string(b), "; "+fxDir+"/custom_addons ") {
		t.Errorf("custom_addons in addons_path, or not named in a comment:\n%s", b)
	}
}

func TestSeries(t *testing.T) {
	for _, tt := range []struct {
		version   string
		major     int
		ws        string
		demo, not []string
	}{
		{"", 19, "gevent_port", []string{"--with-demo"}, nil},
		{"19.0", 19, "gevent_port", []string{"--with-demo"}, nil},
		{"19.0+e", 19, "gevent_port", []string{"--with-demo"}, nil},
		{"saas~18.2", 18, "gevent_port", nil, []string{"--without-demo=all"}},
		{"18.0", 18, "gevent_port", nil, []string{"--without-demo=all"}},
		{"17.0", 17, "gevent_port", nil, []string{"--without-demo=all"}},
		{"16.0", 16, "longpolling_port", nil, []string{"--without-demo=all"}},
		{"master", 19, "gevent_port", []string{"--with-demo"}, nil},
	} {
		s := SeriesOf(tt.version)
		if s.Major != tt.major || s.WebsocketOption() != tt.ws {
			t.Errorf("SeriesOf(%q) = %d %s, want %d %s", tt.version, s.Major, s.WebsocketOption(), tt.major, tt.ws)
		}
		if diff := cmp.Diff(s.DemoArgs(true), tt.demo); diff != "" {
			t.Errorf("%q DemoArgs(true) (-got +want):\n%s", tt.version, diff)
		}
		if diff := cmp.Diff(s.DemoArgs(false), tt.not); diff != "" {
			t.Errorf("%q DemoArgs(false) (-got +want):\n%s", tt.version, diff)
		}
	}
}

func TestDBFilterEscapes(t *testing.T) {
	s := mustLoad(t)
	c := acmeConf()
	c.DBName = "prod.acme_2"
	b, err := s.OdooConf(c)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := confValues(t, b)["dbfilter"], `^prod\.acme_2$`; got != want {
		t.Errorf("dbfilter = %q, want %q", got, want)
	}
	for _, bad := range []string{"prod acme", "prod%dacme", "-prod", "p", "prod/acme"} {
		c.DBName = bad
		if _, err := s.OdooConf(c); !errors.Is(err, ErrInvalid) {
			t.Errorf("DBName %q: err = %v, want ErrInvalid", bad, err)
		}
	}
}

// TestRejectsLineBreaks sets one string field at a time to a value that
// would add a key or directive, and expects every render to refuse it.
func TestRejectsLineBreaks(t *testing.T) {
	s := mustLoad(t)
	const evil = "x\nadmin_passwd = stolen"
	confFields := map[string]func(*OdooConf){
		"DBHost":           func(c *OdooConf) { c.DBHost = evil },
		"DBUser":           func(c *OdooConf) { c.DBUser = evil },
		"DBPassword":       func(c *OdooConf) { c.DBPassword = evil },
		"DBName":           func(c *OdooConf) { c.DBName = evil },
		"AdminPasswd":      func(c *OdooConf) { c.AdminPasswd = "secret\r\nlist_db = True" },
		"OdooAddons":       func(c *OdooConf) { c.OdooAddons = []string{"/a\n/b"} },
		"EnterpriseAddons": func(c *OdooConf) { c.EnterpriseAddons = "/e\nx" },
		"CustomAddons":     func(c *OdooConf) { c.CustomAddons = "/c\nx" },
		"DataDir":          func(c *OdooConf) { c.DataDir = "/d\nx" },
		"LogFile":          func(c *OdooConf) { c.LogFile = "/l\nx" },
		"LogLevel":         func(c *OdooConf) { c.LogLevel = "info\nworkers = 0" },
	}
	for field, set := range confFields {
		c := acmeConf()
		set(&c)
		b, err := s.OdooConf(c)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), field) {
			t.Errorf("odoo.conf %s: err = %v, want ErrInvalid naming the field; output:\n%s", field, err, b)
		}
	}
	unitFields := map[string]func(*Unit){
		"Service": func(u *Unit) { u.Service = "a\nb.service" },
		"Name":    func(u *Unit) { u.Name = "prod\nacme" },
		"Domain":  func(u *Unit) { u.Domain = "acme.example.com\nExecStartPre=/bin/rm" },
		"User":    func(u *Unit) { u.User = "odoo\nUser=root" },
		"Group":   func(u *Unit) { u.Group = "odoo\nGroup=root" },
		"Venv":    func(u *Unit) { u.Venv = "/v\nx" },
		"Release": func(u *Unit) { u.Release = "/r\nx" },
		"Conf":    func(u *Unit) { u.Conf = "/c\nx" },
		"Dir":     func(u *Unit) { u.Dir = "/d\nx" },
	}
	for field, set := range unitFields {
		u := acmeUnit()
		set(&u)
		if _, err := s.Unit(u); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), field) {
			t.Errorf("unit %s: err = %v, want ErrInvalid naming the field", field, err)
		}
	}
	siteFields := map[string]func(*Site){
		"Name":              func(st *Site) { st.Name = "prod-acme\n}" },
		"Domain":            func(st *Site) { st.Domain = "acme.example.com;\nlocation /x {}" },
		"CertFile":          func(st *Site) { st.CertFile = "/c\nx" },
		"KeyFile":           func(st *Site) { st.KeyFile = "/k\nx" },
		"ACMEWebroot":       func(st *Site) { st.ACMEWebroot = "/w\nx" },
		"ClientMaxBodySize": func(st *Site) { st.ClientMaxBodySize = "100m;\nx" },
		"AccessLog":         func(st *Site) { st.AccessLog = "/a\nx" },
		"ErrorLog":          func(st *Site) { st.ErrorLog = "/e\nx" },
		"CloudflareSnippet": func(st *Site) { st.CloudflareSnippet = "cf.conf;\nallow all" },
	}
	for field, set := range siteFields {
		mode := ModeCloudflare
		if field == "ACMEWebroot" {
			mode = ModeLetsEncrypt
		}
		st := acmeSite(mode)
		set(&st)
		if _, err := s.Site(st); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), field) {
			t.Errorf("site %s: err = %v, want ErrInvalid naming the field", field, err)
		}
	}
	infoFields := map[string]func(*Info){
		"Name":        func(i *Info) { i.Name = "acme\nx" },
		"Database":    func(i *Info) { i.Database = "prod-acme\nx" },
		"Service":     func(i *Info) { i.Service = "s\nx" },
		"Dir":         func(i *Info) { i.Dir = "/d\nx" },
		"OdooVersion": func(i *Info) { i.OdooVersion = "19\nx" },
		"CreatedBy":   func(i *Info) { i.CreatedBy = "ana\nMaster password: x" },
		"Release":     func(i *Info) { i.Release = "repo@c\nx" },
	}
	for field, set := range infoFields {
		i := acmeInfo(ModeCloudflare)
		set(&i)
		if _, err := s.Info(i); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), field) {
			t.Errorf("info %s: err = %v, want ErrInvalid naming the field", field, err)
		}
	}
}

func TestRejectsBadValues(t *testing.T) {
	s := mustLoad(t)
	conf := func(f func(*OdooConf)) error { c := acmeConf(); f(&c); _, err := s.OdooConf(c); return err }
	unit := func(f func(*Unit)) error { u := acmeUnit(); f(&u); _, err := s.Unit(u); return err }
	site := func(f func(*Site)) error { st := acmeSite(ModeLetsEncrypt); f(&st); _, err := s.Site(st); return err }
	for name, err := range map[string]error{
		"conf no port":           conf(func(c *OdooConf) { c.HTTPPort = 0 }),
		"conf same ports":        conf(func(c *OdooConf) { c.GeventPort = c.HTTPPort }),
		"conf no admin password": conf(func(c *OdooConf) { c.AdminPasswd = "" }),
		"conf padded password":   conf(func(c *OdooConf) { c.AdminPasswd = " secret" }),
		"conf relative path":     conf(func(c *OdooConf) { c.DataDir = "data" }),
		"conf comma in addons":   conf(func(c *OdooConf) { c.CustomAddons = "/a,/b" }),
		"conf no addons":         conf(func(c *OdooConf) { c.OdooAddons = nil }),
		"conf negative workers":  conf(func(c *OdooConf) { c.Workers = -1 }),
		"conf soft above hard":   conf(func(c *OdooConf) { c.LimitMemorySoft = 3 << 30; c.LimitMemoryHard = 2 << 30 }),
		"unit space in path":     unit(func(u *Unit) { u.Venv = "/opt/my venv" }),
		"unit specifier":         unit(func(u *Unit) { u.Conf = "/etc/%n.conf" }),
		"unit no .service":       unit(func(u *Unit) { u.Service = "odoo19e-prod-acme" }),
		"unit root-ish user":     unit(func(u *Unit) { u.User = "0" }),
		"unit no port":           unit(func(u *Unit) { u.HTTPPort = 0 }),
		"unit no gevent port":    unit(func(u *Unit) { u.GeventPort = 0 }),
		"unit same ports":        unit(func(u *Unit) { u.GeventPort = u.HTTPPort }),
		"site unknown mode":      site(func(st *Site) { st.Mode = "https" }),
		"site no cert":           site(func(st *Site) { st.CertFile = "" }),
		"site no webroot":        site(func(st *Site) { st.ACMEWebroot = "" }),
		"site upper domain":      site(func(st *Site) { st.Domain = "ACME.example.com" }),
		"site semicolon":         site(func(st *Site) { st.KeyFile = "/k;" }),
		"site same listen":       site(func(st *Site) { st.ListenHTTPS = 80 }),
		"site bad body size":     site(func(st *Site) { st.ClientMaxBodySize = "lots" }),
	} {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func TestInfoHasNoSecret(t *testing.T) {
	s := mustLoad(t)
	conf, err := s.OdooConf(acmeConf())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(conf), fxMaster) {
		t.Fatalf("odoo.conf does not hold the master password; the check below would prove nothing")
	}
	for _, mode := range []string{ModeCloudflare, ModeLetsEncrypt, ModeHTTP} {
		b, err := s.Info(acmeInfo(mode))
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{fxMaster, fxDBSecret} {
			if strings.Contains(string(b), secret) {
				t.Errorf("%s: info-instancia.txt holds a secret:\n%s", mode, b)
			}
		}
		if !strings.Contains(string(b), "mode 0640") {
			t.Errorf("%s: info-instancia.txt does not say where the master password is:\n%s", mode, b)
		}
	}
}

func TestInfoURLAndTime(t *testing.T) {
	s := mustLoad(t)
	for mode, want := range map[string]string{
		ModeCloudflare:  "URL:            https://acme.example.com\n",
		ModeLetsEncrypt: "URL:            https://acme.example.com\n",
		ModeHTTP:        "URL:            http://acme.example.com\n",
	} {
		b, err := s.Info(acmeInfo(mode))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("%s: no %q in\n%s", mode, want, b)
		}
		if !strings.Contains(string(b), "2025-03-14T12:26:53Z") {
			t.Errorf("%s: creation time is not RFC 3339 UTC:\n%s", mode, b)
		}
		if enc := !strings.Contains(string(b), "NOT ENCRYPTED"); enc != (mode != ModeHTTP) {
			t.Errorf("%s: NOT ENCRYPTED note present = %v:\n%s", mode, !enc, b)
		}
	}
}

func TestMemoryMax(t *testing.T) {
	if got, want := (OdooConf{}).MemoryMax(), int64(2+1+2)*2560<<20; got != want {
		t.Errorf("default MemoryMax = %d, want %d", got, want)
	}
	c := OdooConf{Workers: 4, MaxCronThreads: 2, LimitMemoryHard: 1 << 30}
	if got, want := c.MemoryMax(), int64(8)<<30; got != want {
		t.Errorf("MemoryMax = %d, want %d", got, want)
	}
	s := mustLoad(t)
	u := acmeUnit()
	u.MemoryMax = c.MemoryMax() + 1 // rounded up to the next MiB
	b, err := s.Unit(u)
	if err != nil {
		t.Fatal(err)
	}
	if want := "\nMemoryMax=8193M\n"; !strings.Contains(string(b), want) {
		t.Errorf("unit has no %q:\n%s", want, b)
	}
}
