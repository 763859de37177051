package main

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"
)

// TestOneAdapterFailingLeavesTheOthers: an adapter that stops with an
// error does not stop the others; serve ends with ctx, without error.
// When every adapter fails, their errors are returned.
func TestOneAdapterFailingLeavesTheOthers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stillRunning := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- runAdapters(ctx, slog.New(slog.DiscardHandler), []func(context.Context) error{
			func(context.Context) error { return errors.New("discord: 503") },
			func(ctx context.Context) error { close(stillRunning); <-ctx.Done(); return nil },
		})
	}()
	<-stillRunning
	select {
	case err := <-done:
		t.Fatalf("runAdapters returned %v while an adapter was still serving", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("runAdapters = %v, want nil", err)
	}

	err := runAdapters(context.Background(), slog.New(slog.DiscardHandler), []func(context.Context) error{
		func(context.Context) error { return errors.New("slack: token refused") },
	})
	if err == nil {
		t.Error("runAdapters = nil when every adapter failed")
	}
}
