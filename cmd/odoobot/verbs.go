package main

import (
	"context"
	"io"

	"odoobot/config"
)

// verbs runs the verbs that operate on the host.
func verbs(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, cfg *config.Config, verb string, args []string) error {
	return &usageError{msg: "unknown verb " + verb + "\n" + usage}
}
