package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// The command prints the repository once it listens, and serves until
// its context ends.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-bucket", "e2e-offsite"}, pw) }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	repo := strings.TrimSpace(line)
	if !strings.HasPrefix(repo, "s3:http://127.0.0.1:") || !strings.HasSuffix(repo, "/e2e-offsite") {
		t.Fatalf("first line %q is not the repository", line)
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(repo, "s3:http://"), "/e2e-offsite")
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("not listening on %s: %v", addr, err)
	}
	c.Close()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
	if err := run(context.Background(), []string{"-addr", "10.0.0.1:0"}, io.Discard); err == nil {
		t.Error("a non-loopback address was served")
	}
}
