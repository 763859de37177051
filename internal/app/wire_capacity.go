package app

import (
	"context"
	"errors"
	"fmt"

	"odoobot/provision"
	"odoobot/provision/hostfacts"
)

// admit is the capacity guard asked before each creation: it counts every
// recorded instance (a.Store.Instances, any state) and refuses, with a
// provision.CapacityError naming the numbers, when the host cannot hold
// one more. Above the warning threshold (CAPACITY_WARN_PERCENT) the
// creation goes on and the warning is logged and shown in its thread.
func (a *App) admit(ctx context.Context, mode provision.SSLMode) (string, error) {
	if err := a.CheckDNS(ctx); err != nil {
		return "", err
	}
	m := a.Config.CapacityModel()
	var warning string
	g := provision.CapacityGuard{
		Model: m,
		Root:  a.Config.ProdRoot,
		Facts: hostfacts.Host{},
		Count: func(ctx context.Context) (int, error) {
			list, err := a.Store.Instances(ctx)
			return len(list), err
		},
		Warn: func(ctx context.Context, w string) {
			warning = w
			a.Log.WarnContext(ctx, "capacity: creating one more instance", "warning", w)
		},
	}
	err := g.Admit(ctx, mode)
	if errors.Is(err, provision.ErrNoCapacity) {
		return "", fmt.Errorf("%w (capacity model: INSTANCE_MEMORY_MB=%d, INSTANCE_DISK_MB=%d)", err, m.PerInstanceMemory>>20, m.PerInstanceDisk>>20)
	}
	return warning, err
}
