package deploy

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"odoobot/config"
	"odoobot/internal/testenv"
	"odoobot/internal/unitsecurity"
)

// TestOdoobotServiceExposure rates the shipped unit with `systemd-analyze
// security --offline`: root as it is, its sandbox must keep the exposure
// within unitsecurity.MaxExposure.
func TestOdoobotServiceExposure(t *testing.T) {
	analyze := testenv.LookPath(t, "systemd-analyze")
	file := filepath.Join(t.TempDir(), "odoobot.service")
	if err := os.WriteFile(file, OdoobotService, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := unitsecurity.Offline(ctx, analyze, file)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: exposure %.1f", r.Unit, r.Exposure)
	if r.OverThreshold() {
		t.Errorf("%s rates %.1f, above %.1f:\n%s", r.Unit, r.Exposure, unitsecurity.MaxExposure, r.Output)
	}
}

// serviceSettings returns the values of every line KEY= of the unit's
// [Service] section, in order.
func serviceSettings(t *testing.T, unit []byte) map[string][]string {
	t.Helper()
	got := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(unit))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = line
		case section == "[Service]":
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("odoobot.service: %q is not KEY=VALUE", line)
			}
			got[k] = append(got[k], v)
		}
	}
	return got
}

// configDefault is the default of the configuration variable env.
func configDefault(t *testing.T, env string) string {
	t.Helper()
	ct := reflect.TypeOf(config.Config{})
	for i := range ct.NumField() {
		if f := ct.Field(i); f.Tag.Get("envconfig") == env {
			if d := f.Tag.Get("default"); d != "" {
				return d
			}
			t.Fatalf("config variable %s has no default", env)
		}
	}
	t.Fatalf("config has no variable %s", env)
	return ""
}

// under reports whether path is dir or below it.
func under(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, strings.TrimSuffix(dir, "/")+"/")
}

// TestOdoobotServiceWritesWhatOdoobotWrites checks the unit's file
// sandbox against the configuration's defaults: the file system is
// read-only (ProtectSystem=strict) except, with ReadWritePaths,
// StateDirectory and LogsDirectory, every directory odoobot writes at its
// default path, the account files useradd and userdel replace and the
// nginx logs `nginx -t` opens; what apt-get and dpkg write stays
// read-only (odoobot setup installs packages, outside the unit).
// PostgreSQL's files stay out of reach.
func TestOdoobotServiceWritesWhatOdoobotWrites(t *testing.T) {
	s := serviceSettings(t, OdoobotService)
	if got := s["ProtectSystem"]; len(got) != 1 || got[0] != "strict" {
		t.Fatalf("ProtectSystem = %q, want strict: without it every path is writable and this test proves nothing", got)
	}
	var writable []string
	for _, line := range s["ReadWritePaths"] {
		for _, p := range strings.Fields(line) {
			writable = append(writable, strings.TrimPrefix(p, "-"))
		}
	}
	for _, d := range s["StateDirectory"] {
		writable = append(writable, "/var/lib/"+d)
	}
	for _, d := range s["LogsDirectory"] {
		writable = append(writable, "/var/log/"+d)
	}
	writes := map[string]string{
		"/etc/passwd": "useradd", "/etc/group": "useradd", "/etc/shadow": "useradd", "/etc/gshadow": "useradd",
		"/var/log/nginx/prod-acme.access.log": "nginx -t opens the sites' logs",
	}
	for _, env := range []string{"PROD_ROOT", "BACKUP_DIR", "LOG_DIR", "STATE_DIR", "NGINX_SITES_AVAILABLE", "NGINX_SITES_ENABLED", "SYSTEMD_UNIT_DIR", "LOGROTATE_FILE"} {
		writes[configDefault(t, env)] = env
	}
	for path, why := range writes {
		ok := false
		for _, w := range writable {
			ok = ok || under(path, w)
		}
		// useradd renames new copies over the account files: their
		// directory must be writable, not only the files.
		if strings.HasPrefix(why, "useradd") {
			ok = false
			for _, w := range writable {
				ok = ok || under(filepath.Dir(path), w)
			}
		}
		if !ok {
			t.Errorf("%s (%s) is read-only in odoobot.service: add it to ReadWritePaths (writable: %q)", path, why, writable)
		}
	}
	// serve installs no package (odoobot setup does, outside the unit):
	// what apt-get and dpkg write stays read-only.
	for _, path := range []string{"/usr/lib/python3/dist-packages", "/usr/bin", "/var/lib/dpkg", "/var/lib/apt", "/var/cache/apt", "/var/log/apt"} {
		for _, w := range writable {
			if under(path, w) {
				t.Errorf("%s is writable in odoobot.service (through %s): serve installs no package, only odoobot setup does", path, w)
			}
		}
	}
	inaccessible := strings.Join(s["InaccessiblePaths"], " ")
	if !strings.Contains(" "+inaccessible+" ", " -/var/lib/postgresql ") {
		t.Errorf("InaccessiblePaths = %q, want PostgreSQL's data (-/var/lib/postgresql) out of reach", inaccessible)
	}
}
