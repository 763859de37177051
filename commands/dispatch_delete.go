package commands

import "context"

// deleteVerb runs delete, after a confirmation.
func (d *Dispatcher) deleteVerb(ctx context.Context, req Request, cmd Command, r Responder) (string, error) {
	return d.unavailable(ctx, cmd, r)
}
