package logrotate

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"odoobot/internal/testenv"
	"odoobot/provision"
)

// TestLogrotateConfigRendersOneStanzaPerInstance is the golden
// configuration of a mix of odoobot's own instances and imported ones,
// and its refusals.
func TestLogrotateConfigRendersOneStanzaPerInstance(t *testing.T) {
	got, err := Config([]Entry{
		{Log: "/srv/odoo/prod-acme/odoo.log", User: "root", Group: "root"},
		{Log: "/srv/odoo/prod-old/odoo.log", User: "mtg", Group: "mtg"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `# Installed by odoobot; rewritten at its start and whenever an instance is
# created, cloned, deleted, imported or isolated. One stanza per instance:
# logrotate acts as the owner of the instance's directory, never as root
# in a directory a tenant can change.

"/srv/odoo/prod-acme/odoo.log" {
	daily
	maxsize 200M
	rotate 14
	missingok
	notifempty
	compress
	delaycompress
	copytruncate
	su root root
}

"/srv/odoo/prod-old/odoo.log" {
	daily
	maxsize 200M
	rotate 14
	missingok
	notifempty
	compress
	delaycompress
	copytruncate
	su mtg mtg
}
`
	if diff := cmp.Diff(string(got), want); diff != "" {
		t.Errorf("Config (-got +want):\n%s", diff)
	}
	for _, bad := range []Entry{
		{Log: "relative/odoo.log", User: "root", Group: "root"},
		{Log: "/srv/odoo/*/odoo.log", User: "root", Group: "root"},
		{Log: `/srv/"odoo/odoo.log`, User: "root", Group: "root"},
		{Log: "/srv/odoo/prod-a/odoo.log", User: "", Group: "root"},
		{Log: "/srv/odoo/prod-a/odoo.log", User: "mtg\n}", Group: "mtg"},
	} {
		if _, err := Config([]Entry{bad}); err == nil {
			t.Errorf("Config(%+v) accepted it, want a refusal", bad)
		}
	}
	if _, _, err := (Rotation{ProdRoot: "/srv/odoo*"}).Entries(nil); err == nil || !strings.Contains(err.Error(), "PROD_ROOT") {
		t.Errorf("Entries with PROD_ROOT /srv/odoo*: %v, want a refusal naming PROD_ROOT", err)
	}
}

// tenantHost is a PROD_ROOT where tenants have been at work, for a real
// logrotate run. nobody (group nogroup) stands for SERVICE_USER and for
// an instance's user.
type tenantHost struct {
	root           string            // PROD_ROOT
	secret, canary string            // a root-only file and an /etc-like one, outside PROD_ROOT
	logs           map[string]string // instance → its odoo.log's content before the run
	instances      []provision.Instance
}

const tenantUser, tenantGroup = "nobody", "nogroup"

func newTenantHost(t *testing.T) *tenantHost {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "logrotate's su and the tenants' ownership need root")
	}
	// Everything is traversable, as PROD_ROOT's parents are on a server:
	// logrotate acting as nobody must reach the imported instances.
	base := t.TempDir()
	for _, d := range []string{filepath.Dir(base), base} {
		os.Chmod(d, 0o755)
	}
	h := &tenantHost{root: filepath.Join(base, "odoo"), logs: map[string]string{}}
	etc := filepath.Join(base, "etc")
	for _, d := range []string{h.root, etc} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	h.secret, h.canary = filepath.Join(etc, "shadow"), filepath.Join(etc, "passwd")
	write(t, h.secret, "SECRET root only\n", 0o600, 0, 0)
	write(t, h.canary, "root:x:0:0:canary\n", 0o644, 0, 0)

	const nobody, nogroup = 65534, 65534
	dir := func(name string, uid, gid int, mode fs.FileMode) string {
		d := filepath.Join(h.root, "prod-"+name)
		if err := os.Mkdir(d, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, uid, gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
		return d
	}
	log := func(d, name string) {
		h.logs[name] = "2026-12-07 03:00:00,000 1 INFO prod-" + name + " odoo: started\n"
		write(t, filepath.Join(d, "odoo.log"), h.logs[name], 0o640, nobody, nogroup)
	}
	// odoobot's own instance: root:odoo-NAME 0750, its log the tenant's.
	log(dir("acme", 0, nogroup, 0o750), "acme")
	// Imported instances: directories SERVICE_USER owns.
	log(dir("old", nobody, nogroup, 0o755), "old")
	trap := dir("trap", nobody, nogroup, 0o755)
	for name, target := range map[string]string{"odoo.log": h.secret, "odoo.log.1": h.canary} {
		if err := os.Symlink(target, filepath.Join(trap, name)); err != nil {
			t.Fatal(err)
		}
		os.Lchown(filepath.Join(trap, name), nobody, nogroup)
	}
	// An own instance's directory its group can write, and one a user
	// owns: root must not act in either.
	log(dir("loose", 0, nogroup, 0o770), "loose")
	log(dir("stolen", nobody, nogroup, 0o750), "stolen")
	for _, n := range []string{"acme", "loose", "stolen"} {
		h.instances = append(h.instances, provision.Instance{Name: n, Internal: provision.InternalName(n), User: provision.SystemUser(n)})
	}
	for _, n := range []string{"old", "trap", "gone"} {
		h.instances = append(h.instances, provision.Instance{Name: n, Internal: provision.InternalName(n)})
	}
	return h
}

func write(t *testing.T, p, text string, mode fs.FileMode, uid, gid int) {
	t.Helper()
	if err := os.WriteFile(p, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, uid, gid); err != nil {
		t.Fatal(err)
	}
}

// fileState is what an auditor compares before and after: content,
// owner, mode and the change time (a truncate, write, chmod or chown
// moves it).
func fileState(t *testing.T, p string) string {
	t.Helper()
	st, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	s := st.Sys().(*syscall.Stat_t)
	return strings.Join([]string{string(b), st.Mode().String(), strconv.Itoa(int(s.Uid)), strconv.Itoa(int(s.Gid)), strconv.Itoa(int(s.Ctim.Sec)), strconv.Itoa(int(s.Ctim.Nsec))}, "|")
}

// rotate runs the real logrotate, forced, with a state file of its own,
// over conf, and returns the lines of its verbose output that say which
// stanza it runs, as whom, and what it refused.
func (h *tenantHost) rotate(t *testing.T, conf []byte) string {
	t.Helper()
	bin := testenv.LookPath(t, "logrotate")
	dir := t.TempDir()
	path := filepath.Join(dir, "odoobot-instances")
	if err := os.WriteFile(path, conf, 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "status")
	if out, err := exec.Command(bin, "-d", "-s", state, path).CombinedOutput(); err != nil || bytes.Contains(out, []byte("error:")) {
		t.Fatalf("logrotate -d refused the configuration: %v\n%s\n%s", err, out, conf)
	}
	out, _ := exec.Command(bin, "-v", "-f", "-s", state, path).CombinedOutput()
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "rotating pattern") || strings.Contains(l, "switching") || strings.Contains(l, "error") || strings.Contains(l, "skipping") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// stanza is logrotate's verbose report of the stanza naming log.
func stanza(out, log string) string {
	for _, block := range strings.Split(out, "rotating pattern: ")[1:] {
		if strings.HasPrefix(block, `"`+log+`"`) || strings.HasPrefix(block, log+" ") {
			return block
		}
	}
	return ""
}

// TestLogrotateNeverActsAsRootWhereATenantCanChange runs the real
// logrotate, forced, over a PROD_ROOT holding odoobot's own instance,
// imported ones (directories SERVICE_USER owns) one of which planted
// odoo.log → a root-only file and odoo.log.1 → an /etc-like file, an own
// instance's directory its group can write and one a user owns. The
// link's targets are neither read into the tenant's tree, truncated nor
// written; logrotate acts as SERVICE_USER in the imported directories
// (its own report, and the rotation done), as root only in root's own
// 0750 directory, and not at all in the two others, which Entries
// reports; the own and imported logs are rotated.
func TestLogrotateNeverActsAsRootWhereATenantCanChange(t *testing.T) {
	h := newTenantHost(t)
	r := Rotation{File: filepath.Join(t.TempDir(), "logrotate.d", "odoobot-instances"), ProdRoot: h.root + "/", ServiceUser: tenantUser}
	entries, left, err := r.Entries(h.instances)
	if err != nil {
		t.Fatal(err)
	}
	p := func(n string) string { return filepath.Join(h.root, "prod-"+n, "odoo.log") }
	wantEntries := []Entry{
		{Log: p("acme"), User: "root", Group: "root"},
		{Log: p("old"), User: tenantUser, Group: tenantGroup},
		{Log: p("trap"), User: tenantUser, Group: tenantGroup},
	}
	if diff := cmp.Diff(entries, wantEntries); diff != "" {
		t.Errorf("Entries (-got +want):\n%s", diff)
	}
	if len(left) != 2 || !strings.Contains(left[0], "loose: group nogroup can write") || !strings.Contains(left[0], "chmod g-w") ||
		!strings.Contains(left[1], "stolen: ") || !strings.Contains(left[1], "belongs to nobody") {
		t.Errorf("left out: %q; want loose (its group can write) and stolen (a user owns it), each saying what to do", left)
	}

	wrote, _, err := r.Install(h.instances)
	if err != nil || !wrote {
		t.Fatalf("Install: wrote %v, %v", wrote, err)
	}
	if st, err := os.Stat(r.File); err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("installed file: %v, %v; want mode 0644", st, err)
	}
	if wrote, _, err := r.Install(h.instances); err != nil || wrote {
		t.Errorf("second Install: wrote %v, %v; want nothing written", wrote, err)
	}
	conf, _ := os.ReadFile(r.File)
	h.audit(t, conf)
}

// audit runs logrotate over conf and checks what an auditor would.
func (h *tenantHost) audit(t *testing.T, conf []byte) {
	t.Helper()
	before := map[string]string{h.secret: fileState(t, h.secret), h.canary: fileState(t, h.canary)}
	out := h.rotate(t, conf)
	for p, st := range before {
		if got := fileState(t, p); got != st {
			t.Errorf("%s changed under logrotate:\n before %q\n after  %q", p, st, got)
		}
	}
	filepath.WalkDir(h.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte("SECRET")) || bytes.Contains(b, []byte("canary")) {
			t.Errorf("%s, in a tenant's tree, holds what a link pointed to: %q", p, b)
		}
		return nil
	})
	p := func(n string) string { return filepath.Join(h.root, "prod-"+n, "odoo.log") }
	for _, n := range []string{"acme", "old"} {
		if st, err := os.Stat(p(n)); err != nil || st.Size() != 0 {
			t.Errorf("%s after rotation: %v, %v; want it there, empty", p(n), st, err)
		}
		if got, err := os.ReadFile(p(n) + ".1"); err != nil || string(got) != h.logs[n] {
			t.Errorf("%s.1 holds %q, %v; want the old log", p(n), got, err)
		}
	}
	for _, n := range []string{"loose", "stolen"} {
		if got, err := os.ReadFile(p(n)); err != nil || string(got) != h.logs[n] {
			t.Errorf("%s holds %q, %v; want it untouched: root must not act in that directory", p(n), got, err)
		}
		if _, err := os.Lstat(p(n) + ".1"); err == nil {
			t.Errorf("%s.1 exists: logrotate acted in a directory a tenant can change", p(n))
		}
	}
	for _, n := range []string{"old", "trap"} {
		if !strings.Contains(stanza(out, p(n)), "switching euid from 0 to 65534 and egid from 0 to 65534") {
			t.Errorf("logrotate did not act as %s in prod-%s, which %s owns; its report:\n%s", tenantUser, n, tenantUser, out)
		}
	}
	if s := stanza(out, p("acme")); s == "" || strings.Contains(s, "switching euid") {
		t.Errorf("logrotate's stanza for prod-acme, root's own directory: want it, acting as root; its report:\n%s", out)
	}
}
