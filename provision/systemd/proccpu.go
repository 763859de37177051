package systemd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// Bounds of the kernel fallback for a unit's CPU time (unitCPU).
const (
	// userHZ is the unit of the CPU times in /proc/PID/stat: clock ticks
	// of USER_HZ, which Linux fixes at 100 on every architecture it
	// exports to user space (sysconf(_SC_CLK_TCK) answers this constant;
	// golang.org/x/sys/unix has no sysconf).
	userHZ = 100
	// maxUnitProcs is how many processes of one unit are counted; the
	// rest are left out.
	maxUnitProcs = 4096
	// maxProcScan is how many /proc entries the descendant scan looks
	// at.
	maxProcScan = 1 << 16
	// maxStatBytes bounds one read of /proc/PID/stat (about 300 bytes,
	// the command name at most 64).
	maxStatBytes = 4 << 10
	// maxProcsBytes bounds one read of a cgroup.procs file.
	maxProcsBytes = maxUnitProcs * 12
)

// procTimes is what unitCPU reads of one /proc/PID/stat.
type procTimes struct {
	ppid int
	// ticks is utime+stime+cutime+cstime: the CPU time of the process
	// and of its children it has waited for, in USER_HZ ticks.
	ticks uint64
}

// parseStat reads the parent PID and the CPU times out of the content of
// /proc/PID/stat. The command name (field 2, in parentheses) is the
// process's own to set, spaces and parentheses included, so the fields
// are counted from after the last ')'.
func parseStat(b []byte) (procTimes, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procTimes{}, errors.New("no ')' closing the command name")
	}
	// After ") ": state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17).
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return procTimes{}, fmt.Errorf("%d fields after the command name, want at least 15", len(f))
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return procTimes{}, fmt.Errorf("parent PID %q: %w", f[1], err)
	}
	var t procTimes
	t.ppid = ppid
	for _, s := range f[11:15] {
		// cutime and cstime are signed in the kernel's format; a
		// negative or absurd figure is refused rather than summed.
		v, err := strconv.ParseUint(s, 10, 63)
		if err != nil {
			return procTimes{}, fmt.Errorf("CPU time %q: %w", s, err)
		}
		t.ticks += v
	}
	return t, nil
}

// readLimited reads the file at name, refusing one longer than max bytes.
func readLimited(name string, max int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is longer than %d bytes", name, max)
	}
	return b, nil
}

// readStat reads and parses procRoot/PID/stat.
func readStat(procRoot string, pid int) (procTimes, error) {
	b, err := readLimited(filepath.Join(procRoot, strconv.Itoa(pid), "stat"), maxStatBytes)
	if err != nil {
		return procTimes{}, err
	}
	t, err := parseStat(b)
	if err != nil {
		return procTimes{}, fmt.Errorf("process %d: %w", pid, err)
	}
	return t, nil
}

// cgroupPIDs lists the processes of the cgroup systemd placed the unit in
// (its ControlGroup property, e.g. /system.slice/x.service), from the
// cgroup.procs of the first hierarchy under cgroupRoot that has it: the
// name=systemd v1 hierarchy (systemd/), the unified one of a hybrid
// layout (unified/), then a cgroup v2 host's root. At most maxUnitProcs.
func cgroupPIDs(cgroupRoot, cgroup string) ([]int, error) {
	if !strings.HasPrefix(cgroup, "/") || path.Clean(cgroup) != cgroup || cgroup == "/" {
		return nil, fmt.Errorf("control group %q is not a clean absolute path below the root", cgroup)
	}
	var errs []error
	for _, h := range []string{"systemd", "unified", ""} {
		b, err := readLimited(filepath.Join(cgroupRoot, h, filepath.FromSlash(cgroup), "cgroup.procs"), maxProcsBytes)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var pids []int
		for _, l := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(l)
			if err != nil || pid <= 0 {
				return nil, fmt.Errorf("cgroup.procs of %s: %q is not a PID", cgroup, l)
			}
			if len(pids) < maxUnitProcs {
				pids = append(pids, pid)
			}
		}
		return pids, nil
	}
	return nil, errors.Join(errs...)
}

// descendantPIDs lists mainPID and its descendants (at most maxUnitProcs)
// from the parent PIDs in procRoot/*/stat, looking at no more than
// maxProcScan entries.
func descendantPIDs(procRoot string, mainPID int) ([]int, error) {
	d, err := os.Open(procRoot)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(maxProcScan)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	children := map[int][]int{}
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil || pid <= 0 {
			continue
		}
		t, err := readStat(procRoot, pid)
		if err != nil {
			continue // gone since the listing, or unreadable
		}
		children[t.ppid] = append(children[t.ppid], pid)
	}
	pids := []int{mainPID}
	for i := 0; i < len(pids) && len(pids) < maxUnitProcs; i++ {
		pids = append(pids, children[pids[i]]...)
	}
	return pids[:min(len(pids), maxUnitProcs)], nil
}

// unitCPU is the fallback for a running unit whose CPUUsageNSec systemd
// does not know (a cgroup v1 host without CPU accounting for it, as in a
// container where cpu and cpuacct are separate hierarchies): the CPU time
// of the unit's processes, in nanoseconds, read from the kernel. The
// processes are those of the unit's cgroup (cgroup, systemd's
// ControlGroup property, under cgroupRoot, normally /sys/fs/cgroup), or,
// when that is empty or unreadable, mainPID and its descendants by the
// parent PIDs under procRoot (normally /proc); nothing a tenant's process
// can change picks them. Each counts utime+stime+cutime+cstime of
// procRoot/PID/stat, so the time of a process that exited stays only if
// its parent waited for it: the figure can go down (a process gone, a
// restart), which a reader of differences must treat as a reset. false
// when no process could be read.
func unitCPU(procRoot, cgroupRoot, cgroup string, mainPID uint32) (uint64, bool) {
	var pids []int
	if cgroup != "" {
		pids, _ = cgroupPIDs(cgroupRoot, cgroup)
	}
	if len(pids) == 0 && mainPID > 0 {
		pids, _ = descendantPIDs(procRoot, int(mainPID))
	}
	var ticks uint64
	read := 0
	for _, pid := range pids {
		t, err := readStat(procRoot, pid)
		if err != nil {
			continue
		}
		ticks += t.ticks
		read++
	}
	if read == 0 {
		return 0, false
	}
	return ticks * (1e9 / userHZ), true
}
