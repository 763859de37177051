// Package hostfacts reads what the host can hold (provision.HostFactsReader):
// its memory from /proc/meminfo and the disk space free under a
// directory from statfs(2).
package hostfacts

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"odoobot/provision"
)

var _ provision.HostFactsReader = Host{}

// Host is this host. The zero value is ready to use.
type Host struct{}

// HostFacts is Read.
func (Host) HostFacts(root string) (provision.HostFacts, error) { return Read(root) }

// Read reads /proc/meminfo and statfs(2) of root, or of its
// nearest existing parent when root does not exist yet.
func Read(root string) (provision.HostFacts, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return provision.HostFacts{}, fmt.Errorf("capacity: read memory: %w", err)
	}
	f, err := parseMeminfo(b)
	if err != nil {
		return provision.HostFacts{}, err
	}
	dir := filepath.Clean(root)
	if !filepath.IsAbs(dir) {
		return provision.HostFacts{}, fmt.Errorf("capacity: instance root %q is not absolute", root)
	}
	for {
		if _, err := os.Stat(dir); err == nil || dir == "/" {
			break
		}
		dir = filepath.Dir(dir)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return provision.HostFacts{}, fmt.Errorf("capacity: disk space of %s: %w", dir, err)
	}
	f.DiskFree = st.Bavail * uint64(st.Bsize)
	f.DiskTotal = st.Blocks * uint64(st.Bsize)
	return f, nil
}

// parseMeminfo reads MemTotal and MemAvailable (kB) from /proc/meminfo.
func parseMeminfo(b []byte) (provision.HostFacts, error) {
	var f provision.HostFacts
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *uint64
		switch key {
		case "MemTotal":
			dst = &f.MemTotal
		case "MemAvailable":
			dst = &f.MemAvailable
		default:
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return provision.HostFacts{}, fmt.Errorf("capacity: /proc/meminfo: %s has no value", key)
		}
		n, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return provision.HostFacts{}, fmt.Errorf("capacity: /proc/meminfo: %s: %w", key, err)
		}
		*dst = n << 10
		found++
	}
	if found < 2 || f.MemTotal == 0 {
		return provision.HostFacts{}, errors.New("capacity: /proc/meminfo has no MemTotal or MemAvailable")
	}
	return f, nil
}
