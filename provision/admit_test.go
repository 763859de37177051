package provision_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"odoobot/provision"
)

// TestCreateOverCapacityIsRefusedAndLeavesNothing: the Service applies
// its own capacity model before it accepts a creation. On the model's
// 64 GiB host, instances counted at 40 GiB leave room for one: the first
// creation is warned, the second is refused with the model's settings
// named, and the host is as it was before the refusal.
func TestCreateOverCapacityIsRefusedAndLeavesNothing(t *testing.T) {
	h := newHost()
	w := startWorld(t, h, nil, func(cfg *provision.Config) {
		cfg.Capacity = provision.CapacityModel{PerInstanceMemory: 40 << 30, PerInstanceDisk: 1 << 30, ReserveMemory: 1 << 30, WarnAt: 0.5}
	})
	ctx := context.Background()
	task, err := w.s.Create(ctx, provision.CreateRequest{Name: "first", Mode: provision.SSLHTTP, By: "test"})
	wait(t, task, err)
	if len(task.Notes) == 0 || !strings.Contains(task.Notes[0], "capacity: ") {
		t.Errorf("notes %q: want the capacity warning first", task.Notes)
	}
	before := h.Snapshot()
	_, err = w.s.Create(ctx, provision.CreateRequest{Name: "second", Mode: provision.SSLHTTP, By: "test"})
	if !errors.Is(err, provision.ErrNoCapacity) || !strings.Contains(err.Error(), "INSTANCE_MEMORY_MB=40960") {
		t.Fatalf("second creation: %v, want ErrNoCapacity naming INSTANCE_MEMORY_MB=40960", err)
	}
	if after := h.Snapshot(); after != before {
		t.Errorf("the refusal changed the host:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
