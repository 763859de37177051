package main

import (
	"context"
	"errors"
	"io"

	"odoobot/config"
)

// importVerb is `odoobot import [--dry-run]`: adopting API-DEV's
// instances.
func importVerb(ctx context.Context, w io.Writer, cfg *config.Config, args []string) error {
	return errors.New("import is not available in this build yet")
}
