// Command odoobot-s3double serves the S3 test double
// (provision/offsite/s3double) until it is killed, for end-to-end tests
// that need the offsite repository as a separate process. It prints the
// repository's restic name (s3:http://127.0.0.1:PORT/BUCKET) on its
// first line of standard output once it listens. It is a test tool, not
// part of odoobot: it keeps objects in memory and accepts any key.
//
//	odoobot-s3double -addr 127.0.0.1:0 -bucket offsite
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"odoobot/provision/offsite/s3double"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "odoobot-s3double:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("odoobot-s3double", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "loopback address to listen on")
	bucket := fs.String("bucket", "offsite", "the one bucket served")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	srv, err := s3double.Start(*addr, *bucket)
	if err != nil {
		return err
	}
	defer srv.Close()
	if _, err := fmt.Fprintln(stdout, srv.Repository()); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}
