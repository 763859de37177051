package systemd

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// statLine is a /proc/PID/stat line with comm, ppid and the four CPU
// times (in ticks) where the kernel puts them.
func statLine(pid int, comm string, ppid int, utime, stime, cutime, cstime uint64) string {
	return fmt.Sprintf("%d (%s) S %d %d %d 0 -1 4194560 100 0 0 0 %d %d %d %d 20 0 1 0 12345 1000000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n",
		pid, comm, ppid, pid, pid, utime, stime, cutime, cstime)
}

// fakeProc writes procs (PID → stat line) under a temporary /proc.
func fakeProc(t *testing.T, procs map[int]string) string {
	t.Helper()
	root := t.TempDir()
	for pid, line := range procs {
		dir := filepath.Join(root, strconv.Itoa(pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(line), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestParseStatHostileCommand(t *testing.T) {
	// A process names itself as it likes (prctl PR_SET_NAME, or its
	// program's name): spaces, parentheses and fake fields.
	for _, comm := range []string{"odoo", "a) (b", ") 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 (", "x y z", "((("} {
		got, err := parseStat([]byte(statLine(42, comm, 7, 300, 50, 20, 5)))
		if err != nil {
			t.Errorf("comm %q: %v", comm, err)
			continue
		}
		if got.ppid != 7 || got.ticks != 375 {
			t.Errorf("comm %q: parent %d, ticks %d; want 7 and 375", comm, got.ppid, got.ticks)
		}
	}
}

func TestParseStatRefusesMalformed(t *testing.T) {
	for _, line := range []string{
		"",
		"42 odoo S 1 2 3",   // no parentheses
		"42 (odoo) S 1 2 3", // too few fields
		strings.Replace(statLine(42, "o", 1, 1, 2, 3, 4), " 3 4 20", " -3 4 20", 1), // negative cutime
		strings.Replace(statLine(42, "o", 1, 1, 2, 3, 4), " 1 2 3 4 20", " x 2 3 4 20", 1),
	} {
		if got, err := parseStat([]byte(line)); err == nil {
			t.Errorf("parseStat(%q) = %+v, want an error", line, got)
		}
	}
}

func TestReadStatBounded(t *testing.T) {
	root := fakeProc(t, map[int]string{42: statLine(42, "odoo", 1, 1, 1, 1, 1) + strings.Repeat(" 0", maxStatBytes)})
	if _, err := readStat(root, 42); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("a stat file longer than %d bytes: err %v, want it refused", maxStatBytes, err)
	}
}

// TestUnitCPUDescendants: with no cgroup, the unit's processes are its
// main PID and its descendants, whatever their names; a process that is
// not a descendant (another tenant's, or one that named itself after the
// unit's) is not counted.
func TestUnitCPUDescendants(t *testing.T) {
	root := fakeProc(t, map[int]string{
		1:   statLine(1, "systemd", 0, 9000, 9000, 9000, 9000),
		100: statLine(100, "odoo-bin", 1, 100, 20, 3, 1),               // main
		101: statLine(101, "odoo: worker) S 100 (", 100, 50, 10, 0, 0), // child
		102: statLine(102, "x", 101, 5, 5, 0, 0),                       // grandchild
		200: statLine(200, "odoo-bin", 1, 7000, 7000, 0, 0),            // another unit
		201: statLine(201, "sh) S 100 (", 200, 7000, 7000, 0, 0),       // pretends to be 100's child
	})
	got, ok := unitCPU(root, t.TempDir(), "", 100)
	want := uint64(100+20+3+1+50+10+5+5) * 1e7
	if !ok || got != want {
		t.Errorf("unitCPU = %d, %v; want %d ns (main PID 100 and its two descendants)", got, ok, want)
	}
}

// TestUnitCPUCgroup: with systemd's ControlGroup, the processes are the
// cgroup's, found in the name=systemd v1 hierarchy, the unified one, or a
// v2 root; a cgroup path that climbs out is refused, and the main PID's
// tree is counted instead.
func TestUnitCPUCgroup(t *testing.T) {
	proc := fakeProc(t, map[int]string{
		100: statLine(100, "odoo-bin", 1, 100, 0, 0, 0),
		300: statLine(300, "daemonised", 1, 40, 0, 0, 0), // left the tree, still in the cgroup
		500: statLine(500, "elsewhere", 1, 9000, 0, 0, 0),
	})
	const cg = "/system.slice/odoo19e-prod-acme.service"
	for _, h := range []string{"systemd", "unified", ""} {
		cgroot := t.TempDir()
		dir := filepath.Join(cgroot, h, cg)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte("100\n300\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if got, ok := unitCPU(proc, cgroot, cg, 100); !ok || got != 140*1e7 {
			t.Errorf("hierarchy %q: unitCPU = %d, %v; want %d (the cgroup's two processes)", h, got, ok, uint64(140*1e7))
		}
		if got, ok := unitCPU(proc, cgroot, "/system.slice/../../x", 100); !ok || got != 100*1e7 {
			t.Errorf("hierarchy %q, a climbing cgroup path: unitCPU = %d, %v; want %d (main PID only)", h, got, ok, uint64(100*1e7))
		}
	}
}

// TestUnitCPUBounded: at most maxUnitProcs processes of a cgroup are
// read, and a unit with no readable process has no figure.
func TestUnitCPUBounded(t *testing.T) {
	procs := map[int]string{}
	var list strings.Builder
	for pid := 1; pid <= maxUnitProcs+10; pid++ {
		procs[pid] = statLine(pid, "w", 1, 1, 0, 0, 0)
		fmt.Fprintln(&list, pid)
	}
	proc := fakeProc(t, procs)
	cgroot := t.TempDir()
	const cg = "/system.slice/u.service"
	dir := filepath.Join(cgroot, "systemd", cg)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, ok := unitCPU(proc, cgroot, cg, 1); !ok || got != maxUnitProcs*1e7 {
		t.Errorf("unitCPU = %d, %v; want %d (%d processes counted)", got, ok, uint64(maxUnitProcs)*1e7, maxUnitProcs)
	}
	if got, ok := unitCPU(t.TempDir(), t.TempDir(), "", 77); ok {
		t.Errorf("no process readable: unitCPU = %d, true; want no figure", got)
	}
}
