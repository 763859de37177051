package commands

import "context"

// backupVerbs runs backup, backups and restore.
func (d *Dispatcher) backupVerbs(ctx context.Context, req Request, cmd Command, r Responder) (string, error) {
	return d.unavailable(ctx, cmd, r)
}
