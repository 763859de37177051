package provision

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// API-DEV's tracking files, under its data directory
// (/home/mtg/api-dev/data by default).
const (
	TrackingInstancesFile = "prod-instances.txt"
	TrackingPortsFile     = "puertos_ocupados_odoo.txt"
)

// ImportedBy is the CreatedBy of an instance recorded by ScanAPIDEV.
const ImportedBy = "api-dev (imported)"

// Candidate is an instance found on the host that odoobot does not know
// yet, as ScanAPIDEV read it. One with Problems must not be imported;
// Notes are discrepancies that were resolved without guessing (the
// instance's own files won) and are worth telling the operator.
type Candidate struct {
	Instance Instance
	Dir      string
	Problems []string
	Notes    []string
}

// OK reports whether the candidate may be imported.
func (c Candidate) OK() bool { return len(c.Problems) == 0 }

// ScanAPIDEV finds the instances API-DEV made: those listed in
// <trackingDir>/prod-instances.txt and the prod-* directories under
// layout.ProdRoot. Each instance's own odoo.conf is the truth for its
// ports (http_port; gevent_port, or longpolling_port for older ones);
// the tracking files are cross-checked and their discrepancies noted.
// The SSL mode comes from its nginx site, the creation time from
// info-instancia.txt or the directory's modification time. A name
// failing rules, a missing directory, odoo.conf or unit, a database
// other than prod-NAME, and a port used by two instances are problems.
// zone, when not empty, replaces layout.Zone in the domains. Nothing on
// the host is changed. The error is for tracking files that exist and
// cannot be read, or a root that cannot be listed.
func ScanAPIDEV(ctx context.Context, files APIDEVFiles, layout Layout, trackingDir string, zone string, rules NameRules) ([]Candidate, error) {
	if zone != "" {
		layout.Zone = zone
	}
	b, err := files.ReadTracking(ctx, trackingDir, TrackingInstancesFile)
	if err != nil {
		return nil, fmt.Errorf("provision: import: %w", err)
	}
	tracked := readTrackedInstances(b)
	b, err = files.ReadTracking(ctx, trackingDir, TrackingPortsFile)
	if err != nil {
		return nil, fmt.Errorf("provision: import: %w", err)
	}
	portLines := readTrackedPorts(b)
	names := map[string]bool{}
	for internal := range tracked {
		names[internal] = true
	}
	dirs, err := files.InstanceDirs(ctx)
	if err != nil {
		return nil, fmt.Errorf("provision: import: %w", err)
	}
	for _, d := range dirs {
		names[d] = true
	}
	var out []Candidate
	for _, internal := range slices.Sorted(maps.Keys(names)) {
		t, listed := tracked[internal]
		out = append(out, scanOne(ctx, files, layout, rules, internal, t, listed, portLines))
	}
	markPortConflicts(out)
	return out, nil
}

// trackedInstance is one line of prod-instances.txt.
type trackedInstance struct {
	line   int
	domain string
	ports  []int
}

// splitFields splits a tracking line on |, commas, semicolons and blanks.
func splitFields(line string) []string {
	return strings.FieldsFunc(line, func(r rune) bool {
		return r == '|' || r == ',' || r == ';' || r == ' ' || r == '\t'
	})
}

// readTrackedInstances reads prod-instances.txt liberally: the name first
// (prod-NAME or NAME), then, in any order, a domain and port numbers.
// Blank lines and # comments are skipped; a missing file is empty.
func readTrackedInstances(b []byte) map[string]trackedInstance {
	out := map[string]trackedInstance{}
	eachLine(b, func(n int, line string) {
		f := splitFields(line)
		if len(f) == 0 {
			return
		}
		internal := f[0]
		if !strings.HasPrefix(internal, "prod-") {
			internal = InternalName(internal)
		}
		t := trackedInstance{line: n}
		for _, v := range f[1:] {
			if p, ok := portNumber(v); ok {
				t.ports = append(t.ports, p)
			} else if t.domain == "" && strings.Contains(v, ".") && !strings.ContainsAny(v, ":/") {
				t.domain = strings.ToLower(strings.TrimSuffix(v, "."))
			}
		}
		if _, dup := out[internal]; !dup {
			out[internal] = t
		}
	})
	return out
}

// portLine is a line of puertos_ocupados_odoo.txt: its ports and the
// instance it names, if any.
type portLine struct {
	line     int
	ports    []int
	internal string // "" when the line names none
}

// readTrackedPorts reads puertos_ocupados_odoo.txt liberally: every
// number of a line is a port; a word that is prod-NAME names the owner.
func readTrackedPorts(b []byte) []portLine {
	var out []portLine
	eachLine(b, func(n int, line string) {
		pl := portLine{line: n}
		for _, v := range splitFields(line) {
			if p, ok := portNumber(v); ok {
				pl.ports = append(pl.ports, p)
			} else if strings.HasPrefix(v, "prod-") && pl.internal == "" {
				pl.internal = v
			}
		}
		if len(pl.ports) > 0 {
			out = append(out, pl)
		}
	})
	return out
}

func portNumber(s string) (int, bool) {
	p, err := strconv.Atoi(strings.TrimSpace(s))
	return p, err == nil && p > 0 && p < 65536
}

// eachLine calls fn with each non-blank, non-comment line of b,
// trimmed, and its number.
func eachLine(b []byte, fn func(n int, line string)) {
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fn(i+1, line)
	}
}

// scanOne reads one instance's files.
func scanOne(ctx context.Context, files APIDEVFiles, layout Layout, rules NameRules, internal string, t trackedInstance, listed bool, portLines []portLine) (c Candidate) {
	name := strings.TrimPrefix(internal, "prod-")
	inst := layout.NewInstance(name, SSLHTTP)
	// An adopted instance keeps running as it did: as the service user,
	// on odoobot's role (README: moving one to its own user and role).
	inst.User, inst.DBRole = "", ""
	inst.State, inst.CreatedBy = StateReady, ImportedBy
	p := layout.Paths(inst)
	c.Dir = p.Dir
	problem := func(format string, a ...any) { c.Problems = append(c.Problems, fmt.Sprintf(format, a...)) }
	note := func(format string, a ...any) { c.Notes = append(c.Notes, fmt.Sprintf(format, a...)) }
	defer func() { c.Instance = inst }()

	if err := rules.Check(name); err != nil {
		problem("the name does not pass odoobot's rules: %v", err)
	}
	if !listed {
		note("not listed in %s", TrackingInstancesFile)
	} else if t.domain != "" && t.domain != inst.Domain {
		note("%s line %d says the domain is %s; recorded as %s", TrackingInstancesFile, t.line, t.domain, inst.Domain)
	}
	mtime, err := files.DirTime(ctx, inst)
	if err != nil {
		problem("directory %s is missing (%v)", p.Dir, innermost(err))
		return c
	}
	info, err := files.ReadInfo(ctx, inst)
	if err != nil {
		info = nil
	}
	inst.CreatedAt = createdAt(info, mtime)
	if _, err := files.ReadUnit(ctx, inst); err != nil {
		problem("systemd unit %s is missing: odoobot could not restart it", p.Unit)
	}
	read, err := files.ReadConf(ctx, inst, ConfLive)
	if err != nil {
		problem("odoo.conf %s is missing or unreadable (%v)", p.Conf, innermost(err))
		return c
	}
	conf := read.Options
	inst.Ports.HTTP = confPort(conf, "http_port", problem)
	if inst.Ports.HTTP == 0 {
		if x := confPort(conf, "xmlrpc_port", problem); x != 0 {
			inst.Ports.HTTP = x
			note("odoo.conf names its HTTP port xmlrpc_port (%d), as older Odoo does", x)
		} else {
			problem("odoo.conf has no http_port: Odoo would use 8069, which another instance may share; set it")
		}
	}
	inst.Ports.Gevent = confPort(conf, "gevent_port", problem)
	if inst.Ports.Gevent == 0 {
		if lp := confPort(conf, "longpolling_port", problem); lp != 0 {
			inst.Ports.Gevent = lp
			note("odoo.conf has longpolling_port %d and no gevent_port (older Odoo): taken as its gevent port", lp)
		} else {
			problem("odoo.conf has neither gevent_port nor longpolling_port: Odoo would use 8072, which another instance may share; set it")
		}
	}
	if inst.Ports.HTTP != 0 && inst.Ports.HTTP == inst.Ports.Gevent {
		problem("odoo.conf gives port %d for both HTTP and gevent", inst.Ports.HTTP)
	}
	if db := conf["db_name"]; db != "" && !strings.EqualFold(db, "false") && db != internal {
		problem("odoo.conf db_name is %s, not %s: odoobot's backup and delete would miss its database", db, internal)
	}
	site, err := files.ReadSite(ctx, inst)
	inst.SSLMode = siteMode(p.SiteAvail, site, err, note)

	// Cross-checks with the tracking files; odoo.conf wins.
	conf2 := []int{inst.Ports.HTTP, inst.Ports.Gevent}
	if len(t.ports) > 0 && !sameInts(t.ports, conf2) {
		note("%s line %d lists ports %v; odoo.conf says %v", TrackingInstancesFile, t.line, t.ports, conf2)
	}
	var own []int
	listedAnywhere := map[int]bool{}
	for _, pl := range portLines {
		for _, port := range pl.ports {
			listedAnywhere[port] = true
		}
		if pl.internal == internal {
			own = append(own, pl.ports...)
		}
	}
	switch {
	case len(own) > 0:
		if !sameInts(own, conf2) {
			note("%s lists ports %v for %s; odoo.conf says %v", TrackingPortsFile, own, internal, conf2)
		}
	case len(portLines) > 0:
		for _, port := range conf2 {
			if port != 0 && !listedAnywhere[port] {
				note("port %d is not in %s", port, TrackingPortsFile)
			}
		}
	}
	return c
}

func sameInts(a, b []int) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// innermost is the error err wraps last: the system's own words
// ("no such file or directory"), without the paths around them.
func innermost(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// confPort reads a port key; absent gives 0, a bad value is a problem.
func confPort(conf map[string]string, key string, problem func(string, ...any)) int {
	v, ok := conf[key]
	if !ok || v == "" || strings.EqualFold(v, "false") {
		return 0
	}
	p, ok := portNumber(v)
	if !ok {
		problem("odoo.conf %s = %q is not a port", key, v)
		return 0
	}
	return p
}

var (
	listen443   = regexp.MustCompile(`(?m)^\s*listen\s+[^;]*\b443\b`)
	certPathRe  = regexp.MustCompile(`(?m)^\s*ssl_certificate(?:_key)?\s+([^;]+);`)
	dateInLine  = regexp.MustCompile(`\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:?\d{2})?)?|\d{2}/\d{2}/\d{4}(?: \d{2}:\d{2}(?::\d{2})?)?`)
	dateLayouts = []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02 15:04",
		"2006-01-02", "02/01/2006 15:04:05", "02/01/2006 15:04", "02/01/2006", "2006-01-02 15:04:05-0700", "2006-01-02T15:04:05-0700"}
)

// siteMode reads the SSL mode from an nginx site: no listen 443 is http;
// with it, a certificate path naming letsencrypt is letsencrypt, anything
// else (Cloudflare's origin certificates) is cloudflare.
func siteMode(path string, b []byte, err error, note func(string, ...any)) SSLMode {
	if err != nil {
		note("no nginx site at %s (%v): recorded as http", path, innermost(err))
		return SSLHTTP
	}
	if !listen443.Match(b) {
		return SSLHTTP
	}
	for _, m := range certPathRe.FindAllSubmatch(b, -1) {
		p := strings.ToLower(string(m[1]))
		if strings.Contains(p, "letsencrypt") {
			return SSLLetsEncrypt
		}
		if strings.Contains(p, "cloudflare") || strings.Contains(p, "origin") {
			return SSLCloudflare
		}
	}
	return SSLCloudflare
}

// createdAt is the first date of info-instancia.txt, preferring a line
// that speaks of creation, else fallback.
func createdAt(b []byte, fallback time.Time) time.Time {
	var err error
	var first time.Time
	for _, line := range strings.Split(string(b), "\n") {
		m := dateInLine.FindString(line)
		if m == "" {
			continue
		}
		var t time.Time
		for _, l := range dateLayouts {
			if t, err = time.ParseInLocation(l, m, time.Local); err == nil {
				break
			}
		}
		if t.IsZero() {
			continue
		}
		lower := strings.ToLower(line)
		if strings.Contains(lower, "creat") || strings.Contains(lower, "fecha") {
			return t
		}
		if first.IsZero() {
			first = t
		}
	}
	if !first.IsZero() {
		return first
	}
	return fallback
}

// markPortConflicts adds a problem to every candidate sharing a port with
// another.
func markPortConflicts(cs []Candidate) {
	holders := map[int][]int{}
	for i, c := range cs {
		for _, p := range []int{c.Instance.Ports.HTTP, c.Instance.Ports.Gevent} {
			if p != 0 && !slices.Contains(holders[p], i) {
				holders[p] = append(holders[p], i)
			}
		}
	}
	for _, p := range slices.Sorted(maps.Keys(holders)) {
		hs := holders[p]
		if len(hs) < 2 {
			continue
		}
		for _, i := range hs {
			var others []string
			for _, j := range hs {
				if j != i {
					others = append(others, cs[j].Instance.Internal)
				}
			}
			cs[i].Problems = append(cs[i].Problems, fmt.Sprintf("port %d is also used by %s", p, strings.Join(others, ", ")))
		}
	}
}
