package provision

import (
	"errors"
	"time"
)

// Sample is one sampling round's figures for one instance. A figure
// that could not be read is nil: missing, never zero.
type Sample struct {
	Instance string
	At       time.Time
	// MemoryBytes is the unit's memory as its cgroup counts it
	// (systemd's MemoryCurrent).
	MemoryBytes *int64
	// CPUNanos is the CPU time the unit has used since it started
	// (systemd's CPUUsageNSec), a counter: the graph draws its rate
	// between two samples, and a restart resets it.
	CPUNanos *int64
	// Response is how long a GET of the instance's /web/health through
	// nginx took to answer 200; nil when it did not.
	Response *time.Duration
}

// HostSample is one sampling round's figures for the host; a round that
// cannot read them records none.
type HostSample struct {
	At        time.Time
	MemTotal  uint64 // MemTotal
	MemUsed   uint64 // MemTotal less MemAvailable
	DiskTotal uint64 // the size of the file system under PROD_ROOT
	DiskFree  uint64 // what is free to unprivileged users there
}

// MemoryPoint is an instance's mean memory over one bucket of time (the
// capacity graph's stacked instances).
type MemoryPoint struct {
	Instance    string
	At          time.Time // the bucket's start
	MemoryBytes int64
}

// MarkerKind is what happened to an instance at a marker on its graph.
type MarkerKind string

// The kinds of marker.
const (
	MarkRestart MarkerKind = "restart" // an operator's restart
	MarkDeploy  MarkerKind = "deploy"  // a creation, upgrade, rebuild or restore
	MarkBackup  MarkerKind = "backup"  // a backup that succeeded
)

// Marker is an event drawn on an instance's graph, read from the records
// odoobot already keeps (its jobs and its audit log).
type Marker struct {
	At   time.Time
	Kind MarkerKind
}

// ErrNoSamples is returned by a graph with nothing to draw (no sample
// taken yet): chat says so instead of showing an empty picture.
var ErrNoSamples = errors.New("no samples yet")
