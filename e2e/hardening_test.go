package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"odoobot/config"
	"odoobot/deploy"
	"odoobot/internal/app"
	"odoobot/internal/testenv"
	"odoobot/internal/unitsecurity"
)

// The hardening tests (TestHardened*) load the units as the sandbox's
// systemd applies them: an instance's unit, rendered and started by
// odoobot, and odoobot's own shipped unit (deploy/odoobot.service). Each
// is rated with `systemd-analyze security` against
// unitsecurity.MaxExposure, and shown to confine what it runs while that
// still does its work.

// TestHardenedInstanceUnit creates an instance and checks its running
// unit: rated within the threshold, its process without capabilities,
// with no new privileges and a system call filter, the file system
// read-only to it except its own directory, and still serving.
func TestHardenedInstanceUnit(t *testing.T) {
	needSandbox(t)
	analyze := testenv.LookPath(t, "systemd-analyze")
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	inst := createReady(t, ctx, a, uniqueName(t, "hard"))
	requireAnswers(t, ctx, inst)

	r, err := unitsecurity.Loaded(ctx, analyze, inst.Unit)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s as loaded: exposure %.1f", r.Unit, r.Exposure)
	if r.OverThreshold() {
		t.Errorf("%s rates %.1f, above %.1f:\n%s", r.Unit, r.Exposure, unitsecurity.MaxExposure, r.Output)
	}

	st, err := a.Services.Status(ctx, inst.Unit)
	if err != nil || st.MainPID == 0 {
		t.Fatalf("status of %s: %+v, %v", inst.Unit, st, err)
	}
	proc := procStatus(t, st.MainPID)
	for key, want := range map[string]string{"CapBnd": "0000000000000000", "CapEff": "0000000000000000", "NoNewPrivs": "1", "Seccomp": "2"} {
		if proc[key] != want {
			t.Errorf("%s's main process: %s = %q, want %q", inst.Unit, key, proc[key], want)
		}
	}

	// Paths seen through the process's root are in its mount namespace,
	// with its read-only mounts: root itself cannot write there.
	p := a.Config.Layout().Paths(inst)
	root := filepath.Join("/proc", strconv.Itoa(int(st.MainPID)), "root")
	for _, dir := range []string{filepath.Dir(p.Dir), a.Config.StateDir, "/etc"} {
		probe := filepath.Join(root, dir, "hardening-probe-"+randomHex(t, 4))
		err := os.WriteFile(probe, nil, 0o600)
		if err == nil {
			os.Remove(probe)
			t.Errorf("%s can write in %s", inst.Unit, dir)
		} else if !errors.Is(err, syscall.EROFS) {
			t.Errorf("writing in %s as %s sees it: %v, want a read-only file system", dir, inst.Unit, err)
		}
	}
	probe := filepath.Join(root, p.DataDir, "hardening-probe-"+randomHex(t, 4))
	if err := os.WriteFile(probe, nil, 0o600); err != nil {
		t.Errorf("%s cannot write in its data dir %s: %v", inst.Unit, p.DataDir, err)
	}
	os.Remove(probe)
}

// TestHardenedOdoobotUnit runs odoobot's own unit as shipped: loaded, it
// is rated within the threshold; then the real odoobot binary, run by
// units that are the shipped one with another command (a oneshot with
// the same sandbox), creates, backs up, restores and deletes a stand-in
// instance, creates and deletes a real Odoo 19.0 one, and useradd and
// userdel do what odoobot has them do, while the rest of the system,
// /usr and dpkg's database included, stays out of reach: apt-get fails
// under the unit, a creation whose release lacks a Debian package fails
// naming it and `odoobot setup`, which, run as root outside the unit,
// installs it, and the creation then succeeds under the unit.
func TestHardenedOdoobotUnit(t *testing.T) {
	needSandbox(t)
	analyze := testenv.LookPath(t, "systemd-analyze")
	bin := odoobotBin(t)
	env := newCreateEnv(t)
	env.withBackupDir(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	envFile := env.writeEnvFile(t)

	t.Run("rating as loaded", func(t *testing.T) {
		unit := "odoobot-hardening-" + randomHex(t, 4) + ".service"
		installUnitFile(t, ctx, unit, deploy.OdoobotService)
		r, err := unitsecurity.Loaded(ctx, analyze, unit)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("odoobot.service as loaded: exposure %.1f", r.Exposure)
		if r.OverThreshold() {
			t.Errorf("odoobot.service rates %.1f, above %.1f:\n%s", r.Exposure, unitsecurity.MaxExposure, r.Output)
		}
	})

	run := func(t *testing.T, argv ...string) (string, error) {
		t.Helper()
		return runUnderOdoobotUnit(t, ctx, envFile, argv...)
	}

	t.Run("confinement", func(t *testing.T) {
		script := filepath.Join(env.root, "confinement.sh")
		if err := os.WriteFile(script, []byte(confinementProbe), 0o755); err != nil {
			t.Fatal(err)
		}
		out, err := run(t, "/bin/sh", script)
		if err != nil {
			t.Fatalf("the probe failed under odoobot.service: %v\n%s", err, out)
		}
		// CAP_CHOWN … CAP_SETUID are bits 0 to 7 (CAP_FSETID, bit 4, is
		// left out), CAP_NET_BIND_SERVICE 10.
		for _, want := range []string{"rootfs: read-only", "postgresql: hidden", "etc: writable",
			"usr: read-only", "dpkg: read-only", "apt cache: read-only",
			"CapBnd:\t00000000000004ef", "NoNewPrivs:\t1", "Seccomp:\t2"} {
			if !strings.Contains(out, want) {
				t.Errorf("under odoobot.service the probe does not report %q:\n%s", want, out)
			}
		}
	})

	t.Run("create, backup, restore, delete", func(t *testing.T) {
		name := uniqueName(t, "hard")
		destroyLater(t, a, name)
		if out, err := run(t, bin, "--env-file", envFile, "create", name, "http"); err != nil {
			t.Fatalf("odoobot create under odoobot.service: %v\n%s", err, out)
		}
		inst, err := a.Store.Instance(ctx, name)
		if err != nil {
			t.Fatalf("instance %s after its creation: %v", name, err)
		}
		requireAnswers(t, ctx, inst)
		if out, err := run(t, bin, "--env-file", envFile, "backup", name); err != nil {
			t.Fatalf("odoobot backup under odoobot.service: %v\n%s", err, out)
		}
		bl, err := a.Service.Backups(ctx, name)
		if err != nil || len(bl) != 1 {
			t.Fatalf("backups after odoobot backup: %+v, %v; want one", bl, err)
		}
		if out, err := run(t, bin, "--env-file", envFile, "restore", name, bl[0].ID, "--yes"); err != nil {
			t.Fatalf("odoobot restore under odoobot.service: %v\n%s", err, out)
		}
		requireAnswers(t, ctx, inst)
		if out, err := run(t, bin, "--env-file", envFile, "delete", name, "--yes"); err != nil {
			t.Fatalf("odoobot delete under odoobot.service: %v\n%s", err, out)
		}
		requireGone(t, ctx, a, name)
	})

	// Real Odoo: the release build (git, the venv on Debian's packages, the
	// check that it runs) and the template database (odoo-bin -i) run as
	// odoobot's children, in its sandbox.
	t.Run("real Odoo create and delete", func(t *testing.T) {
		renv := realOdooEnv(t, "19.0")
		ra, _ := renv.newApp(t, app.Options{})
		renvFile := renv.writeEnvFile(t)
		name := uniqueName(t, "hardro")
		destroyLater(t, ra, name)
		// As on a server: setup first, as root outside the unit, which
		// installs no package.
		if out, err := exec.CommandContext(ctx, bin, "--env-file", renvFile, "setup").CombinedOutput(); err != nil {
			t.Fatalf("odoobot setup (real Odoo 19.0) outside the unit: %v\n%s", err, out)
		}
		if out, err := runUnderOdoobotUnit(t, ctx, renvFile, bin, "--env-file", renvFile, "create", name, "http"); err != nil {
			t.Fatalf("odoobot create (real Odoo 19.0) under odoobot.service: %v\n%s", err, out)
		}
		inst, err := ra.Store.Instance(ctx, name)
		if err != nil {
			t.Fatalf("instance %s after its creation: %v", name, err)
		}
		requireLoginPage(t, ctx, inst)
		if out, err := runUnderOdoobotUnit(t, ctx, renvFile, bin, "--env-file", renvFile, "delete", name, "--yes"); err != nil {
			t.Fatalf("odoobot delete under odoobot.service: %v\n%s", err, out)
		}
		requireGone(t, ctx, ra, name)
	})

	t.Run("useradd and userdel", func(t *testing.T) {
		name := "ohp" + randomHex(t, 4)
		t.Cleanup(func() {
			if _, err := user.Lookup(name); err == nil {
				exec.Command("userdel", name).Run()
			}
		})
		if out, err := run(t, "/usr/sbin/useradd", "--system", "--user-group", "--no-create-home",
			"--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name); err != nil {
			t.Fatalf("useradd under odoobot.service: %v\n%s", err, out)
		}
		if _, err := user.Lookup(name); err != nil {
			t.Fatalf("user %s after useradd: %v", name, err)
		}
		if out, err := run(t, "/usr/sbin/userdel", name); err != nil {
			t.Fatalf("userdel under odoobot.service: %v\n%s", err, out)
		}
		if _, err := user.Lookup(name); err == nil {
			t.Errorf("user %s is still there after userdel", name)
		}
	})

	t.Run("Debian packages only from setup", func(t *testing.T) {
		deb := buildProbePackage(t, env.root)
		t.Cleanup(func() {
			if packageStatus(probePackage) != "" {
				exec.Command("dpkg", "--purge", probePackage).Run()
			}
		})
		apt := []string{"/usr/bin/env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-y", "-o", "DPkg::Lock::Timeout=120"}
		if out, err := run(t, append(apt, "install", "--no-install-recommends", deb)...); err == nil {
			t.Fatalf("apt-get install under odoobot.service succeeded; want it refused:\n%s", out)
		}
		if st := packageStatus(probePackage); st != "" && st != "unknown ok not-installed" {
			t.Fatalf("%s after apt-get install under the unit: %q, want not installed", probePackage, st)
		}
		if _, err := os.Stat("/usr/share/" + probePackage + "/probe.txt"); err == nil {
			t.Fatalf("the package's file is in /usr after apt-get install under the unit")
		}

		// A source whose debian/control asks for the package, which an apt
		// source of the test offers.
		aptSource(t, deb)
		penv := newCreateEnv(t)
		penv.withBackupDir(t)
		repo := newTestRepo(t, penv.root, os.Getenv("ODOO_REPO"), os.Getenv("ODOO_BRANCH"))
		repo.commit("a debian/control", map[string]string{"debian/control": "Source: odoo\n\nPackage: odoo\nArchitecture: all\n" +
			"Depends:\n ${misc:Depends},\n " + probePackage + ",\n python3-venv\nDescription: the stand-in, asking for a package\n"})
		penv.set(t, "ODOO_REPO", "file://"+repo.dir)
		pa, _ := penv.newApp(t, app.Options{})
		penvFile := penv.writeEnvFile(t)
		name := uniqueName(t, "hardpkg")
		destroyLater(t, pa, name)
		create := func() (string, error) {
			return runUnderOdoobotUnit(t, ctx, penvFile, bin, "--env-file", penvFile, "create", name, "http")
		}
		out, err := create()
		if err == nil {
			t.Fatalf("odoobot create under odoobot.service, its release lacking %s, succeeded:\n%s", probePackage, out)
		}
		for _, want := range []string{probePackage, "odoobot setup", "apt-get install " + probePackage} {
			if !strings.Contains(out, want) {
				t.Errorf("the refused creation does not say %q:\n%s", want, out)
			}
		}
		if st := packageStatus(probePackage); st != "" && st != "unknown ok not-installed" {
			t.Fatalf("%s after the refused creation: %q, want not installed", probePackage, st)
		}
		requireGone(t, ctx, pa, name)

		out2, err := exec.CommandContext(ctx, bin, "--env-file", penvFile, "setup").CombinedOutput()
		if err != nil {
			t.Fatalf("odoobot setup outside the unit: %v\n%s", err, out2)
		}
		if !strings.Contains(string(out2), "installing 1 Debian package") || !strings.Contains(string(out2), "setup: done") {
			t.Errorf("odoobot setup does not say it installed the package and is done:\n%s", out2)
		}
		if st := packageStatus(probePackage); st != "install ok installed" {
			t.Fatalf("%s after odoobot setup: %q, want installed", probePackage, st)
		}
		if out, err := create(); err != nil {
			t.Fatalf("odoobot create under odoobot.service after setup: %v\n%s", err, out)
		}
		inst, err := pa.Store.Instance(ctx, name)
		if err != nil {
			t.Fatalf("instance %s after its creation: %v", name, err)
		}
		requireAnswers(t, ctx, inst)
		if out, err := runUnderOdoobotUnit(t, ctx, penvFile, bin, "--env-file", penvFile, "delete", name, "--yes"); err != nil {
			t.Fatalf("odoobot delete under odoobot.service: %v\n%s", err, out)
		}
		requireGone(t, ctx, pa, name)
	})
}

// aptSource offers deb to apt-get from a flat repository of the test
// (dpkg-scanpackages' index, trusted), listed in /etc/apt/sources.list.d
// while the test runs; apt's index is refreshed for that source alone.
// Both go when the test ends.
func aptSource(t *testing.T, deb string) {
	t.Helper()
	scan := testenv.LookPath(t, "dpkg-scanpackages")
	dir := filepath.Join(filepath.Dir(deb), "apt")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(deb, filepath.Join(dir, filepath.Base(deb))); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(scan, ".", "/dev/null")
	cmd.Dir = dir
	index, err := cmd.Output()
	if err != nil {
		t.Fatalf("dpkg-scanpackages: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Packages"), index, 0o644); err != nil {
		t.Fatal(err)
	}
	list := "/etc/apt/sources.list.d/odoobot-hardening-" + randomHex(t, 4) + ".list"
	t.Cleanup(func() {
		os.Remove(list)
		lists, _ := filepath.Glob("/var/lib/apt/lists/*" + strings.ReplaceAll(strings.TrimPrefix(dir, "/"), "/", "_") + "*")
		for _, f := range lists {
			os.Remove(f)
		}
	})
	if err := os.WriteFile(list, []byte("deb [trusted=yes] file:"+dir+" ./\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("apt-get", "update", "-qq", "-o", "Dir::Etc::sourcelist="+list,
		"-o", "Dir::Etc::sourceparts=-", "-o", "APT::Get::List-Cleanup=0").CombinedOutput(); err != nil {
		t.Fatalf("apt-get update of the test's source: %v\n%s", err, out)
	}
}

// confinementProbe reports what a program under odoobot.service can do:
// write to the root of the file system, see PostgreSQL's files (an
// inaccessible path is an empty directory that root, with
// CAP_DAC_OVERRIDE, may still list: hence the emptiness check; the
// sandbox's cluster lives there), write in /etc, /usr, dpkg's database
// and apt's cache, and its capabilities and confinement as the kernel has
// them.
const confinementProbe = `#!/bin/sh
probe=/odoobot-hardening-probe-$$
if mkdir "$probe" 2>/dev/null; then rmdir "$probe"; echo "rootfs: writable"; else echo "rootfs: read-only"; fi
if [ -n "$(ls -A /var/lib/postgresql 2>/dev/null)" ]; then echo "postgresql: visible"; else echo "postgresql: hidden"; fi
if touch "/etc/$probe" 2>/dev/null; then rm -f "/etc/$probe"; echo "etc: writable"; else echo "etc: read-only"; fi
if touch "/usr/$probe" 2>/dev/null; then rm -f "/usr/$probe"; echo "usr: writable"; else echo "usr: read-only"; fi
if touch "/var/lib/dpkg/$probe" 2>/dev/null; then rm -f "/var/lib/dpkg/$probe"; echo "dpkg: writable"; else echo "dpkg: read-only"; fi
if touch "/var/cache/apt/$probe" 2>/dev/null; then rm -f "/var/cache/apt/$probe"; echo "apt cache: writable"; else echo "apt cache: read-only"; fi
grep -E '^(CapBnd|CapEff|NoNewPrivs|Seccomp):' /proc/self/status
`

// writeEnvFile writes the test's configuration (every configuration
// variable set in the environment: the sandbox's and the test's
// overrides) into an env file for odoobot run by a unit, and returns its
// path.
func (e *createEnv) writeEnvFile(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	ct := reflect.TypeOf(config.Config{})
	for i := range ct.NumField() {
		key := ct.Field(i).Tag.Get("envconfig")
		if key == "" {
			continue
		}
		for _, k := range []string{key, key + "_FILE"} {
			v, ok := os.LookupEnv(k)
			if !ok {
				continue
			}
			if strings.ContainsAny(v, "'\n\\") {
				t.Fatalf("%s holds a quote, a backslash or a newline: it cannot go into the test's env file", k)
			}
			fmt.Fprintf(&b, "%s='%s'\n", k, v)
		}
	}
	file := filepath.Join(e.root, "odoobot.env")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// installUnitFile writes a unit into systemdUnitDir and reloads systemd,
// without enabling it; the unit is stopped and removed when the test ends.
func installUnitFile(t *testing.T, ctx context.Context, unit string, content []byte) {
	t.Helper()
	path := filepath.Join(systemdUnitDir, unit)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		exec.CommandContext(ctx, "systemctl", "stop", unit).Run()
		os.Remove(path)
		if out, err := exec.CommandContext(ctx, "systemctl", "daemon-reload").CombinedOutput(); err != nil {
			t.Errorf("cleanup: daemon-reload: %v\n%s", err, out)
		}
		exec.CommandContext(ctx, "systemctl", "reset-failed", unit).Run()
	})
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.CommandContext(ctx, "systemctl", "daemon-reload").CombinedOutput(); err != nil {
		t.Fatalf("daemon-reload: %v\n%s", err, out)
	}
}

// sandboxDir holds every odoobot path of the sandbox and of the tests.
const sandboxDir = "/var/lib/odoobot-sandbox"

// execArgRE is what runUnderOdoobotUnit puts into ExecStart unquoted.
var execArgRE = regexp.MustCompile(`^[A-Za-z0-9_./=:,+-]+$`)

// runUnderOdoobotUnit runs argv as a oneshot unit that is
// deploy/odoobot.service with its command replaced: the same sandbox,
// the same privileges, the test's env file. It returns the program's
// output, and an error when the unit failed.
func runUnderOdoobotUnit(t *testing.T, ctx context.Context, envFile string, argv ...string) (string, error) {
	t.Helper()
	for _, a := range argv {
		if !execArgRE.MatchString(a) {
			t.Fatalf("argument %q needs quoting in ExecStart", a)
		}
	}
	unit := "odoobot-hardening-" + randomHex(t, 4) + ".service"
	out := filepath.Join(filepath.Dir(envFile), strings.TrimSuffix(unit, ".service")+".out")
	installUnitFile(t, ctx, unit, oneshotOdoobotUnit(t, strings.Join(argv, " "), envFile, out))
	startErr := exec.CommandContext(ctx, "systemctl", "start", unit).Run()
	output := readFile(out)
	if startErr != nil {
		journal, _ := exec.CommandContext(ctx, "journalctl", "--no-pager", "-u", unit).CombinedOutput()
		return output + "\njournal:\n" + string(journal), fmt.Errorf("systemctl start %s (%s): %w", unit, argv[0], startErr)
	}
	return output, nil
}

// oneshotOdoobotUnit is deploy/odoobot.service made a oneshot running
// command: in its [Service] section the type, command, restart policy and
// env file are replaced and the output goes to outFile; its [Install]
// section is dropped. Every sandboxing setting is kept as shipped, and
// the sandbox's directories (every odoobot path of the sandbox and of
// the tests is under /var/lib/odoobot-sandbox) are added to
// ReadWritePaths, as the drop-in an operator adds for directories moved
// in the configuration.
func oneshotOdoobotUnit(t *testing.T, command, envFile, outFile string) []byte {
	t.Helper()
	replaced := map[string]bool{"Type": true, "ExecStart": true, "Restart": true, "RestartSec": true, "EnvironmentFile": true}
	var b strings.Builder
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(deploy.OdoobotService))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "[") {
			section = strings.TrimSpace(line)
			if section == "[Install]" {
				continue
			}
			b.WriteString(line + "\n")
			if section == "[Service]" {
				fmt.Fprintf(&b, "Type=oneshot\nExecStart=%s\nEnvironmentFile=%s\nStandardOutput=append:%s\nStandardError=inherit\nTimeoutStartSec=10min\nReadWritePaths=%s\n",
					command, envFile, outFile, sandboxDir)
			}
			continue
		}
		if section == "[Install]" {
			continue
		}
		if k, _, ok := strings.Cut(line, "="); ok && section == "[Service]" && replaced[strings.TrimSpace(k)] {
			continue
		}
		b.WriteString(line + "\n")
	}
	if section == "" {
		t.Fatal("deploy.OdoobotService has no section")
	}
	return []byte(b.String())
}

// procStatus reads the "Key:\tvalue" lines of /proc/PID/status.
func procStatus(t *testing.T, pid uint32) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// probePackage is the Debian package apt-get is refused under the unit
// and odoobot setup installs: a file under /usr, a conffile in /etc and a
// postinst that rebuilds the linker cache, as Python packages' triggers
// do. Its name is a python3-* one, as debian mode installs.
const probePackage = "python3-odoobot-hardening-probe"

// buildProbePackage builds probePackage with dpkg-deb under dir and
// returns the .deb's path.
func buildProbePackage(t *testing.T, dir string) string {
	t.Helper()
	dpkgDeb := testenv.LookPath(t, "dpkg-deb")
	tree := filepath.Join(dir, probePackage)
	files := map[string]string{
		"DEBIAN/control": "Package: " + probePackage + "\nVersion: 1.0\nArchitecture: all\n" +
			"Maintainer: odoobot tests <root@localhost>\nDescription: refused and installed by odoobot's hardening test\n",
		"DEBIAN/conffiles":                         "/etc/" + probePackage + ".conf\n",
		"DEBIAN/postinst":                          "#!/bin/sh\nset -e\nldconfig\n",
		"etc/" + probePackage + ".conf":            "# odoobot's hardening test\n",
		"usr/share/" + probePackage + "/probe.txt": "probe\n",
	}
	for name, content := range files {
		path := filepath.Join(tree, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if name == "DEBIAN/postinst" {
			mode = 0o755
		}
		if err := os.WriteFile(path, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	deb := filepath.Join(dir, probePackage+".deb")
	if out, err := exec.Command(dpkgDeb, "--root-owner-group", "--build", tree, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --build: %v\n%s", err, out)
	}
	return deb
}

// packageStatus is dpkg's status of pkg ("install ok installed"), "" when
// dpkg does not know it.
func packageStatus(pkg string) string {
	out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", pkg).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
