// Package unitsecurity rates systemd units with `systemd-analyze
// security`: the exposure level systemd computes from a unit's sandboxing
// settings, from 0.0 (confined) to 10.0 (exposed). The project holds the
// units it writes and ships to MaxExposure.
package unitsecurity

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// MaxExposure is the highest overall exposure level odoobot accepts for
// an instance's unit and for its own: systemd calls 4.5 and below "OK".
const MaxExposure = 4.5

// Report is what systemd-analyze said about one unit.
type Report struct {
	Unit     string  // the unit's name, as systemd-analyze reports it
	Exposure float64 // the overall exposure level
	Output   string  // the whole table, every setting and its share
}

// OverThreshold reports whether the unit is more exposed than MaxExposure.
func (r Report) OverThreshold() bool { return r.Exposure > MaxExposure }

// Offline rates a unit file without a running systemd
// (`systemd-analyze security --offline=true FILE`). The unit's name is the
// file's base name.
func Offline(ctx context.Context, analyze, file string) (Report, error) {
	return run(ctx, analyze, "--offline=true", file)
}

// Loaded rates a unit the running systemd has loaded, by name
// (`systemd-analyze security NAME`), as systemd applies it.
func Loaded(ctx context.Context, analyze, unit string) (Report, error) {
	return run(ctx, analyze, unit)
}

func run(ctx context.Context, analyze string, args ...string) (Report, error) {
	cmd := exec.CommandContext(ctx, analyze, append([]string{"security", "--no-pager"}, args...)...)
	// A minimal environment: no colour, no pager, no odoobot secret.
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "SYSTEMD_COLORS=0", "SYSTEMD_PAGER=", "SYSTEMD_LOG_COLOR=0"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return Report{}, fmt.Errorf("systemd-analyze security %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return Parse(string(out))
}

// overallRE matches systemd's summary line, e.g.
// "→ Overall exposure level for odoo19e-prod-acme.service: 1.5 OK 🙂".
var overallRE = regexp.MustCompile(`Overall exposure level for (\S+): ([0-9]+(?:\.[0-9]+)?) `)

// ErrNoRating is returned by Parse when the output holds no overall
// exposure line, or more than one.
var ErrNoRating = errors.New("unitsecurity: no single \"Overall exposure level\" line in systemd-analyze's output")

// Parse reads the output of `systemd-analyze security` for one unit.
func Parse(out string) (Report, error) {
	m := overallRE.FindAllStringSubmatch(out, -1)
	if len(m) != 1 {
		return Report{}, fmt.Errorf("%w:\n%s", ErrNoRating, out)
	}
	v, err := strconv.ParseFloat(m[0][2], 64)
	if err != nil {
		return Report{}, fmt.Errorf("unitsecurity: exposure %q of %s: %w", m[0][2], m[0][1], err)
	}
	return Report{Unit: m[0][1], Exposure: v, Output: out}, nil
}
