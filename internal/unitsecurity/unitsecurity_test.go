package unitsecurity

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"odoobot/internal/testenv"
)

func TestParse(t *testing.T) {
	out := "  NAME   DESCRIPTION   EXPOSURE\n" +
		"✗ PrivateNetwork=   Service has access to the host's network   0.5\n\n" +
		"→ Overall exposure level for odoo19e-prod-acme.service: 1.5 OK 🙂\n"
	r, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.Unit != "odoo19e-prod-acme.service" || r.Exposure != 1.5 || r.OverThreshold() {
		t.Errorf("Parse = %+v, want odoo19e-prod-acme.service at 1.5, within the threshold", r)
	}
	// systemd's ASCII form (no UTF-8 locale) and an exposed unit.
	r, err = Parse("-> Overall exposure level for odoobot.service: 8.3 EXPOSED :-{\n")
	if err != nil || r.Exposure != 8.3 || !r.OverThreshold() {
		t.Errorf("Parse of an exposed unit = %+v, %v; want 8.3, over the threshold", r, err)
	}
	for _, bad := range []string{
		"",
		"Failed to open unit file: No such file or directory\n",
		"→ Overall exposure level for a.service: 1.0 OK\n→ Overall exposure level for b.service: 9.6 UNSAFE\n",
	} {
		if _, err := Parse(bad); !errors.Is(err, ErrNoRating) {
			t.Errorf("Parse(%q) = %v, want ErrNoRating", bad, err)
		}
	}
}

// TestOfflineRatesAnExposedUnit runs systemd-analyze on a unit with no
// sandboxing at all, which systemd rates far above the threshold: the
// check that the project's units pass is one that can fail.
func TestOfflineRatesAnExposedUnit(t *testing.T) {
	analyze := testenv.LookPath(t, "systemd-analyze")
	file := filepath.Join(t.TempDir(), "exposed.service")
	if err := os.WriteFile(file, []byte("[Service]\nExecStart=/bin/true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := Offline(ctx, analyze, file)
	if err != nil {
		t.Fatal(err)
	}
	if r.Unit != "exposed.service" || !r.OverThreshold() {
		t.Errorf("a unit without sandboxing rated %+v, want exposed.service over %.1f", r, MaxExposure)
	}
}
