package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func clearEnv(t *testing.T) {
	t.Helper()
	for _, f := range fields() {
		t.Setenv(f.env, "")
		os.Unsetenv(f.env)
		t.Setenv(f.env+"_FILE", "")
		os.Unsetenv(f.env + "_FILE")
	}
}

func TestLoadDefaults(t *testing.T) {
	clearEnv(t)
	t.Setenv("CF_ZONE_NAME", "example.com")
	c, err := Load("", false)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.UnitPrefix(); got != "odoo19e" {
		t.Errorf("UnitPrefix = %q, want odoo19e", got)
	}
	if c.HTTPPorts != (Range{2100, 3000}) || c.GeventPorts != (Range{8072, 8999}) {
		t.Errorf("ranges = %v %v", c.HTTPPorts, c.GeventPorts)
	}
	if c.ProdRoot != "/home/mtg/apps/production/odoo" {
		t.Errorf("ProdRoot = %q", c.ProdRoot)
	}
	if got := strings.Join(c.InstanceModules(), ","); got != "base,web,contacts,l10n_ar" {
		t.Errorf("modules without enterprise = %q", got)
	}
	c.EnterpriseRepo = "https://example.invalid/enterprise.git"
	if got := strings.Join(c.InstanceModules(), ","); got != "base,web,web_enterprise,contacts,l10n_ar" {
		t.Errorf("modules with enterprise = %q", got)
	}
	if c.PythonVersion != "" || c.Workers != 2 || c.Branch() != "19.0" {
		t.Errorf("python %q (want the system's, empty) workers %d branch %q", c.PythonVersion, c.Workers, c.Branch())
	}
	if c.PythonDeps != "debian" || c.OdooLang != "es_AR" || c.OdooCountry != "AR" || c.Unaccent {
		t.Errorf("python deps %q lang %q country %q unaccent %v, want debian es_AR AR false", c.PythonDeps, c.OdooLang, c.OdooCountry, c.Unaccent)
	}
}

func TestValidateRefusesPythonDepsLangCountry(t *testing.T) {
	clearEnv(t)
	t.Setenv("CF_ZONE_NAME", "example.com")
	t.Setenv("ODOO_PYTHON_DEPS", "conda")
	t.Setenv("ODOO_LANG", "spanish")
	t.Setenv("ODOO_COUNTRY", "ARG")
	_, err := Load("", false)
	if err == nil {
		t.Fatal("Load accepted ODOO_PYTHON_DEPS=conda, ODOO_LANG=spanish, ODOO_COUNTRY=ARG")
	}
	for _, want := range []string{"ODOO_PYTHON_DEPS \"conda\" is unknown", "ODOO_LANG \"spanish\"", "ODOO_COUNTRY \"ARG\""} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	t.Setenv("ODOO_PYTHON_DEPS", "debian")
	t.Setenv("ODOO_LANG", "")
	t.Setenv("ODOO_COUNTRY", "")
	t.Setenv("ODOO_PIP_ARGS", "--no-index")
	if _, err := Load("", false); err == nil || !strings.Contains(err.Error(), "ODOO_PIP_ARGS is set but ODOO_PYTHON_DEPS is debian") {
		t.Errorf("ODOO_PIP_ARGS in debian mode: %v", err)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	clearEnv(t)
	t.Setenv("HTTP_PORT_RANGE", "3000-2100")
	t.Setenv("GEVENT_PORT_RANGE", "2500-2600")
	t.Setenv("PROD_ROOT", "relative/dir")
	t.Setenv("DEFAULT_SSL_MODE", "selfsigned")
	t.Setenv("CF_API_TOKEN", "tok-123456")
	t.Setenv("PUBLIC_IP", "not-an-ip")
	_, err := Load("", false)
	if err == nil {
		t.Fatal("Load accepted a broken configuration")
	}
	msg := err.Error()
	for _, want := range []string{
		"CF_ZONE_NAME is not set",
		"HTTP_PORT_RANGE 3000-2100 is inverted",
		"overlap",
		`PROD_ROOT "relative/dir" is a relative path`,
		`DEFAULT_SSL_MODE "selfsigned" is unknown`,
		`PUBLIC_IP "not-an-ip" is not an IPv4 address`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "tok-123456") {
		t.Errorf("error leaks the token:\n%s", msg)
	}
}

func TestBadRangeSyntax(t *testing.T) {
	clearEnv(t)
	t.Setenv("CF_ZONE_NAME", "example.com")
	t.Setenv("HTTP_PORT_RANGE", "2100")
	_, err := Load("", false)
	if err == nil || !strings.Contains(err.Error(), "HTTP_PORT_RANGE") || !strings.Contains(err.Error(), "FIRST-LAST") {
		t.Fatalf("err = %v", err)
	}
}

func TestEnvFileAndSecretFiles(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	envFile := filepath.Join(dir, "odoobot.env")
	tokFile := filepath.Join(dir, "token")
	os.WriteFile(tokFile, []byte("cf-secret-token\n"), 0o600)
	os.WriteFile(envFile, []byte("CF_ZONE_NAME=example.com\nPUBLIC_IP=203.0.113.7\nCF_API_TOKEN_FILE="+tokFile+"\nDB_USER=fromfile\n"), 0o600)
	t.Setenv("DB_USER", "fromenv")
	c, err := Load(envFile, true)
	if err != nil {
		t.Fatal(err)
	}
	if c.APIToken.Reveal() != "cf-secret-token" {
		t.Errorf("token from file = %q", c.APIToken.Reveal())
	}
	if c.DBUser != "fromenv" {
		t.Errorf("DB_USER = %q: the environment must win over the file", c.DBUser)
	}
	for _, s := range c.Settings() {
		if strings.Contains(s.Value, "cf-secret-token") {
			t.Errorf("Settings leaks %s", s.Env)
		}
		if s.Env == "CF_API_TOKEN" && s.Value != "[redacted]" {
			t.Errorf("CF_API_TOKEN shown as %q", s.Value)
		}
	}
	if got := c.APIToken.String() + " " + c.APIToken.GoString(); strings.Contains(got, "cf-secret") {
		t.Errorf("Secret formats as %q", got)
	}
}

func TestMissingNamedEnvFile(t *testing.T) {
	clearEnv(t)
	_, err := Load(filepath.Join(t.TempDir(), "nope.env"), true)
	if err == nil || !strings.Contains(err.Error(), "nope.env") {
		t.Fatalf("err = %v", err)
	}
}

func TestSecretAndFileBoth(t *testing.T) {
	clearEnv(t)
	t.Setenv("CF_ZONE_NAME", "example.com")
	t.Setenv("DB_PASSWORD", "x")
	t.Setenv("DB_PASSWORD_FILE", "/etc/passwd")
	_, err := Load("", false)
	if err == nil || !strings.Contains(err.Error(), "DB_PASSWORD and DB_PASSWORD_FILE are both set") {
		t.Fatalf("err = %v", err)
	}
}

// Secrets from the env file or a NAME_FILE reach the Config but never
// the process environment, which every child process would inherit.
func TestSecretsStayOutOfTheEnvironment(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "db-password")
	os.WriteFile(pwFile, []byte("db-secret-from-file\n"), 0o600)
	envFile := filepath.Join(dir, "odoobot.env")
	os.WriteFile(envFile, []byte("CF_ZONE_NAME=example.com\nSLACK_BOT_TOKEN=xoxb-from-env-file\nSLACK_APP_TOKEN=xapp-from-env-file\nDB_PASSWORD_FILE="+pwFile+"\n"), 0o600)
	t.Cleanup(func() { os.Unsetenv("CF_ZONE_NAME") })
	c, err := Load(envFile, true)
	if err != nil {
		t.Fatal(err)
	}
	if c.SlackBotToken.Reveal() != "xoxb-from-env-file" || c.SlackAppToken.Reveal() != "xapp-from-env-file" || c.DBPassword.Reveal() != "db-secret-from-file" || c.ZoneName != "example.com" {
		t.Errorf("config: slack %q/%q, db %q, zone %q", c.SlackBotToken.Reveal(), c.SlackAppToken.Reveal(), c.DBPassword.Reveal(), c.ZoneName)
	}
	for _, k := range []string{"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "DB_PASSWORD", "DB_PASSWORD_FILE"} {
		if v, ok := os.LookupEnv(k); ok {
			t.Errorf("%s is in the process environment (%q): children would inherit it", k, v)
		}
	}
	// The environment still wins over the file, secrets included.
	t.Setenv("SLACK_BOT_TOKEN", "xoxb-from-the-environment")
	if c, err = Load(envFile, true); err != nil || c.SlackBotToken.Reveal() != "xoxb-from-the-environment" {
		t.Errorf("environment over file: %v, %q", err, c.SlackBotToken.Reveal())
	}
}

func TestOdooCommitPin(t *testing.T) {
	clearEnv(t)
	t.Setenv("CF_ZONE_NAME", "example.com")
	c, err := Load("", false)
	if err != nil {
		t.Fatal(err)
	}
	if c.OdooCommit != "" {
		t.Errorf("ODOO_COMMIT defaults to %q, want empty (follow the branch)", c.OdooCommit)
	}
	t.Setenv("ODOO_COMMIT", "v19.0-2026")
	if c, err := Load("", false); err != nil || c.OdooCommit != "v19.0-2026" {
		t.Errorf("ODOO_COMMIT=v19.0-2026: %q, %v", c.OdooCommit, err)
	}
	t.Setenv("ODOO_COMMIT", "abc def")
	if _, err := Load("", false); err == nil || !strings.Contains(err.Error(), `ODOO_COMMIT "abc def" is neither a commit hash nor a tag`) {
		t.Errorf("ODOO_COMMIT with a space: %v", err)
	}
}

// The name rules carry this server's ID when odoobot manages DNS, so
// that a name whose mark would not fit is refused by create and plan.
func TestNameRulesCarryTheDNSServer(t *testing.T) {
	clearEnv(t)
	t.Setenv("CF_ZONE_NAME", "example.com")
	t.Setenv("CF_API_TOKEN", "tok-123456")
	t.Setenv("PUBLIC_IP", "100.100.100.100")
	c, err := Load("", false)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.NameRules().DNSServer; got != "100.100.100.100" {
		t.Errorf("DNSServer = %q, want PUBLIC_IP", got)
	}
	if err := c.NameRules().Check(strings.Repeat("a", 50)); err == nil || !strings.Contains(err.Error(), "ODOOBOT_SERVER_ID") {
		t.Errorf("a 50-character name beside the IPv4 server ID: %v, want refused naming ODOOBOT_SERVER_ID", err)
	}
}

// A zone under which no name fits stops the start.
func TestValidateRefusesAZoneNoNameFits(t *testing.T) {
	clearEnv(t)
	zone := strings.Repeat("z", 63) + "." + strings.Repeat("y", 63) + "." + strings.Repeat("x", 63) + "." + strings.Repeat("w", 45) + ".example"
	t.Setenv("CF_ZONE_NAME", zone)
	_, err := Load("", false)
	if err == nil || !strings.Contains(err.Error(), "no instance name fits") {
		t.Errorf("Load with a %d-character zone = %v, want refused: no name fits", len(zone), err)
	}
}

// TestLayoutCertDirBesideNginx: instances' certificates are kept beside
// nginx's configuration (odoobot/certs in NGINX_CONF's directory), never
// in STATE_DIR: a lost state directory must not stop nginx.
func TestLayoutCertDirBesideNginx(t *testing.T) {
	c := &Config{StateDir: "/var/lib/odoobot", NginxConf: "/etc/nginx/nginx.conf"}
	if got := c.Layout().CertDir; got != "/etc/nginx/odoobot/certs" {
		t.Errorf("Layout().CertDir = %s, want /etc/nginx/odoobot/certs", got)
	}
}
