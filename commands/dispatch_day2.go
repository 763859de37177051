package commands

import (
	"context"
	"fmt"
)

// dayTwo runs backup, backups, restore, delete, capacity and certs.
// These verbs are parsed, permission-checked and audited like the others;
// their work is not wired on this server yet, and the user is told so.
func (d *Dispatcher) dayTwo(ctx context.Context, req Request, cmd Command, r Responder) (string, error) {
	msg := fmt.Sprintf("%s is not available on this server yet", cmd.Verb)
	return "failed: " + msg, r.Private(ctx, msg)
}
