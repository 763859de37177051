package provision

import (
	"bytes"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"odoobot/internal/testenv"
)

// TestLogrotateRotatesEveryInstanceLog installs the configuration, has
// `logrotate -d` accept it, then runs logrotate for real: every
// instance's odoo.log, in root-owned directories writable by the
// instance's group, is rotated (copied and truncated in place, since
// Odoo keeps it open); a second install writes nothing.
func TestLogrotateRotatesEveryInstanceLog(t *testing.T) {
	bin := testenv.LookPath(t, "logrotate")
	if os.Geteuid() != 0 {
		testenv.Missing(t, "logrotate checks ownership as root; run as root")
	}
	root := filepath.Join(t.TempDir(), "odoo")
	gid := 65534 // nogroup: a group other than root's, as an instance's
	if g, err := user.LookupGroup("nogroup"); err == nil {
		gid, _ = strconv.Atoi(g.Gid)
	}
	logs := map[string]string{}
	for _, inst := range []string{"prod-acme", "prod-beta"} {
		dir := filepath.Join(root, inst)
		if err := os.MkdirAll(dir, 0o770); err != nil {
			t.Fatal(err)
		}
		os.Chown(dir, 0, gid)
		os.Chmod(dir, 0o770)
		p := filepath.Join(dir, "odoo.log")
		logs[p] = "2026-11-27 03:00:00,000 1 INFO " + inst + " odoo: started\n"
		if err := os.WriteFile(p, []byte(logs[p]), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(t.TempDir(), "logrotate.d", "odoobot-instances")
	if wrote, err := InstallLogrotate(conf, root+"/"); err != nil || !wrote {
		t.Fatalf("InstallLogrotate: wrote %v, %v", wrote, err)
	}
	if st, err := os.Stat(conf); err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("installed file: %v, %v; want mode 0644", st, err)
	}
	if wrote, err := InstallLogrotate(conf, root); err != nil || wrote {
		t.Errorf("second InstallLogrotate: wrote %v, %v; want nothing written", wrote, err)
	}

	state := filepath.Join(t.TempDir(), "status")
	out, err := exec.Command(bin, "-d", "-s", state, conf).CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("error:")) {
		t.Fatalf("logrotate -d refused the configuration: %v\n%s", err, out)
	}
	for p := range logs {
		if !bytes.Contains(out, []byte("considering log "+p)) {
			t.Errorf("logrotate -d does not consider %s:\n%s", p, out)
		}
	}

	if out, err := exec.Command(bin, "-f", "-s", state, conf).CombinedOutput(); err != nil {
		t.Fatalf("logrotate -f: %v\n%s", err, out)
	}
	for p, text := range logs {
		if st, err := os.Stat(p); err != nil || st.Size() != 0 {
			t.Errorf("%s after rotation: %v, %v; want it there, empty", p, st, err)
		}
		if got, err := os.ReadFile(p + ".1"); err != nil || string(got) != text {
			t.Errorf("%s.1 holds %q, %v; want the old log", p, got, err)
		}
	}

	for _, bad := range []string{"relative/odoo", `/srv/"odoo`, "/srv/odoo*"} {
		if _, err := LogrotateConfig(bad); err == nil || !strings.Contains(err.Error(), "PROD_ROOT") {
			t.Errorf("LogrotateConfig(%q): %v, want a refusal naming PROD_ROOT", bad, err)
		}
	}
}
