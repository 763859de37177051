package commands

import "context"

// capacityVerb runs capacity.
func (d *Dispatcher) capacityVerb(ctx context.Context, req Request, cmd Command, r Responder) (string, error) {
	return d.unavailable(ctx, cmd, r)
}
