package provision_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	. "odoobot/provision"
	"odoobot/provision/tree"
)

func trustLayout(t *testing.T) Layout {
	dir := t.TempDir()
	return Layout{Zone: "example.com", UnitPrefix: "odoo19e", ProdRoot: filepath.Join(dir, "prod"),
		UnitDir: filepath.Join(dir, "units"), NginxAvailable: filepath.Join(dir, "avail"), NginxEnabled: filepath.Join(dir, "enabled"),
		LogDir: filepath.Join(dir, "log"), CertDir: filepath.Join(dir, "certs")}
}

// An instance whose row records no user of its own (an imported one) is
// believed only when its unit, root's file at the derived path, runs as
// the service user; an interrupted isolate's unit, already on the
// instance's own user, is accepted only when resuming.
func TestTrustedAsksTheUnitOfASharedInstance(t *testing.T) {
	l := trustLayout(t)
	c := NewService(Config{Host: Host{Files: tree.New(l)}, Layout: l, ServiceUser: "mtg"}, BackupConfig{})
	inst := l.NewInstance("acme", SSLHTTP)
	inst.User, inst.DBRole = "", ""
	unit := l.Paths(inst).Unit
	if err := os.MkdirAll(filepath.Dir(unit), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := c.TrustedForTest(inst, TrustJob); err == nil {
		t.Fatal("a shared instance without a unit is trusted")
	}
	if err := c.TrustedForTest(inst, TrustDelete); err != nil {
		t.Fatalf("a delete run again after it removed the unit of an imported instance is refused: %v", err)
	}
	write := func(user string) {
		if err := os.WriteFile(unit, []byte("[Unit]\nDescription=x\n\n[Service]\nUser="+user+"\nExecStart=/bin/true\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("mtg")
	if err := c.TrustedForTest(inst, TrustJob); err != nil {
		t.Fatalf("an imported instance whose unit runs as the service user is refused: %v", err)
	}
	write("odoo-acme")
	err := c.TrustedForTest(inst, TrustJob)
	var se *StoredNameError
	if !errors.As(err, &se) || se.Field != "system_user" {
		t.Fatalf("a row that says shared while the unit runs as odoo-acme: got %v, want a refusal naming system_user", err)
	}
	if err := c.TrustedForTest(inst, TrustIsolate); err != nil {
		t.Fatalf("an interrupted isolate (unit on its own user) is refused when resuming: %v", err)
	}
	write("root")
	if err := c.TrustedForTest(inst, TrustIsolate); err == nil {
		t.Fatal("a shared instance whose unit runs as root is trusted")
	}
	// A link at the unit's path is not followed.
	other := filepath.Join(t.TempDir(), "u.service")
	if err := os.WriteFile(other, []byte("[Service]\nUser=mtg\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(unit); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, unit); err != nil {
		t.Fatal(err)
	}
	if err := c.TrustedForTest(inst, TrustJob); err == nil {
		t.Fatal("a unit path that is a symbolic link was followed")
	}
}

// An instance with a user of its own has its ports in odoo.conf, root's
// file: a row that records others (a neighbour's, which the unit would
// then let it bind) is refused naming the port.
func TestTrustedChecksPortsAgainstOdooConf(t *testing.T) {
	l := trustLayout(t)
	c := NewService(Config{Host: Host{Files: tree.New(l)}, Layout: l, ServiceUser: "mtg"}, BackupConfig{})
	inst := l.NewInstance("acme", SSLHTTP)
	inst.Ports = Ports{HTTP: 2100, Gevent: 8072}
	if err := c.TrustedForTest(inst, TrustJob); err != nil {
		t.Fatalf("without odoo.conf (a delete run again): %v", err)
	}
	p := l.Paths(inst)
	if err := os.MkdirAll(p.Dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.Conf, []byte("[options]\nhttp_port = 2100\ngevent_port = 8072\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := c.TrustedForTest(inst, TrustJob); err != nil {
		t.Fatalf("ports as odoo.conf has them: %v", err)
	}
	inst.Ports.Gevent = 8073
	var se *StoredNameError
	if err := c.TrustedForTest(inst, TrustJob); !errors.As(err, &se) || se.Field != "gevent_port" || se.Stored != "8073" {
		t.Fatalf("a planted gevent port: got %v, want a refusal naming gevent_port", err)
	}
}
