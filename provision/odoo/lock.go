package odoo

import (
	"context"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

// keyedMutex serialises work per key inside one process: callers with the
// same key take turns, callers with different keys do not wait.
type keyedMutex struct {
	mu    sync.Mutex
	slots map[string]*slot
}

type slot struct {
	ch   chan struct{} // holds one token while the key is free
	refs int
}

// lock waits until key is free or ctx ends; the returned func releases it.
func (k *keyedMutex) lock(ctx context.Context, key string) (func(), error) {
	k.mu.Lock()
	if k.slots == nil {
		k.slots = make(map[string]*slot)
	}
	s := k.slots[key]
	if s == nil {
		s = &slot{ch: make(chan struct{}, 1)}
		s.ch <- struct{}{}
		k.slots[key] = s
	}
	s.refs++
	k.mu.Unlock()

	put := func() {
		k.mu.Lock()
		s.refs--
		if s.refs == 0 {
			delete(k.slots, key)
		}
		k.mu.Unlock()
	}
	select {
	case <-s.ch:
		return func() { s.ch <- struct{}{}; put() }, nil
	case <-ctx.Done():
		put()
		return nil, ctx.Err()
	}
}

// flockPoll is how often a waiter retries a file lock held by another process.
const flockPoll = 50 * time.Millisecond

// flock takes an exclusive advisory lock on path (created if missing),
// waiting until another holder releases it or ctx ends. The returned func
// releases it. The lock dies with the process, so a crashed builder never
// leaves it held.
func flock(ctx context.Context, path string) (func(), error) {
	return flockAs(ctx, path, syscall.LOCK_EX)
}

// flockShared is flock with a shared lock: many holders at once, none
// while an exclusive one is held.
func flockShared(ctx context.Context, path string) (func(), error) {
	return flockAs(ctx, path, syscall.LOCK_SH)
}

// tryFlock takes an exclusive lock on path without waiting; ok is false
// when another holds it.
func tryFlock(path string) (unlock func(), ok bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("open lock file: %w", err)
	}
	switch err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err {
	case nil:
		return func() {
			_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			_ = f.Close()
		}, true, nil
	case syscall.EWOULDBLOCK:
		_ = f.Close()
		return nil, false, nil
	default:
		_ = f.Close()
		return nil, false, fmt.Errorf("lock %s: %w", path, err)
	}
}

// flockAs takes lock how (syscall.LOCK_EX or LOCK_SH) on path, as flock.
func flockAs(ctx context.Context, path string, how int) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if err != syscall.EWOULDBLOCK && err != syscall.EINTR {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, ctx.Err()
		case <-time.After(flockPoll):
		}
	}
}
