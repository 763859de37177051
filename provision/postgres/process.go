package postgres

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// Process names one operating-system process for as long as the machine
// runs: a PID alone is reused, a PID with its start time is not.
type Process struct {
	// Host is the machine's boot id and the PID namespace the PID belongs
	// to ("<boot id>/pid:[4026531836]"): two processes with the same Host
	// see each other in /proc. Empty when it could not be read; such a
	// process is never checked directly.
	Host string
	PID  int
	// Start is the process's start time in clock ticks after boot
	// (field 22 of /proc/PID/stat).
	Start uint64
}

// ThisProcess is the running process. Off Linux, or with a /proc that is
// not this process's, Host is empty.
func ThisProcess() Process {
	p := Process{PID: os.Getpid()}
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return p
	}
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return p
	}
	// /proc/self must be this process: a /proc mounted for another PID
	// namespace would answer for someone else.
	pid, start, _, err := readStat("/proc/self/stat")
	if err != nil || pid != p.PID {
		return p
	}
	p.Host, p.Start = strings.TrimSpace(string(boot))+"/"+ns, start
	return p
}

// Alive tells whether p still runs, as seen from the process here. known
// is false when here cannot see p (another machine, boot or PID
// namespace, or /proc unreadable): only a lease can tell then.
func (p Process) Alive(here Process) (alive, known bool) {
	if p.Host == "" || p.Host != here.Host || p.PID <= 0 {
		return false, false
	}
	if p == here {
		return true, true
	}
	_, start, state, err := readStat("/proc/" + strconv.Itoa(p.PID) + "/stat")
	if errors.Is(err, fs.ErrNotExist) {
		return false, true
	}
	if err != nil {
		return false, false
	}
	// Another start time: the PID was reused. A zombie has exited.
	return start == p.Start && state != 'Z' && state != 'X', true
}

// readStat reads a /proc/PID/stat file: the PID, the start time and the
// state letter.
func readStat(path string) (pid int, start uint64, state byte, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, 0, err
	}
	// "PID (comm) S ppid ...": comm may hold spaces and parentheses, so
	// the fields are counted from its last ')'.
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 1 || end < open {
		return 0, 0, 0, fmt.Errorf("%s: unexpected format", path)
	}
	pid, err = strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%s: pid: %w", path, err)
	}
	fields := strings.Fields(string(b[end+1:]))
	// fields[0] is field 3 (state); field 22 (starttime) is fields[19].
	if len(fields) < 20 || len(fields[0]) != 1 {
		return 0, 0, 0, fmt.Errorf("%s: unexpected format", path)
	}
	start, err = strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%s: start time: %w", path, err)
	}
	return pid, start, fields[0][0], nil
}
