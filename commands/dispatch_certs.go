package commands

import "context"

// certsVerb runs certs.
func (d *Dispatcher) certsVerb(ctx context.Context, req Request, cmd Command, r Responder) (string, error) {
	return d.unavailable(ctx, cmd, r)
}
