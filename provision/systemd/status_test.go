package systemd

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/provision"
)

func TestStatusFrom(t *testing.T) {
	since := time.Date(2025, 3, 1, 12, 30, 0, 123456000, time.UTC)
	tests := []struct {
		name  string
		props map[string]any
		svc   map[string]any
		want  provision.ServiceStatus
	}{
		{
			name: "running",
			props: map[string]any{
				"LoadState": "loaded", "ActiveState": "active", "SubState": "running",
				"ActiveEnterTimestamp": uint64(since.UnixMicro()),
			},
			svc: map[string]any{"MainPID": uint32(4242), "MemoryCurrent": uint64(150 << 20), "CPUUsageNSec": uint64(3e9)},
			want: provision.ServiceStatus{
				Unit: "u.service", Loaded: true, ActiveState: "active", SubState: "running",
				MainPID: 4242, MemoryBytes: 150 << 20, CPUNanos: 3e9, Since: time.UnixMicro(since.UnixMicro()),
			},
		},
		{
			name: "memory and CPU unknown are zero",
			props: map[string]any{
				"LoadState": "loaded", "ActiveState": "active", "SubState": "running",
				"ActiveEnterTimestamp": uint64(since.UnixMicro()),
			},
			svc: map[string]any{"MainPID": uint32(7), "MemoryCurrent": uint64(math.MaxUint64), "CPUUsageNSec": uint64(math.MaxUint64)},
			want: provision.ServiceStatus{
				Unit: "u.service", Loaded: true, ActiveState: "active", SubState: "running",
				MainPID: 7, Since: time.UnixMicro(since.UnixMicro()),
			},
		},
		{
			name: "stopped keeps no since",
			props: map[string]any{
				"LoadState": "loaded", "ActiveState": "inactive", "SubState": "dead",
				"ActiveEnterTimestamp": uint64(since.UnixMicro()),
			},
			svc:  map[string]any{"MainPID": uint32(0), "MemoryCurrent": uint64(math.MaxUint64)},
			want: provision.ServiceStatus{Unit: "u.service", Loaded: true, ActiveState: "inactive", SubState: "dead"},
		},
		{
			name:  "failed",
			props: map[string]any{"LoadState": "loaded", "ActiveState": "failed", "SubState": "failed", "ActiveEnterTimestamp": uint64(0)},
			svc:   map[string]any{"MainPID": uint32(0)},
			want:  provision.ServiceStatus{Unit: "u.service", Loaded: true, ActiveState: "failed", SubState: "failed"},
		},
		{
			name:  "not found",
			props: map[string]any{"LoadState": "not-found", "ActiveState": "inactive", "SubState": "dead"},
			want:  provision.ServiceStatus{Unit: "u.service", ActiveState: "inactive", SubState: "dead"},
		},
		{
			name:  "mistyped properties read as zero",
			props: map[string]any{"LoadState": 1, "ActiveState": "active", "ActiveEnterTimestamp": "yesterday"},
			svc:   map[string]any{"MainPID": "12", "MemoryCurrent": int64(5)},
			want:  provision.ServiceStatus{Unit: "u.service", ActiveState: "active"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := statusFrom("u.service", tt.props, tt.svc)
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("statusFrom (-got +want):\n%s", diff)
			}
			if got.Running() != (tt.want.ActiveState == "active") {
				t.Errorf("Running() = %v for ActiveState %q", got.Running(), got.ActiveState)
			}
		})
	}
}

func TestJournalLines(t *testing.T) {
	tests := map[string][]string{
		"":                   nil,
		"-- No entries --\n": nil,
		"2025-03-01T12:30:00+0000 host sh[12]: started\n2025-03-01T12:30:01+0000 host systemd[1]: x.service: Deactivated successfully.\n": {
			"2025-03-01T12:30:00+0000 host sh[12]: started",
			"2025-03-01T12:30:01+0000 host systemd[1]: x.service: Deactivated successfully.",
		},
		"-- Boot 1234 --\na\n\nb\n": {"a", "b"},
	}
	for in, want := range tests {
		if diff := cmp.Diff(journalLines([]byte(in)), want); diff != "" {
			t.Errorf("journalLines(%q) (-got +want):\n%s", in, diff)
		}
	}
}

func TestUnitErrorMessage(t *testing.T) {
	e := &UnitError{
		Op: "start", Unit: "odoo19e-prod-acme.service", Result: "done",
		ActiveState: "failed", SubState: "failed", Reason: "exit-code",
		Journal: []string{"line one", "line two"},
	}
	want := "systemd: start odoo19e-prod-acme.service: job done; unit failed/failed (exit-code); last journal lines:\n  line one\n  line two"
	if got := e.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
	e = &UnitError{Op: "reload", Unit: "nginx.service", Result: "failed", ActiveState: "active", SubState: "running", Reason: "success"}
	if got, want := e.Error(), "systemd: reload nginx.service: job failed; unit active/running"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
