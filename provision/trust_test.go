package provision

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func trustLayout(t *testing.T) Layout {
	dir := t.TempDir()
	return Layout{Zone: "example.com", UnitPrefix: "odoo19e", ProdRoot: filepath.Join(dir, "prod"),
		UnitDir: filepath.Join(dir, "units"), NginxAvailable: filepath.Join(dir, "avail"), NginxEnabled: filepath.Join(dir, "enabled"),
		LogDir: filepath.Join(dir, "log"), CertDir: filepath.Join(dir, "certs")}
}

// Every name a row records that differs from the derived one is refused,
// naming the field, what the row holds and what was expected.
func TestCheckStoredRefusesPlantedNames(t *testing.T) {
	l := trustLayout(t)
	good := l.NewInstance("acme", SSLHTTP)
	if err := l.CheckStored(good); err != nil {
		t.Fatalf("the derived names are refused: %v", err)
	}
	imported := good
	imported.User, imported.DBRole = "", ""
	if err := l.CheckStored(imported); err != nil {
		t.Fatalf("an imported instance (no user, no role of its own) is refused: %v", err)
	}
	for _, c := range []struct {
		field string
		plant func(*Instance)
		value string
	}{
		{"internal", func(i *Instance) { i.Internal = "../.." }, "../.."},
		{"internal", func(i *Instance) { i.Internal = "prod-other" }, "prod-other"},
		{"unit", func(i *Instance) { i.Unit = "dbus.service" }, "dbus.service"},
		{"domain", func(i *Instance) { i.Domain = "other.example.com" }, "other.example.com"},
		{"system_user", func(i *Instance) { i.User = "root" }, "root"},
		{"system_user", func(i *Instance) { i.User = "odoo-other" }, "odoo-other"},
		{"db_role", func(i *Instance) { i.DBRole = "odoo" }, "odoo"},
		{"db_role", func(i *Instance) { i.DBRole = "" }, ""},
		{"system_user", func(i *Instance) { i.User = "" }, ""},
		{"staging_of", func(i *Instance) { i.StagingOf = "../x" }, "../x"},
		{"name", func(i *Instance) { i.Name = "../x" }, "../x"},
	} {
		inst := good
		c.plant(&inst)
		err := l.CheckStored(inst)
		var se *StoredNameError
		if !errors.As(err, &se) || !errors.Is(err, ErrStoredName) {
			t.Errorf("%s = %q: got %v, want a *StoredNameError", c.field, c.value, err)
			continue
		}
		if se.Field != c.field || se.Stored != c.value {
			t.Errorf("%s = %q: refusal names %s = %q", c.field, c.value, se.Field, se.Stored)
		}
		if msg := err.Error(); !strings.Contains(msg, c.field) || !strings.Contains(msg, "nothing was changed") {
			t.Errorf("%s = %q: message %q does not name the field or say nothing changed", c.field, c.value, msg)
		}
	}
}

// rowStore answers Instance with one planted row and records nothing.
type rowStore struct{ inst Instance }

func (s rowStore) Instance(_ context.Context, name string) (Instance, error) {
	if name != s.inst.Name {
		return Instance{}, ErrInstanceNotFound
	}
	return s.inst, nil
}
func (s rowStore) Instances(context.Context) ([]Instance, error) { return []Instance{s.inst}, nil }
func (s rowStore) ActiveJob(context.Context, string) (Job, bool, error) {
	return Job{}, false, nil
}

// recordingServices records every unit it is asked about or told to act on.
type recordingServices struct{ units []string }

func (r *recordingServices) Install(_ context.Context, p string, _ []byte) error {
	r.units = append(r.units, "install "+p)
	return nil
}
func (r *recordingServices) Start(_ context.Context, u string) error {
	r.units = append(r.units, "start "+u)
	return nil
}
func (r *recordingServices) Stop(_ context.Context, u string) error {
	r.units = append(r.units, "stop "+u)
	return nil
}
func (r *recordingServices) Restart(_ context.Context, u string) error {
	r.units = append(r.units, "restart "+u)
	return nil
}
func (r *recordingServices) Remove(_ context.Context, p string) error {
	r.units = append(r.units, "remove "+p)
	return nil
}
func (r *recordingServices) Status(_ context.Context, u string) (ServiceStatus, error) {
	r.units = append(r.units, "status "+u)
	return ServiceStatus{ActiveState: "active", SubState: "running"}, nil
}
func (r *recordingServices) SetEnabled(_ context.Context, p string, enabled bool) error {
	r.units = append(r.units, fmt.Sprintf("enable=%v %s", enabled, p))
	return nil
}
func (r *recordingServices) Journal(_ context.Context, u string, _ int) ([]string, error) {
	r.units = append(r.units, "journal "+u)
	return nil, nil
}

// The day-to-day verbs act on no unit, log or database a planted row
// names: stop, restart, start, status and logs are refused before systemd
// is asked anything.
func TestOperatorRefusesAPlantedRow(t *testing.T) {
	l := trustLayout(t)
	inst := l.NewInstance("acme", SSLHTTP)
	inst.State = StateReady
	inst.Unit = "dbus.service"
	svc := &recordingServices{}
	o := &Operator{Store: rowStore{inst}, Services: svc, Layout: l}
	ctx := context.Background()
	for verb, run := range map[string]func() error{
		"stop":    func() error { return o.Stop(ctx, "acme", "test") },
		"restart": func() error { return o.Restart(ctx, "acme") },
		"start":   func() error { return o.Start(ctx, "acme") },
		"status":  func() error { _, err := o.Status(ctx, "acme"); return err },
		"logs":    func() error { _, _, err := o.Logs(ctx, "acme", 10); return err },
	} {
		err := run()
		var se *StoredNameError
		if !errors.As(err, &se) || se.Field != "unit" || se.Stored != "dbus.service" {
			t.Errorf("%s: got %v, want a refusal naming unit", verb, err)
		}
	}
	if len(svc.units) > 0 {
		t.Errorf("systemd was asked: %q", svc.units)
	}
}

// A planted value reaches chat with nothing its writer could use there
// (mentions, markup, control characters).
func TestStoredNameErrorShowsNoMarkup(t *testing.T) {
	l := trustLayout(t)
	inst := l.NewInstance("acme", SSLHTTP)
	inst.Unit = "<!channel> *hi* `x`\n" + strings.Repeat("a", 200)
	msg := l.CheckStored(inst).Error()
	if strings.ContainsAny(msg, "<>*`!\n") || !strings.Contains(msg, "(220 bytes)") {
		t.Errorf("message: %s", msg)
	}
}
